"""Snakemake script of rule model_comparison: the CV table and the ROC plot of every model."""

import pandas as pd

from slidemap.io import atomic_path, read_json
from slidemap.logs import run_logged
from slidemap.models.comparison import compare_models, plot_roc
from slidemap.standalone import script_object


def main(smk) -> None:
    names = list(smk.params.models)
    metrics = {m: read_json(p) for m, p in zip(names, smk.input.metrics, strict=True)}
    rocs = {m: pd.read_csv(p) for m, p in zip(names, smk.input.roc, strict=True)}
    table = compare_models(metrics)
    with atomic_path(smk.output.table) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    plot_roc(rocs, metrics, smk.output.plot)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("model_comparison")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
