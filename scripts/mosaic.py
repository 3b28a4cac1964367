"""Snakemake script of rule mosaic: the tiles of one model -> susceptibility.tif (COG)."""

import logging

from slidemap.logs import run_logged
from slidemap.maps.predict import mosaic_tiles
from slidemap.standalone import script_object


def main(smk) -> None:
    stats = mosaic_tiles(
        list(smk.input.tiles),
        smk.input.grid,
        smk.params.tile_rows,
        smk.params.tile_cols,
        smk.output.susceptibility,
        tags={"model": smk.wildcards.model},
    )
    logging.getLogger("slidemap").info("susceptibility map: %s", stats)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("mosaic")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
