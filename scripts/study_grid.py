"""Snakemake script of rule study_grid: DEM -> grid/dem.tif (working CRS, NaN) + grid.json."""

from slidemap.factors.studygrid import build_study_grid
from slidemap.logs import run_logged
from slidemap.standalone import script_object


def main(smk) -> None:
    build_study_grid(
        smk.input.dem,
        smk.output.dem,
        smk.output.grid,
        crs=smk.params.crs,
        resolution_m=smk.params.resolution_m,
        boundary=smk.params.boundary,
        dem_nodata=smk.params.dem_nodata,
        chunk_size=smk.params.chunk_size,
        threads=smk.threads,
        compress=smk.params.compress,
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("study_grid")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
