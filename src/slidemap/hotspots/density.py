"""Quartic kernel density of weighted points on a raster grid (seed 002, Eq. 2).

    density(x) = 1/d² Σ_i 3/π p_i (1 − (|x − x_i| / d)²)²      for |x − x_i| < d

with d the search radius, ``p_i`` the weight of point i (the Gi* z-score) and x a cell centre
(ArcGIS's Kernel Density with a population field; the kernel integrates to 1, so the density
of points of weight 1 is the number of points per unit area). slidemap reports density per
km² (``1e6 ×`` the per-m² value of Eq. 2).

The grid is evaluated exactly at cell centres from the point coordinates (no snapping of points
to cells). :func:`kernel_density_dask` splits the grid into dask chunks; each chunk receives
the points within one search radius of it (the halo), so every chunk gets exactly the sums of
the in-memory :func:`kernel_density`, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numba
import numpy as np

from slidemap.raster import Grid

__all__ = [
    "grid_from_raster",
    "kernel_density",
    "kernel_density_dask",
    "hot_cold_density",
    "hot_cold_density_blocks",
]


def grid_from_raster(path: str | Path, cell_size_m: float | None = None) -> Grid:
    """Return the grid of a raster (the study grid ``R/grid/dem.tif``), or a coarser/finer one.

    Parameters
    ----------
    path
        Raster whose CRS, origin and extent define the grid.
    cell_size_m
        Cell edge in metres; None keeps the raster's. Another size keeps the top-left corner
        and covers at least the raster's extent.

    Returns
    -------
    Grid
        The grid (:class:`slidemap.raster.Grid`, north-up with square cells).

    Raises
    ------
    ValueError
        If the raster is rotated or its cells are not square.
    """
    return Grid.from_raster(path).with_resolution(cell_size_m).require_north_up_square()


@numba.njit(nogil=True, cache=True)
def _accumulate(px, py, w, out, x0, y0, cell, radius, row0, col0):  # pragma: no cover - numba
    """Add Eq. (2) (per m²) of every point to the window ``out`` starting at (row0, col0)."""
    h, wd = out.shape
    r2 = radius * radius
    k = 3.0 / (math.pi * r2)
    for i in range(px.size):
        xi = px[i]
        yi = py[i]
        wi = w[i]
        c_lo = max(int(math.ceil((xi - radius - x0) / cell - 0.5)) - col0, 0)
        c_hi = min(int(math.floor((xi + radius - x0) / cell - 0.5)) - col0, wd - 1)
        r_lo = max(int(math.ceil((y0 - (yi + radius)) / cell - 0.5)) - row0, 0)
        r_hi = min(int(math.floor((y0 - (yi - radius)) / cell - 0.5)) - row0, h - 1)
        for r in range(r_lo, r_hi + 1):
            dy = (y0 - (row0 + r + 0.5) * cell) - yi
            dy2 = dy * dy
            for c in range(c_lo, c_hi + 1):
                dx = (x0 + (col0 + c + 0.5) * cell) - xi
                q = (dx * dx + dy2) / r2
                if q < 1.0:
                    u = 1.0 - q
                    out[r, c] += k * wi * u * u


def _window(px, py, w, grid: Grid, radius_m: float, rows: tuple[int, int], cols: tuple[int, int]):
    """Density per km² (float64) of a window of the grid from the points given."""
    out = np.zeros((rows[1] - rows[0], cols[1] - cols[0]), np.float64)
    t = grid.transform
    _accumulate(px, py, w, out, t.c, t.f, t.a, float(radius_m), rows[0], cols[0])
    out *= 1e6
    return out


def _check(xy: np.ndarray, weights: np.ndarray, radius_m: float) -> tuple[np.ndarray, ...]:
    """Validate and split the inputs; drop zero weights (they add nothing)."""
    xy = np.asarray(xy, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] != w.size:
        raise ValueError(f"xy must be n × 2 and weights n, got {xy.shape} and {w.shape}")
    if not radius_m > 0:
        raise ValueError(f"radius_m must be > 0, got {radius_m}")
    keep = np.isfinite(w) & (w != 0) & np.isfinite(xy).all(axis=1)
    return (
        np.ascontiguousarray(xy[keep, 0]),
        np.ascontiguousarray(xy[keep, 1]),
        np.ascontiguousarray(w[keep]),
    )


def kernel_density(xy: np.ndarray, weights: np.ndarray, grid: Grid, radius_m: float) -> np.ndarray:
    """Quartic kernel density (Eq. 2) of weighted points at every cell centre, in memory.

    Parameters
    ----------
    xy
        Point coordinates (n × 2) in metres of the grid's CRS.
    weights
        Weight ``p_i`` of each point (e.g. Gi* z); NaN and 0 weights are skipped.
    grid
        The output grid.
    radius_m
        Search radius d in metres.

    Returns
    -------
    numpy.ndarray
        float64 (height × width): density in weight units per km².
    """
    px, py, w = _check(xy, weights, radius_m)
    return _window(px, py, w, grid, radius_m, (0, grid.height), (0, grid.width))


def kernel_density_dask(
    xy: np.ndarray, weights: np.ndarray, grid: Grid, radius_m: float, *, chunk_size: int = 1024
) -> da.Array:
    """Quartic kernel density (Eq. 2) as a dask array of ``chunk_size`` × ``chunk_size`` chunks.

    Each chunk is computed from the points within one search radius (plus one cell) of its
    extent, in their input order, so the result equals :func:`kernel_density` exactly.

    Parameters
    ----------
    xy
        Point coordinates (n × 2) in metres of the grid's CRS.
    weights
        Weight ``p_i`` of each point; NaN and 0 weights are skipped.
    grid
        The output grid.
    radius_m
        Search radius d in metres.
    chunk_size
        Chunk edge in cells.

    Returns
    -------
    dask.array.Array
        float64 (height × width) density in weight units per km² (lazy).
    """
    blocks: list[list] = []
    for (r0, r1), (c0, c1), [(px, py, w)] in _chunks(
        [_check(xy, weights, radius_m)], grid, radius_m, chunk_size
    ):
        if c0 == 0:
            blocks.append([])
        task = dask.delayed(_window)(px, py, w, grid, radius_m, (r0, r1), (c0, c1))
        blocks[-1].append(da.from_delayed(task, shape=(r1 - r0, c1 - c0), dtype=np.float64))
    return da.block(blocks)


def _chunks(bands: list[tuple], grid: Grid, radius_m: float, step: int) -> Iterator:
    """Yield ``(rows, cols, picked)`` per chunk of ``step`` cells, in raster order.

    ``picked`` holds, for each ``(px, py, w)`` of ``bands``, the points within one search
    radius plus one cell of the chunk, in input order (what makes a chunk's sums equal the
    whole grid's).
    """
    t = grid.transform
    halo = float(radius_m) + t.a
    for r0 in range(0, grid.height, step):
        r1 = min(r0 + step, grid.height)
        y_top, y_bottom = t.f - r0 * t.a, t.f - r1 * t.a
        rows = [(py <= y_top + halo) & (py >= y_bottom - halo) for _, py, _ in bands]
        for c0 in range(0, grid.width, step):
            c1 = min(c0 + step, grid.width)
            x_left, x_right = t.c + c0 * t.a, t.c + c1 * t.a
            picked = []
            for (px, py, w), in_rows in zip(bands, rows, strict=True):
                sel = in_rows & (px >= x_left - halo) & (px <= x_right + halo)
                picked.append((px[sel], py[sel], w[sel]))
            yield (r0, r1), (c0, c1), picked


def hot_cold_density(
    xy: np.ndarray,
    z: np.ndarray,
    grid: Grid,
    radius_m: float,
    *,
    chunk_size: int | None = 1024,
    threads: int = 1,
) -> np.ndarray:
    """Hot- and cold-spot densities: Eq. (2) weighted by the positive and the negative part of z.

    Parameters
    ----------
    xy
        Point coordinates (n × 2) in metres.
    z
        Weights (Gi* z-scores); points with ``z > 0`` make the hot band with weight ``z``,
        points with ``z < 0`` the cold band with weight ``−z``; NaN weights are skipped.
    grid
        The output grid.
    radius_m
        Search radius d in metres.
    chunk_size
        Dask chunk edge in cells; None computes in memory.
    threads
        Dask threads.

    Returns
    -------
    numpy.ndarray
        float32 (2 × height × width): band 0 hot, band 1 cold, in z units per km² (≥ 0).
    """
    z = np.asarray(z, dtype=np.float64)
    hot = np.where(z > 0, z, 0.0)
    cold = np.where(z < 0, -z, 0.0)
    if chunk_size is None:
        return np.stack(
            [kernel_density(xy, hot, grid, radius_m), kernel_density(xy, cold, grid, radius_m)]
        ).astype(np.float32)
    arr = da.stack(
        [
            kernel_density_dask(xy, hot, grid, radius_m, chunk_size=chunk_size).astype(np.float32),
            kernel_density_dask(xy, cold, grid, radius_m, chunk_size=chunk_size).astype(np.float32),
        ]
    )
    return arr.compute(scheduler="threads", num_workers=max(1, int(threads)))


def hot_cold_density_blocks(
    xy: np.ndarray,
    z: np.ndarray,
    grid: Grid,
    radius_m: float,
    *,
    chunk_size: int | None = 1024,
    valid: Callable[[Any], np.ndarray] | None = None,
    threads: int = 1,
) -> Iterator[tuple[Any, np.ndarray]]:
    """:func:`hot_cold_density` block by block, for writing a grid that does not fit memory.

    Each block is computed as the chunk of :func:`kernel_density_dask` over the same window
    (the points within one search radius plus one cell, in input order), so the blocks put
    together equal ``hot_cold_density(..., chunk_size=chunk_size)`` bit for bit. Memory: the
    points, and a few blocks (``threads + 1`` in flight).

    Parameters
    ----------
    xy, z, grid, radius_m
        As for :func:`hot_cold_density` (metres, Gi* z).
    chunk_size
        Block edge in cells; None = one block of the whole grid.
    valid
        Optional ``valid(window) -> bool array`` of the study area in a window; cells
        outside become NaN.
    threads
        Blocks computed at once (numba releases the GIL).

    Yields
    ------
    tuple
        ``(rasterio.windows.Window, float32 array (2, rows, cols))``, hot then cold, in z per
        km², in raster order of the blocks.
    """
    from rasterio.windows import Window

    z = np.asarray(z, dtype=np.float64)
    bands = [_check(xy, np.where(z > 0, z, 0.0), radius_m)]
    bands.append(_check(xy, np.where(z < 0, -z, 0.0), radius_m))
    step = int(chunk_size) if chunk_size else max(grid.height, grid.width, 1)

    def compute(rows, cols, picked) -> np.ndarray:
        return np.stack(
            [_window(px, py, w, grid, radius_m, rows, cols) for px, py, w in picked]
        ).astype(np.float32)

    workers = max(1, int(threads))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list = []
        todo = _chunks(bands, grid, radius_m, step)
        while True:
            while len(pending) <= workers:
                nxt = next(todo, None)
                if nxt is None:
                    break
                rows, cols, picked = nxt
                pending.append((rows, cols, pool.submit(compute, rows, cols, picked)))
            if not pending:
                return
            rows, cols, future = pending.pop(0)
            block = future.result()
            window = Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])
            if valid is not None:
                block[:, ~np.asarray(valid(window), dtype=bool)] = np.nan
            yield window, block
