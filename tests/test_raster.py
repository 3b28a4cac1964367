"""The raster core (slidemap.raster): one grid, one lazy reader, one window reader, one writer.

Each function is checked against an independent reference: rasterio's own reads, numpy
padding, whole-array computation, and byte comparison between the writer's input kinds.
"""

from __future__ import annotations

import hashlib

import dask.array as da
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from slidemap.errors import InputDataError
from slidemap.raster import (
    Grid,
    Layer,
    check_same_grid,
    iter_windows,
    map_overlap,
    open_on_grid,
    read_stack,
    read_window,
    values_at,
    write_cog,
    write_cogs,
    write_vrt,
)

UTM = CRS.from_epsg(32717)
T = Affine(10.0, 0.0, 700_000.0, 0.0, -10.0, 9_600_000.0)


def _field(shape=(300, 260), seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape).astype(np.float32)
    a[:3, :7] = np.nan
    return a


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_grid_round_trips_json_and_raster(tmp_path):
    a = _field()
    write_cog(a, tmp_path / "a.tif", crs=UTM, transform=T, nodata=np.nan)
    g = Grid.from_raster(tmp_path / "a.tif")
    assert g.shape == a.shape and g.resolution_m == 10.0 and g.cell_area_m2 == 100.0
    assert Grid.from_json(g.to_json()).same_as(g)
    assert g.bounds == (700_000.0, 9_600_000.0 - 3000.0, 700_000.0 + 2600.0, 9_600_000.0)
    coarse = g.with_resolution(30.0)
    assert coarse.shape == (100, 87) and coarse.transform.c == T.c and coarse.transform.f == T.f
    rows, cols, inside = g.cell_of(np.array([700_005.0, 699_990.0]), np.array([9_599_995.0, 0]))
    assert rows[0] == 0 and cols[0] == 0 and inside.tolist() == [True, False]
    with pytest.raises(ValueError, match="north-up"):
        Grid(UTM, Affine(10, 0, 0, 0, -12, 0), 3, 3).require_north_up_square()


def test_check_same_grid_names_the_raster(tmp_path):
    write_cog(_field(), tmp_path / "a.tif", crs=UTM, transform=T, nodata=np.nan)
    write_cog(_field((300, 259)), tmp_path / "b.tif", crs=UTM, transform=T, nodata=np.nan)
    g = Grid.from_raster(tmp_path / "a.tif")
    check_same_grid([tmp_path / "a.tif"], g)
    with pytest.raises(InputDataError, match=r"b\.tif.*shape 300x259 instead of 300x260"):
        check_same_grid([tmp_path / "b.tif"], g)


def test_open_on_grid_is_a_dask_backed_dataarray_equal_to_rasterio(tmp_path):
    a = _field()
    codes = np.arange(300 * 260, dtype=np.int64).reshape(300, 260) % 7
    write_cog(a, tmp_path / "a.tif", crs=UTM, transform=T, nodata=np.nan)
    write_cog(codes.astype(np.uint8), tmp_path / "c.tif", crs=UTM, transform=T, nodata=0)
    arr = open_on_grid(tmp_path / "a.tif", chunk_size=64)
    assert isinstance(arr.data, da.Array) and arr.data.chunksize == (64, 64)
    assert arr.dims == ("y", "x") and arr.rio.crs == UTM and arr.rio.transform() == T
    np.testing.assert_array_equal(arr.x.values[:2], [700_005.0, 700_015.0])
    with rasterio.open(tmp_path / "a.tif") as src:
        np.testing.assert_array_equal(arr.values, src.read(1))
    c = open_on_grid(tmp_path / "c.tif", chunk_size=100)
    assert c.dtype == np.uint8 and c.attrs["nodata"] == 0
    np.testing.assert_array_equal(c.values, codes)


def test_open_on_grid_warps_exactly_per_cell_whatever_the_chunks(tmp_path):
    """A coarser target grid: the warped result does not depend on the chunk size."""
    a = _field(seed=3)
    a[np.isnan(a)] = 0.0
    write_cog(a, tmp_path / "a.tif", crs=UTM, transform=T, nodata=np.nan)
    target = Grid(UTM, Affine(25.0, 0, 700_000.0, 0, -25.0, 9_600_000.0), 104, 120)
    big = open_on_grid(tmp_path / "a.tif", target, chunk_size=512).values
    small = open_on_grid(tmp_path / "a.tif", target, chunk_size=17).values
    np.testing.assert_array_equal(big, small)
    assert np.isfinite(big[:100]).all()


