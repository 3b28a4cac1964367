"""The high-pass, settings and Gi* as tile jobs + merges (slidemap.hotspots.tilefields) ==
the whole-track ``analyse_points``: the same settings, the same high-pass bit for bit, the same
band counts, z to 1e-12; and sparse points / a short halo are handled or refused clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_hotspots_spatialtiles import demo_points

from slidemap.errors import InputDataError
from slidemap.hotspots import tilefields as tf
from slidemap.hotspots.pipeline import HotspotParams, analyse_points

TILE_M = 600.0


@pytest.fixture(scope="module")
def demo_file(root, tmp_path_factory):
    """The demo's ascending track as a points file (the columns the jobs read)."""
    points = demo_points(root, "asc_018")
    path = tmp_path_factory.mktemp("tilefields") / "points.parquet"
    pd.DataFrame(points.drop(columns="geometry")).to_parquet(path, row_group_size=500)
    return path, pd.read_parquet(path)


def run_chain(path, params, folder, *, tile_size_m=TILE_M, halo_m=None):
    """Every job of the chain, in DAG order, through its files."""
    halo = tf.field_halo_m(params) if halo_m is None else halo_m
    plane = tf.plane_job(path, params, tile_size_m=tile_size_m, halo_m=halo)
    tf.write_json(plane, folder / "p.json")
    plane = tf.read_json(folder / "p.json")
    pass1 = []
    for tile in plane["tiles"]:
        out = folder / f"{tile}.pass1.npz"
        info = tf.pass1_job(tile, path, plane, params, out)
        assert info["points"] == plane["point_tiles"].get(tile, 0)
        pass1.append(out)
    tf.write_json(tf.settings_job(path, plane, pass1, params), folder / "s.json")
    settings = tf.read_json(folder / "s.json")
    files = []
    for tile in plane["point_tiles"]:
        out = folder / f"{tile}.gistar.parquet"
        tf.gistar_job(tile, path, plane, settings, out)
        files.append(out)
    return plane, files


