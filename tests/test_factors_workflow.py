"""The factor stage as a workflow: every factor on one grid, the catalog, the plots."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from factor_layers import make_layers

from slidemap.factors import planned_factors
from slidemap.io import read_json

pytestmark = pytest.mark.workflow

COPY = ["Snakefile", "workflow", "scripts", "config", "resources", "envs"]


def run_snakemake(cwd: Path, *args: str) -> str:
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


@pytest.fixture(scope="module")
def study(tmp_path_factory, root):
    """Run the factor rules on the demo DEM with seeded synthetic layers (no InSAR tracks)."""
    work = tmp_path_factory.mktemp("wf")
    for name in COPY:
        src = root / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
    layers = make_layers(work / "layers")
    config = {
        "study_area": {"name": "ft"},
        "dem": {"path": "resources/demo/dem.tif"},
        "layers": {
            "faults": str(layers["faults"].relative_to(work)),
            "roads": str(layers["roads"].relative_to(work)),
            "lithology": {
                "path": str(layers["lithology"].relative_to(work)),
                "codes": str(layers["lithology_codes"].relative_to(work)),
                "hardness": True,
            },
            "landuse": {
                "path": str(layers["landuse"].relative_to(work)),
                "attribute": "lu",
                "codes": str(layers["landuse_codes"].relative_to(work)),
            },
            "extra": {"rain": str(layers["rain"].relative_to(work))},
        },
        "factors": {"chunk_size": 128, "threads": 2, "tpi": {"radius_m": 30}},
    }
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    run_snakemake(work, "--cores", "2")
    return work, config


def test_every_factor_has_the_study_grid(study):
    work, config = study
    results = work / "results" / "ft"
    grid = read_json(results / "grid" / "grid.json")
    names = planned_factors(config)
    assert len(names) == 20
    for name in names:
        with rasterio.open(results / "factors" / f"{name}.tif") as src:
            assert src.crs.to_epsg() == grid["epsg"], name
            assert list(src.transform)[:6] == grid["transform"], name
            assert (src.height, src.width) == (grid["height"], grid["width"]), name
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG", name
            if src.dtypes[0] == "float32":
                assert math.isnan(src.nodata), name
            else:
                assert src.dtypes[0] in ("uint8", "int16") and src.nodata == 0, name
            data = src.read(1)
        with rasterio.open(results / "grid" / "dem.tif") as dem_src:
            dem_nodata = np.isnan(dem_src.read(1))
        # nodata of the DEM is nodata in every factor
        if data.dtype.kind == "f":
            assert np.isnan(data[dem_nodata]).all(), name
        else:
            assert (data[dem_nodata] == 0).all(), name


def test_catalog_lists_every_factor_with_unit_method_and_codes(study):
    work, config = study
    catalog = read_json(work / "results" / "ft" / "factors" / "factors.json")
    entries = {e["name"]: e for e in catalog["factors"]}
    assert list(entries) == planned_factors(config)
    for entry in entries.values():
        for key in ("kind", "unit", "method", "source", "path"):
            assert entry[key] not in (None, ""), (entry["name"], key)
    assert entries["slope"]["method"].startswith("Horn 1981")
    assert entries["hardness"]["codes"] == {
        "1": "hard",
        "2": "sub-hard",
        "3": "sub-soft",
        "4": "soft",
    }
    assert entries["dist_rivers"]["source"].startswith("streams.gpkg")
    assert entries["twi"]["memory_bytes_per_cell"] > 0
    assert "30" in entries["tpi"]["method"]
    for name in entries:
        assert (work / "results" / "ft" / "factors" / "plots" / f"{name}.png").stat().st_size > 0


def test_nothing_to_do_after_a_run(study):
    work, _ = study
    assert "Nothing to be done" in run_snakemake(work, "-n", "--cores", "1")