def test_read_window_pads_the_halo_with_nan_like_numpy(tmp_path):
    a = _field()
    a[10, 10] = -9999.0
    write_cog(a, tmp_path / "a.tif", crs=UTM, transform=T, nodata=-9999.0)
    m = 45  # margin wider than any window below reaches beyond the raster
    ref = np.pad(np.where(a == -9999.0, np.nan, a), m, constant_values=np.nan)
    for win in [Window(0, 0, 40, 30), Window(250, 290, 10, 10), Window(-20, -20, 10, 10)]:
        got = read_window(tmp_path / "a.tif", win, halo=5)
        r0, c0 = win.row_off - 5 + m, win.col_off - 5 + m
        want = ref[r0 : r0 + win.height + 10, c0 : c0 + win.width + 10]
        np.testing.assert_array_equal(got, want)
    stack = read_stack([tmp_path / "a.tif"] * 3, Window(5, 5, 20, 20), halo=2, threads=2)
    assert stack.shape == (3, 24, 24) and np.isnan(stack[:, 7, 7]).all()
    v = values_at(tmp_path / "a.tif", np.array([10, 0, -1, 299]), np.array([10, 20, 0, 259]))
    assert np.isnan(v[0]) and v[1] == a[0, 20] and np.isnan(v[2]) and v[3] == a[299, 259]


def _mean3(block):
    """3 x 3 mean of the interior of a block padded by 1 (NaN where any neighbour is NaN)."""
    s = sum(block[1 + dr : block.shape[0] - 1 + dr, 1 + dc : block.shape[1] - 1 + dc]
            for dr in (-1, 0, 1) for dc in (-1, 0, 1))  # fmt: skip
    return (s / 9.0).astype(np.float32)


def test_map_overlap_equals_the_whole_array_result():
    a = _field((203, 177), seed=5)
    whole = _mean3(np.pad(a, 1, constant_values=np.nan))
    for chunk in (16, 50, 203):
        got = map_overlap(_mean3, da.from_array(a, chunks=chunk), 1, dtype=np.float32).compute()
        np.testing.assert_array_equal(got, whole)
    assert np.isnan(whole[0]).all() and np.isnan(whole[:, -1]).all()


