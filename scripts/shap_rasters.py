"""Snakemake script of rule shap_rasters: SHAP maps of the best model's top factors."""

import logging
from pathlib import Path

import pandas as pd

from slidemap.errors import ConfigError
from slidemap.explain import sample_inputs, shap_rasters
from slidemap.io import read_json
from slidemap.logs import run_logged
from slidemap.maps.predict import load_bundle
from slidemap.standalone import script_object


def main(smk) -> None:
    cfg = smk.params.explain
    model = read_json(smk.input.best)["model"]
    tables = {Path(p).parent.name: p for p in smk.input.tables}
    if model not in tables:
        raise ConfigError(
            f"config key 'explain.models': the best model {model!r} is not explained; add it "
            "(or set explain.rasters: false)."
        )
    bundle = load_bundle(next(p for p in smk.input.models if Path(p).parent.name == model))
    top = pd.read_csv(tables[model])["factor"].tolist()[: cfg["raster_factors"]]
    _, background, _ = sample_inputs(
        bundle,
        pd.read_parquet(smk.input.samples),
        smk.params.factor_dir,
        n_explain=1,
        n_background=cfg["n_background"],
        seed=cfg["seed"],
    )
    info = shap_rasters(
        bundle,
        smk.params.factor_dir,
        smk.input.grid,
        background,
        top,
        smk.output.rasters,
        seed=cfg["seed"],
    )
    logging.getLogger("slidemap").info("SHAP rasters of %s: %s", model, info)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("shap_rasters")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
