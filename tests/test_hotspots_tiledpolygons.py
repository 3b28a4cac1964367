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


def _write_density(path, dens, grid):
    """The density array as a 2-band float32 GeoTIFF (NaN nodata), as track_hotspots writes."""
    import rasterio

    with rasterio.open(
        path, "w", driver="GTiff", width=grid.width, height=grid.height, count=2,
        dtype="float32", crs=grid.crs, transform=grid.transform, nodata=float("nan"),
        tiled=True, blockxsize=32, blockysize=32,
    ) as dst:  # fmt: skip
        dst.write(dens.astype("float32"))
    return str(path)


@pytest.mark.parametrize("hull", [None, 20.0, "carve"])
@pytest.mark.parametrize(("size", "source"), [(13, "array"), (50, "file"), (500, "array")])
def test_demo_polygons_tiled_equal_track_polygons(demo_density, tmp_path, hull, size, source):
    from slidemap.hotspots.candidates import track_polygons

    pts, grid, dens, params, threshold = demo_density
    kw = dict(
        track="asc_018",
        density_threshold=threshold,
        min_points=params.min_points,
        min_area_m2=params.min_area_m2,
        hull_buffer_m=20.0 if hull == "carve" else hull,
        hull_concavity=params.outline_concavity,
        hull_carve=hull == "carve",
    )
    whole, _ = track_polygons(dens, grid, pts, **kw)
    # a file is read tile by tile (labels recomputed in the polygon pass)
    src = _write_density(tmp_path / "density.tif", dens, grid) if source == "file" else dens
    tiled = track_polygons_tiled(src, grid, pts, size, **kw)
    assert len(whole) >= 3 and list(tiled.columns) == list(whole.columns)
    exact = ["poly_id", "track", "kind", "n_points", "n_moving", "max_density"]
    assert tiled[exact].equals(whole[exact])
    # the point statistics sum the same values in the same order: the same bits
    point_stats = [c for c in whole.columns if c.startswith(("mean_", "max_abs", "p_"))]
    assert len(point_stats) == 6
    assert tiled[point_stats].equals(whole[point_stats])
    numeric = [c for c in whole.columns if c not in exact and c != "geometry"]
    np.testing.assert_allclose(
        tiled[numeric].to_numpy(float), whole[numeric].to_numpy(float), rtol=1e-12, atol=1e-9
    )
    assert tiled.geometry.geom_equals(whole.geometry).all()


@pytest.mark.parametrize("preset", ["adaptive", "seed002"])
def test_whole_hotspot_chain_from_tiles_equals_track_hotspots(root, preset):
    """Settings + Gi* per point tile, density per map tile, polygons per map tile: the
    candidate polygons of track_hotspots (the demo track, shipped defaults and seed002)."""
    from slidemap.hotspots.density import grid_from_raster, hot_cold_density
    from slidemap.hotspots.pipeline import HotspotParams, polygon_options, track_hotspots
    from slidemap.hotspots.spatialtiles import hotspot_fields_tiled

    points = demo_points(root, "dsc_142")
    params = HotspotParams.from_config({"preset": preset})
    grid = grid_from_raster(root / "resources" / "demo" / "dem.tif", 20.0)
    pts, dens, polys, info = track_hotspots(points, grid, params, track="dsc_142")
    assert len(polys) >= 3
    # point tiles of 600 m with a halo of the high-pass radius (or the band)
    halo = max(params.highpass_radius_m or 0.0, 400.0)
    settings, fields = hotspot_fields_tiled(points, params, 600.0, halo_m=halo)
    tiled = pts.copy()  # trend classes are per point: taken as they are
    tiled["v_hp_mm_yr"], tiled["gi_z"] = fields["v_hp_mm_yr"], fields["gi_z"]
    tiled["moving"] = np.abs(fields["v_hp_mm_yr"]) >= settings["stability_threshold_mm_yr"]
    if params.trend_evidence:
        tiled["moving"] &= (pts["trend_class"] != "uncorrelated").to_numpy()
    assert tiled["moving"].equals(pts["moving"])
    z = np.where(tiled["moving"], tiled["gi_z"], 0.0)
    if params.density_points != "moving":
        z = tiled["gi_z"].to_numpy()
    xy = tiled[["x_m", "y_m"]].to_numpy()
    # map tiles of 64 cells: each dask block is a tile job (points within radius + 1 cell)
    tiled_dens = hot_cold_density(xy, z, grid, info["kernel_radius_m"], chunk_size=64)
    np.testing.assert_allclose(tiled_dens, dens, rtol=1e-6, atol=1e-9)
    out = track_polygons_tiled(
        tiled_dens,
        grid,
        tiled,
        64,
        track="dsc_142",
        density_threshold=info["density_threshold_per_km2"],
        **polygon_options(params),
    )
    exact = ["poly_id", "kind", "n_points", "n_moving"]
    assert out[exact].equals(polys[exact])
    assert out.geometry.geom_equals(polys.geometry).all()


