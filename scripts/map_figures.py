"""Snakemake script of rule map_figures: susceptibility and class maps over the hillshade."""

import geopandas as gpd

from slidemap.io import read_json
from slidemap.logs import run_logged
from slidemap.report import plot_map
from slidemap.standalone import script_object


def main(smk) -> None:
    model = smk.wildcards.model
    cands = gpd.read_file(smk.input.candidates[0]) if smk.input.candidates else None
    info = read_json(smk.input.info)
    plot_map(
        smk.input.susceptibility,
        smk.output.susceptibility,
        kind="susceptibility",
        hillshade_path=smk.input.hillshade,
        candidates=cands,
        title=f"Landslide susceptibility ({model})",
    )
    plot_map(
        smk.input.classes,
        smk.output.classes,
        kind="classes",
        hillshade_path=smk.input.hillshade,
        candidates=cands,
        title=f"Susceptibility classes ({model}, {info['method'].replace('_', ' ')})",
        class_labels=info["labels"],
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("map_figures")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
