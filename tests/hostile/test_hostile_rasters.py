"""Hostile DEMs (issue 17, items 1-2): a located error naming file, key and fix, or a correct
result with a WARNING that is counted in grid.json — never a traceback or silent terrain.

Each spoiled DEM is derived from a clean synthetic one at test time; a "correct result" is
checked against the clean DEM whose holes are declared nodata (exact equality).
"""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine, from_origin

from slidemap.errors import InputDataError
from slidemap.factors.studygrid import build_study_grid
from slidemap.inputs import open_raster, scan_elevation

UTM = "EPSG:32717"
X0, Y0 = 700_000.0, 9_560_000.0
SHAPE = (60, 80)


def clean_dem() -> np.ndarray:
    """A smooth valley 1800-2600 m with a 5 x 7 hole (NaN) in it."""
    r, c = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    z = 1800.0 + 4.0 * r + 0.05 * (c - 40.0) ** 2 + 30.0 * np.sin(c / 7.0)
    z[20:25, 30:37] = np.nan
    return z


def write(path, arr, *, nodata=None, dtype="float32", transform=None, tiled=False):
    """Write a one-band GeoTIFF."""
    profile = dict(
        driver="GTiff",
        width=arr.shape[1],
        height=arr.shape[0],
        count=1,
        dtype=dtype,
        crs=UTM,
        transform=transform or from_origin(X0, Y0, 10.0, 10.0),
        nodata=nodata,
    )
    if tiled:
        profile.update(tiled=True, blockxsize=16, blockysize=16, compress="deflate")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr.astype(dtype), 1)
    return path


def grid_of(tmp_path, src, name, **kw):
    """Build the study grid of ``src``; return (grid DEM array, grid.json)."""
    out = tmp_path / f"{name}.tif"
    js = tmp_path / f"{name}.json"
    build_study_grid(src, out, js, chunk_size=32, **kw)
    with rasterio.open(out) as ds:
        return ds.read(1), json.loads(js.read_text())


@pytest.fixture
def reference(tmp_path):
    """The clean DEM (holes NaN) on its study grid."""
    return grid_of(tmp_path, write(tmp_path / "clean.tif", clean_dem()), "ref")


@pytest.mark.parametrize(
    ("sentinel", "dtype"),
    [
        (-9999.0, "float32"),
        (-32768.0, "int16"),
        (-3.4028234663852886e38, "float32"),
        (-32767.0, "float32"),
        (65535.0, "uint16"),
        (-99999.0, "float64"),
    ],
)
def test_undeclared_sentinel_is_nodata_with_a_warning_and_a_count(
    tmp_path, reference, caplog, sentinel, dtype
):
    z = clean_dem()
    if dtype in ("int16", "uint16"):
        z = np.round(z)
    holes = np.isnan(z)
    spoiled = np.where(holes, sentinel, z)
    src = write(tmp_path / "spoiled.tif", spoiled, dtype=dtype)
    with caplog.at_level(logging.WARNING, logger="slidemap.inputs"):
        got, info = grid_of(tmp_path, src, "got")
    ref, ref_info = reference
    expect = np.round(ref) if dtype in ("int16", "uint16") else ref.astype(np.float32)
    np.testing.assert_array_equal(got, expect)
    assert info["valid_cells"] == ref_info["valid_cells"] == holes.size - holes.sum()
    assert info["elevation_min_m"] >= 1700
    assert info["source_nodata"]["declared_by"] == "detected"
    assert info["source_nodata"]["undeclared_cells"] == int(holes.sum()) == 35
    text = caplog.text
    assert "35 cells" in text and "dem.nodata" in text and str(src) in text
    assert f"{sentinel:g}" in text


def test_declaring_the_sentinel_in_the_config_silences_the_warning(tmp_path, reference, caplog):
    z = clean_dem()
    src = write(tmp_path / "spoiled.tif", np.where(np.isnan(z), -9999.0, z))
    with caplog.at_level(logging.WARNING):
        got, info = grid_of(tmp_path, src, "got", dem_nodata=-9999.0)
    np.testing.assert_array_equal(got, reference[0])
    assert info["source_nodata"] == {
        "value": -9999.0,
        "declared_by": "config",
        "undeclared_cells": 0,
        "cells_read": SHAPE[0] * SHAPE[1],
    }
    assert "no elevation on Earth" not in caplog.text


