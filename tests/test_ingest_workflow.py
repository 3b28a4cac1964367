"""The ingest_track rule on a study of its own (the demo DEM, two seeded tracks in a tmp dir):
outputs, a new batch reruns only its track, bad track settings fail before any job runs."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from pyproj import Transformer

from slidemap.io import read_json

pytestmark = pytest.mark.workflow

COPY = ["Snakefile", "workflow", "scripts", "profiles", "envs"]
TARGETS = [
    f"results/mini/insar/{t}/{f}"
    for t in ("asc", "dsc")
    for f in ("points.parquet", "summary.json")
]


def run_snakemake(cwd: Path, *args: str, ok: bool = True) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", "study.yaml", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == ok, out
    return out


def scheduled(dry_run: str) -> list[tuple[str, str]]:
    import re

    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", dry_run):
        m = re.match(r"(?:local)?rule (\w+):", block.strip())
        if m:
            wc = re.search(r"^\s+wildcards: (.*)$", block, flags=re.MULTILINE)
            jobs.append((m.group(1), wc.group(1) if wc else ""))
    return jobs


def _points(n: int, seed: int, bounds, prefix: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.round(rng.uniform(bounds.left + 50, bounds.right - 50, n), 2)
    y = np.round(rng.uniform(bounds.bottom + 50, bounds.top - 50, n), 2)
    days = [dt.date(2021, 1, 4) + dt.timedelta(days=12 * i) for i in range(5)]
    frame = pd.DataFrame({"pid": [f"{prefix}{i:05d}" for i in range(n)], "x": x, "y": y})
    frame["v"] = np.round(rng.normal(0, 6, n), 2)
    for j, d in enumerate(days):
        frame[f"{d:%Y%m%d}"] = np.round(frame["v"] * j * 12 / 365.25 + rng.normal(0, 1, n), 1)
    return frame


@pytest.fixture()
def study(tmp_path: Path, root: Path) -> Path:
    for name in COPY:
        src = root / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / name)
    dem = tmp_path / "data" / "dem.tif"
    dem.parent.mkdir()
    shutil.copy2(root / "resources" / "demo" / "dem.tif", dem)
    with rasterio.open(dem) as src:
        bounds, crs = src.bounds, src.crs.to_string()

    # ascending: EGMS layout (easting/northing in EPSG:3035, LOS columns), two batches
    asc = _points(300, 1, bounds, "A")
    to_laea = Transformer.from_crs(crs, "EPSG:3035", always_xy=True)
    e, n = to_laea.transform(asc["x"].to_numpy(), asc["y"].to_numpy())
    dates = [c for c in asc.columns if c.isdigit()]
    egms = pd.DataFrame(
        {
            "pid": asc["pid"],
            "easting": np.round(e, 3),
            "northing": np.round(n, 3),
            "los_east": -0.6156,
            "los_north": -0.1308,
            "los_up": 0.7771,
            "mean_velocity": asc["v"],
            **{d: asc[d] for d in dates},
        }
    )
    (tmp_path / "tracks" / "asc").mkdir(parents=True)
    egms.iloc[:200].to_csv(tmp_path / "tracks" / "asc" / "batch_1.csv", index=False)
    egms.iloc[150:].to_csv(tmp_path / "tracks" / "asc" / "batch_2.csv", index=False)

    # descending: generic ';' layout with x/y in the DEM's CRS, LOS from heading/incidence
    dsc = _points(200, 2, bounds, "D").rename(
        columns={"pid": "CODE", "x": "X", "y": "Y", "v": "VEL"}
    )
    dsc = dsc.rename(columns={d: f"D_{d}" for d in dates})
    (tmp_path / "tracks" / "dsc").mkdir(parents=True)
    dsc.to_csv(tmp_path / "tracks" / "dsc" / "all.csv", index=False, sep=";")

    config = {
        "study_area": {"name": "mini"},
        "dem": {"path": "data/dem.tif"},
        "insar": {
            "tracks": {
                "asc": {"path": "tracks/asc", "format": "egms"},
                "dsc": {
                    "path": "tracks/dsc",
                    "format": "generic",
                    "crs": crs,
                    "heading_deg": 192.0,
                    "incidence_deg": 39.0,
                    "columns": {"id": "CODE", "x": "X", "y": "Y", "velocity": "VEL"},
                },
            }
        },
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "config").mkdir()
    # the Snakefile's own configfile, which --configfile study.yaml is merged into
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump({"dem": config["dem"]}))
    return tmp_path


def test_rule_writes_points_and_summary_and_a_new_batch_reruns_only_its_track(study):
    run_snakemake(study, "--cores", "2", *TARGETS)
    asc = gpd.read_parquet(study / "results/mini/insar/asc/points.parquet")
    summary = read_json(study / "results/mini/insar/asc/summary.json")
    assert len(asc) == 300 and asc["pid"].is_monotonic_increasing
    assert summary["rows_read"] == 350 and summary["dropped"]["duplicate_id"] == 50
    dsc = read_json(study / "results/mini/insar/dsc/summary.json")
    assert dsc["rows_kept"] == 200 and dsc["los_source"] == "heading_incidence"
    assert (study / "results/mini/logs/ingest_track/asc.log").exists()
    assert (study / "results/mini/benchmarks/ingest_track/dsc.tsv").exists()

    assert "Nothing to be done" in run_snakemake(study, "-n", *TARGETS)
    new = study / "tracks" / "asc" / "batch_3.csv"
    lines = (study / "tracks" / "asc" / "batch_2.csv").read_text().splitlines(keepends=True)
    new.write_text("".join(lines[:40]))  # overlaps batch_2: identical rows
    assert scheduled(run_snakemake(study, "-n", *TARGETS)) == [("ingest_track", "track=asc")]
    run_snakemake(study, "--cores", "1", *TARGETS)
    summary = read_json(study / "results/mini/insar/asc/summary.json")
    assert summary["rows_kept"] == 300 and summary["dropped"]["duplicate_id"] == 89


def test_bad_input_fails_the_job_with_the_message_in_its_log(study):
    path = study / "tracks" / "dsc" / "all.csv"
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace(";", ";abc;", 1)  # line 6 now has one field too many
    path.write_text("\n".join(lines) + "\n")
    run_snakemake(study, "--cores", "1", TARGETS[2], ok=False)
    log = (study / "results/mini/logs/ingest_track/dsc.log").read_text()
    assert "all.csv, line 6" in log and "Fix:" in log and "Traceback" not in log
    assert not (study / "results/mini/insar/dsc/points.parquet").exists()


def test_bad_track_settings_fail_before_any_job_runs(study):
    cfg = yaml.safe_load((study / "study.yaml").read_text())
    del cfg["insar"]["tracks"]["dsc"]["incidence_deg"]
    (study / "study.yaml").write_text(yaml.safe_dump(cfg))
    out = run_snakemake(study, "-n", *TARGETS, ok=False)
    assert "insar.tracks.dsc.incidence_deg" in out


def test_a_study_without_tracks_has_no_ingest_jobs(study):
    cfg = yaml.safe_load((study / "study.yaml").read_text())
    cfg["insar"] = {}
    (study / "study.yaml").write_text(yaml.safe_dump(cfg))
    jobs = scheduled(run_snakemake(study, "-n", "--cores", "1"))
    assert not [j for j in jobs if j[0] == "ingest_track"]
