"""Raster reading: one lazy reader (xarray on dask), one window reader, point and overview reads.

- :func:`open_on_grid` returns an ``xarray.DataArray`` backed by dask with the grid's
  coordinates and CRS (``rioxarray``'s ``.rio`` accessor), band 1 of a file brought onto a
  grid: read directly when the file lies on the grid's lattice (values copied exactly),
  warped through a GDAL ``WarpedVRT`` otherwise (exact per cell, so independent of the
  chunking; see :class:`RasterOnGrid`). Kernels that take dask arrays use its ``.data``.
- :func:`read_window` reads one window (plus a halo) of an open raster or a file as float32,
  NaN outside the raster and on nodata; :func:`read_stack` reads the same window of several
  files; :func:`values_at` reads values at many cells; :func:`read_decimated` reads a
  reduced overview for figures.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform
from rasterio.windows import Window

from slidemap.errors import InputDataError
from slidemap.raster.grid import Grid

__all__ = [
    "RasterOnGrid",
    "open_on_grid",
    "read_window",
    "read_stack",
    "values_at",
    "read_decimated",
    "square_resolution",
]


def square_resolution(transform: Any) -> float | None:
    """Return the cell size (m) of a north-up transform with square cells, else None."""
    if transform.b != 0 or transform.d != 0 or transform.e >= 0:
        return None
    a, e = abs(transform.a), abs(transform.e)
    return a if math.isclose(a, e, rel_tol=1e-9) else None


class RasterOnGrid:
    """Array-like view of a raster (band 1) on a grid, read window by window.

    Used with :func:`dask.array.from_array`; each read opens the file (thread safe). When
    the source already lies on the grid's lattice (same CRS, cell size and alignment) the
    window is read directly (values copied exactly); otherwise it is warped with GDAL
    (``resampling``; error threshold 1e-12 pixel, so every cell is computed exactly and the result
    does not depend on the window; the resampling scale, which GDAL would otherwise estimate
    per window, is fixed from the cell sizes).

    Parameters
    ----------
    path
        Source raster.
    grid
        Target grid.
    resampling
        ``"bilinear"`` (continuous) or ``"nearest"`` (class codes).
    dtype
        Output data type.
    nodata_out
        Value of cells that are nodata in the source or outside it (NaN for float).
    src_nodata
        Source nodata to use when the file declares none.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        grid: Grid,
        *,
        resampling: str = "bilinear",
        dtype: str = "float32",
        nodata_out: float | int = np.nan,
        src_nodata: float | None = None,
    ) -> None:
        self.path = str(path)
        self.grid = grid
        self.resampling = Resampling[resampling]
        self.dtype = np.dtype(dtype)
        self.nodata_out = nodata_out
        self.shape = grid.shape
        self.ndim = 2
        with rasterio.open(self.path) as src:
            if src.crs is None:
                raise InputDataError(
                    self.path,
                    "the raster has no coordinate reference system.",
                    "assign one (gdal_edit.py -a_srs EPSG:xxxx) or save it with a CRS.",
                )
            self.src_nodata = src.nodata if src.nodata is not None else src_nodata
            self.src_dtype = np.dtype(src.dtypes[0])
            self.offset = self._lattice_offset(src)
            self.scale = self._warp_scale(src)

    def _warp_scale(self, src: Any) -> str:
        """Return GDAL's XSCALE/YSCALE: grid cells per source cell (fixed for every window).

        GDAL otherwise estimates this ratio per processing window, so a downsampled result
        would depend on the chunking.
        """
        if src.crs == self.grid.crs:
            src_size = float(np.sqrt(abs(src.transform.a * src.transform.e)))
        else:
            t, _, _ = calculate_default_transform(
                src.crs, self.grid.crs, src.width, src.height, *src.bounds
            )
            src_size = float(np.sqrt(abs(t.a * t.e)))
        return repr(src_size / self.grid.resolution_m)

    def _lattice_offset(self, src: Any) -> tuple[int, int] | None:
        """(row, col) of the grid's origin in the source when both share a lattice, else None."""
        res = square_resolution(src.transform)
        if src.crs != self.grid.crs or res is None:
            return None
        if not math.isclose(res, self.grid.resolution_m, rel_tol=1e-9):
            return None
        col, row = ~src.transform @ (self.grid.transform.c, self.grid.transform.f)
        if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
            return None
        return int(round(row)), int(round(col))

    def read(self, window: Window) -> np.ndarray:
        """Read one window of the grid (rows, cols) as ``dtype`` with ``nodata_out``."""
        with rasterio.open(self.path) as src:
            if self.offset is not None:
                src_window = Window(
                    window.col_off + self.offset[1],
                    window.row_off + self.offset[0],
                    window.width,
                    window.height,
                )
                fill = self.src_nodata if self.src_nodata is not None else 0
                data = src.read(1, window=src_window, boundless=True, fill_value=fill)
                valid = ~np.isnan(data) if data.dtype.kind == "f" else np.ones(data.shape, bool)
                if self.src_nodata is not None and not np.isnan(self.src_nodata):
                    valid &= data != self.src_nodata
                # cells outside the source are nodata
                rows = np.arange(window.row_off, window.row_off + window.height) + self.offset[0]
                cols = np.arange(window.col_off, window.col_off + window.width) + self.offset[1]
                inside = ((rows >= 0) & (rows < src.height))[:, None] & (
                    (cols >= 0) & (cols < src.width)
                )[None, :]
                valid &= inside
            else:
                # warp into float64 with NaN nodata: exact for class codes too
                with WarpedVRT(
                    src,
                    crs=self.grid.crs,
                    transform=self.grid.transform,
                    width=self.grid.width,
                    height=self.grid.height,
                    resampling=self.resampling,
                    src_nodata=self.src_nodata,
                    nodata=np.nan,
                    dtype="float64",
                    tolerance=1e-12,  # rasterio 1.4 rejects 0 (no transformer)
                    XSCALE=self.scale,
                    YSCALE=self.scale,
                ) as vrt:
                    data = vrt.read(1, window=window)
                valid = ~np.isnan(data)
        out = np.full(data.shape, self.nodata_out, dtype=self.dtype)
        out[valid] = data[valid]
        return out

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows, cols = key
        r0, r1, _ = rows.indices(self.shape[0])
        c0, c1, _ = cols.indices(self.shape[1])
        return self.read(Window(c0, r0, c1 - c0, r1 - r0))


