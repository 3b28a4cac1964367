"""Tiled D8 flow accumulation (Barnes 2017): equal to the whole-array accumulation.

References: a brute-force accumulation that walks every cell's flow path to its end (no
topological order, no tiles) on random grids, and ``route_flow``'s whole-array accumulation
on the demo and Zion DEMs and on a synthetic DEM cut into 16 tiles.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from slidemap.factors.hydrology import route_flow
from slidemap.factors.tiledflow import accumulate_tiled, flow_tile, solve_inflows

DR = [-1, -1, 0, 1, 1, 1, 0, -1]
DC = [0, 1, 1, 1, 0, -1, -1, -1]


def brute_force_accumulation(dirs: np.ndarray) -> np.ndarray:
    """Count, for every cell, the cells whose flow path passes through it (walk each path)."""
    rows, cols = dirs.shape
    acc = np.where(dirs == 255, np.nan, 0.0)
    for r in range(rows):
        for c in range(cols):
            if dirs[r, c] == 255:
                continue
            rr, cc, steps = r, c, 0
            while True:
                acc[rr, cc] += 1
                d = int(dirs[rr, cc])
                if d == 0:
                    break
                rr, cc = rr + DR[d - 1], cc + DC[d - 1]
                steps += 1
                assert steps <= rows * cols, "cycle"
    return acc


@pytest.mark.parametrize("seed", range(4))
def test_tiled_accumulation_equals_brute_force_on_random_grids(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        rows, cols = rng.integers(1, 25, 2)
        z = (rng.random((rows, cols)) * 10).astype(np.float32)
        if seed % 2:
            z[rng.random((rows, cols)) < 0.12] = np.nan
        dirs = route_flow(z, ewres=1.0, nsres=-1.0).dirs
        ref = brute_force_accumulation(dirs)
        for tile in (1, 2, 3, 5, int(rng.integers(6, 30))):
            np.testing.assert_array_equal(accumulate_tiled(dirs, tile), ref, err_msg=f"{tile}")


@pytest.mark.parametrize("tile", [37, 100, 128, 256])
def test_tiled_accumulation_equals_whole_array_on_real_dems(root, tile):
    for path in (
        root / "resources" / "demo" / "dem.tif",
        root / "resources" / "scenarios" / "dem" / "zion_srtm.tif",
    ):
        with rasterio.open(path) as src:
            z = src.read(1, masked=True).astype(np.float32).filled(np.nan)
        flow = route_flow(z, ewres=10.0, nsres=-10.0)
        assert np.nanmax(flow.acc_cells) > 10_000
        np.testing.assert_array_equal(accumulate_tiled(flow.dirs, tile), flow.acc_cells)


def test_tiled_accumulation_on_a_synthetic_dem_in_16_tiles():
    n = 1024
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:n, 0:n].astype(np.float64) * 10.0
    z = 900 + 0.03 * x - 0.01 * y + 80 * np.sin(x / 1800) * np.cos(y / 2300)
    z = (z + 10 * np.sin(x / 210) * np.cos(y / 170) + rng.normal(0, 0.5, z.shape)).astype(
        np.float32
    )
    z[400:430, 600:700] = np.nan  # an inner nodata hole: flow leaves the grid there too
    flow = route_flow(z, ewres=10.0, nsres=-10.0)
    tiled = accumulate_tiled(flow.dirs, n // 4)
    np.testing.assert_array_equal(tiled, flow.acc_cells)
    # the largest catchment crosses tile seams: its flow is not all from one tile
    assert np.nanmax(tiled) > (n // 4) ** 2


def test_a_cycle_across_tiles_and_a_wrong_layout_are_refused():
    # two cells in two 1 x 1 tiles pointing at each other (E and W): not a valid flow field
    dirs = np.array([[3, 7]], dtype=np.uint8)
    flows = [flow_tile(dirs[:, :1], (0, 0)), flow_tile(dirs[:, 1:], (0, 1))]
    with pytest.raises(ValueError, match="cycle"):
        solve_inflows([f.summary for f in flows], 1, 1, 2)
    with pytest.raises(ValueError, match="1 x 2 tile layout"):
        solve_inflows([flows[0].summary], 1, 1, 2)
    with pytest.raises(ValueError, match="2-D"):
        flow_tile(np.zeros(4, dtype=np.uint8))


def test_tile_sca_twi_spi_equal_write_hydrology_d8(root, tmp_path):
    from slidemap.factors.hydrology import write_hydrology
    from slidemap.factors.tiledflow import tile_hydrology_factors

    dem = root / "resources" / "demo" / "dem.tif"
    paths = {name: tmp_path / f"{name}.tif" for name in ("sca", "twi", "spi")}
    write_hydrology(
        dem,
        sca_path=paths["sca"],
        twi_path=paths["twi"],
        spi_path=paths["spi"],
        streams_path=tmp_path / "streams.gpkg",
        method="d8",
        min_tan_beta=0.001,
    )
    with rasterio.open(dem) as src:
        z = src.read(1, masked=True).astype(np.float32).filled(np.nan)
        t = src.transform
    acc = route_flow(z, ewres=t.a, nsres=t.e).acc_cells
    padded = np.pad(z, 1, constant_values=np.nan)
    tile = 128
    out = {name: np.empty(z.shape, dtype=np.float32) for name in paths}
    for r0 in range(0, z.shape[0], tile):
        for c0 in range(0, z.shape[1], tile):
            h, w = min(tile, z.shape[0] - r0), min(tile, z.shape[1] - c0)
            got = tile_hydrology_factors(
                padded[r0 : r0 + h + 2, c0 : c0 + w + 2],
                acc[r0 : r0 + h, c0 : c0 + w],
                ewres=t.a,
                nsres=t.e,
                min_tan_beta=0.001,
            )
            for name in out:
                out[name][r0 : r0 + h, c0 : c0 + w] = got[name]
    for name, path in paths.items():
        with rasterio.open(path) as src:
            np.testing.assert_array_equal(out[name], src.read(1), err_msg=name)
    with pytest.raises(ValueError, match="one-cell halo"):
        tile_hydrology_factors(
            padded[:10, :10], acc[:10, :10], ewres=10.0, nsres=-10.0, min_tan_beta=0.001
        )
