"""Snakemake script of rule uncertainty: spread of the model maps -> uncertainty.tif."""

import logging

from slidemap.logs import run_logged
from slidemap.maps.uncertainty import uncertainty_raster
from slidemap.standalone import script_object


def main(smk) -> None:
    stats = uncertainty_raster(
        list(smk.input.maps), smk.output.uncertainty, names=smk.params.models
    )
    logging.getLogger("slidemap").info("uncertainty: %s", stats)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("uncertainty")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