def open_on_grid(
    path: str | os.PathLike,
    grid: Grid | None = None,
    *,
    chunk_size: int,
    resampling: str = "bilinear",
    dtype: str | None = None,
    nodata_out: float | int | None = None,
    src_nodata: float | None = None,
) -> Any:
    """Open band 1 of a raster lazily on a grid, as an ``xarray.DataArray`` backed by dask.

    Parameters
    ----------
    path
        Source raster.
    grid
        Target grid; None = the file's own grid (a factor, the grid DEM, a map).
    chunk_size
        Chunk edge in cells.
    resampling
        ``"bilinear"`` or ``"nearest"``, used only when the file is not on the grid's lattice.
        With ``grid`` None: ``"nearest"`` for integer files.
    dtype
        Output data type; default float32 with a grid, the file's own without one.
    nodata_out
        Value of nodata cells and cells outside the source; default NaN for float output,
        the file's nodata (or 0) for integer output.
    src_nodata
        Source nodata when the file declares none.

    Returns
    -------
    xarray.DataArray
        Dims ``("y", "x")``, cell-centre coordinates in metres, CRS and transform set with
        rioxarray (``.rio.crs``, ``.rio.transform()``), attrs ``nodata`` and ``source``; its
        ``.data`` is the dask array (shape ``grid.shape``).
    """
    import rioxarray  # noqa: F401 - registers the .rio accessor
    import xarray as xr

    if grid is None:
        with rasterio.open(path) as src:
            grid = Grid.of(src)
            file_dtype, file_nodata = src.dtypes[0], src.nodata
        if dtype is None:
            dtype = file_dtype
        if np.dtype(dtype).kind != "f":
            resampling = "nearest"
            if nodata_out is None:
                nodata_out = 0 if file_nodata is None else file_nodata
    dtype = dtype or "float32"
    if nodata_out is None:
        nodata_out = np.nan
    data = _lazy_on_grid(
        path,
        grid,
        chunk_size=chunk_size,
        resampling=resampling,
        dtype=dtype,
        nodata_out=nodata_out,
        src_nodata=src_nodata,
    )
    arr = xr.DataArray(
        data,
        dims=("y", "x"),
        coords=grid.coords(),
        attrs={"nodata": nodata_out, "source": str(path)},
    )
    if grid.crs is not None:
        arr = arr.rio.write_crs(grid.crs)
    return arr.rio.write_transform(grid.transform)


