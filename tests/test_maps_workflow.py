"""The maps and report rules end to end on a synthetic results tree (upstream stages faked).

Only the rules of the maps and report stages may run (``--allowed-rules``); the grid,
factors, samples, candidates and model bundles are written by seeded code. Needs the real
model bundles (``slidemap.models``), else skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from maps_standins import CRS_UTM, TRANSFORM, write_study_results

pytestmark = pytest.mark.workflow

MAP_RULES = [
    "predict_tile", "mosaic", "classes", "frequency_ratio", "best_model", "uncertainty",
    "potential_landslides", "explain", "hillshade", "map_figures", "uncertainty_figure", "report",
]  # fmt: skip
MODELS = ["logistic", "rf"]


def _snakemake(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    return out


def _train(algorithm, samples, factors, out: Path):
    from slidemap.models.base import FactorPreprocessor, ModelBundle
    from slidemap.models.registry import estimator_class

    cls = estimator_class(algorithm)
    X = samples[factors].to_numpy(np.float32)
    pre = FactorPreprocessor(factors, [], standardize=cls.standardize, onehot=cls.onehot).fit(X)
    params = {"n_estimators": 50, "max_depth": 5} if algorithm == "rf" else {}
    train = samples["split"].to_numpy() == "train"
    est = cls(params).fit(pre.transform(X[train]), samples["label"].to_numpy()[train], seed=0)
    bundle = ModelBundle(algorithm, pre, est)
    out.mkdir(parents=True, exist_ok=True)
    bundle.save(out / "model.joblib")
    auc = {"logistic": 0.71, "rf": 0.83}[algorithm]
    (out / "metrics.json").write_text(
        json.dumps({"cv": {"spatial": {"mean": {"auc": auc}}}, "test": {"auc": auc}})
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, root):
    from slidemap.config import load_schema, validate_config
    from slidemap.factors import planned_factors
    from slidemap.raster import write_cog

    wd = tmp_path_factory.mktemp("wf")
    for name in ["Snakefile", "workflow", "scripts", "src", "envs", "profiles"]:
        src = root / name
        if src.exists():
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, wd / name)
    (wd / "config").mkdir()
    (wd / "resources" / "t1").mkdir(parents=True)
    (wd / "resources" / "t1" / "batch.csv").write_text("id,x,y,v\n")
    (wd / "resources" / "inventory.csv").write_text("x,y\n")
    cfg = {
        "study_area": {"name": "syn"},
        "dem": {"path": "resources/dem.tif"},
        "inventory": {"path": "resources/inventory.csv"},
        "insar": {
            "tracks": {
                "t1": {
                    "path": "resources/t1",
                    "format": "generic",
                    "crs": "EPSG:32717",
                    "columns": {"id": "id", "x": "x", "y": "y", "velocity": "v"},
                }
            }
        },
        "mapping": {"tile_size": 35},
        "explain": {"n_samples": 40, "n_background": 20, "top_factors": 2},
        "report": {"basemap": None},
    }
    schema = load_schema(root / "workflow" / "schemas" / "config.schema.yaml")
    models_schema = schema["properties"]["models"].get("properties", {})
    if "rf" in models_schema:  # the models stage is merged: enable the models by config
        cfg["models"] = {m: {"enabled": m in MODELS} for m in models_schema if m in
                         ("logistic", "rf", "xgboost", "cnn1d", "cnn2d", "rnn")}  # fmt: skip
    else:  # before the merge: stand in for models.smk's MODELS list
        rules = wd / "workflow" / "rules" / "maps.smk"
        rules.write_text(f"MODELS = {MODELS!r}\n" + rules.read_text())
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    factors = planned_factors(validate_config(cfg, schema))
    res = wd / "results" / "syn"
    samples, stack = write_study_results(res, factors, tracks=True)
    with rasterio.open(res / "grid" / "dem.tif") as src:
        write_cog(src.read(1), wd / "resources" / "dem.tif", crs=CRS_UTM, transform=TRANSFORM,
                  nodata=np.nan)  # fmt: skip
    for m in MODELS:
        _train(m, samples, factors, res / "models" / m)
    targets = [
        *(f"results/syn/maps/{m}/{f}" for m in MODELS
          for f in ("frequency_ratio.csv", "classes.qml", "rate_curves.png")),
        *(f"results/syn/explain/{m}/dependence.png" for m in MODELS),
        *(f"results/syn/report/maps/{m}_classes.png" for m in MODELS),
        "results/syn/maps/potential_landslides.gpkg",
        "results/syn/report/maps/uncertainty.png",
        "results/syn/report/interactive_map.html",
    ]  # fmt: skip
    out = _snakemake(wd, *targets, "--cores", "2", "--allowed-rules", *MAP_RULES)
    return wd, samples, out, targets


def test_maps_workflow_outputs(workdir):
    wd, samples, log, _ = workdir
    res = wd / "results" / "syn"
    n_tiles = log.count("rule predict_tile:")
    assert n_tiles == 2 * 4  # 60 x 70 cells in tiles of at most 35: 2 x 2 tiles per model
    for m in MODELS:
        with rasterio.open(res / "maps" / m / "susceptibility.tif") as src:
            assert src.dtypes[0] == "float32" and src.transform == TRANSFORM
        fr = pd.read_csv(res / "maps" / m / "frequency_ratio.csv")
        assert fr["n_cells"].sum() > 0 and len(fr) == 5
        assert (res / "explain" / m / "shap_mean_abs.csv").exists()
        assert not (res / "maps" / m / "tiles").exists() or not any(
            (res / "maps" / m / "tiles").iterdir()
        )  # tiles are temporary
    best = json.loads((res / "maps" / "best_model.json").read_text())
    assert best["model"] == "rf" and best["by"] == "spatial_cv_auc"
    import geopandas as gpd

    pl = gpd.read_file(res / "maps" / "potential_landslides.gpkg")
    assert list(pl["cand_id"]) == ["p1", "p2", "p3"]
    assert pl["susceptibility_mean"].notna().all() and (pl["susceptibility_class"] >= 1).all()
    html = (res / "report" / "interactive_map.html").read_text()
    assert "Susceptibility classes (rf)" in html


def test_snakemake_report_builds(workdir):
    wd, _, _, targets = workdir
    _snakemake(wd, *targets, "--report", "report.zip", "--allowed-rules", *MAP_RULES)
    import zipfile

    names = zipfile.ZipFile(wd / "report.zip").namelist()
    assert any(n.endswith("report.html") for n in names)
    assert sum(n.endswith(".png") for n in names) >= 6
