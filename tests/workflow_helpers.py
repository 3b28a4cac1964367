"""Helpers of the workflow tests: a demo working copy, Snakemake runs, dry-run listings, hashes.

The demo run itself is a session fixture of ``conftest.py`` (``demo``), built once per test
session and shared by the pytest-xdist workers.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

COPY = ["Snakefile", "workflow", "scripts", "config", "profiles", "resources", "envs", "src"]
RESULTS = "results/demo"
# Shorter training and SHAP than the demo config: the DAG is the same, CI time is not.
FAST = {
    "models": {m: {"max_epochs": 10} for m in ("cnn1d", "cnn2d", "rnn")},
    "explain": {"n_samples": 60, "n_background": 30, "gradient_nsamples": 50},
    "mapping": {"tile_size": 512},  # one tile per model (tests/test_maps_workflow.py scatters)
}
# Files whose bytes legitimately differ between runs: logs, Snakemake's timing benchmarks.
VOLATILE = ("logs/", "benchmarks/")


#: Where a job block starts in a dry-run listing (optionally after its timestamp line).
JOB_START = re.compile(r"\n(?=\[[^\]]+\]\n(?:local)?rule \w+:|(?:local)?rule \w+:)")


def snakemake(cwd: Path, *args: str, timeout: int = 1500) -> str:
    """Run snakemake in ``cwd``; return stdout+stderr; fail the test with the output on error."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    return out


def scheduled_jobs(dry_run_output: str) -> list[tuple[str, str]]:
    """Parse (rule, wildcards) of every job a dry run schedules."""
    jobs = []
    for block in JOB_START.split(dry_run_output):
        m = re.search(r"^(?:local)?rule (\w+):", block.strip(), flags=re.MULTILINE)
        if not m:
            continue
        wc = re.search(r"^\s+wildcards: (.*)$", block, flags=re.MULTILINE)
        jobs.append((m.group(1), wc.group(1) if wc else ""))
    return jobs


def dry_run(workdir: Path) -> list[tuple[str, str]]:
    """Jobs a dry run of the default target schedules (empty when nothing is to be done)."""
    out = snakemake(workdir, "-n", "--cores", "2")
    if "Nothing to be done" in out:
        return []
    return [job for job in scheduled_jobs(out) if job[0] != "all"]


def file_hashes(results: Path) -> dict[str, str]:
    """sha256 of every file under ``results`` except logs and benchmarks."""
    out = {}
    for path in sorted(results.rglob("*")):
        rel = path.relative_to(results).as_posix()
        if path.is_file() and not rel.startswith(VOLATILE):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_workdir(dest: Path, root: Path) -> Path:
    """Copy the workflow and demo inputs to ``dest`` with the fast-training config overlay."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPY:
        src = root / name
        if src.is_dir():
            # resources/large, resources/national: the optional inputs of benchmarks/large_area.py
            # and benchmarks/national.py
            skip = shutil.ignore_patterns("__pycache__", "large", "national")
            shutil.copytree(src, dest / name, ignore=skip)
        else:
            shutil.copy2(src, dest / name)
    cfg_path = dest / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    for section, values in FAST.items():
        for key, value in values.items():
            if isinstance(value, dict):
                cfg.setdefault(section, {}).setdefault(key, {}).update(value)
            else:
                cfg.setdefault(section, {})[key] = value
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return dest