def test_declared_nodata_in_the_file_is_used_without_warning(tmp_path, reference, caplog):
    z = clean_dem()
    src = write(tmp_path / "declared.tif", np.where(np.isnan(z), -9999.0, z), nodata=-9999.0)
    with caplog.at_level(logging.WARNING):
        got, info = grid_of(tmp_path, src, "got")
    np.testing.assert_array_equal(got, reference[0])
    assert info["source_nodata"]["declared_by"] == "file"
    assert caplog.text == ""


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_cells_are_nodata_and_the_suggested_yaml_silences_them(
    tmp_path, reference, caplog, value
):
    import yaml

    z = clean_dem()
    src = write(tmp_path / "inf.tif", np.where(np.isnan(z), value, z))
    with caplog.at_level(logging.WARNING, logger="slidemap.inputs"):
        got, info = grid_of(tmp_path, src, "got")
    np.testing.assert_array_equal(got, reference[0])
    assert info["source_nodata"]["value"] == ("inf" if value > 0 else "-inf")
    assert info["source_nodata"]["undeclared_cells"] == 35
    # the warning's suggestion is valid YAML for that value, and declaring it silences it
    suggested = caplog.text.split("Set config key '")[1].split("' to declare")[0]
    declared = yaml.safe_load(suggested.replace("dem.nodata", "nodata"))["nodata"]
    assert declared == value
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="slidemap.inputs"):
        got, info = grid_of(tmp_path, src, "again", dem_nodata=declared)
    np.testing.assert_array_equal(got, reference[0])
    assert info["source_nodata"]["declared_by"] == "config" and caplog.text == ""


def test_dem_with_two_bands_reads_band_one_and_says_so(tmp_path, reference, caplog):
    z = clean_dem()
    path = tmp_path / "two.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=SHAPE[0],
        width=SHAPE[1],
        count=2,
        dtype="float32",
        crs=UTM,
        transform=from_origin(X0, Y0, 10.0, 10.0),
        nodata=np.nan,
    ) as dst:
        dst.write(np.stack([z, np.zeros_like(z)]).astype("float32"))
    with caplog.at_level(logging.WARNING, logger="slidemap.inputs"):
        got, _ = grid_of(tmp_path, path, "got")
    np.testing.assert_array_equal(got, reference[0])
    assert "2 bands" in caplog.text and "gdal_translate -b" in caplog.text


def test_clean_dem_reports_no_nodata_source(reference):
    _, info = reference
    assert info["source_nodata"]["declared_by"] is None
    assert info["source_nodata"]["undeclared_cells"] == 0


def test_two_different_sentinels_are_an_error_naming_both_and_the_fix(tmp_path):
    z = clean_dem()
    z[np.isnan(z)] = -9999.0
    z[0, :5] = -32768.0
    src = write(tmp_path / "two.tif", z)
    with pytest.raises(InputDataError) as info:
        build_study_grid(src, tmp_path / "g.tif", tmp_path / "g.json")
    text = str(info.value)
    assert str(src) in text and "-9999 (35 cells)" in text and "-32768 (5 cells)" in text
    assert "gdal_calc.py" in text and "dem.path" in text
    assert not (tmp_path / "g.tif").exists() and not (tmp_path / "g.json").exists()


def test_sentinel_besides_the_declared_nodata_is_an_error(tmp_path):
    z = clean_dem()
    z[np.isnan(z)] = -9999.0
    z[3, 3] = 1.0e6  # a spike that is no elevation
    src = write(tmp_path / "spike.tif", z, nodata=-9999.0)
    with pytest.raises(InputDataError, match=r"declared nodata \(-9999\): 1e\+06 \(1 cells\)"):
        scan_elevation(src)