@pytest.mark.parametrize("threads", [1, 3])
def test_density_blocks_equal_hot_cold_density(root, demo_density, threads):
    from slidemap.hotspots.density import hot_cold_density, hot_cold_density_blocks
    from slidemap.hotspots.pipeline import density_weights, study_area_mask, study_area_windows

    pts, grid, dens, params, _ = demo_density
    xy, z = density_weights(pts, params)
    radius = 250.0
    dem = root / "resources" / "demo" / "dem.tif"
    want = hot_cold_density(xy, z, grid, radius, chunk_size=48)
    want[:, ~study_area_mask(dem, grid)] = np.nan
    got = np.full(want.shape, -1.0, np.float32)
    seen = np.zeros(grid.shape, int)
    for w, block in hot_cold_density_blocks(
        xy, z, grid, radius, chunk_size=48, valid=study_area_windows(dem, grid, 48),
        threads=threads,
    ):  # fmt: skip
        sl = np.s_[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width]
        assert block.dtype == np.float32 and block.shape == (2, w.height, w.width)
        got[(slice(None), *sl)] = block
        seen[sl] += 1
    assert (seen == 1).all()  # every cell in exactly one block
    assert np.isnan(want).any() and (want > 0).any()
    np.testing.assert_array_equal(got, want)


def test_track_hotspots_to_files_equals_track_hotspots(root, tmp_path):
    """The script's streamed path: density file == the array, polygons == track_polygons."""
    import dataclasses

    import rasterio

    from slidemap.hotspots.density import grid_from_raster
    from slidemap.hotspots.pipeline import (
        HotspotParams,
        study_area_mask,
        track_hotspots,
        track_hotspots_to_files,
    )

    points = demo_points(root, "dsc_142")
    params = dataclasses.replace(HotspotParams(), chunk_size=40)
    dem = root / "resources" / "demo" / "dem.tif"
    grid = grid_from_raster(dem, 20.0)
    valid = study_area_mask(dem, grid)
    pts, dens, polys, info = track_hotspots(points, grid, params, track="dsc_142", valid=valid)
    path = tmp_path / "density.tif"
    pts2, polys2, info2 = track_hotspots_to_files(
        points, grid, params, track="dsc_142", density_path=path, grid_path=dem,
        threads=2, polygon_tile_cells=37,
    )  # fmt: skip
    with rasterio.open(path) as src:
        assert src.count == 2 and src.descriptions == ("hot", "cold")
        assert float(src.tags()["density_threshold_per_km2"]) == info["density_threshold_per_km2"]
        np.testing.assert_array_equal(src.read(), dens)
    assert pts2.equals(pts)
    assert len(polys) >= 3 and list(polys2.columns) == list(polys.columns)
    exact = ["poly_id", "track", "kind", "n_points", "n_moving", "max_density"]
    assert polys2[exact].equals(polys[exact])
    numeric = [c for c in polys.columns if c not in exact and c != "geometry"]
    np.testing.assert_allclose(
        polys2[numeric].to_numpy(float), polys[numeric].to_numpy(float), rtol=1e-12, atol=1e-9
    )
    assert polys2.geometry.geom_equals(polys.geometry).all()
    drop = {"timings_s"}
    assert {k: v for k, v in info2.items() if k not in drop} == {
        k: v for k, v in info.items() if k not in drop
    }
    assert list(info2) == list(info)  # the summary's keys in the same order


