"""The demo workflow end to end: incremental reruns, interrupted runs and reproducibility.

One real run of the whole demo DAG (in a temporary copy of the repository, with shorter
neural-network training: ``demo`` in ``conftest.py``, one per test session) is shared by
the tests of this module. Each scenario then works on its own copy of that finished run
(results and Snakemake's metadata included), so the scenarios do not disturb each other:

- adding a CSV batch to one track reruns that track's jobs and their dependants only, never
  a DEM factor job nor a job of the other track;
- changing an RF hyper-parameter reruns only RF training, the RF maps and what aggregates
  over models (comparison, best model, uncertainty, report);
- changing the DEM reruns the factors;
- changing nothing reruns nothing;
- killing the workflow with SIGKILL during training leaves no output that looks complete,
  and the rerun reproduces the uninterrupted run's files bit for bit.

Every user-facing output is rebuilt when deleted, and a second run of every job gives the
same files (``test_workflow_rebuild.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from workflow_helpers import (
    JOB_START,
    RESULTS,
    VOLATILE,
    dry_run,
    scheduled_jobs,
    snakemake,
)

pytestmark = pytest.mark.workflow

# Rules that depend on the DEM and layers only; a new InSAR batch must never rerun them.
DEM_ONLY_RULES = {
    "study_grid",
    "terrain_factors",
    "hydrology",
    "distance_factor",
    "categorical_factor",
    "extra_factor",
    "factor_catalog",
    "factor_plots",
    "hillshade",
}


def documented_outputs(readme: Path) -> list[re.Pattern]:
    """Regexes of the output paths of config/README.md's "Outputs" table (under results/<study>).

    A cell lists paths in backticks; a later name without a folder lies in the first one's
    folder (`maps/<model>/rate_curves.csv`, `rate_curves.png`); `<name>` stands for one path
    component and `…` for anything.
    """
    section = readme.read_text(encoding="utf-8").split("## Outputs", 1)[1]
    patterns = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        names = re.findall(r"`([^`]+)`", line.split("|")[1])
        folder = names[0].rsplit("/", 1)[0] + "/" if "/" in names[0] else ""
        for i, name in enumerate(names):
            full = name if i == 0 or "/" in name else folder + name
            rx = re.sub(r"<[^>]+>", "[^/]+", re.escape(full).replace("…", ".*"))
            patterns.append(re.compile(rx + "$"))
    return patterns


def add_batch(workdir: Path) -> Path:
    """Add a new CSV batch (the first 50 points of an existing one) to the ascending track."""
    folder = workdir / "resources" / "demo" / "tracks" / "asc_018"
    first = sorted(folder.glob("*.csv"))[0]
    lines = first.read_text(encoding="utf-8").splitlines(keepends=True)
    new = folder / "egms_batch_9.csv"
    new.write_text("".join(lines[:50]), encoding="utf-8")
    return new


def test_demo_run_writes_every_final_output(demo):
    res = demo / RESULTS
    for track in ("asc_018", "dsc_142"):
        assert (res / "insar" / track / "points.parquet").stat().st_size > 0
    assert (res / "hotspots" / "candidates.gpkg").exists()
    assert (res / "report" / "model_comparison.csv").exists()
    for model in ("logistic", "rf", "xgboost", "cnn1d", "cnn2d", "rnn"):
        assert (res / "maps" / model / "susceptibility.tif").exists()
        assert (res / "maps" / model / "frequency_ratio.csv").exists()
    # results/ holds only documented files (config/README.md, "Outputs"): no GDAL statistics
    # sidecars, no stray temporary file
    assert not sorted(res.rglob("*.aux.xml"))
    patterns = documented_outputs(demo / "config" / "README.md")
    undocumented = [
        rel
        for rel in (p.relative_to(res).as_posix() for p in sorted(res.rglob("*")) if p.is_file())
        if not rel.startswith(VOLATILE) and not any(rx.match(rel) for rx in patterns)
    ]
    assert undocumented == []


def test_nothing_changed_reruns_nothing(run_copy):
    # (Snakemake runs in copies only: a dry run takes the lock of its folder, and other
    # workers copy the shared demo run)
    assert dry_run(run_copy) == []


def job_memory(workdir: Path, attempt: int) -> dict[tuple[str, str], int]:
    """``mem_mb`` of every job of the whole DAG at a retry ``attempt`` (a forced dry run)."""
    out = snakemake(workdir, "-n", "--forceall", "--cores", "2", "--attempt", str(attempt))
    memory = {}
    for block in JOB_START.split(out):
        rule = re.search(r"^(?:local)?rule (\w+):", block.strip(), flags=re.MULTILINE)
        mem = re.search(r"\bmem_mb=(\d+)", block)
        if rule and mem and rule.group(1) != "all":
            wc = re.search(r"^\s+wildcards: (.*)$", block, flags=re.MULTILINE)
            memory[(rule.group(1), wc.group(1) if wc else "")] = int(mem.group(1))
    return memory


def test_every_job_asks_for_more_memory_when_retried(run_copy):
    """The profiles retry a job killed for memory: each retry must ask for more (attempt x)."""
    first, second = job_memory(run_copy, 1), job_memory(run_copy, 2)
    rules = {rule for rule, _ in scheduled_jobs(snakemake(run_copy, "-n", "--forceall"))}
    rules -= {"all"}
    assert {rule for rule, _ in first} == rules and first.keys() == second.keys()
    for job, mb in first.items():
        assert second[job] >= 2 * mb - 1, (job, mb, second[job])


def test_new_batch_reruns_only_that_track_and_its_dependants(run_copy):
    add_batch(run_copy)
    jobs = dry_run(run_copy)
    rules = {rule for rule, _ in jobs}
    assert ("ingest_track", "track=asc_018") in jobs
    assert ("track_hotspots", "track=asc_018") in jobs
    assert "candidates" in rules
    for rule, wildcards in jobs:
        assert "dsc_142" not in wildcards, (rule, wildcards)
        assert rule not in DEM_ONLY_RULES, rule


def test_rf_hyperparameter_reruns_only_rf_and_the_report(run_copy):
    cfg_path = run_copy / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    cfg["models"].setdefault("rf", {})["n_estimators"] = 60
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    jobs = dry_run(run_copy)
    assert ("train", "model=rf") in jobs
    aggregates = {
        "model_comparison",
        "best_model",
        "uncertainty",
        "uncertainty_figure",
        "potential_landslides",
        "report",
        # report figures of every model draw the potential landslides on top, which carry
        # the best model's susceptibility: they are part of "the report"
        "map_figures",
    }
    for rule, wildcards in jobs:
        if rule in aggregates:
            continue
        assert re.search(r"\bmodel=rf\b", wildcards), (rule, wildcards)
        assert rule not in DEM_ONLY_RULES, rule


def test_plc_only_sampling_key_retrains_no_susceptibility_model(run_copy):
    cfg_path = run_copy / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    before = cfg.setdefault("sampling", {}).get("plc_unmatched", "unlabelled")
    cfg["sampling"]["plc_unmatched"] = "negative" if before == "unlabelled" else "unlabelled"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    jobs = dry_run(run_copy)
    rules = {rule for rule, _ in jobs}
    assert "plc_samples" in rules
    # the PLC samples feed the PLC classifier only (the demo does not add PLC predictions to
    # the pixel samples): no susceptibility model retrains, no map is redrawn
    assert not rules & {"pixel_samples", "train", "predict_tile", "mosaic"}, rules


def test_scripts_run_alone_give_the_workflow_outputs(run_copy, demo):
    # scripts/<rule>.py outside Snakemake (slidemap.standalone): the job's paths, params and
    # threads come from the workflow, so the output equals the one of the demo run
    for script, wildcards, rel in (
        ("distance_factor", "layer=roads", "factors/dist_roads.tif"),
        ("ingest_track", "track=asc_018", "insar/asc_018/points.parquet"),
    ):
        out = run_copy / RESULTS / rel
        out.unlink()
        proc = subprocess.run(
            [sys.executable, f"scripts/{script}.py", "--config", "config/config.yaml"]
            + ["--wildcards", wildcards],
            cwd=run_copy,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert out.read_bytes() == (demo / RESULTS / rel).read_bytes(), rel
    bad = subprocess.run(
        [sys.executable, "scripts/distance_factor.py", "--wildcards", "track=asc_018"],
        cwd=run_copy,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "has the wildcards ['layer']" in bad.stderr


def test_key_of_a_disabled_option_reruns_nothing(run_copy):
    # explain.raster_factors is read only by shap_rasters, which the demo does not run
    # (explain.rasters: false): the SHAP explanations of every model must not rerun
    cfg_path = run_copy / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    cfg.setdefault("explain", {})["raster_factors"] = 2
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    assert dry_run(run_copy) == []


def test_dem_change_reruns_the_factors(run_copy):
    import rasterio

    # new content (touching alone is not a change: Snakemake compares small files' checksums)
    with rasterio.open(run_copy / "resources" / "demo" / "dem.tif", "r+") as dem:
        dem.write(dem.read(1) + 1.0, 1)
    rules = {rule for rule, _ in dry_run(run_copy)}
    assert {"study_grid", "terrain_factors", "hydrology", "factor_catalog"} <= rules


def test_library_edit_reruns_the_rules_that_import_it(run_copy):
    density = run_copy / "src" / "slidemap" / "hotspots" / "density.py"
    density.write_text(density.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    rules = {rule for rule, _ in dry_run(run_copy)}
    # track_hotspots imports it directly, candidates too; ingest and the factors do not
    assert {"track_hotspots", "candidates"} <= rules
    assert not rules & (DEM_ONLY_RULES | {"ingest_track"}), rules
    io = run_copy / "src" / "slidemap" / "io.py"
    io.write_text(io.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    # io.py is imported (directly or through other modules) by the factor rules too
    assert {"study_grid", "terrain_factors", "hydrology"} <= {r for r, _ in dry_run(run_copy)}


def test_sigkill_during_training_leaves_nothing_half_written(run_copy, demo):
    model_dir = run_copy / RESULTS / "models" / "cnn2d"
    target = f"{RESULTS}/models/cnn2d/metrics.json"
    shutil.rmtree(model_dir)
    log = run_copy / RESULTS / "logs" / "train" / "cnn2d.log"
    log.unlink()
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2", target],
        cwd=run_copy,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            if log.exists() and "epoch" in log.read_text(encoding="utf-8", errors="replace"):
                break
            assert proc.poll() is None, "the workflow ended before training started"
            time.sleep(0.2)
        else:
            pytest.fail("training did not start within 300 s")
        os.killpg(proc.pid, signal.SIGKILL)  # the head process and the training job
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    leftovers = [p.name for p in model_dir.glob("*")] if model_dir.exists() else []
    assert not [n for n in leftovers if not n.startswith(".")], leftovers
    # the next plain run refuses to start and tells the user how to go on
    again = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", target],
        cwd=run_copy,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode != 0
    assert "--unlock" in again.stdout + again.stderr
    # what a user does after a kill: remove the stale lock, rerun (the profile's
    # rerun-incomplete lets the next run redo the job that died, and only that one)
    snakemake(run_copy, "--unlock")
    planned = scheduled_jobs(snakemake(run_copy, "-n", "--cores", "2", target))
    assert planned == [("train", "model=cnn2d")], planned
    snakemake(run_copy, "--cores", "2", target)
    ref = demo / RESULTS / "models" / "cnn2d"
    for name in ("model.joblib", "metrics.json", "roc.csv", "cv_predictions.parquet"):
        assert (model_dir / name).read_bytes() == (ref / name).read_bytes(), name
    assert dry_run(run_copy) == []
