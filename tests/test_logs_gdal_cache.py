"""GDAL's block cache per job (issue 14): bounded by the job's ``mem_mb``, not by the machine.

GDAL's default cache is 5 % of the machine's RAM, which a block-by-block job over a large
raster fills whatever memory the scheduler gave it. ``run_logged`` sets ``GDAL_CACHEMAX`` from
the job's resources before ``main`` runs; the check reads back the cache GDAL itself uses
(``GDALGetCacheMax64`` of the libgdal rasterio loaded) in a fresh interpreter, as a job runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

from slidemap.logs import gdal_cache_mb

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _libgdal() -> str | None:
    """Path of the libgdal that rasterio loads (its wheel's copy, else the system's)."""
    bundled = glob.glob(os.path.dirname(rasterio.__file__) + ".libs/libgdal*")
    return bundled[0] if bundled else ctypes.util.find_library("gdal")


LIBGDAL = _libgdal()
needs_libgdal = pytest.mark.skipif(LIBGDAL is None, reason="libgdal not found for ctypes")


def job_cache_mb(tmp_path: Path, resources: str, env_cache: str | None) -> float:
    """Run a job under run_logged with ``resources``; return GDAL's cache (MB) inside main."""
    script = tmp_path / "job.py"
    script.write_text(
        "import ctypes, types\n"
        "import rasterio\n"
        "from slidemap.logs import run_logged\n"
        "def main():\n"
        f"    g = ctypes.CDLL({LIBGDAL!r})\n"
        "    g.GDALGetCacheMax64.restype = ctypes.c_int64\n"
        "    print('CACHE', g.GDALGetCacheMax64() / 2**20)\n"
        f"run_logged(main, None, {resources})\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("GDAL_CACHEMAX", None)
    if env_cache is not None:
        env["GDAL_CACHEMAX"] = env_cache
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("CACHE"))
    return float(line.split()[1])


def test_cache_is_an_eighth_of_mem_mb_within_bounds():
    assert gdal_cache_mb(800) == 100
    assert gdal_cache_mb(1128) == 141
    assert gdal_cache_mb(100) == 32  # lower bound
    assert gdal_cache_mb(64000) == 256  # upper bound
    assert gdal_cache_mb(None) == 256  # outside Snakemake


@needs_libgdal
def test_job_cache_follows_its_mem_mb(tmp_path):
    got = job_cache_mb(tmp_path, "types.SimpleNamespace(mem_mb=800)", None)
    assert got == pytest.approx(100.0)


@needs_libgdal
def test_job_without_resources_gets_the_upper_bound_not_5_percent_of_ram(tmp_path):
    assert job_cache_mb(tmp_path, "None", None) == pytest.approx(256.0)


@needs_libgdal
def test_users_exported_cache_is_kept(tmp_path):
    assert job_cache_mb(tmp_path, "types.SimpleNamespace(mem_mb=800)", "300") == 300.0
