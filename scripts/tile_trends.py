"""Snakemake script of rule tile_trends: one ingest tile's points -> their trend classes."""

import logging

from slidemap.hotspots.pipeline import HotspotParams
from slidemap.hotspots.tilejobs import pass1_tile_job
from slidemap.logs import run_logged
from slidemap.standalone import script_object

log = logging.getLogger("slidemap.tile_trends")


def main(smk) -> None:
    tile = smk.wildcards.itile
    info = pass1_tile_job(
        tile,
        {tile: smk.input.points},
        HotspotParams.from_config(smk.params.hotspots),
        tile_size_m=smk.params.tile_size_m,
        halo_m=0.0,  # only the tile's own points are read (no neighbour distances)
        out_path=smk.output.trends,
        ranks=[],
    )
    log.info("tile %s: %s", tile, info)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("tile_trends")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
