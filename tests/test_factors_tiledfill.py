"""Tiled Priority-Flood (Barnes 2016): equal to the whole-array fill, cell for cell.

References: an independent brute-force spill elevation (fixed-point relaxation
``F = max(z, min F of the 8 neighbours)``, outlets fixed) on small random grids, and the
whole-array Priority-Flood of ``route_flow`` (itself equal to pyflwdir's fill, see
test_factors_hydrology.py) on the two real DEMs and a synthetic one.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from slidemap.factors.hydrology import route_flow
from slidemap.factors.tiledfill import (
    OCEAN,
    apply_levels,
    fill_tiled,
    flood_tile,
    n_slots,
    solve_levels,
)

SHIFTS = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]


def brute_force_fill(z: np.ndarray) -> np.ndarray:
    """Spill elevations by relaxation to the fixed point (no priority queue, no tiles)."""
    rows, cols = z.shape
    pad = np.full((rows + 2, cols + 2), np.nan)
    pad[1:-1, 1:-1] = z
    valid = ~np.isnan(z)
    outlet = valid & np.any(
        [np.isnan(pad[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols]) for dr, dc in SHIFTS],
        axis=0,
    )
    f = np.where(outlet, z, np.inf)
    f[~valid] = np.nan
    while True:
        fp = np.full((rows + 2, cols + 2), np.inf)
        fp[1:-1, 1:-1] = np.where(valid, f, np.inf)
        low = np.min([fp[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols] for dr, dc in SHIFTS], 0)
        new = np.where(outlet, z, np.maximum(z, np.minimum(f, low)))
        new[~valid] = np.nan
        if np.array_equal(new, f, equal_nan=True):
            return f.astype(np.float32)
        f = new


def random_dem(rng: np.random.Generator, rows: int, cols: int, nodata: float) -> np.ndarray:
    z = rng.integers(0, 12, (rows, cols)).astype(np.float32)  # many ties and flats
    z[rng.random((rows, cols)) < nodata] = np.nan
    return z


def test_brute_force_reference_fills_a_pit_to_its_rim():
    z = np.full((5, 5), 9.0, dtype=np.float32)
    z[2, 2] = 1.0
    z[1:4, 1:4] = np.array([[5, 6, 7], [6, 1, 6], [7, 6, 8]], dtype=np.float32)
    z[0, 1] = 2.0  # a notch in the 9 m ring at the grid edge (an outlet)
    f = brute_force_fill(z)
    # the bowl spills over its lowest rim cell (5) through the notch
    assert f[2, 2] == 5.0 and f[1, 1] == 5.0 and f[3, 3] == 8.0 and f[0, 0] == 9.0


@pytest.mark.parametrize("seed", range(6))
def test_tiled_fill_equals_brute_force_on_random_grids(seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        rows, cols = rng.integers(3, 30, 2)
        z = random_dem(rng, rows, cols, nodata=(0.0, 0.15)[seed % 2])
        ref = brute_force_fill(z)
        whole = route_flow(z, ewres=1.0, nsres=-1.0).filled
        np.testing.assert_array_equal(whole, ref)
        for tile in (1, 2, 3, 7, int(rng.integers(4, 40))):
            np.testing.assert_array_equal(fill_tiled(z, tile), ref, err_msg=f"tile {tile}")


@pytest.fixture(scope="module")
def real_dems(root):
    out = {}
    for name, path in {
        "ecuador": root / "resources" / "demo" / "dem.tif",
        "zion": root / "resources" / "scenarios" / "dem" / "zion_srtm.tif",  # integer heights
    }.items():
        with rasterio.open(path) as src:
            z = src.read(1, masked=True).astype(np.float32).filled(np.nan)
        out[name] = (z, route_flow(z, ewres=1.0, nsres=-1.0).filled)
    return out


@pytest.mark.parametrize("tile", [37, 64, 100, 128, 256])
def test_tiled_fill_equals_whole_array_fill_on_real_dems(real_dems, tile):
    for name, (z, whole) in real_dems.items():
        assert (whole > z).sum() > 500, name  # the DEMs do have depressions to fill
        np.testing.assert_array_equal(fill_tiled(z, tile), whole, err_msg=name)


def test_tiled_fill_equals_whole_array_fill_on_a_synthetic_dem_in_16_tiles():
    n = 1024
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:n, 0:n].astype(np.float64) * 10.0
    z = 1500 + 0.02 * x + 0.01 * y + 120 * np.sin(x / 2500) * np.cos(y / 1900)
    z = (z + 25 * np.sin(x / 300 + 1) * np.cos(y / 260) + rng.normal(0, 1.5, z.shape)).astype(
        np.float32
    )
    z[(x + y) < n * 10 * 0.08] = np.nan  # a nodata corner whose edge cells are outlets
    whole = route_flow(z, ewres=10.0, nsres=-10.0).filled
    assert (whole > z).mean() > 0.05
    np.testing.assert_array_equal(fill_tiled(z, n // 4), whole)


def test_tile_flood_labels_and_levels_of_a_hand_made_tile():
    # a 3 x 4 tile whose middle row dips to 1 m; the halo is 5 m except a NaN on the left,
    # which makes the two left cells next to it outlets
    core = np.array([[6, 6, 6, 6], [4, 1, 1, 6], [6, 6, 6, 6]], dtype=np.float32)
    padded = np.full((5, 6), 5.0, dtype=np.float32)
    padded[1:-1, 1:-1] = core
    padded[2, 0] = np.nan
    fl = flood_tile(padded)
    assert fl.n_labels == 2 + n_slots(3, 4) == 12
    assert fl.labels[1, 0] == OCEAN and fl.labels[0, 0] == OCEAN and fl.labels[2, 0] == OCEAN
    # interior cells are reached from the outlet at 4 m (the lowest seed next to them)
    assert fl.labels[1, 1] == OCEAN and fl.labels[1, 2] == OCEAN
    assert fl.filled[1, 1] == 4.0 and fl.filled[1, 2] == 4.0
    # one tile: its perimeter cells are not outlets unless next to the NaN; all levels solve
    levels = solve_levels([fl.summary()], 1, 1)[0]
    assert levels[OCEAN] == -np.inf
    filled = apply_levels(fl, levels)
    assert levels[fl.labels[0, 3]] == 6.0  # a 6 m perimeter seed, reached at 6 m
    expected = np.array([[6, 6, 6, 6], [4, 4, 4, 6], [6, 6, 6, 6]], dtype=np.float32)
    np.testing.assert_array_equal(filled, expected)


def test_layout_mismatch_and_tiny_tiles_are_refused():
    fl = flood_tile(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="2 x 1 tile layout"):
        solve_levels([fl.summary()], 2, 1)
    with pytest.raises(ValueError, match="at least 3 x 3"):
        flood_tile(np.zeros((2, 5), dtype=np.float32))


def test_tile_jobs_through_files_equal_the_whole_array_fill(root, tmp_path, real_dems):
    from slidemap.factors.tiledfill import (
        fill_tile_job,
        flood_tile_job,
        solve_levels_job,
        tile_layout,
    )

    dem_path = root / "resources" / "demo" / "dem.tif"
    z, whole = real_dems["ecuador"]
    windows, tile_rows, tile_cols = tile_layout(*z.shape, 150)
    assert (tile_rows, tile_cols, len(windows)) == (3, 3, 9)
    summaries = [tmp_path / f"t{i}.npz" for i in range(len(windows))]
    for w, s in zip(windows, summaries, strict=True):
        flood_tile_job(dem_path, w, s)
    levels = tmp_path / "levels.npz"
    solve_levels_job(summaries, tile_rows, tile_cols, levels)
    mosaic = np.full(z.shape, -1.0, dtype=np.float32)
    with rasterio.open(dem_path) as src:
        transform = src.transform
    for i, w in enumerate(windows):
        out = tmp_path / f"f{i}.tif"
        fill_tile_job(dem_path, w, i, levels, out)
        with rasterio.open(out) as tile:
            assert tile.transform == transform @ Affine.translation(w.col_off, w.row_off)
            mosaic[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] = tile.read(1)
    np.testing.assert_array_equal(mosaic, whole)
    # levels solved for another tiling are refused, naming the file
    other = tmp_path / "other.npz"
    windows4, r4, c4 = tile_layout(*z.shape, 100)
    paths4 = [tmp_path / f"u{i}.npz" for i in range(len(windows4))]
    for w, s in zip(windows4, paths4, strict=True):
        flood_tile_job(dem_path, w, s)
    solve_levels_job(paths4, r4, c4, other)
    with pytest.raises(ValueError, match="other.npz: tile 0 has .* another DEM or tiling"):
        fill_tile_job(dem_path, windows[0], 0, other, tmp_path / "bad.tif")
    assert not (tmp_path / "bad.tif").exists()


def test_routing_a_filled_dem_gives_the_same_directions_order_and_accumulation(real_dems):
    # why the whole-array routing may take a tile-filled DEM: a filled cell sits at its
    # spill level, so the flood meets the same raised cells (pit queue) in the same order
    for name, (z, _) in real_dems.items():
        a = route_flow(z, ewres=10.0, nsres=-10.0)
        b = route_flow(fill_tiled(z, 64), ewres=10.0, nsres=-10.0)
        np.testing.assert_array_equal(b.filled, a.filled, err_msg=name)
        np.testing.assert_array_equal(b.dirs, a.dirs, err_msg=name)
        np.testing.assert_array_equal(b.order, a.order, err_msg=name)
        np.testing.assert_array_equal(b.acc_cells, a.acc_cells, err_msg=name)
