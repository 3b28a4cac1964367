"""Bad settings and inputs found while Snakemake reads the workflow (issue 17): config keys
and the DEM header are checked before any job runs, and each problem is one message on
stderr that names the key (or file) and the fix; no traceback, no Python frames.

Each case is the demo configuration with one thing spoiled, run as a user runs it
(``snakemake -n --configfile …`` in a fresh working directory whose ``resources`` is the
repository's).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from mounts import tmpfs

ROOT = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))


def run_snakemake(work: Path, cfg_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the repository's workflow in ``work`` with ``cfg_path`` as its only config file."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "--cores", "1"]
        + ["-s", str(ROOT / "Snakefile"), "-d", str(work), "--configfile", str(cfg_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def study_folder(work: Path, cfg: dict) -> Path:
    """A working folder whose ``resources`` is the repository's; return its config file."""
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "resources").exists():
        (work / "resources").symlink_to(ROOT / "resources")
    cfg_path = work / "study.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return cfg_path


def dry_run(tmp_path: Path, cfg: dict) -> subprocess.CompletedProcess:
    """``snakemake -n`` of the repository's workflow with ``cfg`` in a fresh working folder."""
    work = tmp_path / "work"
    return run_snakemake(work, study_folder(work, cfg), "-n")


def assert_located(proc: subprocess.CompletedProcess, *said: str) -> str:
    """The run failed with a message holding every text of ``said`` and no traceback."""
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Traceback" not in out and 'File "' not in out, out
    for text in said:
        assert text in out, (text, out)
    return out


def spoiled(**changes) -> dict:
    """The demo configuration with ``changes`` (dotted key -> value; None deletes) applied."""
    cfg = copy.deepcopy(DEMO)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = cfg
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return cfg


def write_dem(path: Path, *, transform=None, crs="EPSG:32717") -> Path:
    """A small DEM (40 x 50 cells of 10 m) in the demo's area."""
    data = np.linspace(1800.0, 2400.0, 40 * 50, dtype="float32").reshape(40, 50)
    profile = {
        "driver": "GTiff",
        "height": 40,
        "width": 50,
        "count": 1,
        "dtype": "float32",
        "transform": transform or Affine(10.0, 0.0, 711960.0, 0.0, -10.0, 9561000.0),
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"bogus_key": 1}, ["unknown config key 'bogus_key'", "Allowed keys here"]),
        ({"hotspots__gi_band": 75}, ["unknown config key 'hotspots.gi_band'"]),
        ({"study_area__resolution_m": "ten"}, ["'study_area.resolution_m'", "'ten'"]),
        ({"hotspots__preset": "seed2"}, ["'hotspots.preset'", "seed002"]),
        ({"dem": "resources/demo/dem.tif"}, ["config key 'dem'", "object"]),
        ({"dem__path": "resources/demo/no_such_dem.tif"}, ["'dem.path'", "does not exist"]),
        (
            {"insar__tracks__asc_018__path": "resources/demo/truth"},
            ["'insar.tracks.asc_018.path'", "holds no *.csv file"],
        ),
        ({"study_area__crs": "EPSG:99999"}, ["'study_area.crs'", "EPSG:32717"]),
        ({"study_area__crs": "EPSG:4326"}, ["'study_area.crs'", "metre"]),
    ],
    ids=[
        "unknown-top-key",
        "unknown-nested-key",
        "wrong-type",
        "bad-enum",
        "section-as-string",
        "missing-dem",
        "track-without-csv",
        "unknown-crs",
        "geographic-crs",
    ],
)
def test_bad_setting_is_one_message_naming_the_key(tmp_path, changes, said):
    out = assert_located(dry_run(tmp_path, spoiled(**changes)), *said)
    assert "slidemap:" in out


def test_rotated_dem_is_refused_with_the_gdalwarp_command(tmp_path):
    rotated = Affine(10.0, 2.0, 711960.0, 1.0, -10.0, 9561000.0)
    dem = write_dem(tmp_path / "rotated.tif", transform=rotated)
    out = assert_located(dry_run(tmp_path, spoiled(dem__path=str(dem))), str(dem))
    assert "gdalwarp" in out and "'dem.path'" in out


def test_dem_without_crs_names_the_file_and_the_fix(tmp_path):
    dem = write_dem(tmp_path / "nocrs.tif", crs=None)
    out = assert_located(dry_run(tmp_path, spoiled(dem__path=str(dem))), str(dem))
    assert "no coordinate reference system" in out and "gdal_edit.py" in out
    assert "'dem.path'" in out


def test_text_file_named_tif_is_not_a_raster(tmp_path):
    dem = tmp_path / "dem.tif"
    dem.write_text("x,y,z\n1,2,3\n", encoding="utf-8")
    assert_located(dry_run(tmp_path, spoiled(dem__path=str(dem))), str(dem), "'dem.path'")


def test_config_that_is_not_yaml_fails_without_traceback(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    bad = work / "study.yaml"
    bad.write_text("dem: [\n  path: x\n", encoding="utf-8")
    proc = run_snakemake(work, bad, "-n")
    # Snakemake reads --configfile before the workflow: its own message, without a traceback
    assert_located(proc, "YAML")


def test_valid_demo_configuration_passes_the_same_checks(tmp_path):
    proc = dry_run(tmp_path, copy.deepcopy(DEMO))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


def test_read_only_results_folder_is_one_message_before_any_job(tmp_path):
    """A read-only mount over the results (root ignores permissions, not a read-only mount;
    skipped where mounting is not allowed)."""
    work = tmp_path / "work"
    with tmpfs(work / "results" / "demo", "ro,size=64k"):
        cfg_path = study_folder(work, DEMO)
        proc = run_snakemake(work, cfg_path, "results/demo/grid/grid.json")
        out = assert_located(proc, "cannot write in results/demo", "read-only", "Fix:")
        assert "no job was started" in out
