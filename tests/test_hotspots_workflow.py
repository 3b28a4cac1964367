"""Workflow tests of the hot-spot rules: the DAG with and without tracks, and a small real run.

The run starts from a synthetic track written where the ingest rule puts its output, and a
study grid / slope / aspect written where the factor rules put theirs (older inputs, so
Snakemake runs only the hot-spot rules).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml
from hotspot_data import Slide, make_landscape

from slidemap.raster import write_cog

pytestmark = pytest.mark.workflow

COPY = ["Snakefile", "workflow", "scripts", "envs"]
DEM = Path(__file__).resolve().parents[1] / "resources" / "demo" / "dem.tif"


def snakemake(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def scheduled_rules(out: str) -> list[str]:
    return [
        line.split()[1].rstrip(":")
        for line in out.splitlines()
        if line.startswith(("rule ", "localrule "))
    ]


@pytest.fixture()
def workdir(tmp_path: Path, root: Path) -> Path:
    for name in COPY:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name)
        else:
            shutil.copy2(src, tmp_path / name)
    (tmp_path / "config").mkdir()
    shutil.copy2(DEM, tmp_path / "dem.tif")
    return tmp_path


def write_config(workdir: Path, cfg: dict) -> None:
    with open(workdir / "config" / "config.yaml", "w", encoding="utf-8") as fh:
        yaml.safe_dump(cfg, fh)


def test_no_tracks_no_hotspot_jobs(workdir):
    write_config(workdir, {"study_area": {"name": "t"}, "dem": {"path": "dem.tif"}})
    out = snakemake(workdir, "-n", "--cores", "1")
    rules = scheduled_rules(out)
    assert not {"track_hotspots", "candidates", "hotspot_accuracy", "hotspot_plots"} & set(rules)


def _stage_inputs(workdir: Path, study: str) -> gpd.GeoDataFrame:
    """Write a synthetic track, study grid, slope and aspect where the earlier rules would."""
    with rasterio.open(DEM) as src:
        left, bottom = src.bounds.left, src.bounds.bottom
        width_m, height_m = src.width * src.res[0], src.height * src.res[1]
        crs, transform = src.crs, src.transform
    slides = [
        Slide(1000, 1100, 380, 220, 90, 30, 40, "linear"),
        Slide(2600, 2900, 400, 250, 100, 32, 35, "step"),
    ]
    land = make_landscape(
        seed=21,
        width_m=width_m,
        height_m=height_m,
        origin=(left, bottom),
        slides=slides,
        n_dates=40,
    )
    assert land.grid.transform.almost_equals(transform)
    res = workdir / "results" / study
    track_dir = workdir / "tracks" / "asc"
    track_dir.mkdir(parents=True)
    (track_dir / "batch_1.csv").write_text("pid\n", encoding="utf-8")
    (res / "insar" / "asc").mkdir(parents=True)
    land.points.to_parquet(res / "insar" / "asc" / "points.parquet")
    (res / "insar" / "asc" / "summary.json").write_text("{}", encoding="utf-8")
    (res / "grid").mkdir(parents=True)
    shutil.copy(DEM, res / "grid" / "dem.tif")  # fresh mtime: newer than the DEM
    (res / "grid" / "grid.json").write_text("{}", encoding="utf-8")  # staged study grid
    for name, arr in (("slope", land.slope_deg), ("aspect", land.aspect_deg)):
        write_cog(arr, res / "factors" / f"{name}.tif", crs=crs, transform=transform, nodata=np.nan)
    land.truth.to_file(workdir / "truth.gpkg")
    old = os.path.getmtime(res / "insar" / "asc" / "points.parquet") - 100
    for p in [track_dir / "batch_1.csv", workdir / "dem.tif", workdir / "truth.gpkg"]:
        os.utime(p, (old, old))
    return land.truth


def test_hotspot_rules_run_on_a_synthetic_track(workdir):
    study = "t"
    truth = _stage_inputs(workdir, study)
    write_config(
        workdir,
        {
            "study_area": {"name": study},
            "dem": {"path": "dem.tif"},
            "insar": {"tracks": {"asc": {"path": "tracks/asc", "format": "egms"}}},
            "hotspots": {"reference": "truth.gpkg", "density_threshold": 5.0},
            # the staged slope and aspect are the only terrain outputs
            "factors": {"terrain": ["slope", "aspect"]},
        },
    )
    res = workdir / "results" / study
    targets = [
        f"results/{study}/hotspots/candidates.gpkg",
        f"results/{study}/hotspots/accuracy.json",
        f"results/{study}/hotspots/plots/asc_velocity.png",
        f"results/{study}/hotspots/plots/asc_density.png",
    ]
    dry = snakemake(workdir, "-n", "--cores", "2", *targets)
    assert sorted(scheduled_rules(dry)) == [
        "candidates",
        "hotspot_accuracy",
        "hotspot_plots",
        "track_hotspots",
    ]
    snakemake(workdir, "--cores", "2", *targets)
    cands = gpd.read_file(res / "hotspots" / "candidates.gpkg", layer="candidates")
    assert len(cands) == len(truth)
    for col in ("cand_id", "area_m2", "tracks", "n_points_asc", "n_moving_asc", "v_slope_mm_yr"):
        assert col in cands.columns
    acc = json.loads((res / "hotspots" / "accuracy.json").read_text())
    assert acc["missing_rate_count"] == 0.0
    assert acc["extraction_accuracy"] > 0.7  # the accuracy target is tested in test_hotspots
    with rasterio.open(res / "hotspots" / "asc" / "density.tif") as src:
        assert src.count == 2 and src.descriptions == ("hot", "cold")
    pts = gpd.read_parquet(res / "hotspots" / "asc" / "points.parquet")
    assert {"trend_class", "moving", "gi_z", "gi_p"} <= set(pts.columns)
    summary = json.loads((res / "hotspots" / "asc" / "summary.json").read_text())
    # default preset "adaptive": the threshold is 3 x the robust noise level of the track
    assert summary["method"] == "adaptive"
    assert summary["noise_sigma_mm_yr"] > 0
    assert summary["stability_threshold_mm_yr"] == pytest.approx(3.0 * summary["noise_sigma_mm_yr"])
    assert summary["stability_threshold_mm_yr"] < 10.0
    assert "Nothing to be done" in snakemake(workdir, "-n", *targets)
