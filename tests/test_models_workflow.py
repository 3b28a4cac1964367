"""Workflow test of the models stage on a synthetic study: train (every model), train_plc,
model_comparison, and what a changed hyper-parameter reruns."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from slidemap.io import read_json
from slidemap.models.presets import ALGORITHMS
from slidemap.models.synthetic import make_study, write_inputs

pytestmark = pytest.mark.workflow

RULES = ["train", "train_plc", "model_comparison"]
TARGETS = [
    "results/syn/report/model_comparison.csv",
    "results/syn/report/roc.png",
    "results/syn/hotspots/candidates_classified.parquet",
]


def snakemake(cwd: Path, *args: str) -> str:
    """Run snakemake restricted to the models rules (the earlier stages' outputs exist)."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "--allowed-rules", *RULES],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def config(track_dir: str) -> dict:
    return {
        "study_area": {"name": "syn"},
        "dem": {"path": "resources/demo/dem.tif"},
        "inventory": {"path": "resources/demo/landslide_points.csv", "crs": "EPSG:32717"},
        "insar": {
            "tracks": {
                "t1": {
                    "path": track_dir,
                    "format": "generic",
                    "crs": "EPSG:32717",
                    "heading_deg": -12.0,
                    "incidence_deg": 39.0,
                    "columns": {"id": "id", "x": "x", "y": "y", "velocity": "v"},
                }
            }
        },
        "models": {
            "cnn1d": {"max_epochs": 4},
            "cnn2d": {"max_epochs": 4},
            "rnn": {"max_epochs": 4},
            "xgboost": {"n_estimators": 40},
            "rf": {"n_estimators": 40},
            "plc": {"algorithm": "rf", "preset": "seed002"},
        },
    }


@pytest.fixture()
def workdir(tmp_path: Path, root: Path) -> Path:
    for name in ("Snakefile", "workflow", "scripts", "envs"):
        src = root / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / name)
    (tmp_path / "resources/demo").mkdir(parents=True)
    for f in ("dem.tif", "landslide_points.csv"):
        shutil.copy2(root / "resources/demo" / f, tmp_path / "resources/demo" / f)
    (tmp_path / "tracks/t1").mkdir(parents=True)
    (tmp_path / "tracks/t1/batch.csv").write_text("id,x,y\n", encoding="utf-8")
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(config("tracks/t1")))
    study = make_study(size=64, n_samples=160, n_continuous=3, seed=3)
    write_inputs(study, tmp_path / "results/syn", "pixels")
    write_inputs(study, tmp_path / "results/syn", "plc")
    return tmp_path


def test_models_stage_runs_and_reruns_only_what_changed(workdir):
    snakemake(workdir, *TARGETS, "--cores", "2")
    table = pd.read_csv(workdir / "results/syn/report/model_comparison.csv")
    assert sorted(table["model"]) == sorted(ALGORITHMS)
    for col in ("spatial_auc_mean", "spatial_auc_std", "random_auc_mean", "random_auc_std"):
        assert table[col].notna().all(), col
    for model in [*ALGORITHMS, "plc"]:
        folder = workdir / "results/syn/models" / model
        for name in (
            "model.joblib",
            "metrics.json",
            "roc.csv",
            "config.json",
            "cv_predictions.parquet",
        ):
            assert (folder / name).stat().st_size > 0, (model, name)
    # the PLC classifier used the paper's forest and labelled every candidate
    plc_config = read_json(workdir / "results/syn/models/plc/config.json")
    assert plc_config["params"]["n_estimators"] == 50 and plc_config["params"]["max_depth"] == 3
    classified = pd.read_parquet(workdir / "results/syn/hotspots/candidates_classified.parquet")
    assert list(classified.columns) == ["cand_id", "label", "probability", "predicted", "source"]
    assert (classified["source"] == "classifier").all()
    assert len(classified) == 160 and (classified["label"] == -1).sum() > 0
    assert set(classified["predicted"]) <= {0, 1}
    # torch jobs wrote per-epoch CSV logs and a progress bar into their log
    assert (workdir / "results/syn/logs/train/cnn2d_epochs/final/metrics.csv").exists()
    assert "epoch 4/4" in (workdir / "results/syn/logs/train/cnn2d.log").read_text()

    assert "Nothing to be done" in snakemake(workdir, *TARGETS, "-n")
    cfg = yaml.safe_load((workdir / "config/config.yaml").read_text())
    cfg["models"]["xgboost"]["n_estimators"] = 41
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    dry = snakemake(workdir, *TARGETS, "-n")
    jobs = sorted(
        (m.group(1), (w.group(1) if (w := re.search(r"wildcards: (.*)", block)) else ""))
        for block in re.split(r"\n(?=rule \w+:)", dry)
        if (m := re.match(r"rule (\w+):", block.strip()))
    )
    assert jobs == [("model_comparison", ""), ("train", "model=xgboost")]
