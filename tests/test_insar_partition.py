"""A track's points as one GeoParquet file per spatial tile (slidemap.insar.partition)."""

from __future__ import annotations

import numpy as np
import pytest
from geopandas.testing import assert_geodataframe_equal
from test_hotspots_spatialtiles import demo_points

from slidemap.errors import InputDataError
from slidemap.hotspots.gistar import getis_ord_gi_star, gistar_scale
from slidemap.hotspots.spatialtiles import gistar_tile, halo_mask, point_tiles
from slidemap.insar.partition import read_partitioned, read_tile_with_halo, write_partitioned


@pytest.fixture(scope="module")
def track(root):
    return demo_points(root, "asc_018")


def test_tiles_read_back_as_the_track(track, tmp_path):
    manifest = write_partitioned(track, tmp_path / "t", 400.0, threads=2)
    assert sum(manifest["tiles"].values()) == len(track) and len(manifest["tiles"]) >= 20
    back = read_partitioned(tmp_path / "t")
    assert_geodataframe_equal(back, track.reset_index(drop=True))
    # each file holds exactly the points of its tile
    xy = track[["x_m", "y_m"]].to_numpy()
    tiles = point_tiles(xy, 400.0)
    name = next(iter(manifest["tiles"]))
    i, j = (int(p[1:]) for p in name.split("_"))
    part = read_partitioned(tmp_path / "t", [name])
    assert len(part) == manifest["tiles"][name] == int(((tiles == [i, j]).all(axis=1)).sum())


@pytest.mark.parametrize("halo_m", [150.0, 400.0, 650.0])
def test_tile_with_halo_is_the_whole_tracks_selection(track, tmp_path, halo_m):
    write_partitioned(track, tmp_path / "t", 400.0)
    xy = track[["x_m", "y_m"]].to_numpy()
    tiles = point_tiles(xy, 400.0)
    for tile in [tuple(int(v) for v in t) for t in np.unique(tiles, axis=0)[::7]]:
        own = (tiles == tile).all(axis=1)
        want = halo_mask(xy, tile, 400.0, halo_m) | own
        got, core = read_tile_with_halo(tmp_path / "t", tile, halo_m)
        assert got["pid"].tolist() == track["pid"][want].tolist()  # same rows, track order
        assert core.tolist() == own[want].tolist()


def test_gistar_from_the_tile_files_equals_the_whole_track(track, tmp_path):
    write_partitioned(track, tmp_path / "t", 500.0)
    v = track["velocity_mm_yr"].to_numpy(np.float64)
    xy = track[["x_m", "y_m"]].to_numpy(np.float64)
    whole = getis_ord_gi_star(v, xy, 100.0, scale="robust")
    centre, spread = gistar_scale(v, "robust")  # the merge's figures
    pid_row = {p: k for k, p in enumerate(track["pid"])}
    for tile in {tuple(int(x) for x in t) for t in point_tiles(xy, 500.0)}:
        pts, core = read_tile_with_halo(tmp_path / "t", tile, 100.0)
        z, card = gistar_tile(
            pts["velocity_mm_yr"].to_numpy(np.float64),
            pts[["x_m", "y_m"]].to_numpy(np.float64),
            core,
            100.0,
            centre=centre,
            spread=spread,
            n_total=v.size,
        )
        rows = np.array([pid_row[p] for p in pts["pid"][core]])
        assert np.array_equal(card, whole.cardinality[rows])
        np.testing.assert_allclose(z, whole.z[rows], rtol=0, atol=1e-12)


def test_an_interrupted_write_is_refused_and_stale_tiles_go(track, tmp_path):
    folder = tmp_path / "t"
    write_partitioned(track, folder, 300.0)
    (folder / "tiles.json").unlink()  # as if the job died before the manifest
    with pytest.raises(InputDataError, match="not written completely"):
        read_partitioned(folder)
    write_partitioned(track.iloc[:50], folder, 300.0)  # fewer tiles: the others are removed
    files = {p.stem for p in folder.glob("*.parquet")}
    assert files == set(read_partitioned.__globals__["_manifest"](folder)["tiles"])
    assert len(read_partitioned(folder)) == 50


def test_points_whose_columns_are_not_their_geometry_still_write_exactly(track, tmp_path):
    odd = track.copy()
    odd.loc[odd.index[0], "x_m"] += 0.5  # x_m no longer the geometry's x: GeoPandas encodes
    write_partitioned(odd, tmp_path / "t", 400.0, threads=2)
    assert_geodataframe_equal(read_partitioned(tmp_path / "t"), odd.reset_index(drop=True))


def test_tile_keys_order_and_decode_like_unique_rows():
    """The int64 keys sort the tiles as np.unique over (i, j) rows does, negatives included."""
    from slidemap.insar.partition import tile_keys

    rng = np.random.default_rng(3)
    tiles = rng.integers(-7, 9, size=(500, 2))
    keys, tile_of = tile_keys(tiles)
    rows, inverse = np.unique(tiles, axis=0, return_inverse=True)
    codes, inverse_keys = np.unique(keys, return_inverse=True)
    assert [tile_of(c) for c in codes] == [tuple(map(int, r)) for r in rows]
    assert np.array_equal(inverse.ravel(), inverse_keys)


@pytest.mark.parametrize("size", [1000.0, 20000.0, 0.3])
def test_xy_tile_keys_equal_the_tiles_of_stacked_coordinates(size):
    """Keys and decoding equal tile_keys(point_tiles(...)): random coordinates, negatives,
    exact multiples of the tile size and values just below them."""
    from slidemap.insar.partition import tile_keys, xy_tile_keys

    rng = np.random.default_rng(11)
    x = rng.uniform(-3e5, 6e5, 4000) * (size / 20000.0)
    y = rng.uniform(4e6, 4.5e6, 4000) * (size / 20000.0)
    x[:50] = np.arange(-25, 25) * size
    y[50:100] = np.nextafter(np.arange(180, 230) * size, -np.inf)
    keys, tile_of = xy_tile_keys(x, y, size)
    ref, ref_of = tile_keys(point_tiles(np.column_stack([x, y]), size))
    np.testing.assert_array_equal(keys, ref)
    assert keys.dtype == np.int64
    assert [tile_of(k) for k in np.unique(keys)] == [ref_of(k) for k in np.unique(ref)]


def test_xy_tile_keys_of_no_point_and_of_bad_input():
    from slidemap.insar.partition import xy_tile_keys

    keys, _ = xy_tile_keys(np.empty(0), np.empty(0), 100.0)
    assert keys.shape == (0,) and keys.dtype == np.int64
    with pytest.raises(ValueError, match="finite"):
        xy_tile_keys(np.array([1.0, np.nan]), np.array([1.0, 2.0]), 100.0)
    with pytest.raises(ValueError, match="> 0"):
        xy_tile_keys(np.array([1.0]), np.array([1.0]), 0.0)
