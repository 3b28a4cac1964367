"""Snakemake script of rule chimerge: training rows of the samples -> bins.json (per CV fold)."""

from slidemap.discretize import make_bins
from slidemap.io import write_json
from slidemap.logs import run_logged


def main(smk) -> None:
    bins = make_bins(smk.input.samples, smk.input.selected, smk.params.discretize)
    write_json(bins, smk.output.bins)


if __name__ == "__main__":
    smk = snakemake  # noqa: F821 (injected by Snakemake)
    run_logged(lambda: main(smk), smk.log[0])
