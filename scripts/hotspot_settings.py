"""Snakemake script of rule hotspot_settings: a track's high-pass grid, settings, Gi* scale."""

import logging

from slidemap.hotspots.pipeline import HotspotParams
from slidemap.hotspots.tilefields import read_json, settings_job, write_json
from slidemap.logs import run_logged
from slidemap.standalone import script_object

log = logging.getLogger("slidemap.hotspot_settings")


def main(smk) -> None:
    info = settings_job(
        smk.input.points,
        read_json(smk.input.plane),
        list(smk.input.pass1),
        HotspotParams.from_config(smk.params.hotspots),
    )
    log.info(
        "%s; Gi* centre %.4g, spread %.4g mm/yr",
        {k: v for k, v in info["settings"].items() if k != "warnings"},
        info["centre"],
        info["spread"],
    )
    write_json(info, smk.output.settings)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("hotspot_settings")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
