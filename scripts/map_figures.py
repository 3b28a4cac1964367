"""Snakemake script of rule map_figures: susceptibility and class maps over the hillshade."""

import geopandas as gpd

from slidemap.io import read_json
from slidemap.logs import run_logged
from slidemap.report import plot_map


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
    smk = snakemake  # noqa: F821 (injected by Snakemake)
    run_logged(lambda: main(smk), smk.log[0])
