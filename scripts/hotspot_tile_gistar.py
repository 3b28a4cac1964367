"""Snakemake script of rule hotspot_tile_gistar: the high-pass and Gi* of one tile's points."""

import logging

from slidemap.hotspots.tilefields import gistar_job, read_json
from slidemap.logs import run_logged
from slidemap.standalone import script_object

log = logging.getLogger("slidemap.hotspot_tile_gistar")


def main(smk) -> None:
    tile = smk.wildcards.htile
    info = gistar_job(
        tile,
        smk.input.points,
        read_json(smk.input.plane),
        read_json(smk.input.settings),
        smk.output.gistar,
    )
    log.info("tile %s: %s", tile, info)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("hotspot_tile_gistar")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
