"""Workflow tests of the samples stage on a seeded synthetic study (factor COGs pre-made)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from samples_synth import make_study

from slidemap.discretize import apply_bins
from slidemap.factors import planned_factors

pytestmark = pytest.mark.workflow

STAGE_RULES = ["pixel_samples", "plc_samples", "select_factors", "chimerge", "tiles"]


def snakemake(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", "study.yaml", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def targets(units: list[str]) -> list[str]:
    out = []
    for u in units:
        out += [
            f"results/synth/samples/{u}.parquet",
            f"results/synth/selection/{u}/selected.json",
            f"results/synth/selection/{u}/report.json",
            f"results/synth/selection/{u}/correlation.png",
            f"results/synth/selection/{u}/importance.png",
            f"results/synth/discretize/{u}/bins.json",
        ]
    return out + [
        "results/synth/tiles/patches.npz",
        "results/synth/tiles/index.parquet",
        "results/synth/tiles/stats.json",
    ]


def make_workdir(tmp_path: Path, root: Path, with_tracks: bool) -> Path:
    for name in ("Snakefile", "workflow", "scripts", "profiles", "envs"):
        src = root / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name)
        elif src.exists():
            shutil.copy2(src, tmp_path / name)
    base = {"study_area": {"name": "synth"}, "dem": {"path": "x"}}
    if with_tracks:
        base["insar"] = {"tracks": {"asc": {"path": "x", "format": "egms"}}}
    from slidemap.config import load_schema, validate_config

    schema = load_schema(root / "workflow" / "schemas" / "config.schema.yaml")
    names = planned_factors(validate_config(base, schema))
    config = make_study(tmp_path, names, with_tracks=with_tracks)
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_no_tracks_no_plc_jobs(tmp_path, root):
    wd = make_workdir(tmp_path, root, with_tracks=False)
    dry = snakemake(wd, "-n", "--allowed-rules", *STAGE_RULES, "--", *targets(["pixels"]))
    rules = set(re.findall(r"^rule (\w+):", dry, flags=re.MULTILINE))
    assert rules == {"pixel_samples", "select_factors", "chimerge", "tiles"}
    assert "plc" not in dry.replace("plc_", "")  # no PLC wildcard anywhere


def test_stage_runs_on_synthetic_study(tmp_path, root):
    wd = make_workdir(tmp_path, root, with_tracks=True)
    snakemake(
        wd, "--cores", "2", "--allowed-rules", *STAGE_RULES, "--", *targets(["pixels", "plc"])
    )
    r = wd / "results" / "synth"
    px = gpd.read_parquet(r / "samples" / "pixels.parquet")
    assert list(px.columns[:11]) == [
        "unit_id",
        "unit",
        "label",
        "x_m",
        "y_m",
        "row",
        "col",
        "split",
        "fold",
        "fold_random",
        "source",
    ]
    summary = json.loads((r / "samples" / "pixels_summary.json").read_text())
    assert summary["positives"] == 70 and summary["negatives"] == 70
    factors = summary["features"]
    assert np.isfinite(px[factors].to_numpy()).all()
    assert set(px["split"]) == {"train", "test"}
    assert (px.loc[px["split"] == "test", "fold"] == -1).all()
    # selection: every factor in the report, the correlated ones dropped with a reason
    report = json.loads((r / "selection" / "pixels" / "report.json").read_text())
    selected = json.loads((r / "selection" / "pixels" / "selected.json").read_text())
    assert set(report["factors"]) == set(factors)
    assert report["factors"]["roughness"]["dropped"] or report["factors"]["slope"]["dropped"]
    for f, entry in report["factors"].items():
        assert {"pearson_max_abs_r", "vif", "tol", "igr", "rf_importance"} <= set(entry)
        assert entry["dropped"] == (f not in selected["factors"])
        if entry["dropped"]:
            assert entry["reason"]
    # bins: fitted per fold on training rows, usable with apply_bins
    bins = json.loads((r / "discretize" / "pixels" / "bins.json").read_text())
    assert sorted(bins["spatial"]) == ["0", "1", "2"] == sorted(bins["random"])
    assert set(bins["all"]) == set(selected["factors"])
    f0 = selected["factors"][0]
    b = apply_bins(px[f0].to_numpy(), bins["all"][f0])
    assert b.min() >= 0 and b.max() <= len(bins["all"][f0])
    # tiles: channels in selected order, centre = sample value
    with np.load(r / "tiles" / "patches.npz", allow_pickle=False) as z:
        assert z["factors"].tolist() == selected["factors"]
        patches, mask = z["patches"], z["mask"]
        assert patches.shape == (len(px), len(selected["factors"]), 5, 5)
        np.testing.assert_array_equal(z["unit_id"], px["unit_id"])
    np.testing.assert_allclose(patches[:, :, 2, 2], px[selected["factors"]].to_numpy(), rtol=1e-6)
    assert mask[:, 2, 2].all()
    index = pd.read_parquet(r / "tiles" / "index.parquet")
    assert index["unit_id"].tolist() == px["unit_id"].tolist()
    # PLC unit
    plc = gpd.read_parquet(r / "samples" / "plc.parquet")
    assert set(plc["label"]) == {-1, 0, 1}
    assert (plc.loc[plc["label"] == -1, "split"] == "predict").all()
    psel = json.loads((r / "selection" / "plc" / "selected.json").read_text())
    assert all(c in plc.columns for c in psel["factors"])
    # nothing to do on a second run
    dry = snakemake(wd, "-n", "--allowed-rules", *STAGE_RULES, "--", *targets(["pixels", "plc"]))
    assert "Nothing to be done" in dry
