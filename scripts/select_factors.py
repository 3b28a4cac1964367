"""Snakemake script of rule select_factors: samples -> selected.json, report.json, two plots."""

from slidemap.io import write_json
from slidemap.logs import run_logged
from slidemap.selection import make_selection, plot_correlation, plot_importance
from slidemap.standalone import script_object


def main(smk) -> None:
    selected, report = make_selection(
        smk.input.samples,
        smk.input.summary,
        selection=smk.params.selection,
        discretize=smk.params.discretize,
        n_jobs=smk.threads,
    )
    plot_correlation(report, smk.output.correlation)
    plot_importance(report, smk.output.importance)
    write_json(report, smk.output.report)
    write_json(selected, smk.output.selected)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("select_factors")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
