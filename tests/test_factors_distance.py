"""Distance factors: exact EDT vs scipy, distances vs exact GEOS geometry distances (bound)."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage

from slidemap.errors import InputDataError
from slidemap.factors.distance import (
    distance_blocks,
    distance_to_features,
    edt,
    read_layer,
    write_distance_factor,
)
from slidemap.raster import Grid, write_cog

CRS_UTM = CRS.from_epsg(32717)


def random_lines(rng, n, box):
    x0, y0, x1, y1 = box
    out = []
    for _ in range(n):
        start = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
        out.append(shapely.LineString(start + np.cumsum(rng.normal(0, 60, (5, 2)), axis=0)))
    return out


@pytest.mark.parametrize(("shape", "p"), [((60, 45), 0.02), ((1, 12), 0.2), ((200, 150), 1e-3)])
def test_edt_equals_scipy(shape, p):
    rng = np.random.default_rng(7)
    mask = rng.random(shape) < p
    mask.flat[0] = True
    ours = edt(mask, dy=-12.5, dx=10.0)
    ref = ndimage.distance_transform_edt(~mask, sampling=(12.5, 10.0))
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-3)


def test_edt_without_features_is_infinite():
    assert np.isinf(edt(np.zeros((4, 5), bool))).all()


def exact_distances(geoms, grid):
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    t = grid.transform
    pts = shapely.points(t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e)
    return shapely.distance(pts, shapely.union_all(geoms))


def test_distance_is_within_half_a_cell_diagonal_of_exact():
    rng = np.random.default_rng(11)
    grid = Grid(CRS_UTM, Affine(10, 0, 1000, 0, -10, 5000), 80, 70)
    geoms = random_lines(rng, 4, (1000, 4300, 1800, 5000))
    ours = distance_to_features(geoms, grid)
    exact = exact_distances(geoms, grid)
    bound = 10 * math.sqrt(2) / 2
    assert np.abs(ours - exact).max() <= bound + 1e-3
    assert np.abs(ours - exact).mean() < bound / 2  # typically well inside the bound
    # a cell the line crosses reads 0
    assert (ours[exact < 1e-9] == 0).all()


def test_features_beyond_the_padded_grid_are_not_ignored():
    grid = Grid(CRS_UTM, Affine(10, 0, 0, 0, -10, 1000), 40, 30)
    near = shapely.LineString([(150, 900), (200, 850)])
    far = shapely.LineString([(-800, 0), (-800, 1000)])  # 80 cells west of the grid
    for geoms in ([near, far], [far]):
        ours = distance_to_features(geoms, grid, pad_cells=3)
        exact = exact_distances(geoms, grid)
        assert np.abs(ours - exact).max() <= 10 * math.sqrt(2) / 2 + 1e-3
    np.testing.assert_allclose(distance_to_features([far], grid, pad_cells=3), exact, rtol=1e-6)


def streamed(geoms, grid, tmp_path, **kw):
    """Put the blocks of distance_blocks together; check the scratch file is gone."""
    out = np.full(grid.shape, -1.0, np.float32)
    for w, block in distance_blocks(geoms, grid, scratch_dir=tmp_path, **kw):
        assert block.dtype == np.float32 and block.shape == (w.height, w.width)
        out[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] = block
    assert not list(tmp_path.iterdir())  # the scratch file was removed
    return out


@pytest.mark.parametrize("strip", [1, 7, 64])
def test_streamed_distances_equal_the_whole_grid_transform(tmp_path, strip):
    rng = np.random.default_rng(strip)
    grid = Grid(CRS_UTM, Affine(10, 0, 1000, 0, -10, 5000), 83, 61)
    geoms = random_lines(rng, 6, (700, 4000, 2100, 5300))  # some beyond the padded grid
    geoms += [
        shapely.box(1200, 4500, 1390, 4650),  # edges on cell boundaries
        shapely.LineString([(1500, 4400), (1500, 4900)]),  # along a column boundary
        shapely.Point(1605, 4795).buffer(30),
        shapely.LineString([(-3000, 4000), (-3000, 5000)]),  # far west: the GEOS correction
    ]
    for pad in (3, 128):
        want = distance_to_features(geoms, grid, pad_cells=pad)
        got = streamed(geoms, grid, tmp_path, pad_cells=pad, strip_cells=strip)
        np.testing.assert_array_equal(got, want)
        assert (want == 0).any() and (want > 100).any()


def test_streamed_distances_without_features_nearby(tmp_path):
    grid = Grid(CRS_UTM, Affine(10, 0, 0, 0, -10, 1000), 40, 30)
    far = [shapely.LineString([(-800, 0), (-800, 1000)])]
    got = streamed(far, grid, tmp_path, pad_cells=3, strip_cells=8)
    np.testing.assert_array_equal(got, distance_to_features(far, grid, pad_cells=3))
    assert np.isfinite(got).all()


def test_polygon_interior_is_zero():
    grid = Grid(CRS_UTM, Affine(10, 0, 0, 0, -10, 500), 50, 50)
    poly = shapely.box(100, 100, 300, 300)
    ours = distance_to_features([poly], grid)
    exact = exact_distances([poly], grid)
    assert (ours[exact == 0] == 0).all()
    assert np.abs(ours - exact).max() <= 10 * math.sqrt(2) / 2 + 1e-3


def test_layer_in_another_crs_is_reprojected(tmp_path, root):
    rng = np.random.default_rng(5)
    with rasterio.open(root / "tests" / "data" / "gdaldem" / "dem_crop.tif") as src:
        dem, t = src.read(1), src.transform
        b = src.bounds
    grid_dem = tmp_path / "dem.tif"
    write_cog(dem, grid_dem, crs=CRS_UTM, transform=t, nodata=np.nan)
    lines = gpd.GeoDataFrame(
        geometry=random_lines(rng, 3, (b.left, b.bottom, b.right, b.top)), crs=CRS_UTM
    )
    lines.to_file(tmp_path / "utm.gpkg")
    lines.to_crs("EPSG:4326").to_file(tmp_path / "wgs84.gpkg")
    results = {}
    for name in ("utm", "wgs84"):
        out = tmp_path / f"dist_{name}.tif"
        write_distance_factor(
            tmp_path / f"{name}.gpkg", grid_dem, out, name="dist_x", key="layers.faults"
        )
        with rasterio.open(out) as src:
            results[name] = src.read(1)
            assert src.crs == CRS_UTM and src.transform == t and src.nodata != src.nodata
    exact = exact_distances(lines.geometry, Grid.from_raster(grid_dem))
    for arr in results.values():
        valid = ~np.isnan(dem)
        np.testing.assert_array_equal(np.isnan(arr), ~valid)  # nodata carried from the DEM
        assert np.abs(arr[valid] - exact[valid]).max() <= 10 * math.sqrt(2) / 2 + 1e-2


def test_layer_without_crs_or_features_is_an_input_error(tmp_path):
    gdf = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 1)])], crs=None)
    gdf.to_file(tmp_path / "nocrs.shp")
    with pytest.raises(InputDataError, match="no coordinate reference system"):
        read_layer(tmp_path / "nocrs.shp", CRS_UTM, key="layers.faults")
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=CRS_UTM))
    empty.to_file(tmp_path / "empty.gpkg")
    with pytest.raises(InputDataError, match="no features"):
        read_layer(tmp_path / "empty.gpkg", CRS_UTM, key="layers.roads")
