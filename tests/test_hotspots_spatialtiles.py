"""Gi* per spatial tile + halo equals Gi* of the whole track (issue 14, item 1)."""

from __future__ import annotations

import numpy as np
import pytest

from slidemap.hotspots.gistar import getis_ord_gi_star
from slidemap.hotspots.spatialtiles import gistar_tile, gistar_tiled, halo_mask, point_tiles


def clustered_track(seed: int, n: int = 6000) -> tuple[np.ndarray, np.ndarray]:
    """Points in 4 x 3 km (UTM-like offsets) with dense clusters, moving patches and noise."""
    rng = np.random.default_rng(seed)
    base = np.array([412_345.6, 9_551_234.5])
    xy = base + rng.uniform(0, 1, (n, 2)) * [4000.0, 3000.0]
    centres = base + rng.uniform(0, 1, (8, 2)) * [4000.0, 3000.0]
    extra = centres[rng.integers(0, 8, n // 3)] + rng.normal(0, 120.0, (n // 3, 2))
    xy = np.vstack([xy, extra])
    v = rng.normal(0, 2.0, len(xy))
    for c in centres[:4]:
        v[np.hypot(*(xy - c).T) < 200.0] -= rng.uniform(8, 25)
    return v, xy


@pytest.mark.parametrize("scale", ["sample", "robust"])
@pytest.mark.parametrize(
    ("tile_size_m", "radius_m"), [(1000.0, 150.0), (500.0, 200.0), (7000.0, 100.0)]
)
def test_tiled_gistar_equals_the_whole_track(scale, tile_size_m, radius_m):
    v, xy = clustered_track(1)
    whole = getis_ord_gi_star(v, xy, radius_m, scale=scale)
    z, card = gistar_tiled(v, xy, radius_m, tile_size_m, scale=scale)
    assert np.array_equal(card, whole.cardinality)
    np.testing.assert_allclose(z, whole.z, rtol=0, atol=1e-12)
    assert len(np.unique(point_tiles(xy, tile_size_m), axis=0)) > (1 if tile_size_m < 7000 else 0)


def test_points_on_tile_edges_and_exactly_one_band_apart():
    # a lattice with spacing = the band: every neighbour is at exactly the radius, and whole
    # rows and columns of points lie on tile edges (x or y a multiple of the tile size)
    r, s = 25.0, 100.0
    g = np.arange(0.0, 400.0 + r, r)
    xy = np.array([(x, y) for x in g for y in g]) + [500_000.0, 0.0]
    rng = np.random.default_rng(0)
    v = rng.normal(0, 1, len(xy))
    whole = getis_ord_gi_star(v, xy, r)
    assert whole.cardinality.max() == 5  # itself + 4 lattice neighbours at exactly r
    z, card = gistar_tiled(v, xy, r, s)
    assert np.array_equal(card, whole.cardinality)
    np.testing.assert_allclose(z, whole.z, rtol=0, atol=1e-12)


def test_tiles_are_fixed_by_the_crs_not_by_the_points():
    xy = np.array([[0.0, 0.0], [999.999, 999.999], [1000.0, 0.0], [-0.001, 2500.0]])
    assert point_tiles(xy, 1000.0).tolist() == [[0, 0], [0, 0], [1, 0], [-1, 2]]
    # a subset (one batch) gets the same tiles as the whole track
    assert point_tiles(xy[2:], 1000.0).tolist() == [[1, 0], [-1, 2]]
    with pytest.raises(ValueError, match="tile_size_m"):
        point_tiles(xy, 0.0)


def test_halo_holds_every_point_within_the_band_of_a_core_point():
    v, xy = clustered_track(2)
    s, r = 800.0, 175.0
    tiles = point_tiles(xy, s)
    for tile in np.unique(tiles, axis=0)[:6]:
        own = (tiles == tile).all(axis=1)
        near = halo_mask(xy, tuple(tile), s, r)
        assert near[own].all()
        # brute force: every point within r of an own point is in the halo
        d = np.hypot(*(xy[:, None, :] - xy[own][None, :, :]).transpose(2, 0, 1))
        assert near[(d <= r).any(axis=1)].all()


def test_a_halo_too_small_is_visible_in_the_counts():
    # the reference check the tile jobs rely on: without the halo, edge points lose neighbours
    v, xy = clustered_track(3, n=2000)
    s, r = 1000.0, 150.0
    whole = getis_ord_gi_star(v, xy, r)
    tiles = point_tiles(xy, s)
    tile = tiles[0]
    own = (tiles == tile).all(axis=1)
    from slidemap.hotspots.gistar import gistar_scale

    centre, spread = gistar_scale(v)
    _, card = gistar_tile(
        v[own], xy[own], np.ones(own.sum(), bool), r, centre=centre, spread=spread, n_total=v.size
    )
    assert (card <= whole.cardinality[own]).all() and (card < whole.cardinality[own]).any()


def demo_points(root, track):
    """A demo track's points, ingested as the workflow does."""
    import rasterio
    import shapely
    import yaml

    from slidemap.insar.ingest import ingest_track

    config = yaml.safe_load((root / "config" / "config.yaml").read_text(encoding="utf-8"))
    cfg = config["insar"]["tracks"][track]
    folder = root / cfg["path"]
    with rasterio.open(root / "resources" / "demo" / "dem.tif") as src:
        area, crs = shapely.box(*src.bounds), src.crs.to_string()
    points, _ = ingest_track(
        sorted(folder.glob("*.csv")), cfg, track_name=track, working_crs=crs, study_area=area
    )
    return points


@pytest.mark.parametrize("track", ["asc_018", "dsc_142"])
def test_demo_track_tiled_equals_untiled(root, track):
    """The demo's tracks in 500 m tiles, the shipped band."""
    points = demo_points(root, track)
    v = points["velocity_mm_yr"].to_numpy(np.float64)
    xy = points[["x_m", "y_m"]].to_numpy(np.float64)
    for scale in ("sample", "robust"):
        whole = getis_ord_gi_star(v, xy, 100.0, scale=scale)
        z, card = gistar_tiled(v, xy, 100.0, 500.0, scale=scale)
        assert np.array_equal(card, whole.cardinality)
        np.testing.assert_allclose(z, whole.z, rtol=0, atol=1e-12)
    assert len(np.unique(point_tiles(xy, 500.0), axis=0)) >= 9


def _check_fields(points, params, tile_size_m, halo_m):
    from slidemap.hotspots.pipeline import analyse_points
    from slidemap.hotspots.spatialtiles import hotspot_fields_tiled

    whole, info = analyse_points(points, params)
    settings, fields = hotspot_fields_tiled(points, params, tile_size_m, halo_m=halo_m)
    for key, value in settings.items():
        assert value == info[key] or (value != value and info[key] != info[key]), key
    for key in ("v_background_mm_yr", "v_hp_mm_yr", "gi_n"):
        assert np.array_equal(fields[key], whole[key].to_numpy()), key
    np.testing.assert_allclose(fields["gi_z"], whole["gi_z"].to_numpy(), rtol=0, atol=1e-12)
    return settings


@pytest.mark.parametrize("track", ["asc_018", "dsc_142"])
def test_demo_highpass_settings_and_gistar_tiled_equal_analyse_points(root, track):
    from slidemap.hotspots.pipeline import HotspotParams

    points = demo_points(root, track)
    # the shipped defaults: 1500 m high-pass, radii from the 8th neighbour, robust Gi*
    settings = _check_fields(points, HotspotParams(), 700.0, halo_m=1600.0)
    assert settings["search_radius_why"].startswith("auto")
    # seed 002's fixed method: no high-pass, 200 m band, sample Gi*
    seed002 = HotspotParams.from_config({"preset": "seed002"})
    assert not seed002.highpass_radius_m and seed002.gi_scale == "sample"
    _check_fields(points, seed002, 700.0, halo_m=400.0)


def test_synthetic_track_with_a_ramp_tiled_equals_analyse_points():
    import pandas as pd

    from slidemap.hotspots.pipeline import HotspotParams

    v, xy = clustered_track(5, n=9000)
    v = v + 3e-3 * (xy[:, 0] - xy[:, 0].min()) + 1.5 * np.sin(xy[:, 1] / 700.0)  # ramp + wave
    points = pd.DataFrame({"x_m": xy[:, 0], "y_m": xy[:, 1], "velocity_mm_yr": v})
    params = HotspotParams(highpass_radius_m=1000.0)
    _check_fields(points, params, 600.0, halo_m=1100.0)


def test_too_small_a_halo_is_refused():
    import pandas as pd

    from slidemap.hotspots.pipeline import HotspotParams
    from slidemap.hotspots.spatialtiles import hotspot_fields_tiled

    v, xy = clustered_track(6, n=3000)
    points = pd.DataFrame({"x_m": xy[:, 0], "y_m": xy[:, 1], "velocity_mm_yr": v})
    with pytest.raises(ValueError, match="high-pass radius"):
        hotspot_fields_tiled(points, HotspotParams(), 500.0, halo_m=1000.0)
    with pytest.raises(ValueError, match="neighbour of .* beyond the 5 m halo"):
        hotspot_fields_tiled(points, HotspotParams(highpass_radius_m=None), 500.0, halo_m=5.0)


@pytest.mark.parametrize("block", [1, 97, 2500])
@pytest.mark.parametrize("radius_m", [100.0, 250.0])
def test_band_sums_in_blocks_equal_one_block_and_brute_force(block, radius_m):
    """The job-wide Gi* sums in bounded blocks of points == all pairs at once."""
    from slidemap.hotspots.gistar import _spatial_order, band_sums

    v, xy = clustered_track(4, n=3000)
    xy = np.vstack([xy, xy[:50], xy[:5] + [0.0, radius_m]])  # coincident, exactly one band
    v = np.concatenate([v, v[:50] + 1.0, v[:5]])
    order = _spatial_order(xy, radius_m)
    xs, ps = v[order], xy[order]
    lag, card = band_sums(xs, ps, radius_m, block_points=block)
    lag1, card1 = band_sums(xs, ps, radius_m, block_points=len(xs))
    assert np.array_equal(card, card1)
    np.testing.assert_allclose(lag, lag1, rtol=1e-13, atol=1e-11)
    near = np.hypot(*(ps[:, None, :] - ps[None, :, :]).transpose(2, 0, 1)) <= radius_m
    assert np.array_equal(card, near.sum(axis=1))
    np.testing.assert_allclose(lag, near @ xs, rtol=1e-12, atol=1e-10)
