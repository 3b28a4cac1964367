"""Snakemake script of rule hotspot_tile_points: one tile's points analysed (trends, Gi*)."""

import logging

from slidemap.hotspots.pipeline import HotspotParams
from slidemap.hotspots.tileanalysis import analyse_tile_job
from slidemap.logs import run_logged
from slidemap.standalone import script_object

log = logging.getLogger("slidemap.hotspot_tile_points")


def main(smk) -> None:
    tile = smk.wildcards.htile
    info = analyse_tile_job(
        smk.input.points,
        tile,
        smk.params.tile_size_m,
        smk.input.trends,
        smk.input.gistar,
        smk.input.settings,
        HotspotParams.from_config(smk.params.hotspots),
        smk.output.points,
    )
    log.info("tile %s: %s", tile, info)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("hotspot_tile_points")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
