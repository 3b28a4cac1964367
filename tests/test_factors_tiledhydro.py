"""The tiled hydrology's plan, checks and final mosaic (slidemap.factors.tiledhydro)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from slidemap.errors import ConfigError
from slidemap.factors.hydrology import write_hydrology
from slidemap.factors.streams import assemble_streams_job, stream_pieces_job
from slidemap.factors.studygrid import build_study_grid
from slidemap.factors.tiledhydro import (
    HydrologyTiles,
    check_tile_plan,
    mosaic_hydrology_job,
    plan_hydrology_tiles,
)
from slidemap.raster import Grid, write_cog, write_vrt


def test_layout_covers_the_grid_once_row_major():
    plan = HydrologyTiles.layout(10, 7, 4)
    assert (plan.tile_rows, plan.tile_cols) == (3, 2)
    covered = np.zeros((10, 7), dtype=int)
    for col, row, w, h in plan.windows:
        covered[row : row + h, col : col + w] += 1
    assert (covered == 1).all()
    # row-major: tile index = tile row * tile columns + tile column
    assert plan.windows[3] == (4, 4, 3, 4) and plan.windows[5] == (4, 8, 3, 2)
    assert plan.tiles == ["0", "1", "2", "3", "4", "5"]
    w = plan.window("5")
    assert (w.col_off, w.row_off, w.width, w.height) == (4, 8, 3, 2)


def test_neighbours_are_the_tiles_a_halo_touches():
    plan = HydrologyTiles.layout(12, 12, 4)  # 3 x 3 tiles
    assert sorted(plan.neighbours(4), key=int) == [str(i) for i in range(9)]
    assert sorted(plan.neighbours(0), key=int) == ["0", "1", "3", "4"]
    assert sorted(plan.neighbours(8), key=int) == ["4", "5", "7", "8"]
    # brute force: tiles whose cells are within 2 cells (chessboard) of the tile's cells
    for t in range(9):
        col, row, w, h = plan.windows[t]
        near = {
            str(u)
            for u, (c2, r2, w2, h2) in enumerate(plan.windows)
            if c2 <= col + w + 1 and c2 + w2 >= col - 2 and r2 <= row + h + 1 and r2 + h2 >= row - 2
        }
        assert set(plan.neighbours(t)) == near


def test_job_memory_grows_with_the_tile_and_the_attempt():
    small, big = HydrologyTiles.layout(10, 10, 512), HydrologyTiles.layout(10, 10, 4096)
    assert big.job_mem_mb() > small.job_mem_mb() >= 400
    assert big.job_mem_mb(2) == pytest.approx(2 * big.job_mem_mb(), abs=1)
    # the benchmark's largest tile job: 442 MB at 2048 (benchmarks/flow_tiles.md)
    assert HydrologyTiles.layout(10, 10, 2048).job_mem_mb() >= 442


def test_plan_is_the_grid_study_grid_builds(tmp_path, root):
    dem = root / "resources" / "demo" / "dem.tif"
    plan = plan_hydrology_tiles(dem, tile_size=100, method="d8", resolution_m=20.0)
    build_study_grid(dem, tmp_path / "g.tif", tmp_path / "g.json", resolution_m=20.0)
    with rasterio.open(tmp_path / "g.tif") as src:
        assert (plan.height, plan.width) == (src.height, src.width)
    check_tile_plan(tmp_path / "g.tif", plan.height, plan.width)  # no error
    with pytest.raises(ConfigError, match=r"planned on .*run snakemake again"):
        check_tile_plan(tmp_path / "g.tif", plan.height + 1, plan.width)


def test_plan_refuses_mfd_and_a_missing_dem(tmp_path, root):
    dem = root / "resources" / "demo" / "dem.tif"
    with pytest.raises(ConfigError, match=r"D8 only.*method: d8.*tile_size_cells: null"):
        plan_hydrology_tiles(dem, tile_size=128, method="mfd")
    with pytest.raises(ConfigError, match=r"'dem.path'.*does not exist"):
        plan_hydrology_tiles(tmp_path / "none.tif", tile_size=128, method="d8")


def test_streams_merge_without_segments_is_refused_and_writes_nothing(tmp_path, root):
    dem = root / "resources" / "demo" / "dem.tif"
    with rasterio.open(dem) as src:
        grid = Grid.of(src)
    dirs = np.full(grid.shape, 255, dtype=np.uint8)  # nodata everywhere: no stream
    acc = np.full(grid.shape, np.nan, dtype=np.float64)
    write_cog(dirs, tmp_path / "d.tif", nodata=255, grid=grid, layout="tiff")
    write_cog(acc, tmp_path / "a.tif", nodata=np.nan, grid=grid, layout="tiff")
    window = HydrologyTiles.layout(grid.height, grid.width, 10**6).window(0)
    stream_pieces_job(tmp_path / "d.tif", tmp_path / "a.tif", window, 300, tmp_path / "p.npz")
    out = tmp_path / "streams.gpkg"
    with pytest.raises(ConfigError, match=r"stream_threshold_cells.*no cell drains 300 cells"):
        assemble_streams_job([tmp_path / "p.npz"], dem, out, threshold_cells=300)
    assert not out.exists()
    # without a threshold the merge writes the empty network (the library's old behaviour)
    assert assemble_streams_job([tmp_path / "p.npz"], dem, out)["streams"] == 0


def test_mosaic_equals_the_tiles_and_tags_like_write_hydrology(tmp_path, root):
    dem = root / "resources" / "demo" / "dem.tif"
    ref = {name: tmp_path / f"ref_{name}.tif" for name in ("sca", "twi", "spi")}
    write_hydrology(
        dem,
        sca_path=ref["sca"],
        twi_path=ref["twi"],
        spi_path=ref["spi"],
        streams_path=tmp_path / "s.gpkg",
        method="d8",
        stream_threshold_cells=300,
        chunk_size=128,
    )
    grid = Grid.from_raster(dem)
    plan = HydrologyTiles.layout(grid.height, grid.width, 150)
    vrts, outs = {}, {}
    for name, path in ref.items():
        with rasterio.open(path) as src:
            whole = src.read(1)
        tiles = []
        for t in plan.tiles:  # cut the reference into tiles, mosaic them back
            w = plan.window(t)
            part = whole[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width]
            tile_path = tmp_path / f"{name}_{t}.tif"
            tf = grid.transform @ rasterio.Affine.translation(w.col_off, w.row_off)
            write_cog(part, tile_path, nodata=np.nan, crs=grid.crs, transform=tf, layout="tiff")
            tiles.append((w, tile_path))
        vrts[name] = tmp_path / f"{name}.vrt"
        write_vrt(vrts[name], grid, tiles, dtype="float32", nodata=np.nan)
        outs[name] = tmp_path / f"out_{name}.tif"
    mosaic_hydrology_job(vrts, outs, min_tan_beta=0.001, tile_size=150, chunk_size=64)
    for name in ref:
        with rasterio.open(ref[name]) as a, rasterio.open(outs[name]) as b:
            assert np.array_equal(a.read(1), b.read(1), equal_nan=True), name
            assert a.profile["blockxsize"] == b.profile["blockxsize"]
            assert b.overviews(1) == a.overviews(1)
            ta, tb = a.tags(), b.tags()
            assert tb["method"] == ta["method"].replace(
                "D8 steepest descent", "D8 steepest descent (tiled, 150 x 150-cell tiles)"
            )
            same = ("factor", "kind", "source", "unit", "AREA_OR_POINT")
            assert {k: tb[k] for k in same} == {k: ta[k] for k in same}
