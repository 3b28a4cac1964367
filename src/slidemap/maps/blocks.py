"""Block-wise raster access: windowed reads with a halo, block iteration, block-wise COG writing.

Every map rule works block by block so that its memory is bounded by the block (tile) size,
not by the size of the study grid:

- :func:`read_stack` reads a window of several rasters with a halo, NaN outside the grid and
  on each file's nodata value;
- :func:`iter_windows` walks a grid in blocks;
- :func:`write_cog_blocks` writes blocks into a tiled GeoTIFF and copies it to a
  Cloud-Optimized GeoTIFF, atomically (through :func:`slidemap.io.atomic_path`);
- :func:`values_at` reads raster values at many cells, block by block.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from slidemap.errors import InputDataError
from slidemap.io import COG_OPTIONS, atomic_path

__all__ = [
    "GridSpec",
    "grid_spec",
    "check_same_grid",
    "iter_windows",
    "read_stack",
    "read_band",
    "write_cog_blocks",
    "values_at",
]


@dataclass(frozen=True)
class GridSpec:
    """Shape and georeferencing of a raster grid.

    Attributes
    ----------
    height, width
        Rows and columns (cells).
    crs
        The CRS (``rasterio.crs.CRS``).
    transform
        The affine transform (metres of ``crs`` per cell).
    """

    height: int
    width: int
    crs: Any
    transform: Any

    @property
    def cell_area_m2(self) -> float:
        """Area of one cell in square metres (|a·e − b·d| of the affine)."""
        t = self.transform
        return float(abs(t.a * t.e - t.b * t.d))


def grid_spec(path: str | os.PathLike) -> GridSpec:
    """Read the grid (shape, CRS, transform) of a raster.

    Parameters
    ----------
    path
        A raster file.

    Returns
    -------
    GridSpec
        Its grid.
    """
    with rasterio.open(path) as src:
        return GridSpec(src.height, src.width, src.crs, src.transform)


def check_same_grid(paths: Iterable[str | os.PathLike], reference: GridSpec) -> None:
    """Check that every raster lies exactly on the reference grid.

    Parameters
    ----------
    paths
        Rasters to check.
    reference
        The study grid.

    Raises
    ------
    InputDataError
        Naming the first raster whose shape, CRS or transform differs.
    """
    for path in paths:
        g = grid_spec(path)
        problems = []
        if (g.height, g.width) != (reference.height, reference.width):
            problems.append(
                f"shape {g.height}x{g.width} instead of {reference.height}x{reference.width}"
            )
        if g.crs != reference.crs:
            problems.append(f"CRS {g.crs} instead of {reference.crs}")
        if not g.transform.almost_equals(reference.transform, precision=1e-6):
            problems.append(f"transform {tuple(g.transform)[:6]} differs from the study grid")
        if problems:
            raise InputDataError(
                path,
                "the raster is not on the study grid: " + "; ".join(problems) + ".",
                "rebuild it from the study grid (results/<study>/grid/dem.tif); every factor "
                "and map must share its shape, CRS and transform.",
            )


def iter_windows(height: int, width: int, block: int) -> Iterator[Window]:
    """Yield the windows of a grid cut into blocks of at most ``block`` × ``block`` cells.

    Parameters
    ----------
    height, width
        Grid size in cells.
    block
        Block edge in cells.

    Yields
    ------
    rasterio.windows.Window
        Row-major order; edge blocks are smaller.
    """
    if block < 1:
        raise ValueError(f"block must be >= 1 cell, got {block}")
    for row in range(0, height, block):
        for col in range(0, width, block):
            yield Window(col, row, min(block, width - col), min(block, height - row))


def read_band(src: rasterio.io.DatasetReader, window: Window, halo: int = 0) -> np.ndarray:
    """Read band 1 of an open raster over a window grown by a halo, as float32.

    Cells outside the raster and cells equal to the file's nodata value are NaN, so a block
    at the edge of the grid reads exactly as if the grid were padded with nodata.

    Parameters
    ----------
    src
        An open rasterio dataset.
    window
        The core window (cells).
    halo
        Extra cells read on every side.

    Returns
    -------
    numpy.ndarray
        float32 array of shape (window.height + 2·halo, window.width + 2·halo).
    """
    r0 = int(window.row_off) - halo
    c0 = int(window.col_off) - halo
    h = int(window.height) + 2 * halo
    w = int(window.width) + 2 * halo
    out = np.full((h, w), np.nan, dtype=np.float32)
    rr0, cc0 = max(r0, 0), max(c0, 0)
    rr1, cc1 = min(r0 + h, src.height), min(c0 + w, src.width)
    if rr1 <= rr0 or cc1 <= cc0:
        return out
    inner = Window(cc0, rr0, cc1 - cc0, rr1 - rr0)
    target = out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0]
    nodata = src.nodata
    if src.dtypes[0] == "float32" and (nodata is None or np.isnan(nodata)):
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
        with rasterio.open(paths[i]) as src:
            stack[i] = read_band(src, window, halo)

    if threads > 1 and len(paths) > 1:
        with ThreadPoolExecutor(max_workers=min(threads, len(paths))) as pool:
            list(pool.map(read, range(len(paths))))
    else:
        for i in range(len(paths)):
            read(i)
    return stack


def write_cog_blocks(
    path: str | os.PathLike,
    blocks: Iterable[tuple[Window, np.ndarray]],
    *,
    grid: GridSpec,
    dtype: str,
    nodata: float | int | None,
    count: int = 1,
    band_names: Sequence[str] | None = None,
    tags: dict[str, str] | None = None,
    colormap: dict[int, tuple[int, int, int, int]] | None = None,
) -> None:
    """Write blocks into a tiled GeoTIFF, then copy it to a Cloud-Optimized GeoTIFF, atomically.

    Memory is bounded by one block plus GDAL's cache; the whole grid is never held in memory.

    Parameters
    ----------
    path
        Output COG (``.tif``).
    blocks
        ``(window, array)`` pairs; ``array`` is (rows, cols) or (bands, rows, cols). Cells no
        block covers hold ``nodata`` (GDAL fills unwritten tiles with it on closing).
    grid
        The output grid.
    dtype
        Output data type (``"float32"``, ``"uint8"`` …).
    nodata
        Nodata value (NaN allowed for float data).
    count
        Number of bands.
    band_names
        Optional band descriptions.
    tags
        Optional dataset metadata.
    colormap
        Optional colour table of band 1 (code -> RGBA).
    """
    final = Path(path)
    profile = {
        "driver": "GTiff",
        "height": grid.height,
        "width": grid.width,
        "count": count,
        "dtype": dtype,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "zlevel": 1,
        "BIGTIFF": "IF_SAFER",
    }
    with atomic_path(final) as tmp:
        staging = tmp.with_name(tmp.stem + ".staging.tif")
        try:
            with rasterio.open(staging, "w", **profile) as dst:
                if colormap:  # before any pixel is written (it sets the TIFF photometric tag)
                    dst.write_colormap(1, colormap)
                for window, arr in blocks:
                    a = np.asarray(arr)
                    if a.ndim == 2:
                        a = a[np.newaxis]
                    dst.write(a.astype(dtype, copy=False), window=window)
                if band_names:
                    for i, name in enumerate(band_names, start=1):
                        dst.set_band_description(i, name)
                if tags:
                    dst.update_tags(**tags)
            with rasterio.open(staging) as src:
                rasterio.shutil.copy(src, tmp, driver="COG", **COG_OPTIONS)
        finally:
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()


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
            data = read_band(src, win)
            out[sel] = data[rows[sel] - r0, cols[sel] - c0]
    return out
