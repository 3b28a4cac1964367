"""The tiled hydrology as a workflow (factors.hydrology.tile_size_cells): the tile jobs and
merges give the whole-grid D8 routing's SCA/TWI/SPI and streams, file for file."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml

from slidemap.factors.hydrology import write_hydrology

pytestmark = pytest.mark.workflow

COPY = ["Snakefile", "workflow", "scripts", "config", "resources", "envs"]
FACTORS = "results/ht/factors"
TARGETS = [f"{FACTORS}/{name}" for name in ("sca.tif", "twi.tif", "spi.tif", "streams.gpkg")]
TILE_RULES = [
    "hydro_flood",
    "hydro_fill",
    "hydro_seams",
    "hydro_dirs",
    "hydro_flow",
    "hydro_accumulate",
    "hydro_factors",
    "hydro_pieces",
]
MERGE_RULES = ["hydro_levels", "hydro_flats", "hydro_inflows", "hydro_streams", "hydro_mosaic"]


def snakemake(cwd: Path, *args: str, ok: bool = True) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == ok, out
    return out


def jobs_and_memory(dry_run: str) -> list[tuple[str, str, int]]:
    """(rule, wildcards, mem_mb) of every job of a dry run's output."""
    found = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", dry_run):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        mem = re.search(r"\bmem_mb=(\d+)", block)
        wc = re.search(r"^\s+wildcards: (.*)$", block, flags=re.MULTILINE)
        if rule and rule.group(1) != "all":
            found.append(
                (rule.group(1), wc.group(1) if wc else "", int(mem.group(1)) if mem else 0)
            )
    return found


def write_config(work: Path, **hydrology) -> None:
    config = {
        "study_area": {"name": "ht"},
        "dem": {"path": "resources/demo/dem.tif"},
        "factors": {"chunk_size": 128, "threads": 2, "hydrology": hydrology},
    }
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


@pytest.fixture(scope="module")
def tiled(tmp_path_factory, root):
    """The hydrology outputs of the demo DEM in 128-cell tiles (415 x 383 cells: 4 x 3 tiles,
    the last row and column smaller), run by Snakemake."""
    work = tmp_path_factory.mktemp("ht")
    for name in COPY:
        src = root / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
    write_config(work, method="d8", tile_size_cells=128, stream_threshold_cells=300)
    plan = snakemake(work, "-n", "--cores", "2", *TARGETS)
    run = snakemake(work, "--cores", "2", *TARGETS)
    return work, plan, run


def test_tiled_workflow_equals_the_whole_grid_routing(tiled, tmp_path):
    work, _, _ = tiled
    grid_dem = work / "results" / "ht" / "grid" / "dem.tif"
    ref = {name: tmp_path / f"{name}.tif" for name in ("sca", "twi", "spi")}
    # the independent reference: one whole-array job (rule hydrology's library call)
    write_hydrology(
        grid_dem,
        sca_path=ref["sca"],
        twi_path=ref["twi"],
        spi_path=ref["spi"],
        streams_path=tmp_path / "streams.gpkg",
        method="d8",
        stream_threshold_cells=300,
        chunk_size=128,
    )
    for name, path in ref.items():
        with rasterio.open(path) as a, rasterio.open(work / FACTORS / f"{name}.tif") as b:
            assert np.array_equal(a.read(1), b.read(1), equal_nan=True), name
            assert (a.crs, a.transform, a.shape) == (b.crs, b.transform, b.shape)
            assert "tiled, 128 x 128-cell tiles" in b.tags()["method"]
    whole = gpd.read_file(tmp_path / "streams.gpkg")
    tiles = gpd.read_file(work / FACTORS / "streams.gpkg")
    assert len(whole) > 100
    assert whole.drop(columns="geometry").equals(tiles.drop(columns="geometry"))
    assert whole.geometry.geom_equals_exact(tiles.geometry, 0).all()
    assert whole.crs == tiles.crs


def test_dry_run_lists_every_tile_job_and_temporaries_are_removed(tiled):
    work, plan, run = tiled
    counts = Counter(rule for rule, _, _ in jobs_and_memory(plan))
    assert {rule: counts[rule] for rule in TILE_RULES} == {rule: 12 for rule in TILE_RULES}
    assert {rule: counts[rule] for rule in MERGE_RULES} == {rule: 1 for rule in MERGE_RULES}
    assert counts["hydro_vrt"] == 6 and "hydrology" not in counts
    assert "Removing temporary output" in run
    assert not list((work / FACTORS).glob("hydrology_tiles/*"))
    assert "Nothing to be done" in snakemake(work, "-n", "--cores", "1", *TARGETS)


def test_every_tiled_job_asks_for_more_memory_when_retried(tiled):
    work, _, _ = tiled
    first, second = (
        jobs_and_memory(
            snakemake(work, "-n", "--forceall", "--cores", "2", "--attempt", a, *TARGETS)
        )
        for a in ("1", "2")
    )
    first, second = ({(r, w): mb for r, w, mb in jobs} for jobs in (first, second))
    assert first.keys() == second.keys()
    assert {rule for rule, _ in first} >= set(TILE_RULES + MERGE_RULES)
    for job, mb in first.items():
        assert mb > 0 and second[job] >= 2 * mb - 1, (job, mb, second[job])


def test_tiled_mfd_is_refused_with_the_fix(tiled, tmp_path):
    work, _, _ = tiled
    bad = tmp_path / "mfd"
    bad.mkdir()
    for name in COPY:
        src = work / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, bad / name)
    write_config(bad, method="mfd", tile_size_cells=128)
    out = snakemake(bad, "-n", "--cores", "1", ok=False)
    assert "tiled flow routing is D8 only" in out and "Traceback" not in out
