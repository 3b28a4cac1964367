"""Snakemake script of rule hillshade: the study-grid DEM -> report/hillshade.tif."""

from slidemap.logs import run_logged
from slidemap.report import hillshade_raster
from slidemap.standalone import script_object


def main(smk) -> None:
    light = smk.params.light
    hillshade_raster(
        smk.input.dem,
        smk.output.hillshade,
        azimuth_deg=light["azimuth_deg"],
        altitude_deg=light["altitude_deg"],
        z_factor=light["z_factor"],
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("hillshade")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
