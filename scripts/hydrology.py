"""Snakemake script of rule hydrology: grid DEM -> sca, twi, spi COGs and streams.gpkg."""

import logging

from slidemap.factors.hydrology import write_hydrology
from slidemap.logs import run_logged
from slidemap.standalone import script_object


def main(smk) -> None:
    hydro = smk.params.hydrology
    summary = write_hydrology(
        smk.input.dem,
        sca_path=smk.output.sca,
        twi_path=smk.output.twi,
        spi_path=smk.output.spi,
        streams_path=smk.output.streams,
        method=hydro["method"],
        mfd_exponent=hydro["mfd_exponent"],
        stream_threshold_cells=hydro["stream_threshold_cells"],
        min_tan_beta=hydro["min_tan_beta"],
        chunk_size=smk.params.chunk_size,
        threads=smk.threads,
        compress=smk.params.compress,
    )
    logging.getLogger("slidemap").info("hydrology: %s", summary)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("hydrology")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
