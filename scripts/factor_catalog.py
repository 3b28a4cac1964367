"""Snakemake script of rule factor_catalog: check every factor's grid, write factors.json."""

from pathlib import Path

from slidemap.factors.catalog import write_catalog
from slidemap.logs import run_logged
from slidemap.standalone import script_object


def main(smk) -> None:
    factors = {Path(p).stem: p for p in smk.input.factors}
    write_catalog(factors, smk.input.grid, smk.output.catalog, streams_path=smk.input.streams)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("factor_catalog")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
