"""Neighbourhood operations: blocks with a NaN-padded halo, block windows, Horn's gradient.

A cell's neighbourhood kernel must see exactly the cells it would see on the whole array,
with cells beyond the grid edge as nodata (NaN). Two ways reach that, one per access pattern:

- :func:`map_overlap` (dask): every chunk is handed to the kernel with ``depth`` (halo) cells of its
  neighbours on each side, NaN beyond the grid (``dask.array.overlap`` with
  ``boundary=nan``); used by the factor kernels (terrain, hydrology slope), which compute
  whole grids.
- :func:`slidemap.raster.read.read_stack` with ``halo`` reads one window plus the same
  NaN-padded halo straight from the files; used by the map prediction, whose jobs each cover
  one window of the grid (reading a window directly is faster than slicing a dask graph).

:func:`iter_windows` walks a grid in blocks; :func:`horn_gradient` is Horn's (1981) 3 x 3
gradient on a numpy block (the report's hillshade and the simulator's terrain use it; the
factor kernel of :mod:`slidemap.factors.terrain` fuses the same arithmetic into numba, in
float32 as gdaldem does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from rasterio.windows import Window

__all__ = ["map_overlap", "iter_windows", "horn_gradient"]


def map_overlap(
    func: Callable[..., np.ndarray],
    arr: Any,
    depth: int,
    *,
    dtype: Any,
    bands: int | None = None,
    **kwargs: Any,
) -> Any:
    """Apply a neighbourhood kernel to every chunk of a 2-D dask array, with a NaN halo.

    Parameters
    ----------
    func
        ``func(padded_block, **kwargs)``: receives one chunk grown by ``depth`` cells on every
        side (NaN beyond the grid edge) and returns the result for the chunk's own cells
        (the halo trimmed), shape (rows, cols), or (bands, rows, cols) with ``bands``.
    arr
        2-D dask array (rows, cols).
    depth
        Halo: the neighbourhood radius in cells (0 = a per-cell operation).
    dtype
        Data type of the result.
    bands
        Number of leading output bands, or None for a 2-D result.
    **kwargs
        Passed to ``func``.

    Returns
    -------
    dask.array.Array
        Same chunks as ``arr`` (with a leading band axis of one chunk when ``bands``).
    """
    import dask.array as da

    padded = da.overlap.overlap(arr, depth={0: depth, 1: depth}, boundary=np.nan)
    out_chunks = tuple(tuple(c - 2 * depth for c in axis) for axis in padded.chunks)
    if bands is None:
        return da.map_blocks(
            func,
            padded,
            chunks=out_chunks,
            dtype=dtype,
            meta=np.empty((0, 0), dtype=dtype),
            **kwargs,
        )
    return da.map_blocks(
        func,
        padded,
        new_axis=0,
        chunks=((bands,), *out_chunks),
        dtype=dtype,
        meta=np.empty((0, 0, 0), dtype=dtype),
        **kwargs,
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


def horn_gradient(
    z: np.ndarray, cell_x_m: float, cell_y_m: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Horn's (1981) gradient of a north-up elevation grid (float64, as ``gdaldem``'s formula).

    Parameters
    ----------
    z
        Elevation (m), 2-D, row 0 the northern edge; NaN = nodata.
    cell_x_m, cell_y_m
        Cell width and height in metres (positive); ``cell_y_m`` defaults to ``cell_x_m``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(dz/dx_east, dz/dy_north)`` (m/m), the shape of ``z``. NaN where any of the 3 x 3
        neighbours is NaN, which includes the outermost row and column of the grid.
    """
    cell_y_m = cell_x_m if cell_y_m is None else cell_y_m
    zp = np.pad(np.asarray(z, dtype=float), 1, constant_values=np.nan)
    a, b, c = zp[:-2, :-2], zp[:-2, 1:-1], zp[:-2, 2:]
    d, f = zp[1:-1, :-2], zp[1:-1, 2:]
    g, h, i = zp[2:, :-2], zp[2:, 1:-1], zp[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8.0 * cell_x_m)
    dzdy = ((a + 2 * b + c) - (g + 2 * h + i)) / (8.0 * cell_y_m)
    return dzdx, dzdy
