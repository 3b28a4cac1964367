"""Flow directions on flats, whole-array and tiled; the whole tiled routing end to end.

References: a brute-force statement of the direction rule (steepest descent; outlets; flats
to the same-level neighbour with the smallest breadth-first distance to a non-flat cell,
found by fixed-point relaxation), and ``route_flow`` for the tiled directions and for the
tiled fill + directions + accumulation together.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

from slidemap.factors.hydrology import route_flow
from slidemap.factors.tileddirs import (
    directions_tiled,
    flat_seams,
    solve_flat_distances,
    solve_flat_distances_tiled,
    tile_directions,
)
from slidemap.factors.tiledfill import fill_tiled
from slidemap.factors.tiledflow import accumulate_tiled

DR = [-1, -1, 0, 1, 1, 1, 0, -1]
DC = [0, 1, 1, 1, 0, -1, -1, -1]


def brute_force_directions(f: np.ndarray, cell: float = 1.0) -> np.ndarray:
    """The direction rule written out cell by cell, flat distances by relaxation."""
    rows, cols = f.shape

    def nbrs(r, c):
        for q in range(8):
            rr, cc = r + DR[q], c + DC[q]
            yield q, rr, cc, (0 <= rr < rows and 0 <= cc < cols and not np.isnan(f[rr, cc]))

    flat = np.zeros(f.shape, dtype=bool)
    for r in range(rows):
        for c in range(cols):
            if np.isnan(f[r, c]):
                continue
            seed = any(not ok for _, _, _, ok in nbrs(r, c))
            lower = any(ok and f[rr, cc] < f[r, c] for _, rr, cc, ok in nbrs(r, c))
            flat[r, c] = not seed and not lower
    dist = np.where(flat, np.inf, 0.0)
    changed = True
    while changed:
        changed = False
        for r, c in zip(*np.nonzero(flat), strict=True):
            best = min(
                (dist[rr, cc] + 1 for _, rr, cc, ok in nbrs(r, c) if ok and f[rr, cc] == f[r, c]),
                default=np.inf,
            )
            if best < dist[r, c]:
                dist[r, c] = best
                changed = True
    out = np.full(f.shape, 255, dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            if np.isnan(f[r, c]):
                continue
            if flat[r, c]:
                cands = [
                    (dist[rr, cc], q) for q, rr, cc, ok in nbrs(r, c) if ok and f[rr, cc] == f[r, c]
                ]
                out[r, c] = min(cands)[1] + 1
                continue
            best, best_s = 0, 0.0
            for q, rr, cc, ok in nbrs(r, c):
                if ok and f[rr, cc] < f[r, c]:
                    s = (float(f[r, c]) - float(f[rr, cc])) / (
                        cell * (math.sqrt(2) if q % 2 else 1)
                    )
                    if s > best_s:
                        best, best_s = q + 1, s
            out[r, c] = best
    return out


@pytest.mark.parametrize("seed", range(4))
def test_directions_follow_the_rule_and_tiles_reproduce_them(seed):
    rng = np.random.default_rng(seed)
    for _ in range(12):
        rows, cols = rng.integers(1, 22, 2)
        z = rng.integers(0, 5, (rows, cols)).astype(np.float32)  # flats everywhere
        if seed % 2:
            z[rng.random((rows, cols)) < 0.1] = np.nan
        flow = route_flow(z, ewres=1.0, nsres=-1.0)
        np.testing.assert_array_equal(flow.dirs, brute_force_directions(flow.filled))
        for tile in (1, 2, 3, int(rng.integers(4, 23))):
            got = directions_tiled(flow.filled, tile, ewres=1.0, nsres=-1.0)
            np.testing.assert_array_equal(got, flow.dirs, err_msg=f"tile {tile}")


def test_a_lake_drains_to_its_outlet_along_the_shortest_flat_path():
    # a 7 x 9 flat at 5 m inside a 9 m rim with one notch (the spill point) on the east side
    z = np.full((9, 11), 9.0, dtype=np.float32)
    z[1:-1, 1:-1] = 5.0
    z[4, 10] = 4.0  # the notch on the grid edge: an outlet below the lake
    flow = route_flow(z, ewres=1.0, nsres=-1.0)
    dirs = flow.dirs
    assert dirs[4, 9] == 3  # the lake cell next to the notch drains east into it
    # every lake cell's path reaches the notch in max(|dr|, |dc|) steps (chessboard distance)
    for r in range(1, 8):
        for c in range(1, 10):
            rr, cc, steps = r, c, 0
            while (rr, cc) != (4, 10):
                d = dirs[rr, cc] - 1
                rr, cc, steps = rr + DR[d], cc + DC[d], steps + 1
            assert steps == max(abs(r - 4), abs(c - 10)), (r, c)


def synthetic(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n].astype(np.float64) * 10.0
    z = 1500 + 0.02 * x + 0.01 * y + 120 * np.sin(x / 2500) * np.cos(y / 1900)
    z = z + 25 * np.sin(x / 300 + 1) * np.cos(y / 260) + rng.normal(0, 1.5, z.shape)
    z = np.round(z).astype(np.float32)  # integer metres: flats, as SRTM
    z[(x + y) < n * 10 * 0.08] = np.nan
    return z


def dems(root):
    out = {"synthetic 1024 (16 tiles)": (synthetic(1024, 5), 256)}
    for name in ("demo/dem.tif", "scenarios/dem/zion_srtm.tif"):
        with rasterio.open(root / "resources" / name) as src:
            out[name] = (src.read(1, masked=True).astype(np.float32).filled(np.nan), 100)
    return out


def test_tiled_routing_end_to_end_equals_the_whole_array_routing(root):
    for name, (z, tile) in dems(root).items():
        whole = route_flow(z, ewres=10.0, nsres=-10.0)
        filled = fill_tiled(z, tile)
        np.testing.assert_array_equal(filled, whole.filled, err_msg=name)
        dirs = directions_tiled(filled, tile, ewres=10.0, nsres=-10.0)
        np.testing.assert_array_equal(dirs, whole.dirs, err_msg=name)
        np.testing.assert_array_equal(accumulate_tiled(dirs, tile), whole.acc_cells, err_msg=name)
        # flats cross the seams here, so the merge had work to do
        seams = [
            flat_seams(
                np.pad(filled, 2, constant_values=np.nan)[r : r + tile + 4, c : c + tile + 4],
                (r, c),
                z.shape[1],
            )
            for r in range(0, z.shape[0], tile)
            for c in range(0, z.shape[1], tile)
        ]
        assert sum(s["index"].size for s in seams) > 0, name


def test_missing_seam_distances_and_tiny_tiles_are_refused():
    z = np.full((6, 6), 3.0, dtype=np.float32)
    z[0, 0] = 1.0
    padded = np.pad(route_flow(z, ewres=1.0, nsres=-1.0).filled, 2, constant_values=np.nan)
    tile = padded[0:7, 0:7]  # the 3 x 3 top-left tile of a 6 x 6 grid
    assert flat_seams(tile, (0, 0), 6)["index"].size > 0
    empty = solve_flat_distances([], 6, 6)
    with pytest.raises(ValueError, match="another DEM or tiling"):
        tile_directions(tile, (0, 0), 6, empty, ewres=1.0, nsres=-1.0)
    with pytest.raises(ValueError, match="at least 5 x 5"):
        flat_seams(np.zeros((4, 9), dtype=np.float32), (0, 0), 9)


def _serpentine(n: int) -> np.ndarray:
    """A one-cell corridor at 5 m winding through 9 m walls, its outlet at the far end."""
    z = np.full((n, n), 9.0, dtype=np.float32)
    for i, r in enumerate(range(1, n - 1, 2)):
        z[r, 1 : n - 1] = 5.0
        if r + 1 < n - 1:
            z[r + 1, n - 2 if i % 2 == 0 else 1] = 5.0
    z[1, 0] = 4.0  # the outlet on the west edge, next to the corridor's start
    return z


def _seam_tiles(filled: np.ndarray, tile: int) -> list[dict[str, np.ndarray]]:
    height, width = filled.shape
    padded = np.pad(filled, 2, constant_values=np.nan)
    return [
        flat_seams(
            padded[r : r + min(tile, height - r) + 4, c : c + min(tile, width - c) + 4],
            (r, c),
            width,
        )
        for r in range(0, height, tile)
        for c in range(0, width, tile)
    ]


@pytest.mark.parametrize("case", ["random", "serpentine", "lake"])
def test_tile_by_tile_flat_merge_equals_the_one_search_over_every_seam_flat(case):
    rng = np.random.default_rng(11)
    if case == "random":
        z = rng.integers(0, 4, (37, 41)).astype(np.float32)
        z[rng.random(z.shape) < 0.05] = np.nan
    elif case == "serpentine":
        z = _serpentine(41)
    else:  # one big flat over every tile, draining at one corner
        z = np.full((33, 30), 5.0, dtype=np.float32)
        z[32, 29] = 1.0
    filled = route_flow(z, ewres=1.0, nsres=-1.0).filled
    height, width = filled.shape
    for tile in (3, 5, 8, 16):
        seams = _seam_tiles(filled, tile)
        ref = solve_flat_distances(seams, height, width)
        assert ref["index"].size > 0
        got: dict[int, dict[str, np.ndarray]] = {}
        stats = solve_flat_distances_tiled(seams.__getitem__, got.__setitem__, height, width, tile)
        assert sorted(got) == list(range(len(seams)))
        assert stats["seam_flat_cells"] == ref["index"].size
        assert stats["max_flat_distance"] == ref["dist"].max()
        for t, flats in got.items():
            assert np.all(np.diff(flats["index"]) > 0)
            pos = np.searchsorted(ref["index"], flats["index"])
            np.testing.assert_array_equal(ref["index"][pos], flats["index"])
            np.testing.assert_array_equal(flats["dist"], ref["dist"][pos], err_msg=f"tile {t}")
            # the tile's own seam flats and every seam flat of its one-cell ring are there
            r0, c0 = divmod(t, -(-width // tile))
            r0, c0 = r0 * tile, c0 * tile
            rows, cols = np.divmod(ref["index"], width)
            near = (rows >= r0 - 1) & (rows <= r0 + tile) & (cols >= c0 - 1) & (cols <= c0 + tile)
            np.testing.assert_array_equal(np.sort(ref["index"][near]), flats["index"])
        if case == "serpentine" and tile == 5:
            # the corridor crosses the tile columns back and forth: tiles are searched again
            assert stats["tile_searches"] > 3 * len(seams)


def test_tile_by_tile_flat_merge_refuses_unreachable_flats_and_foreign_cells():
    z = np.full((10, 10), 5.0, dtype=np.float32)
    z[0, 0] = 1.0
    filled = route_flow(z, ewres=1.0, nsres=-1.0).filled
    seams = _seam_tiles(filled, 5)
    cut = [dict(s, touches_source=np.zeros_like(s["touches_source"])) for s in seams]
    with pytest.raises(ValueError, match="reach no source"):
        solve_flat_distances_tiled(cut.__getitem__, lambda t, f: None, 10, 10, 5)
    with pytest.raises(ValueError, match="tile 1 lists a seam-flat cell outside its window"):
        solve_flat_distances_tiled(
            [seams[0], seams[0], seams[2], seams[3]].__getitem__, lambda t, f: None, 10, 10, 5
        )


def test_tiled_routing_jobs_through_files_equal_the_whole_array_routing(root, tmp_path):
    from slidemap.factors import tileddirs, tiledfill, tiledflow
    from slidemap.raster import Grid, write_vrt

    dem_path = root / "resources" / "demo" / "dem.tif"
    grid = Grid.from_raster(dem_path)
    tile = 150
    windows, tile_rows, tile_cols = tiledfill.tile_layout(grid.height, grid.width, tile)
    n = len(windows)

    def paths(stem, ext):
        return [tmp_path / f"{stem}_{i}.{ext}" for i in range(n)]

    fill_sum, filled = paths("fill", "npz"), paths("filled", "tif")
    for w, s in zip(windows, fill_sum, strict=True):
        tiledfill.flood_tile_job(dem_path, w, s)
    tiledfill.solve_levels_job(fill_sum, tile_rows, tile_cols, tmp_path / "levels.npz")
    for i, (w, out) in enumerate(zip(windows, filled, strict=True)):
        tiledfill.fill_tile_job(dem_path, w, i, tmp_path / "levels.npz", out)
    filled_vrt = tmp_path / "filled.vrt"
    write_vrt(
        filled_vrt, grid, list(zip(windows, filled, strict=True)), dtype="float32", nodata=np.nan
    )

    seams, dirs = paths("seams", "npz"), paths("dirs", "tif")
    for w, s in zip(windows, seams, strict=True):
        tileddirs.flat_seams_job(filled_vrt, w, s)
    flats = paths("flats", "npz")
    stats = tileddirs.solve_flat_distances_job(
        seams, grid.height, grid.width, tile, flats, cache_mb=0.001
    )
    assert stats["seam_flat_cells"] > 0
    for w, f, out in zip(windows, flats, dirs, strict=True):
        tileddirs.directions_tile_job(filled_vrt, w, f, out)

    flow_sum, acc = paths("flow", "npz"), paths("acc", "tif")
    for w, d, s in zip(windows, dirs, flow_sum, strict=True):
        tiledflow.flow_tile_job(d, (w.row_off, w.col_off), s)
    tiledflow.solve_inflows_job(flow_sum, tile, grid.height, grid.width, tmp_path / "inflows.npz")
    for i, (d, out) in enumerate(zip(dirs, acc, strict=True)):
        tiledflow.accumulate_tile_job(d, i, tmp_path / "inflows.npz", out)
    acc_vrt = tmp_path / "acc.vrt"
    write_vrt(acc_vrt, grid, list(zip(windows, acc, strict=True)), dtype="float64", nodata=np.nan)
    dirs_vrt = tmp_path / "dirs.vrt"
    write_vrt(dirs_vrt, grid, list(zip(windows, dirs, strict=True)), dtype="uint8", nodata=255)

    with rasterio.open(dem_path) as src:
        z = src.read(1, masked=True).astype(np.float32).filled(np.nan)
    whole = route_flow(z, ewres=grid.transform.a, nsres=grid.transform.e)
    with rasterio.open(filled_vrt) as src:
        assert src.crs == grid.crs and src.transform == grid.transform
        np.testing.assert_array_equal(src.read(1), whole.filled)
    with rasterio.open(dirs_vrt) as src:
        np.testing.assert_array_equal(src.read(1), whole.dirs)
    with rasterio.open(acc_vrt) as src:
        np.testing.assert_array_equal(src.read(1), whole.acc_cells)
    # SCA/TWI/SPI and the streams from the tiles == write_hydrology (D8) of the whole grid
    from slidemap.factors.hydrology import write_hydrology
    from slidemap.factors.streams import assemble_streams_job, stream_pieces_job

    names = ("sca", "twi", "spi")
    ref = {name: tmp_path / f"ref_{name}.tif" for name in names}
    write_hydrology(
        dem_path,
        sca_path=ref["sca"],
        twi_path=ref["twi"],
        spi_path=ref["spi"],
        streams_path=tmp_path / "ref_streams.gpkg",
        method="d8",
        stream_threshold_cells=300,
    )
    pieces = paths("pieces", "npz")
    for i, w in enumerate(windows):
        tiledflow.hydrology_factors_tile_job(
            dem_path, acc_vrt, w, {n: tmp_path / f"{n}_{i}.tif" for n in names}, min_tan_beta=0.001
        )
        stream_pieces_job(dirs_vrt, acc_vrt, w, 300, pieces[i])
    for name in names:
        vrt = tmp_path / f"{name}.vrt"
        tiles = [(w, tmp_path / f"{name}_{i}.tif") for i, w in enumerate(windows)]
        write_vrt(vrt, grid, tiles, dtype="float32", nodata=np.nan)
        with rasterio.open(vrt) as a, rasterio.open(ref[name]) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1), err_msg=name)
    # written in pieces of ~50 vertices (whole segments each): the same table read back
    stats = assemble_streams_job(pieces, dem_path, tmp_path / "streams.gpkg", chunk_vertices=50)
    got = gpd.read_file(tmp_path / "streams.gpkg")
    want = gpd.read_file(tmp_path / "ref_streams.gpkg")
    assert len(got) == len(want) == stats["streams"] > 10 and got.crs == want.crs
    assert stats["max_strahler"] == want["strahler"].max()
    pd.testing.assert_frame_equal(got.drop(columns="geometry"), want.drop(columns="geometry"))
    assert all(a.equals_exact(b, 0.0) for a, b in zip(got.geometry, want.geometry, strict=True))
    # a merge solved for another tiling is refused, naming the file
    with pytest.raises(ValueError, match="inflows.npz: tile 0 has .* another tiling"):
        tiledflow.accumulate_tile_job(
            tmp_path / "dirs_8.tif", 0, tmp_path / "inflows.npz", tmp_path / "bad.tif"
        )
    assert not (tmp_path / "bad.tif").exists()


def _edge_case(name: str) -> np.ndarray:
    rng = np.random.default_rng(5)
    z = rng.integers(0, 8, (40, 40)).astype(np.float32)
    if name == "nodata tile":
        z[10:20, 10:20] = np.nan  # exactly one tile of 10 x 10 cells
    elif name == "nodata band":
        z[:, 20:30] = np.nan  # a column of tiles: the grid falls apart in two
    elif name == "all nodata":
        z[:] = np.nan
    elif name == "one row":
        z = z[:1]
    elif name == "one flat":
        z[:] = 5.0
    return z


@pytest.mark.parametrize(
    "name", ["nodata tile", "nodata band", "all nodata", "one row", "one flat", "one tile"]
)
def test_tiled_routing_edge_cases(name):
    z = _edge_case(name)
    tile = 100 if name == "one tile" else 10
    whole = route_flow(z, ewres=1.0, nsres=-1.0)
    filled = fill_tiled(z, tile)
    dirs = directions_tiled(filled, tile, ewres=1.0, nsres=-1.0)
    np.testing.assert_array_equal(filled, whole.filled)
    np.testing.assert_array_equal(dirs, whole.dirs)
    np.testing.assert_array_equal(accumulate_tiled(dirs, tile), whole.acc_cells)
