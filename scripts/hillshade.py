"""Snakemake script of rule hillshade: the study-grid DEM -> report/hillshade.tif."""

from slidemap.logs import run_logged
from slidemap.report import hillshade_raster


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
    smk = snakemake  # noqa: F821 (injected by Snakemake)
    run_logged(lambda: main(smk), smk.log[0])