def test_iter_windows_tiles_the_grid_once():
    seen = np.zeros((70, 45), int)
    for w in iter_windows(70, 45, 32):
        seen[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
    assert (seen == 1).all()
    with pytest.raises(ValueError):
        list(iter_windows(3, 3, 0))


def test_writer_gives_the_same_bytes_for_numpy_dask_xarray_and_blocks(tmp_path):
    """Reproducible bytes: the file depends on the values and options, not on the input kind."""
    a = _field()
    g = Grid(UTM, T, 260, 300)
    kw = {"nodata": np.nan, "dtype": "float32", "tags": {"unit": "m"}, "band_names": ["z"]}
    write_cog(a, tmp_path / "np.tif", grid=g, **kw)
    write_cog(da.from_array(a, chunks=64), tmp_path / "da.tif", grid=g, threads=2, **kw)
    write_cog(open_on_grid(tmp_path / "np.tif", chunk_size=100), tmp_path / "xr.tif", grid=g, **kw)
    blocks = ((w, a[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width])
              for w in iter_windows(300, 260, 100))  # fmt: skip
    write_cog(blocks, tmp_path / "bl.tif", grid=g, **kw)
    hashes = {_md5(tmp_path / f"{k}.tif") for k in ("np", "da", "xr", "bl")}
    assert len(hashes) == 1
    with rasterio.open(tmp_path / "np.tif") as src:
        np.testing.assert_array_equal(src.read(1), a)
        assert src.tags()["unit"] == "m" and src.descriptions == ("z",)
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and src.overviews(1)


def test_write_cogs_writes_layers_of_one_graph_and_leaves_nothing_on_error(tmp_path):
    a = da.from_array(_field(), chunks=100)
    layers = [Layer(a, tmp_path / "x.tif", nodata=np.nan), Layer(a * 2, tmp_path / "y.tif",
                                                                 nodata=np.nan)]  # fmt: skip
    write_cogs(layers, grid=Grid(UTM, T, 260, 300), level=1, predictor=True)
    with rasterio.open(tmp_path / "y.tif") as src:
        np.testing.assert_array_equal(src.read(1), 2 * _field())
    with pytest.raises(ValueError, match="shape"):
        write_cog(np.zeros((5, 5)), tmp_path / "bad.tif", grid=Grid(UTM, T, 260, 300), nodata=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tif", "y.tif"]


def test_dask_layers_are_stored_strip_by_strip_with_the_same_bytes(tmp_path, monkeypatch):
    """Strips of whole chunk rows (bounded memory) give the file one store of the graph gave."""
    from slidemap.raster import write as writer

    assert writer._strips([100, 100, 100], 260) == [(0, 300)]  # 78,000 cells < STRIP_CELLS
    monkeypatch.setattr(writer, "STRIP_CELLS", 260 * 150)
    assert writer._strips([64, 64, 64, 64, 44], 260) == [(0, 192), (192, 300)]
    assert writer._strips([100, 100, 100], 260) == [(0, 200), (200, 300)]
    assert writer._strips([], 260) == []
    a = _field()
    g = Grid(UTM, T, 260, 300)
    mean = _mean3(np.pad(a, 1, constant_values=np.nan))
    for chunk in (64, 100, 300):  # 2, 2 and 1 strips; the 3 x 3 kernel reads across them
        source = map_overlap(_mean3, da.from_array(a, chunks=chunk), 1, dtype=np.float32)
        write_cogs([Layer(source, tmp_path / f"m{chunk}.tif", nodata=np.nan),
                    Layer(da.from_array(a, chunks=chunk), tmp_path / f"a{chunk}.tif",
                          nodata=np.nan)], grid=g, threads=2)  # fmt: skip
        with rasterio.open(tmp_path / f"m{chunk}.tif") as src:
            np.testing.assert_array_equal(src.read(1), mean)
    monkeypatch.setattr(writer, "STRIP_CELLS", 2**40)  # one store of the whole graph
    write_cog(da.from_array(a, chunks=64), tmp_path / "one.tif", grid=g, nodata=np.nan)
    assert len({_md5(tmp_path / f"{k}.tif") for k in ("a64", "a100", "a300", "one")}) == 1
    assert len({_md5(tmp_path / f"m{k}.tif") for k in (64, 100, 300)}) == 1


def test_dask_layers_are_staged_compressed_when_the_disk_is_short(tmp_path, monkeypatch):
    """A short disk stages dask layers ZSTD-compressed: smaller scratch, the same COG bytes."""
    import shutil
    from collections import namedtuple

    from slidemap.raster import write as writer

    a, g = _field(), Grid(UTM, T, 260, 300)
    usage = namedtuple("usage", "total used free")
    layers = [Layer(da.from_array(a, chunks=64), tmp_path / "x.tif", nodata=np.nan),
              Layer(da.from_array(np.nan_to_num(a), chunks=64).astype("int16"), tmp_path / "i.tif",
                    nodata=-1),
              Layer(a, tmp_path / "np.tif", nodata=np.nan)]  # fmt: skip
    raw = 260 * 300 * (4 + 2)  # the dask layers only
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(0, 0, 4 * raw + 4))
    assert not writer._squeeze_scratch(layers, g)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(0, 0, 4 * raw - 4))
    assert writer._squeeze_scratch(layers, g)
    assert not writer._squeeze_scratch(layers[2:], g)  # numpy only: never
    opts = writer._staging_options("cog", "dask", "float32", 2, True)
    assert opts["compress"] == "ZSTD" and opts["predictor"] == 3 and opts["num_threads"] == "2"
    assert writer._staging_options("cog", "dask", "int16", 1, True)["predictor"] == 2
    assert "compress" not in writer._staging_options("cog", "dask", "float32", 1, False)
    assert "compress" not in writer._staging_options("cog", "blocks", "float32", 1, True)
    # the staged files really are compressed, and the COGs are those of a raw staging
    opened, real_open = [], rasterio.open

    def spy(path, mode="r", **kw):
        if mode == "w":
            opened.append(kw.get("compress"))
        return real_open(path, mode, **kw)

    monkeypatch.setattr(rasterio, "open", spy)
    write_cogs(layers, grid=g, threads=2)
    assert opened == ["ZSTD", "ZSTD", None]
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(0, 0, 2**50))
    raw_dir = tmp_path / "raw"
    write_cogs([Layer(x.data, raw_dir / x.path.name, nodata=x.nodata) for x in layers],
               grid=g, threads=2)  # fmt: skip
    assert opened[3:] == [None, None, None]
    for name in ("x.tif", "i.tif", "np.tif"):
        assert _md5(tmp_path / name) == _md5(raw_dir / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.tif", "np.tif", "raw", "x.tif"]


def test_cogs_over_2_gb_uncompressed_are_bigtiffs_smaller_ones_classic(tmp_path, monkeypatch):
    """GDAL's default BIGTIFF (IF_NEEDED) never makes a compressed COG a BigTIFF: one whose
    compressed bytes pass 4 GiB failed at the end of its copy (a 32768² curvature)."""
    import rasterio.shutil

    from slidemap.raster import COG_OPTIONS
    from slidemap.raster import write as writer

    assert COG_OPTIONS["BIGTIFF"] == "IF_SAFER"
    assert writer._staging_options("tiff", "numpy", "float32", 1, False)["BIGTIFF"] == "IF_SAFER"
    copies = []
    real_copy = rasterio.shutil.copy

    def spy(src, dst, **kw):
        copies.append(kw)
        return real_copy(src, dst, **kw)

    monkeypatch.setattr(rasterio.shutil, "copy", spy)
    write_cog(_field(), tmp_path / "a.tif", grid=Grid(UTM, T, 260, 300), nodata=np.nan)
    assert copies[0]["BIGTIFF"] == "IF_SAFER"
    assert (tmp_path / "a.tif").read_bytes()[:4] == b"II*\x00"  # small: the classic header


def test_write_vrt_mosaics_tiles_into_the_grid(tmp_path):
    data = _field((70, 50))
    grid = Grid(UTM, T, 50, 70)
    tiles = []
    for i, w in enumerate(iter_windows(70, 50, 32)):
        tile = tmp_path / "tiles" / f"t{i}.tif"  # below the VRT's folder: a relative path
        block = data[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width]
        write_cog(
            block,
            tile,
            nodata=np.nan,
            crs=UTM,
            transform=T @ Affine.translation(w.col_off, w.row_off),
            layout="tiff",
        )
        tiles.append((w, tile))
    write_vrt(tmp_path / "mosaic.vrt", grid, tiles, dtype="float32", nodata=np.nan)
    assert 'relativeToVRT="1">tiles/t0.tif' in (tmp_path / "mosaic.vrt").read_text()
    with rasterio.open(tmp_path / "mosaic.vrt") as src:
        assert Grid.of(src).same_as(grid)
        np.testing.assert_array_equal(src.read(1), data)
        np.testing.assert_array_equal(
            read_window(src, Window(40, 60, 20, 20), halo=1)[1:11, 1:11], data[60:70, 40:50]
        )
    with pytest.raises(ValueError, match="unsupported dtype 'int8'"):
        write_vrt(tmp_path / "x.vrt", grid, tiles, dtype="int8", nodata=None)


def test_read_window_float64_keeps_counts_float32_cannot(tmp_path):
    counts = np.full((20, 30), 2.0**24 + 1, dtype=np.float64)  # not a float32 number
    counts[0, 0] = np.nan
    path = tmp_path / "acc.tif"
    write_cog(counts, path, nodata=np.nan, crs=UTM, transform=T, layout="tiff")
    got = read_window(path, Window(0, 0, 30, 20), halo=1, dtype="float64")
    assert got.dtype == np.float64 and np.isnan(got[0]).all() and np.isnan(got[1, 1])
    np.testing.assert_array_equal(got[1:-1, 1:-1], counts)
    assert read_window(path, Window(0, 0, 30, 20))[5, 5] != counts[5, 5]  # float32 rounds it
    with pytest.raises(ValueError, match="float32 or float64"):
        read_window(path, Window(0, 0, 3, 3), dtype="int16")
