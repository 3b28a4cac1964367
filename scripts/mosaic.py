"""Snakemake script of rule mosaic: the tiles of one model -> susceptibility.tif (COG)."""

import logging

from slidemap.logs import run_logged
from slidemap.maps.predict import mosaic_tiles


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
    smk = snakemake  # noqa: F821 (injected by Snakemake)
    run_logged(lambda: main(smk), smk.log[0])
