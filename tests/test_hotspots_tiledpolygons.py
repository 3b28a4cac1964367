"""Candidate polygons from a density raster cut into tiles == track_polygons (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest
from test_hotspots_spatialtiles import demo_points

from slidemap.hotspots.regions import label_regions
from slidemap.hotspots.tiledpolygons import merge_regions, tile_regions, track_polygons_tiled
from slidemap.raster import iter_windows


def tiled_labels(mask: np.ndarray, size: int) -> np.ndarray:
    """The region id of every cell, from the tile passes and the merge."""
    h, w = mask.shape
    windows = list(iter_windows(h, w, size))
    layer = np.where(mask, 1.0, 0.0)
    summaries = [
        tile_regions(
            mask[q.row_off : q.row_off + q.height, q.col_off : q.col_off + q.width],
            layer[q.row_off : q.row_off + q.height, q.col_off : q.col_off + q.width],
            (q.row_off, q.col_off),
            w,
        )
        for q in windows
    ]
    luts, regions = merge_regions(summaries, -(-h // size), -(-w // size))
    out = np.zeros(mask.shape, np.int64)
    for q, s, lut in zip(windows, summaries, luts, strict=True):
        out[q.row_off : q.row_off + q.height, q.col_off : q.col_off + q.width] = lut[s["labels"]]
    assert np.array_equal(regions["cells"][1:], np.bincount(out[out > 0])[1:])
    return out


@pytest.mark.parametrize("size", [1, 3, 7, 16, 64])
def test_tile_labels_equal_ndimage_on_random_masks(size):
    rng = np.random.default_rng(size)
    for density in (0.3, 0.55, 0.7):  # around the 4-connected percolation threshold
        mask = rng.random((41, 53)) < density
        whole, _ = label_regions(mask)
        assert np.array_equal(tiled_labels(mask, size), whole), density


def test_a_spiral_through_many_tiles_is_one_region():
    # a one-cell-wide square spiral: its arms cross tile edges again and again, so the
    # merge must chain the joins of many tiles into one region
    n = 41
    mask = np.zeros((n, n), bool)
    r, c, dr, dc, length = n // 2, n // 2, 0, 1, 1
    mask[r, c] = True
    while True:
        for _ in range(2):
            for _ in range(length):
                r, c = r + dr, c + dc
                if not (0 <= r < n and 0 <= c < n):
                    break
                mask[r, c] = True
            dr, dc = dc, -dr
        length += 2
        if not (0 <= r < n and 0 <= c < n):
            break
    whole, count = label_regions(mask)
    assert count == 1 and mask.sum() > 400
    for size in (3, 5, 8):
        assert np.array_equal(tiled_labels(mask, size), whole)


@pytest.fixture(scope="module")
def demo_density(root):
    from slidemap.hotspots.density import grid_from_raster
    from slidemap.hotspots.pipeline import HotspotParams, analyse_points, track_density

    points = demo_points(root, "asc_018")
    params = HotspotParams()
    pts, info = analyse_points(points, params)
    grid = grid_from_raster(root / "resources" / "demo" / "dem.tif", 20.0)
    dens, dinfo = track_density(pts, grid, params, kernel_radius_m=info["kernel_radius_m"])
    return pts, grid, dens, params, dinfo["density_threshold_per_km2"]


@pytest.mark.parametrize("hull", [None, 20.0])
@pytest.mark.parametrize("size", [13, 50, 500])
def test_demo_polygons_tiled_equal_track_polygons(demo_density, hull, size):
    from slidemap.hotspots.candidates import track_polygons

    pts, grid, dens, params, threshold = demo_density
    kw = dict(
        track="asc_018",
        density_threshold=threshold,
        min_points=params.min_points,
        min_area_m2=params.min_area_m2,
        hull_buffer_m=hull,
        hull_concavity=params.outline_concavity,
    )
    whole, _ = track_polygons(dens, grid, pts, **kw)
    tiled = track_polygons_tiled(dens, grid, pts, size, **kw)
    assert len(whole) >= 3 and list(tiled.columns) == list(whole.columns)
    exact = ["poly_id", "track", "kind", "n_points", "n_moving", "max_density"]
    assert tiled[exact].equals(whole[exact])
    numeric = [c for c in whole.columns if c not in exact and c != "geometry"]
    np.testing.assert_allclose(
        tiled[numeric].to_numpy(float), whole[numeric].to_numpy(float), rtol=1e-12, atol=1e-9
    )
    assert tiled.geometry.geom_equals(whole.geometry).all()