@pytest.fixture(scope="module")
def demo_tracks(root):
    """Both demo tracks through track_hotspots: points, polygons, the grid, summaries."""
    from slidemap.hotspots.density import grid_from_raster
    from slidemap.hotspots.pipeline import HotspotParams, track_hotspots

    grid = grid_from_raster(root / "resources" / "demo" / "dem.tif", 20.0)
    pts, polys, infos = {}, {}, {}
    for track in ("asc_018", "dsc_142"):
        p, _, polys[track], infos[track] = track_hotspots(
            demo_points(root, track), grid, HotspotParams(), track=track
        )
        pts[track] = p
    return pts, polys, grid, infos


@pytest.mark.parametrize("size", [9, 64, 1000])
def test_candidates_labelled_by_tiles_equal_the_whole_grid(demo_tracks, size):
    from slidemap.hotspots.candidates import merge_candidates

    pts, polys, grid, infos = demo_tracks
    rng = np.random.default_rng(size)
    slope = rng.uniform(0, 45, grid.shape)
    aspect = rng.uniform(0, 360, grid.shape)
    kw = dict(slope_deg=slope, aspect_deg=aspect, terrain_transform=grid.transform)
    for least in (0, 3):  # with and without dropping the small merged candidates
        whole = merge_candidates(polys, pts, grid, min_moving=least, **kw)
        tiled = merge_candidates(polys, pts, grid, min_moving=least, tile_size_cells=size, **kw)
        assert len(whole) >= 5 and "asc_018,dsc_142" in set(whole["tracks"])
        pd_equal = whole.drop(columns="geometry").equals(tiled.drop(columns="geometry"))
        assert pd_equal, least
        assert tiled.geometry.geom_equals(whole.geometry).all()
    assert len(merge_candidates(polys, pts, grid, min_moving=10**6, tile_size_cells=size)) == 0


def _random_terrain(grid, seed: int) -> dict:
    """merge_candidates keywords: random slope/aspect on the grid, min_moving 3."""
    rng = np.random.default_rng(seed)
    return dict(
        slope_deg=rng.uniform(0, 45, grid.shape),
        aspect_deg=rng.uniform(0, 360, grid.shape),
        terrain_transform=grid.transform,
        min_moving=3,
    )


def test_candidates_from_their_point_columns_alone(demo_tracks):
    """Rule candidates reads CANDIDATE_POINT_COLUMNS alone: the same table as from every
    column (a column the statistics or the evidence read, left out, changes it)."""
    from slidemap.hotspots.candidates import CANDIDATE_POINT_COLUMNS, merge_candidates

    pts, polys, grid, infos = demo_tracks
    kw = _random_terrain(grid, 7)
    some = {t: p[[c for c in CANDIDATE_POINT_COLUMNS if c in p]] for t, p in pts.items()}
    assert all(set(CANDIDATE_POINT_COLUMNS) <= set(p.columns) for p in pts.values())
    every, alone = (
        merge_candidates(polys, pts, grid, **kw),
        merge_candidates(polys, some, grid, **kw),
    )
    assert len(every) >= 5
    assert every.drop(columns="geometry").equals(alone.drop(columns="geometry"))
    assert alone.geometry.geom_equals(every.geometry).all()
    # the typical densities from the hot-spot summaries: the same table without a k-d tree
    densities = {t: infos[t]["points_per_km2"] for t in pts}
    known = merge_candidates(polys, some, grid, densities=densities, **kw)
    assert known.drop(columns="geometry").equals(every.drop(columns="geometry"))
    off = merge_candidates(
        polys, some, grid, densities={t: 2 * d for t, d in densities.items()}, **kw
    )
    assert not np.array_equal(off["expected_points"], every["expected_points"])
    for dropped in ("v_hp_mm_yr", "seasonal_mm", "trend_class"):  # the optional ones count
        fewer = {t: p.drop(columns=dropped) for t, p in some.items()}
        less = merge_candidates(polys, fewer, grid, **kw).drop(columns="geometry")
        assert not less.equals(every.drop(columns="geometry")), dropped


