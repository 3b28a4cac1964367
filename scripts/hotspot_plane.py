"""Snakemake script of checkpoint hotspot_plane: a track's robust plane, node lattice, tiles."""

import logging

from slidemap.hotspots.pipeline import HotspotParams
from slidemap.hotspots.tilefields import plane_job, write_json
from slidemap.logs import run_logged
from slidemap.standalone import script_object

log = logging.getLogger("slidemap.hotspot_plane")


def main(smk) -> None:
    info = plane_job(
        smk.input.points,
        HotspotParams.from_config(smk.params.hotspots),
        tile_size_m=smk.params.tile_size_m,
        halo_m=smk.params.halo_m,
    )
    log.info(
        "%d points in %d tiles; %d pass-1 tile jobs; high-pass %s",
        info["n_points"],
        len(info["point_tiles"]),
        len(info["tiles"]),
        info["highpass"],
    )
    write_json(info, smk.output.plane)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("hotspot_plane")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
