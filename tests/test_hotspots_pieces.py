"""A track polygon is one candidate on the grid, whatever the cell size.

Two ways a slide seen by one track with 5-7 moving points was lost between its hot-spot
polygon and the candidates (sparse tracks at 25-30 m cells): the hull of the points, widened
by 10 m, left the cell centres of edge points outside (their cells were not burnt, their
points not counted), and a hull narrower than a cell somewhere fell apart into pieces on
the grid that were counted apart. References below are built by hand.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio.features
import shapely
from affine import Affine

from slidemap.hotspots.candidates import merge_candidates
from slidemap.hotspots.regions import hull_outlines
from slidemap.raster import Grid


def test_hull_outline_holds_the_cell_centre_of_every_outline_point():
    # 30 m cells; four points around the corner (60, 240) of four cells, 1 m from it: the
    # cells' centres (45|75, 225|255) lie 19.8 m from the points' hull, beyond its 10 m
    grid = Grid(crs=None, transform=Affine(30, 0, 0, 0, -30, 300), width=10, height=10)
    x = np.array([59.0, 61.0, 61.0, 59.0])
    y = np.array([241.0, 241.0, 239.0, 239.0])
    region = gpd.GeoSeries([shapely.box(0, 0, 300, 300)], index=[1])
    lab = np.ones(4, np.int64)
    centres = np.array([[45.0, 255.0], [75.0, 255.0], [75.0, 225.0], [45.0, 225.0]])
    for concavity in (1.0, 0.3):
        kw = dict(buffer_m=10.0, concavity=concavity)
        plain = hull_outlines(region, lab, np.ones(4, bool), x, y, **kw).loc[1]
        assert not shapely.contains_xy(plain, centres[:, 0], centres[:, 1]).any()
        got = hull_outlines(region, lab, np.ones(4, bool), x, y, grid=grid, **kw).loc[1]
        assert shapely.contains_xy(got, centres[:, 0], centres[:, 1]).all()
        assert got.within(region.loc[1]) and plain.within(got)
        # burnt (cell centres inside): exactly the points' four cells, rows 1-2 × cols 1-2
        burnt = rasterio.features.rasterize(
            [(got, 1)], out_shape=grid.shape, transform=grid.transform
        )
        want = np.zeros(grid.shape, np.uint8)
        want[1:3, 1:3] = 1
        np.testing.assert_array_equal(burnt, want)
        # spokes, not a larger hull: less than the centres' square widened by 10 m
        assert got.area < 0.85 * shapely.buffer(shapely.box(45, 225, 75, 255), 10.0).area
    # 10 m cells: every centre lies within 7.1 m of its point, the outline is unchanged
    fine = Grid(crs=None, transform=Affine(10, 0, 0, 0, -10, 300), width=30, height=30)
    same = hull_outlines(region, lab, np.ones(4, bool), x, y, buffer_m=10.0, grid=fine).loc[1]
    assert same.symmetric_difference(plain).area < 1e-6
    # a point not selected adds nothing
    sel = np.array([True, True, True, False])
    one = hull_outlines(region, lab, sel, x, y, buffer_m=10.0, grid=grid).loc[1]
    assert not shapely.contains_xy(one, 45.0, 225.0)


def _points(xy: list[tuple[float, float]]) -> pd.DataFrame:
    xy = np.asarray(xy, float)
    n = len(xy)
    return pd.DataFrame(
        {
            "x_m": xy[:, 0],
            "y_m": xy[:, 1],
            "velocity_mm_yr": np.full(n, -12.0),
            "moving": np.ones(n, bool),
            "trend_class": ["linear"] * n,
            "los_e": np.full(n, -0.6),
            "los_n": np.full(n, -0.1),
            "los_u": np.full(n, 0.78),
        }
    )


@pytest.mark.parametrize("tile", [None, 3, 4, 1000])
def test_the_pieces_of_one_polygon_make_one_candidate(tile):
    # 10 m cells, 10 × 10. Polygon A: two 20 m squares joined by a 1 m neck that holds no
    # cell centre: on the grid two pieces of 4 cells, 2 moving points each. D (top right,
    # 4 moving points) comes first in raster order, C (bottom left, 4 points) last.
    grid = Grid(crs="EPSG:32717", transform=Affine(10, 0, 0, 0, -10, 100), width=10, height=10)
    a = shapely.union_all(
        [shapely.box(0, 60, 20, 80), shapely.box(20, 68, 40, 69), shapely.box(40, 60, 60, 80)]
    )
    d = shapely.box(70, 70, 100, 100)
    c = shapely.box(0, 0, 30, 30)
    polys = {
        "asc_018": gpd.GeoDataFrame(
            {"kind": ["cold", "cold", "cold"]}, geometry=[a, d, c], crs=grid.crs
        )
    }
    pts = {
        "asc_018": _points(
            [(5, 65), (15, 75), (45, 65), (55, 75)]  # A: 2 + 2
            + [(75, 75), (85, 85), (95, 95), (75, 95)]  # D
            + [(5, 5), (15, 15), (25, 25), (5, 25)]  # C
            + [(95, 5)]  # outside every polygon
        )
    }
    got = merge_candidates(polys, pts, grid, min_moving=4, tile_size_cells=tile)
    assert got["cand_id"].tolist() == [1, 2, 3]
    assert got["n_moving"].tolist() == [4, 4, 4]
    assert got["area_m2"].tolist() == [900.0, 800.0, 900.0]
    want = [d, shapely.union_all([shapely.box(0, 60, 20, 80), shapely.box(40, 60, 60, 80)]), c]
    for geom, ref in zip(got.geometry, want, strict=True):
        assert geom.symmetric_difference(ref).area == pytest.approx(0.0, abs=1e-6)
    assert got["kinds"].tolist() == ["asc_018:cold"] * 3
    # a piece alone is below min_moving: the polygon counts as one, not as its pieces
    no_d = {"asc_018": polys["asc_018"].iloc[[0]]}
    pieces = merge_candidates(no_d, pts, grid, min_moving=3, tile_size_cells=tile)
    assert pieces["n_moving"].tolist() == [4]


def test_polygons_that_only_touch_diagonally_stay_apart():
    # two polygons of one track whose cells meet at a corner: two candidates (4-connected
    # cells, as before); the join only ties the pieces of the same polygon
    grid = Grid(crs="EPSG:32717", transform=Affine(10, 0, 0, 0, -10, 100), width=10, height=10)
    p, q = shapely.box(0, 60, 20, 80), shapely.box(20, 40, 40, 60)
    polys = {"dsc_142": gpd.GeoDataFrame({"kind": ["hot", "hot"]}, geometry=[p, q], crs=grid.crs)}
    pts = {"dsc_142": _points([(5, 65), (15, 75), (25, 45), (35, 55)])}
    for tile in (None, 2):
        got = merge_candidates(polys, pts, grid, min_moving=2, tile_size_cells=tile)
        assert got["n_moving"].tolist() == [2, 2]


@pytest.mark.parametrize("tile", [None, 3, 1000])
def test_the_parts_of_a_carved_polygon_are_candidates_of_their_own(tile):
    # 10 m cells. One cold polygon of asc_018 in two parts 30 m apart (a carve through
    # stable points): two candidates of 4 moving points each, counted apart (min_moving 5
    # drops both); a dsc_142 polygon covering the gap joins them into one (8 points).
    grid = Grid(crs="EPSG:32717", transform=Affine(10, 0, 0, 0, -10, 100), width=10, height=10)
    left, right = shapely.box(0, 60, 20, 80), shapely.box(50, 60, 70, 80)
    carved = shapely.MultiPolygon([left, right])
    asc = gpd.GeoDataFrame({"kind": ["cold"]}, geometry=[carved], crs=grid.crs)
    pts = {
        "asc_018": _points(
            [(5, 65), (15, 75), (5, 75), (15, 65)] + [(55, 65), (65, 75), (55, 75), (65, 65)]
        )
    }
    got = merge_candidates({"asc_018": asc}, pts, grid, min_moving=4, tile_size_cells=tile)
    assert got["n_moving"].tolist() == [4, 4]
    assert got["area_m2"].tolist() == [400.0, 400.0]
    for geom, ref in zip(got.geometry, [left, right], strict=True):
        assert geom.symmetric_difference(ref).area == pytest.approx(0.0, abs=1e-6)
    assert got["kinds"].tolist() == ["asc_018:cold"] * 2
    alone = merge_candidates({"asc_018": asc}, pts, grid, min_moving=5, tile_size_cells=tile)
    assert len(alone) == 0
    dsc = gpd.GeoDataFrame({"kind": ["cold"]}, geometry=[shapely.box(10, 60, 60, 70)])
    dsc = dsc.set_crs(grid.crs)
    pts["dsc_142"] = _points([(95, 5)])  # outside: the bridge adds no point
    joined = merge_candidates(
        {"asc_018": asc, "dsc_142": dsc}, pts, grid, min_moving=5, tile_size_cells=tile
    )
    assert joined["n_moving"].tolist() == [8]
    assert joined["kinds"].tolist() == ["asc_018:cold,dsc_142:cold"]