def test_plausible_extremes_are_kept(tmp_path):
    z = np.array([[-420.0, 0.0], [8848.0, -10900.0]])  # Dead Sea, sea level, Everest, trench
    src = write(tmp_path / "extremes.tif", z)
    scan = scan_elevation(src)
    assert scan.declared is None and scan.sentinel_cells == 0 and scan.cells == 4


def test_rotated_geotransform_is_refused_with_the_gdalwarp_command(tmp_path):
    t = Affine(10.0, 2.0, X0, 1.5, -10.0, Y0)
    src = write(tmp_path / "rotated.tif", clean_dem(), transform=t)
    with pytest.raises(InputDataError) as info:
        build_study_grid(src, tmp_path / "g.tif", tmp_path / "g.json")
    text = str(info.value)
    assert str(src) in text and "rotated" in text and "gdalwarp" in text
    assert "dem.path" in text


def test_truncated_geotiff_is_an_error_naming_the_file(tmp_path):
    src = write(tmp_path / "full.tif", np.nan_to_num(clean_dem(), nan=2000.0), tiled=True)
    data = src.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(InputDataError) as info:
        build_study_grid(cut, tmp_path / "g.tif", tmp_path / "g.json")
    text = str(info.value)
    assert str(cut) in text and re.search("truncated|corrupt", text) and "Fix:" in text
    assert not (tmp_path / "g.tif").exists()


@pytest.mark.parametrize("content", [b"", b"x,y,z\n1,2,3\n", b"II*\x00garbage"])
def test_not_a_raster_is_an_error_naming_the_file_and_key(tmp_path, content):
    bad = tmp_path / "dem.tif"
    bad.write_bytes(content)
    with pytest.raises(InputDataError) as info:
        build_study_grid(bad, tmp_path / "g.tif", tmp_path / "g.json")
    text = str(info.value)
    assert str(bad) in text and "dem.path" in text and "gdalinfo" in text


def test_missing_dem_is_an_error_naming_the_key(tmp_path):
    with pytest.raises(InputDataError, match="does not exist.*dem.path"):
        with open_raster(tmp_path / "nope.tif", "dem.path"):
            pass


@pytest.fixture
def grid_dem(tmp_path):
    """A clean study grid DEM."""
    src = write(tmp_path / "clean.tif", np.nan_to_num(clean_dem(), nan=2000.0))
    out = tmp_path / "grid_dem.tif"
    build_study_grid(src, out, tmp_path / "grid.json", chunk_size=32)
    return out


def truncated_copy(tmp_path, name, arr, dtype="float32"):
    """A tiled, compressed GeoTIFF cut after 60 % of its bytes."""
    full = write(tmp_path / f"full_{name}", arr, dtype=dtype, tiled=True)
    cut = tmp_path / name
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    return cut


def test_truncated_extra_raster_is_an_error_naming_its_key(tmp_path, grid_dem):
    from slidemap.factors.categorical import write_extra_factor

    rng = np.random.default_rng(1)
    cut = truncated_copy(tmp_path, "rain.tif", rng.random(SHAPE) * 2000)
    with pytest.raises(InputDataError) as info:
        write_extra_factor(cut, grid_dem, tmp_path / "rain_f.tif", name="rain")
    text = str(info.value)
    assert str(cut) in text and "layers.extra.rain" in text and re.search("truncated|corrupt", text)
    assert not (tmp_path / "rain_f.tif").exists()


def test_corrupt_landuse_geotiff_is_a_raster_error_not_a_vector_one(tmp_path, grid_dem):
    from slidemap.factors.categorical import categorical_on_grid
    from slidemap.raster import Grid

    bad = tmp_path / "landuse.tif"
    bad.write_bytes(b"II*\x00" + b"\x00" * 64)
    with pytest.raises(InputDataError) as info:
        categorical_on_grid(
            bad, Grid.from_raster(grid_dem), attribute=None, key="layers.landuse", chunk_size=32
        )
    text = str(info.value)
    assert str(bad) in text and "layers.landuse.path" in text
    assert "raster" in text and "vector" not in text
