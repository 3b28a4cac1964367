"""Snakemake script of rule explain: SHAP values, mean |SHAP| table, summary and dependence."""

import logging
import time

import pandas as pd

from slidemap.explain import (
    explain_bundle,
    factor_values,
    mean_abs_table,
    plot_dependence,
    plot_summary,
    sample_inputs,
    shap_frame,
)
from slidemap.io import atomic_path
from slidemap.logs import run_logged
from slidemap.maps.predict import load_bundle
from slidemap.standalone import script_object


def main(smk) -> None:
    cfg = smk.params.explain
    model = smk.wildcards.model
    bundle = load_bundle(smk.input.model)
    if hasattr(bundle, "set_threads"):
        bundle.set_threads(smk.threads)
    samples = pd.read_parquet(smk.input.samples)
    X, background, rows = sample_inputs(
        bundle,
        samples,
        smk.params.factor_dir,
        n_explain=cfg["n_samples"],
        n_background=cfg["n_background"],
        seed=cfg["seed"],
    )
    log = logging.getLogger("slidemap")
    log.info(
        "explaining %d samples of %s against %d background samples", len(X), model, len(background)
    )
    t0 = time.perf_counter()
    result = explain_bundle(
        bundle, X, background, seed=cfg["seed"], gradient_nsamples=cfg["gradient_nsamples"]
    )
    log.info("SHAP (%s) took %.1f s", result.method, time.perf_counter() - t0)
    values = factor_values(X)
    table = mean_abs_table(result)
    with atomic_path(smk.output.table) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(smk.output.values) as tmp:
        shap_frame(result, rows, values).to_parquet(tmp, index=False)
    title = f"{model}: SHAP ({result.method}, {len(X)} samples)"
    plot_summary(result, values, smk.output.summary, title=title)
    top = table["factor"].tolist()[: cfg["top_factors"]]
    plot_dependence(result, values, top, smk.output.dependence, title=f"{model}: SHAP dependence")
    log.info("SHAP of %s (%s):\n%s", model, result.method, table)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("explain")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