def _lazy_on_grid(
    path: str | os.PathLike,
    grid: Grid,
    *,
    chunk_size: int,
    resampling: str = "bilinear",
    dtype: str = "float32",
    nodata_out: float | int = np.nan,
    src_nodata: float | None = None,
) -> Any:
    """Return the dask array of a raster on ``grid`` (the data of :func:`open_on_grid`).

    The parameters are those of :func:`open_on_grid`, with ``dtype`` and ``nodata_out``
    resolved; the chunks are ``chunk_size`` x ``chunk_size`` cells and the dask name is
    deterministic (file path, size, modification time, grid and options).
    """
    import dask.array as da

    reader = RasterOnGrid(
        path,
        grid,
        resampling=resampling,
        dtype=dtype,
        nodata_out=nodata_out,
        src_nodata=src_nodata,
    )
    return da.from_array(
        reader,
        chunks=(chunk_size, chunk_size),
        lock=False,
        asarray=False,
        fancy=False,
        meta=np.empty((0, 0), dtype=dtype),
        name="on-grid-" + _token(path, grid, resampling, dtype, nodata_out, src_nodata),
    )


def _token(*parts: Any) -> str:
    """Return a deterministic dask name for a source file (path, size, mtime) on a grid."""
    path = Path(parts[0])
    stat = path.stat()
    text = json.dumps(
        [
            str(path.resolve()),
            stat.st_size,
            stat.st_mtime_ns,
            parts[1].to_json(),
            *map(str, parts[2:]),
        ]
    )
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def read_window(
    src: rasterio.io.DatasetReader | str | os.PathLike,
    window: Window,
    halo: int = 0,
    dtype: str = "float32",
) -> np.ndarray:
    """Read band 1 of a raster over a window grown by a halo, as float32 (or ``dtype``).

    Cells outside the raster and cells equal to the file's nodata value are NaN, so a block
    at the edge of the grid reads exactly as if the grid were padded with nodata. The window
    may lie partly or wholly outside the raster.

    Parameters
    ----------
    src
        An open rasterio dataset, or a raster file.
    window
        The core window (cells).
    halo
        Extra cells read on every side.
    dtype
        ``"float32"`` (the default) or ``"float64"`` (e.g. flow accumulations above 2^24
        cells, which float32 cannot count exactly).

    Returns
    -------
    numpy.ndarray
        ``dtype`` array of shape (window.height + 2·halo, window.width + 2·halo).
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"read_window: dtype must be float32 or float64, got {dtype!r}")
    if not hasattr(src, "read"):
        with rasterio.open(src) as opened:
            return read_window(opened, window, halo, dtype)
    r0 = int(window.row_off) - halo
    c0 = int(window.col_off) - halo
    h = int(window.height) + 2 * halo
    w = int(window.width) + 2 * halo
    out = np.full((h, w), np.nan, dtype=dtype)
    rr0, cc0 = max(r0, 0), max(c0, 0)
    rr1, cc1 = min(r0 + h, src.height), min(c0 + w, src.width)
    if rr1 <= rr0 or cc1 <= cc0:
        return out
    inner = Window(cc0, rr0, cc1 - cc0, rr1 - rr0)
    target = out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0]
    nodata = src.nodata
    if src.dtypes[0] == dtype and (nodata is None or np.isnan(nodata)):
        src.read(1, window=inner, out=target)  # straight into the output, no copy
        return out
    data = src.read(1, window=inner)
    target[...] = data
    if nodata is not None and not np.isnan(nodata):
        target[data == nodata] = np.nan
    return out


def read_stack(
    paths: Sequence[str | os.PathLike], window: Window, halo: int = 0, threads: int = 1
) -> np.ndarray:
    """Read the same window (plus halo) of several single-band rasters into one float32 stack.

    Parameters
    ----------
    paths
        Rasters on one grid, in the order of the stack (e.g. the model's factor order).
    window
        The core window (cells).
    halo
        Extra cells read on every side (NaN beyond the grid edge).
    threads
        Rasters read at the same time (GDAL decompresses without holding the GIL; each
        thread opens its own dataset).

    Returns
    -------
    numpy.ndarray
        float32 array of shape (len(paths), window.height + 2·halo, window.width + 2·halo);
        nodata (NaN, or the file's nodata value such as 0 for categorical codes) is NaN.
    """
    h = int(window.height) + 2 * halo
    w = int(window.width) + 2 * halo
    stack = np.empty((len(paths), h, w), dtype=np.float32)

    def read(i: int) -> None:
        stack[i] = read_window(paths[i], window, halo)

    if threads > 1 and len(paths) > 1:
        with ThreadPoolExecutor(max_workers=min(threads, len(paths))) as pool:
            list(pool.map(read, range(len(paths))))
    else:
        for i in range(len(paths)):
            read(i)
    return stack


def values_at(
    path: str | os.PathLike, rows: np.ndarray, cols: np.ndarray, block: int = 1024
) -> np.ndarray:
    """Read band 1 of a raster at many cells, one block at a time.

    Parameters
    ----------
    path
        A raster.
    rows, cols
        Cell indices (0-based); cells outside the grid give NaN.
    block
        Block edge in cells (memory ~ block² × 4 bytes).

    Returns
    -------
    numpy.ndarray
        float64 values (NaN on nodata and outside the grid), in the order of ``rows``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    out = np.full(rows.shape, np.nan)
    with rasterio.open(path) as src:
        inside = (rows >= 0) & (rows < src.height) & (cols >= 0) & (cols < src.width)
        idx = np.flatnonzero(inside)
        if idx.size == 0:
            return out
        key = (rows[idx] // block) * ((src.width + block - 1) // block) + cols[idx] // block
        order = np.argsort(key, kind="stable")
        idx, key = idx[order], key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ends = np.r_[starts[1:], key.size]
        for s, e in zip(starts, ends, strict=True):
            sel = idx[s:e]
            r0 = int(rows[sel[0]] // block * block)
            c0 = int(cols[sel[0]] // block * block)
            win = Window(c0, r0, min(block, src.width - c0), min(block, src.height - r0))
            data = read_window(src, win)
            out[sel] = data[rows[sel] - r0, cols[sel] - c0]
    return out


def read_decimated(
    path: str | os.PathLike,
    max_side: int,
    *,
    band: int = 1,
    resampling: Any = None,
) -> tuple[np.ndarray, tuple[float, float, float, float], Any, Any]:
    """Read a raster band reduced so that its longer side has at most ``max_side`` cells.

    Parameters
    ----------
    path
        A raster.
    max_side
        Largest output edge in cells (memory ~ max_side² × 4 bytes, whatever the raster).
    band
        Band to read.
    resampling
        ``rasterio.enums.Resampling`` when reducing (nearest for classes, average for
        continuous maps); None = nearest.

    Returns
    -------
    array : numpy.ndarray
        float32 values, NaN on nodata.
    extent : tuple
        (left, right, bottom, top) in the raster's CRS (for ``imshow``).
    transform
        Affine transform of the reduced array.
    crs
        The raster's CRS.
    """
    resampling = Resampling.nearest if resampling is None else resampling
    with rasterio.open(path) as src:
        scale = max(1.0, max(src.height, src.width) / max_side)
        shape = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
        data = src.read(band, out_shape=shape, resampling=resampling, masked=True)
        arr = data.astype(np.float32).filled(np.nan)
        if np.issubdtype(src.dtypes[band - 1], np.floating):
            arr[~np.isfinite(arr)] = np.nan
        b = src.bounds
        transform = src.transform * src.transform.scale(src.width / shape[1], src.height / shape[0])
        return arr, (b.left, b.right, b.bottom, b.top), transform, src.crs
