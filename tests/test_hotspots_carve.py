"""The carve of an outline hull: ground nearer to a region's stable point than to any of its
moving points is cut out (``hotspots.outline_carve``). References: a hand-computed strip, and
the nearest point by brute force at random places."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine

from slidemap.hotspots.regions import carve_stable, hull_outlines
from slidemap.raster import Grid


def test_carve_removes_the_stable_points_strip_by_hand():
    shape = shapely.box(0, 0, 100, 100)
    sel = np.array([[10.0, 50.0], [90.0, 50.0]])
    # the other point's Voronoi cell is the strip 30 < x < 70 (bisectors at x = 30 and 70)
    got = carve_stable(shape, sel, np.array([[50.0, 50.0]]))
    want = shapely.union(shapely.box(0, 0, 30, 100), shapely.box(70, 0, 100, 100))
    assert got.symmetric_difference(want).area < 1e-6
    # no other point, or one at the very place of a selected one: nothing carved
    assert carve_stable(shape, sel, np.empty((0, 2))).equals(shape)
    same = carve_stable(shape, sel, np.array([[10.0, 50.0]]))
    assert same.symmetric_difference(shape).area < 1e-6


def test_carve_keeps_exactly_the_ground_nearest_a_selected_point_brute_force():
    rng = np.random.default_rng(7)
    sel = rng.uniform(0, 400, (12, 2))
    oth = rng.uniform(0, 400, (9, 2))
    shape = shapely.buffer(shapely.convex_hull(shapely.multipoints(sel)), 10.0)
    got = carve_stable(shape, sel, oth)
    q = rng.uniform(-20, 420, (20000, 2))
    d_sel = np.min(np.hypot(*(q[:, None, :] - sel[None]).transpose(2, 0, 1)), axis=1)
    d_oth = np.min(np.hypot(*(q[:, None, :] - oth[None]).transpose(2, 0, 1)), axis=1)
    clear = np.abs(d_sel - d_oth) > 1e-6  # off the bisectors
    in_shape = shapely.contains_xy(shape, q[:, 0], q[:, 1])
    want = in_shape & (d_sel < d_oth)
    have = shapely.contains_xy(got, q[:, 0], q[:, 1])
    assert want[clear].sum() > 1000 and (in_shape & ~want)[clear].sum() > 1000
    np.testing.assert_array_equal(have[clear], want[clear])


def test_hull_outline_carve_keeps_every_moving_points_cell():
    # a ring of moving points around stable ones: the carve takes the middle out; on 30 m
    # cells each moving point's cell centre stays inside (spokes come after the carve)
    grid = Grid(crs=None, transform=Affine(30, 0, 0, 0, -30, 600), width=20, height=20)
    ang = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    ring = np.column_stack([300 + 150 * np.cos(ang), 300 + 150 * np.sin(ang)])
    inner = np.array([[300.0, 300.0], [330.0, 290.0], [270.0, 310.0]])
    xy = np.vstack([ring, inner])
    sel = np.r_[np.ones(10, bool), np.zeros(3, bool)]
    lab = np.ones(13, np.int64)
    region = gpd.GeoSeries([shapely.box(0, 0, 600, 600)], index=[1])
    kw = dict(buffer_m=10.0, concavity=1.0, grid=grid)
    plain = hull_outlines(region, lab, sel, xy[:, 0], xy[:, 1], **kw).loc[1]
    carved = hull_outlines(region, lab, sel, xy[:, 0], xy[:, 1], carve=True, **kw).loc[1]
    assert carved.within(plain.buffer(1e-6)) and carved.area < 0.8 * plain.area
    assert not shapely.contains_xy(carved, inner[:, 0], inner[:, 1]).any()
    row, col, _ = grid.cell_of(ring[:, 0], ring[:, 1])
    cx, cy = grid.transform @ (col + 0.5, row + 0.5)
    assert shapely.contains_xy(carved, np.asarray(cx), np.asarray(cy)).all()
    # only the region's own points carve: the same stable points in another region do not
    other_region = np.r_[np.ones(10, np.int64), np.full(3, 2)]
    same = hull_outlines(region, other_region, sel, xy[:, 0], xy[:, 1], carve=True, **kw).loc[1]
    assert same.symmetric_difference(plain).area < 1e-6
