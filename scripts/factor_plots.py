"""Snakemake script of rule factor_plots: one PNG map per factor for the report."""

from pathlib import Path

from slidemap.factors.plots import write_factor_plots
from slidemap.logs import run_logged
from slidemap.standalone import script_object


def main(smk) -> None:
    factors = {Path(p).stem: p for p in smk.input.factors}
    outputs = {Path(p).stem: p for p in smk.output.plots}
    write_factor_plots(factors, outputs, streams_path=smk.input.streams)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("factor_plots")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
