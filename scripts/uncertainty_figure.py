"""Snakemake script of rule uncertainty_figure: std across the model maps over the hillshade."""

import geopandas as gpd

from slidemap.logs import run_logged
from slidemap.report import plot_map
from slidemap.standalone import script_object


def main(smk) -> None:
    cands = gpd.read_file(smk.input.candidates[0]) if smk.input.candidates else None
    plot_map(
        smk.input.uncertainty,
        smk.output.figure,
        kind="uncertainty",
        band=1,
        hillshade_path=smk.input.hillshade,
        candidates=cands,
        title=f"Standard deviation of P(landslide) across {', '.join(smk.params.models)}",
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("uncertainty_figure")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
