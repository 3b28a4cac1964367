"""Snakemake script of rule hotspot_tile_pass1: node medians and neighbour distances of a tile."""

import logging

from slidemap.hotspots.pipeline import HotspotParams
from slidemap.hotspots.tilefields import pass1_job, read_json
from slidemap.logs import run_logged
from slidemap.standalone import script_object

log = logging.getLogger("slidemap.hotspot_tile_pass1")


def main(smk) -> None:
    tile = smk.wildcards.htile
    info = pass1_job(
        tile,
        smk.input.points,
        read_json(smk.input.plane),
        HotspotParams.from_config(smk.params.hotspots),
        smk.output.pass1,
    )
    log.info("tile %s: %s", tile, info)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("hotspot_tile_pass1")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