@pytest.mark.parametrize("block", [1, 7, 64])
def test_candidates_from_the_points_near_polygons_alone(demo_tracks, block):
    """With the densities known, the points near_polygons passes with the evidence's halo as
    its margin give the same table as every point (it passes a superset of the points in
    and around polygon cells), and it drops many; without the margin the halo evidence
    changes."""
    from slidemap.hotspots.candidates import merge_candidates, near_polygons
    from slidemap.hotspots.evidence import MOGI_HALO_M

    pts, polys, grid, infos = demo_tracks
    kw = _random_terrain(grid, 3)
    kw["densities"] = {t: infos[t]["points_per_km2"] for t in pts}
    near = near_polygons(polys, grid, block_cells=block, margin_m=MOGI_HALO_M)
    some = {t: p[near(p)].reset_index(drop=True) for t, p in pts.items()}
    kept = sum(len(p) for p in some.values()) / sum(len(p) for p in pts.values())
    assert 0 < kept <= 1.0 and (kept < 0.7 or block == 64)  # the demo: 0.52, 0.64, 1.0
    every = merge_candidates(polys, pts, grid, **kw)
    for size in (None, 64):
        alone = merge_candidates(polys, some, grid, tile_size_cells=size, **kw)
        assert len(alone) >= 5
        assert every.drop(columns="geometry").equals(alone.drop(columns="geometry"))
        assert alone.geometry.geom_equals(every.geometry).all()
    if block == 1:  # the cells' own window alone: the points around a candidate are missing
        bare = near_polygons(polys, grid, block_cells=block)
        few = {t: p[bare(p)].reset_index(drop=True) for t, p in pts.items()}
        short = merge_candidates(polys, few, grid, **kw)
        count, halo = "mogi_halo_n_points", ["geometry", "mogi_halo_n_points", "mogi_halo_ratio"]
        assert (short[count] <= every[count]).all()
        assert (short[count] < every[count]).any()
        assert short.drop(columns=halo).equals(every.drop(columns=halo))
    # a filter that misses the polygons' edge cells (no margin) changes the table
    inner = {
        t: p[near(p) & _inside_any(p, polys, grid)].reset_index(drop=True) for t, p in pts.items()
    }
    if block == 1:
        tight = merge_candidates(polys, inner, grid, **kw)
        assert not tight.drop(columns="geometry").equals(every.drop(columns="geometry"))


def _inside_any(points, polys, grid):
    """Points whose position lies inside a polygon shrunk by one cell (misses edge cells)."""
    import shapely

    shrunk = shapely.union_all(
        [g.buffer(-grid.resolution_m) for f in polys.values() for g in f.geometry]
    )
    xy = points[["x_m", "y_m"]].to_numpy()
    return shapely.contains_xy(shrunk, xy[:, 0], xy[:, 1])


def test_points_by_tile_equals_a_pass_per_tile():
    from slidemap.hotspots.tiledpolygons import points_by_tile

    tile = np.random.default_rng(3).integers(-1, 7, 500)  # -1: outside the grid
    got = points_by_tile(tile, 9)  # tiles 7 and 8 hold no point
    assert len(got) == 9
    for t in range(9):
        np.testing.assert_array_equal(got[t], np.flatnonzero(tile == t))


def test_grid_window_is_the_windowed_grid():
    from affine import Affine
    from rasterio.windows import Window, transform

    from slidemap.raster import Grid

    grid = Grid(crs="EPSG:32717", transform=Affine(20, 0, 500, 0, -20, 9000), width=90, height=70)
    sub = grid.window(Window(13, 29, 40, 11))
    assert (sub.width, sub.height, sub.crs) == (40, 11, grid.crs)
    assert sub.transform == transform(Window(13, 29, 40, 11), grid.transform)