def assert_same_analysis(points, params, folder, plane, files):
    got_settings, columns = tf.read_fields(points, folder / "s.json", files, TILE_M)
    got, info = analyse_points(points, params, fields=(got_settings, columns))
    want, want_info = analyse_points(points, params)
    keys = ["noise_sigma_mm_yr", "stability_threshold_mm_yr", "search_radius_m"]
    keys += ["kernel_radius_m", "points_per_km2", "search_radius_why", "warnings"]
    for key in keys:
        assert info[key] == want_info[key], key
    for col in ("v_background_mm_yr", "v_hp_mm_yr", "moving", "gi_n"):
        np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(), err_msg=col)
    np.testing.assert_allclose(got["gi_z"], want["gi_z"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["gi_p"], want["gi_p"], rtol=1e-9, atol=1e-15)
    assert info["n_moving"] == want_info["n_moving"]
    assert info["mean_neighbours"] == pytest.approx(want_info["mean_neighbours"], rel=1e-15)


def test_tile_jobs_equal_the_whole_track(demo_file, tmp_path):
    path, points = demo_file
    params = HotspotParams()
    plane, files = run_chain(path, params, tmp_path)
    assert plane["highpass"] and len(plane["point_tiles"]) >= 12
    assert len(plane["tiles"]) > len(plane["point_tiles"])  # nodes in tiles without points
    assert_same_analysis(points, params, tmp_path, plane, files)


def test_no_highpass_numeric_radii_and_a_short_halo(demo_file, tmp_path):
    """No high-pass, a 40 m band and a 150 m halo: isolated points' 8th neighbours lie beyond
    it (+inf; the median 8th-neighbour distance is 107 m, the largest 247 m), and the medians
    stay exact."""
    path, points = demo_file
    params = HotspotParams(highpass_radius_m=None, search_radius_m=40.0)
    plane, files = run_chain(path, params, tmp_path, halo_m=150.0)
    assert not plane["highpass"] and plane["tiles"] == sorted(plane["point_tiles"])
    inf = 0
    for tile in plane["tiles"]:
        with np.load(tmp_path / f"{tile}.pass1.npz") as part:
            inf += int(np.isinf(part["knn_8"]).sum())
    assert inf > 0  # the case the +inf bound exists for
    assert_same_analysis(points, params, tmp_path, plane, files)


def test_a_halo_below_the_median_distance_is_refused(demo_file, tmp_path):
    path, _ = demo_file
    params = HotspotParams(highpass_radius_m=None, search_radius_m=40.0)
    with pytest.raises(InputDataError, match="too sparse") as err:
        run_chain(path, params, tmp_path, halo_m=60.0)
    assert "search_radius_m" in err.value.fix and str(path) in str(err.value)


def test_a_band_wider_than_the_halo_is_refused(demo_file, tmp_path):
    path, _ = demo_file
    params = HotspotParams(highpass_radius_m=None, search_radius_m=200.0)
    with pytest.raises(InputDataError, match="Gi\\* band 200 m"):
        run_chain(path, params, tmp_path, halo_m=150.0)


def test_read_light_and_tile_counts(demo_file):
    """Row group by row group = pandas' whole read; counts in blocks = np.unique at once."""
    path, points = demo_file
    xy, v = tf.read_light(path)
    np.testing.assert_array_equal(xy, points[["x_m", "y_m"]].to_numpy())
    np.testing.assert_array_equal(v, points["velocity_mm_yr"].to_numpy())
    keys, counts = np.unique(np.floor(xy / TILE_M).astype(int), axis=0, return_counts=True)
    want = {f"x{i}_y{j}": int(c) for (i, j), c in zip(keys, counts, strict=True)}
    for chunk in (1, 333, 10**7):
        got = tf.tile_point_counts(xy, TILE_M, chunk=chunk)
        assert got == want and list(got) == list(want)
    empty = points.iloc[:0]
    pd.DataFrame(
        empty.drop(columns=[c for c in empty if c not in ("x_m", "y_m", "velocity_mm_yr")])
    ).to_parquet(path.parent / "empty.parquet")
    xy0, v0 = tf.read_light(path.parent / "empty.parquet")
    assert xy0.shape == (0, 2) and v0.shape == (0,)


def test_knn_median_bounds():
    d = np.array([1.0, 2.0, 3.0, np.inf, np.inf])
    assert tf.knn_median(d, 5, 2, halo_m=10.0) == 3.0
    with pytest.raises(ValueError, match="too sparse"):
        tf.knn_median(np.array([1.0, 2.0, np.inf, np.inf]), 4, 2, halo_m=10.0)
    assert np.isnan(tf.knn_median(np.full(3, np.inf), 3, 8, halo_m=10.0))
    with pytest.raises(ValueError, match="2 k-th"):
        tf.knn_median(np.ones(2), 3, 1, halo_m=10.0)


def test_halo_of_a_config_section():
    assert tf.field_halo_m({"highpass_radius_m": 1500}) == 1500.0
    assert tf.field_halo_m({"highpass_radius_m": 3000, "search_radius_m": "auto"}) == 3000.0
    assert tf.field_halo_m({"highpass_radius_m": None, "search_radius_m": 2500.0}) == 2500.0


def test_track_hotspots_from_tile_fields_gives_the_same_polygons(root, demo_file, tmp_path):
    """track_hotspots with the tile jobs' fields == computing them whole: the same density to
    rounding and the same polygons (>= 5 on the demo track), the same summary."""
    from slidemap.hotspots.density import grid_from_raster
    from slidemap.hotspots.pipeline import track_hotspots

    path, points = demo_file
    params = HotspotParams()
    grid = grid_from_raster(root / "resources" / "demo" / "dem.tif", 20.0)
    _, files = run_chain(path, params, tmp_path)
    fields = tf.read_fields(points, tmp_path / "s.json", files, TILE_M)
    got = track_hotspots(points, grid, params, track="asc", fields=fields)
    want = track_hotspots(points, grid, params, track="asc")
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12)  # density
    assert len(want[2]) >= 5 and want[3]["n_moving"] >= 100  # a test with content
    pd.testing.assert_frame_equal(got[2], want[2], check_exact=True)  # polygons
    for info in (got[3], want[3]):
        info.pop("timings_s")
    assert got[3].pop("mean_neighbours") == pytest.approx(want[3].pop("mean_neighbours"))
    assert got[3] == want[3]
