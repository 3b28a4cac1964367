"""Shared fixtures: repository paths, the validated demo configuration, the demo run.

The suite runs on two pytest-xdist workers (``pyproject.toml``: ``-n 2 --dist loadfile``):
each test file runs whole on one worker. The finished demo run (``demo``) is built once per
session and shared by the workers through a file lock, and the files that run Snakemake for
minutes are handed out first (:func:`pytest_collection_modifyitems`), so that the two
workers finish together.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
DEMO_CONFIG = ROOT / "config" / "config.yaml"

#: Test files that run Snakemake for minutes: scheduled before the rest, in this order. The
#: demo run's files first and the landslide-only run second, so that the two whole-DAG runs
#: overlap; the rebuild test (a copy of the demo run) when the demo run is done.
LONG_FILES = (
    "test_workflow.py",
    "test_workflow_landslide_only.py",
    "test_workflow_rebuild.py",
    "test_ingest_tiles_workflow.py",
    "test_hydrology_tiles_workflow.py",
    "test_maps_workflow.py",
    "test_models_workflow.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    """Put the long workflow files first, in :data:`LONG_FILES` order (the rest keep theirs)."""
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def schema() -> dict:
    from slidemap.config import load_schema

    return load_schema(SCHEMA)


@pytest.fixture()
def demo_config() -> dict:
    with open(DEMO_CONFIG, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    """A finished run of the whole demo workflow (fast-training overlay), one per session.

    Under pytest-xdist the workers share it: the first to ask builds it under a file lock in
    the session's common temporary folder, the others wait and reuse it. Tests must not
    change it (``run_copy`` gives a private copy).
    """
    from workflow_helpers import make_workdir, snakemake

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the folder of this session's workers
    workdir, done = base / "demo_run", base / "demo_run.done"
    with FileLock(str(base / "demo_run.lock")):
        if not done.exists():
            if workdir.exists():  # an earlier attempt that failed
                shutil.rmtree(workdir)
            make_workdir(workdir, ROOT)
            snakemake(workdir, "--cores", "2")
            done.touch()
    return workdir


@pytest.fixture()
def run_copy(demo: Path, tmp_path: Path) -> Path:
    """A private copy of the finished demo run (results and .snakemake metadata)."""
    dest = tmp_path / "run"
    shutil.copytree(demo, dest, symlinks=True)
    return dest
