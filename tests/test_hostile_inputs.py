"""Hostile rasters and layers (issue 8, item 2): each case gives a correct result or a clear error.

Every case runs the library functions on tiny synthetic inputs in ``tmp_path`` and checks the
result against an independent expectation (an analytic surface, shapely distances, a numpy
Horn slope, GDAL's own pixel lookup) or checks that the error names the file and the fix.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

from slidemap.errors import ConfigError, InputDataError
from slidemap.factors.categorical import write_categorical_factor, write_extra_factor
from slidemap.factors.distance import (
    distance_to_features,
    read_layer,
    write_distance_factor,
)
from slidemap.factors.studygrid import build_study_grid
from slidemap.factors.terrain import terrain_numpy, write_terrain_factors
from slidemap.io import read_json, write_json
from slidemap.maps.predict import TileLayout, tile_counts
from slidemap.samples import FactorSet, pixel_samples, read_inventory

UTM = "EPSG:32717"
X0, Y0 = 700_000.0, 9_560_000.0


def write_raster(path, arr, *, crs=UTM, transform=None, nodata=None, dtype=None):
    """Write a one-band GeoTIFF (``crs`` None = no CRS)."""
    arr = np.asarray(arr)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=arr.shape[1],
        height=arr.shape[0],
        count=1,
        dtype=dtype or arr.dtype,
        crs=crs,
        transform=transform or from_origin(X0, Y0, 10.0, 10.0),
        nodata=nodata,
    ) as dst:
        dst.write(arr.astype(dtype or arr.dtype), 1)
    return path


def read(path):
    with rasterio.open(path) as src:
        return src.read(1), src.transform, src.crs


def plane(rows, cols, *, dx=10.0, dy=10.0, gx=0.3, gy=-0.2, z0=500.0):
    """Elevations of z = z0 + gx * x + gy * y (x east, y north, metres) at cell centres."""
    rr, cc = np.mgrid[0:rows, 0:cols].astype(np.float64)
    x = (cc + 0.5) * dx
    y = -(rr + 0.5) * dy
    return z0 + gx * x + gy * y


@pytest.fixture()
def small_grid(tmp_path):
    """A 40 x 50 grid DEM (10 m, EPSG:32717) and its Grid."""
    src = write_raster(tmp_path / "src.tif", plane(40, 50).astype(np.float32))
    grid = build_study_grid(src, tmp_path / "dem.tif", tmp_path / "grid.json", chunk_size=64)
    return grid, tmp_path / "dem.tif"


# --- 1. DEM with nodata holes and NaN ----------------------------------------------------


def _holey_dem(rows=40, cols=30):
    z = plane(rows, cols).astype(np.float32)
    hole = np.zeros(z.shape, bool)
    hole[5:12, 6:14] = True  # declared nodata
    hole[30, 3] = True
    nan = np.zeros(z.shape, bool)
    nan[20:25, 15:22] = True  # NaN cells, whatever the declared nodata
    z[hole] = -9999.0
    z[nan] = np.nan
    return z, hole | nan


@pytest.mark.parametrize("declared", [True, False])
def test_dem_nodata_holes_and_nan_are_masked_not_filled(tmp_path, declared):
    z, invalid = _holey_dem()
    src = write_raster(tmp_path / "dem_in.tif", z, nodata=-9999.0 if declared else None)
    build_study_grid(
        src,
        tmp_path / "dem.tif",
        tmp_path / "grid.json",
        dem_nodata=None if declared else -9999.0,  # dem.nodata when the file declares none
        chunk_size=16,
    )
    out, _, _ = read(tmp_path / "dem.tif")
    assert np.array_equal(np.isnan(out), invalid)  # every hole cell is NaN, nothing else
    np.testing.assert_array_equal(out[~invalid], z[~invalid])  # copied bit for bit
    info = read_json(tmp_path / "grid.json")
    assert info["valid_cells"] == int((~invalid).sum())
    assert info["elevation_min_m"] == pytest.approx(float(z[~invalid].min()))


def test_resampled_dem_never_invents_values_in_holes(tmp_path):
    z, invalid = _holey_dem()
    src = write_raster(tmp_path / "dem_in.tif", z, nodata=-9999.0)
    grid = build_study_grid(
        src, tmp_path / "dem.tif", tmp_path / "g.json", resolution_m=4.0, chunk_size=16
    )
    out, _, _ = read(tmp_path / "dem.tif")
    assert np.nanmin(out) > -9000  # the nodata value never leaks as an elevation
    # the four source cells bilinear interpolation uses for each output cell centre
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    x = grid.transform.c + (cols + 0.5) * 4.0
    y = grid.transform.f - (rows + 0.5) * 4.0
    fc, fr = (x - X0) / 10.0 - 0.5, (Y0 - y) / 10.0 - 0.5
    c0, r0 = np.floor(fc).astype(int), np.floor(fr).astype(int)
    inner = (r0 >= 0) & (c0 >= 0) & (r0 + 1 < z.shape[0]) & (c0 + 1 < z.shape[1])
    r0, c0 = np.clip(r0, 0, z.shape[0] - 2), np.clip(c0, 0, z.shape[1] - 2)
    corners = [invalid[r0 + i, c0 + j] for i in (0, 1) for j in (0, 1)]
    all_bad = inner & np.all(corners, axis=0)
    all_good = inner & ~np.any(corners, axis=0)
    assert all_bad.sum() > 20 and np.isnan(out[all_bad]).all()
    truth = 500.0 + 0.3 * (x - X0) - 0.2 * (y - Y0)  # bilinear is exact on a plane
    np.testing.assert_allclose(out[all_good], truth[all_good], atol=2e-3)
    # mixed windows: NaN or a weighted mean of the valid neighbours only
    mixed = inner & ~all_bad & ~all_good & np.isfinite(out)
    zf = np.where(invalid, np.nan, z)
    nb = np.stack([zf[r0 + i, c0 + j] for i in (0, 1) for j in (0, 1)])
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanmin(nb, axis=0), np.nanmax(nb, axis=0)
    assert np.all(out[mixed] >= lo[mixed] - 1e-3) and np.all(out[mixed] <= hi[mixed] + 1e-3)


def test_dem_without_valid_cells_is_an_error(tmp_path):
    src = write_raster(tmp_path / "empty.tif", np.full((8, 8), -9999.0, np.float32), nodata=-9999)
    with pytest.raises(InputDataError) as err:
        build_study_grid(src, tmp_path / "dem.tif", tmp_path / "g.json")
    msg = str(err.value)
    assert "empty.tif" in msg and "no valid elevation" in msg and "dem.nodata" in msg
    assert not (tmp_path / "dem.tif").exists()


# --- 2. DEM in EPSG:4326 ---------------------------------------------------------------

LON0, LAT0, DEG = -79.06, -3.97, 0.0005  # ~55 m cells in southern Ecuador (UTM 17S)


def _geographic_dem(path, n=40):
    rr, cc = np.mgrid[0:n, 0:n].astype(np.float64)
    lon = LON0 + (cc + 0.5) * DEG
    lat = LAT0 - (rr + 0.5) * DEG
    z = 1000.0 + 2.0e4 * (lon - LON0) + 3.0e4 * (lat - LAT0)  # linear in lon/lat
    write_raster(
        path, z.astype(np.float32), crs="EPSG:4326", transform=from_origin(LON0, LAT0, DEG, DEG)
    )


def test_dem_in_degrees_is_reprojected_to_the_configured_crs(tmp_path):
    _geographic_dem(tmp_path / "geo.tif")
    grid = build_study_grid(
        tmp_path / "geo.tif",
        tmp_path / "dem.tif",
        tmp_path / "g.json",
        crs=UTM,
        resolution_m=50.0,
        chunk_size=16,
    )
    assert grid.crs.to_epsg() == 32717 and grid.resolution_m == 50.0
    assert grid.transform.c % 50.0 == 0 and grid.transform.f % 50.0 == 0  # -tap alignment
    out, _, _ = read(tmp_path / "dem.tif")
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    x = grid.transform.c + (cols + 0.5) * 50.0
    y = grid.transform.f - (rows + 0.5) * 50.0
    lon, lat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True).transform(x, y)
    fc, fr = (lon - LON0) / DEG, (LAT0 - lat) / DEG
    inner = (fc > 1) & (fr > 1) & (fc < 39) & (fr < 39)
    truth = 1000.0 + 2.0e4 * (lon - LON0) + 3.0e4 * (lat - LAT0)
    assert inner.sum() > 500 and np.isfinite(out[inner]).all()
    np.testing.assert_allclose(out[inner], truth[inner], atol=0.01)
    outside = (fc < -0.5) | (fr < -0.5) | (fc > 40.5) | (fr > 40.5)
    assert np.isnan(out[outside]).all()  # the rotated footprint's corners are nodata


def test_dem_in_degrees_without_crs_setting_goes_to_its_utm_zone(tmp_path):
    _geographic_dem(tmp_path / "geo.tif")
    grid = build_study_grid(tmp_path / "geo.tif", tmp_path / "dem.tif", tmp_path / "g.json")
    assert grid.crs.to_epsg() == 32717
    # 0.0005 degrees at 4 degrees south: 55.3 m of latitude, 55.5 m of longitude
    assert 55.0 < grid.resolution_m < 56.0


def test_geographic_working_crs_is_a_config_error(tmp_path):
    _geographic_dem(tmp_path / "geo.tif")
    with pytest.raises(ConfigError, match=r"'study_area.crs': 'EPSG:4326' is not projected"):
        build_study_grid(
            tmp_path / "geo.tif", tmp_path / "dem.tif", tmp_path / "g.json", crs="EPSG:4326"
        )


def test_dem_without_crs_is_an_error(tmp_path):
    src = write_raster(tmp_path / "nocrs.tif", plane(8, 8).astype(np.float32), crs=None)
    with pytest.raises(InputDataError) as err:
        build_study_grid(src, tmp_path / "dem.tif", tmp_path / "g.json")
    assert "nocrs.tif" in str(err.value) and "gdal_edit.py -a_srs" in str(err.value)


# --- 3. layers in different CRSs ----------------------------------------------------------


def _faults(grid):
    w, s, e, n = grid.bounds
    return [
        shapely.LineString([(w + 33.3, s + 41.7), (w + 251.9, s + 310.2), (e - 60.1, n + 80.4)]),
        shapely.LineString([(w - 150.7, n - 90.2), (e + 70.3, s + 120.9)]),
    ]


@pytest.mark.parametrize("layer_crs", ["EPSG:4326", "EPSG:3857", "EPSG:32617", "EPSG:32717"])
def test_layer_in_another_crs_gives_the_same_distances(tmp_path, small_grid, layer_crs):
    grid, dem = small_grid
    lines = gpd.GeoDataFrame({"id": [1, 2]}, geometry=_faults(grid), crs=UTM)
    lines.to_crs(layer_crs).to_file(tmp_path / "faults.gpkg")
    ours = distance_to_features(read_layer(tmp_path / "faults.gpkg", grid.crs, key="k"), grid)
    same = distance_to_features(lines.geometry, grid)
    # vertices reprojected there and back: the same lines to ~1e-6 m
    np.testing.assert_allclose(ours, same, atol=1e-3)
    # and within the documented bound of the exact distance from every cell centre
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    x = grid.transform.c + (cols + 0.5) * 10.0
    y = grid.transform.f - (rows + 0.5) * 10.0
    exact = shapely.distance(shapely.points(x, y), shapely.union_all(_faults(grid)))
    assert np.all(np.abs(ours - exact) <= 10.0 * np.sqrt(2) / 2 + 1e-3)
    # end to end: the written factor is the same array, NaN only where the DEM is
    write_distance_factor(tmp_path / "faults.gpkg", dem, tmp_path / "d.tif", name="d", key="k")
    np.testing.assert_array_equal(read(tmp_path / "d.tif")[0], ours)


def test_categorical_raster_in_degrees_takes_the_code_under_each_cell_centre(tmp_path, small_grid):
    grid, dem = small_grid
    w, s, e, n = grid.bounds
    to_geo = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    lon0, lat1 = to_geo.transform(w - 100, n + 100)
    lon1, lat0 = to_geo.transform(e + 100, s - 100)
    step = 0.00007  # ~7.7 m, finer than the grid and not aligned with it
    ncol, nrow = int((lon1 - lon0) / step) + 1, int((lat1 - lat0) / step) + 1
    rr, cc = np.mgrid[0:nrow, 0:ncol]
    codes = (1 + (rr // 7 + 2 * (cc // 5)) % 9).astype(np.uint8)
    t = from_origin(lon0, lat1, step, step)
    write_raster(tmp_path / "lith.tif", codes, crs="EPSG:4326", transform=t, nodata=0)
    write_categorical_factor(tmp_path / "lith.tif", dem, tmp_path / "lith_grid.tif", name="lith")
    out = read(tmp_path / "lith_grid.tif")[0]
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    x = grid.transform.c + (cols + 0.5) * 10.0
    y = grid.transform.f - (rows + 0.5) * 10.0
    lon, lat = to_geo.transform(x, y)
    fc, fr = (lon - lon0) / step, (lat1 - lat) / step
    # cells whose centre is not within 1e-3 source pixel of a source pixel edge
    clear = (np.abs(fc - np.round(fc)) > 1e-3) & (np.abs(fr - np.round(fr)) > 1e-3)
    expected = codes[np.floor(fr).astype(int), np.floor(fc).astype(int)]
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(out[clear], expected[clear])


def test_extra_raster_in_another_crs_is_resampled_onto_the_grid(tmp_path, small_grid):
    grid, dem = small_grid
    # a linear field in EPSG:3857 metres: bilinear resampling reproduces it at every centre
    to_merc = Transformer.from_crs(UTM, "EPSG:3857", always_xy=True)
    w, s, e, n = grid.bounds
    mx0, my1 = to_merc.transform(w - 200, n + 200)
    mx1, my0 = to_merc.transform(e + 200, s - 200)
    nx, ny = int((mx1 - mx0) / 13.0) + 2, int((my1 - my0) / 13.0) + 2
    rr, cc = np.mgrid[0:ny, 0:nx].astype(np.float64)
    field = 100.0 + 0.01 * (cc + 0.5) * 13.0 - 0.02 * (rr + 0.5) * 13.0
    t = from_origin(mx0, my1, 13.0, 13.0)
    write_raster(tmp_path / "rain.tif", field.astype(np.float32), crs="EPSG:3857", transform=t)
    write_extra_factor(tmp_path / "rain.tif", dem, tmp_path / "rain_grid.tif", name="rain")
    out = read(tmp_path / "rain_grid.tif")[0]
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    mx, my = to_merc.transform(
        grid.transform.c + (cols + 0.5) * 10.0, grid.transform.f - (rows + 0.5) * 10.0
    )
    truth = 100.0 + 0.01 * (mx - mx0) - 0.02 * (my1 - my)
    np.testing.assert_allclose(out, truth, atol=2e-3)


# --- 4. a layer without CRS ---------------------------------------------------------------


def _no_crs_shapefile(path, geoms, **attrs):
    gdf = gpd.GeoDataFrame(attrs, geometry=geoms, crs=None)
    gdf.to_file(path)  # a shapefile without its .prj
    assert not path.with_suffix(".prj").exists()
    return path


@pytest.mark.parametrize("kind", ["distance", "categorical", "inventory", "boundary", "raster"])
def test_layer_without_crs_is_an_error_that_says_so(tmp_path, small_grid, kind):
    grid, dem = small_grid
    w, s, e, n = grid.bounds
    if kind == "raster":
        path = write_raster(tmp_path / "rain.tif", np.ones((5, 5), np.float32), crs=None)
        with pytest.raises(InputDataError) as err:
            write_extra_factor(path, dem, tmp_path / "out.tif", name="rain")
        assert "has no coordinate reference system" in str(err.value)
        assert "gdal_edit.py -a_srs" in str(err.value)
        return
    box = shapely.box(w + 10, s + 10, e - 10, n - 10)
    path = _no_crs_shapefile(tmp_path / f"{kind}.shp", [box], code=[1])
    with pytest.raises(InputDataError) as err:
        if kind == "distance":
            write_distance_factor(path, dem, tmp_path / "d.tif", name="dist_faults", key="k")
        elif kind == "categorical":
            write_categorical_factor(path, dem, tmp_path / "c.tif", name="lu", attribute="code")
        elif kind == "inventory":
            read_inventory(path, working_crs=UTM)
        else:
            build_study_grid(dem, tmp_path / "g.tif", tmp_path / "g.json", boundary=path)
    msg = str(err.value)
    assert (
        str(path) in msg
        and "no" in msg
        and "CRS" in msg.replace("coordinate reference system", "CRS")
    )
    assert ".prj" in msg and "Fix:" in msg
    assert not (tmp_path / "d.tif").exists() and not (tmp_path / "c.tif").exists()


# --- 5. non-square pixels -------------------------------------------------------------------


def _horn_slope(z, dx, dy):
    """Horn (1981) slope in degrees, numpy reference (NaN on the outer ring)."""
    out = np.full(z.shape, np.nan)
    a, b, c = z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:]
    d, f = z[1:-1, :-2], z[1:-1, 2:]
    g, h, i = z[2:, :-2], z[2:, 1:-1], z[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * dx)
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8 * dy)
    out[1:-1, 1:-1] = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    return out


def _gdaldem_slope(src, tmp_path):
    """gdaldem slope of a raster, or None when gdaldem is not installed."""
    if shutil.which("gdaldem") is None:
        return None
    out = tmp_path / "gdaldem_slope.tif"
    subprocess.run(["gdaldem", "slope", str(src), str(out), "-q"], check=True)
    arr = read(out)[0].astype(np.float64)
    arr[arr == -9999] = np.nan
    return arr


def test_non_square_pixels_give_the_right_slope(tmp_path):
    dx, dy = 10.0, 15.0
    rows, cols = 30, 40
    rr, cc = np.mgrid[0:rows, 0:cols].astype(np.float64)
    x, y = (cc + 0.5) * dx, -(rr + 0.5) * dy
    z = (500 + 0.3 * x - 0.2 * y + 1e-4 * x * y + 8 * np.sin(x / 70)).astype(np.float32)
    src = write_raster(tmp_path / "rect.tif", z, transform=from_origin(X0, Y0, dx, dy))
    reference = _gdaldem_slope(src, tmp_path)
    if reference is None:
        reference = _horn_slope(z.astype(np.float64), dx, dy)
    # the terrain kernel itself handles rectangular cells (ewres != |nsres|) ...
    ours = terrain_numpy(z, ewres=dx, nsres=-dy, names=["slope"])["slope"]
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_allclose(ours, reference, atol=1e-3, equal_nan=True)
    # ... and the study grid makes cells square (sqrt(dx dy) = 12.25 m) by bilinear
    # resampling, which keeps a plane's slope exactly
    zp = plane(rows, cols, dx=dx, dy=dy, gx=0.3, gy=-0.2).astype(np.float32)
    src2 = write_raster(tmp_path / "rect_plane.tif", zp, transform=from_origin(X0, Y0, dx, dy))
    grid = build_study_grid(src2, tmp_path / "dem.tif", tmp_path / "g.json", chunk_size=16)
    assert grid.resolution_m == 12.25 and abs(grid.transform.e) == 12.25
    write_terrain_factors(tmp_path / "dem.tif", {"slope": tmp_path / "slope.tif"}, chunk_size=16)
    slope = read(tmp_path / "slope.tif")[0]
    # cells whose 3 x 3 window lies within the hull of the source cell centres (beyond it
    # GDAL's bilinear kernel clamps to the edge cells, which flattens the border)
    gr, gc = np.mgrid[0 : grid.height, 0 : grid.width]
    gx = grid.transform.c + (gc + 0.5) * 12.25 - X0
    gy = Y0 - (grid.transform.f - (gr + 0.5) * 12.25)
    inner = (gx - 12.25 >= dx / 2) & (gx + 12.25 <= (cols - 0.5) * dx)
    inner &= (gy - 12.25 >= dy / 2) & (gy + 12.25 <= (rows - 0.5) * dy)
    assert inner.sum() > 0.6 * slope.size and np.isfinite(slope[inner]).all()
    np.testing.assert_allclose(slope[inner], np.degrees(np.arctan(np.hypot(0.3, 0.2))), atol=2e-3)


# --- 6. a study area smaller than one tile / chunk -----------------------------------------


def test_study_area_smaller_than_one_chunk_and_one_tile(tmp_path):
    z = plane(7, 5).astype(np.float32)
    src = write_raster(tmp_path / "tiny.tif", z)
    grid = build_study_grid(src, tmp_path / "dem.tif", tmp_path / "g.json", chunk_size=1024)
    assert grid.shape == (7, 5)
    np.testing.assert_array_equal(read(tmp_path / "dem.tif")[0], z)
    outputs = {"slope": tmp_path / "slope.tif", "tri": tmp_path / "tri.tif"}
    write_terrain_factors(tmp_path / "dem.tif", outputs, chunk_size=1024)
    slope = read(outputs["slope"])[0]
    ref = _horn_slope(z.astype(np.float64), 10.0, 10.0)
    np.testing.assert_allclose(slope, ref, atol=1e-4, equal_nan=True)
    assert np.isfinite(slope).sum() == 5 * 3  # the inner cells
    line = gpd.GeoDataFrame(geometry=[shapely.LineString([(X0, Y0 - 35), (X0 + 50, Y0 - 35)])])
    line.set_crs(UTM).to_file(tmp_path / "road.gpkg")
    write_distance_factor(
        tmp_path / "road.gpkg", tmp_path / "dem.tif", tmp_path / "d.tif", name="d", key="k"
    )
    d = read(tmp_path / "d.tif")[0]
    np.testing.assert_allclose(d[:, 0], [30, 20, 10, 0, 10, 20, 30])  # row 3 holds the line
    assert tile_counts(*grid.shape, 1024) == (1, 1)
    win = TileLayout(*grid.shape, 1, 1).window("r000c000")
    assert (win.row_off, win.col_off, win.height, win.width) == (0, 0, 7, 5)


def test_boundary_smaller_than_the_dem_gives_a_small_grid(tmp_path):
    src = write_raster(tmp_path / "dem_in.tif", plane(60, 60).astype(np.float32))
    disc = shapely.Point(X0 + 300.0, Y0 - 300.0).buffer(22.0)
    gpd.GeoDataFrame(geometry=[disc], crs=UTM).to_file(tmp_path / "area.gpkg")
    grid = build_study_grid(
        src, tmp_path / "dem.tif", tmp_path / "g.json", boundary=tmp_path / "area.gpkg"
    )
    assert grid.shape == (6, 6)  # the disc's box (44 m) snapped outwards to 10 m cells
    out = read(tmp_path / "dem.tif")[0]
    rows, cols = np.mgrid[0:6, 0:6]
    cx = grid.transform.c + (cols + 0.5) * 10.0
    cy = grid.transform.f - (rows + 0.5) * 10.0
    inside = shapely.contains_xy(disc, cx, cy)
    assert np.array_equal(np.isfinite(out), inside)


def test_boundary_without_any_cell_centre_is_an_error(tmp_path):
    src = write_raster(tmp_path / "dem_in.tif", plane(20, 20).astype(np.float32))
    speck = shapely.box(X0 + 51.0, Y0 - 59.0, X0 + 54.0, Y0 - 51.0)  # inside one cell, off-centre
    gpd.GeoDataFrame(geometry=[speck], crs=UTM).to_file(tmp_path / "area.gpkg")
    with pytest.raises(InputDataError) as err:
        build_study_grid(
            src, tmp_path / "dem.tif", tmp_path / "g.json", boundary=tmp_path / "area.gpkg"
        )
    assert "dem_in.tif" in str(err.value) and "study_area.boundary" in str(err.value)


# --- 7. an inventory point outside the DEM ------------------------------------------------------


def _factor_set(folder):
    """Two factors on a 30 x 30 grid; elevation has a NaN hole (rows 0-4, cols 25-29)."""
    z = plane(30, 30)
    z[0:5, 25:30] = np.nan
    entries = []
    for name, arr in {"elevation": z, "slope": np.full((30, 30), 12.0)}.items():
        p = write_raster(folder / f"{name}.tif", arr.astype(np.float32), nodata=np.nan)
        entries.append({"name": name, "kind": "continuous", "path": str(p)})
    write_json({"factors": entries}, folder / "factors.json")
    return FactorSet.open(folder / "factors.json")


def test_inventory_point_outside_the_dem_is_reported_excluded_and_counted(tmp_path, caplog):
    fs = _factor_set(tmp_path)
    inside = [(X0 + 15 + 20 * k, Y0 - 105 - 10 * k) for k in range(8)]
    pts = inside + [
        (X0 + 1000.0, Y0 - 100.0),  # east of the DEM: outside the grid (CSV line 10)
        (X0 + 275.0, Y0 - 25.0),  # in the DEM's nodata hole (line 11)
        (X0 - 0.5, Y0 - 3.0),  # half a metre west of the DEM's edge (line 12)
    ]
    df = pd.DataFrame({"x": [p[0] for p in pts], "y": [p[1] for p in pts], "ls": 1})
    df.to_csv(tmp_path / "inv.csv", index=False)
    inv = read_inventory(tmp_path / "inv.csv", working_crs=UTM, crs=UTM)
    with caplog.at_level(logging.WARNING, logger="slidemap.samples"):
        samples, summary = pixel_samples(fs, inv, negatives="random", buffer_m=0, seed=1)
    assert summary["inventory_landslides"] == 11
    assert summary["excluded"]["inventory"] == {
        "outside_grid": 2,
        "nodata": 1,
        "duplicate_cell": 0,
    }
    assert summary["positives"] == 8 and summary["negatives"] == 8
    assert summary["excluded_inventory_rows"] == {"outside_grid": [10, 12], "nodata": [11]}
    pos = samples[samples["label"] == 1]
    assert np.all(np.isfinite(pos[["elevation", "slope"]].to_numpy()))
    assert pos["x_m"].between(X0, X0 + 300).all() and pos["y_m"].between(Y0 - 300, Y0).all()
    text = caplog.text
    assert "2 inventory landslide(s) lie outside the study grid" in text
    assert "10, 12" in text and "11" in text
