"""Snakemake script of rule chimerge: training rows of the samples -> bins.json (per CV fold)."""

from slidemap.discretize import make_bins
from slidemap.io import write_json
from slidemap.logs import run_logged
from slidemap.standalone import script_object


def main(smk) -> None:
    bins = make_bins(smk.input.samples, smk.input.selected, smk.params.discretize)
    write_json(bins, smk.output.bins)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("chimerge")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
