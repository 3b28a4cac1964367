"""Hydrology factors: depression filling, flow routing, SCA, TWI, SPI and the stream network.

Algorithm (all linear in the number of cells, no iterative sweeps):

1. **Depression filling**: Priority-Flood with a pit queue (Barnes, Lehman & Mulla 2014,
   Algorithm 2; Wang & Liu 2006). Seeds are the valid cells on the grid edge or next to a
   nodata cell; they are the outlets. Every cell is raised to its spill elevation (no
   epsilon gradient is imposed). When the pit queue is empty, all queued cells of the
   lowest elevation enter it together, so each flat (cells without a strictly lower
   neighbour: filled depressions, flat ground) is flooded breadth-first from all its exits
   at once, which gives every flat cell its *flat distance*: the 8-connected distance
   (cells) through the flat to the nearest cell of the same level that is not flat. The
   order in which cells leave the queue is recorded: non-decreasing in (filled elevation,
   flat distance).
2. **D8 flow directions** (O'Callaghan & Mark 1984): each cell drains to the neighbour with
   the steepest descent ``(z_c - z_n) / distance`` on the filled DEM (diagonal distance
   ``sqrt(2) L``), as ArcGIS Flow Direction. Flat cells drain to the neighbour of the same
   level with the smallest flat distance (ties: the first in N, NE, E, SE, S, SW, W, NW
   order), which routes flow across flats to their spill points along shortest paths;
   seeds without a lower neighbour are outlets. The network is acyclic, and each choice
   depends only on the filled DEM, not on the queue's order, so the tiled routing
   (:mod:`slidemap.factors.tiledfill`, :mod:`~slidemap.factors.tileddirs`,
   :mod:`~slidemap.factors.tiledflow`) reproduces it exactly.
3. **Flow accumulation** in reverse processing order (each cell's receivers were processed
   before it), so one pass suffices. ``method = "d8"`` sends all of a cell's flow to its D8
   receiver; ``method = "mfd"`` (Freeman 1991) splits it among all lower neighbours in
   proportion to ``tan(beta_n) ** p`` (``p = factors.hydrology.mfd_exponent``, 1.1 as
   Freeman and SAGA), flat cells again draining to their D8 receiver.
4. **Specific catchment area** ``a = A / w`` (m): upslope area ``A`` (cells draining through
   the cell, the cell included, times the cell area) per unit contour width ``w`` = the cell
   size ``L``.
5. **TWI** ``= ln(a / tan(beta))`` and **SPI** ``= a * tan(beta)`` (Moore et al. 1991; seed
   002 eqs. 5-6), ``tan(beta)`` the tangent of the Horn slope of the (unfilled) grid DEM,
   floored at ``factors.hydrology.min_tan_beta`` (default 0.001, i.e. 0.057 degrees) in both
   so that flat cells get a finite TWI. TWI and SPI are NaN where the slope is (the grid
   edge and next to nodata).
6. **Streams**: cells whose D8 accumulation reaches ``factors.hydrology.stream_threshold_cells``
   (always D8, also with ``mfd``, so the network is a tree), vectorised as lines joining
   cell centres along the flow directions, split at confluences, with the Strahler order
   (:mod:`slidemap.factors.streams`, which also builds them tile by tile).

Memory bound: the whole grid is held in memory (flow routing is a global operation).
Routing holds the filled DEM float32 (4 B), flow directions (1 B), flags (1 B), the
processing order (4 B; 8 B beyond 2^31 cells) and the accumulation float64 (8 B) (the flat
distances, int32, live only until the directions are set, before the accumulation exists):
**18 bytes per cell** with ``d8``, **26** with ``mfd`` (a second accumulation array); the
filled DEM is then released and the stream network adds 4 uint8 arrays (4 B). Add the
priority queue (12 B per queued cell; it holds only the flooding front, a small fraction of
the grid) and the output blocks. Measured on a synthetic 8192 x 8192 grid (67 M cells,
``d8``): about 2 GB peak for the whole job, Python and GDAL included.

Validation on the demo (Ecuador) DEM, 383 x 415 cells of 10 m (``tests/test_factors_hydrology.py``,
which lists all the numbers):

* **pyflwdir** 0.5.12: the same filled DEM; the same accumulation from the same directions;
  stream cells (>= 1000 cells) within one cell of each other's for 98 %.
* **GRASS GIS 8.2.1 r.watershed** (reference rasters ``tests/data/grass/``, made by its
  ``make_reference.sh``): D8 (``-s``) directions 99.6 % identical, ``|accumulation|``
  identical in 91.8 % of the cells, within a factor of 2 in 99.3 %, Spearman 0.989; MFD
  (``convergence=1``, weights ``tan(beta)``, vs Freeman ``p = 1.1``) within a factor of 2 in
  99.1 %, Spearman 0.991; stream cells (>= 100 or 1000 cells) of either within one cell of
  the other's for >= 96.6 % (ours) and >= 99.9 % (GRASS's), D8 and MFD. r.watershed does not
  fill depressions (A* least-cost routing through them), uses integer-millimetre elevations
  and an integer MFD exponent, and lets flow leave at any edge cell; the differences lie
  almost all where GRASS flags flow possibly entering from outside the region (negative
  accumulation), i.e. near the grid edge and nodata.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import numba
import numpy as np

from slidemap.errors import ConfigError

__all__ = [
    "HYDROLOGY_INFO",
    "BYTES_PER_CELL",
    "FlowResult",
    "hydrology_tags",
    "route_flow",
    "specific_catchment_area",
    "twi_spi",
    "write_hydrology",
]

log = logging.getLogger(__name__)

#: Memory of the global flow routing, bytes per grid cell (see the module docstring).
BYTES_PER_CELL = {"d8": 18, "mfd": 26}

#: Unit and method of each hydrology factor (COG tags and factors.json).
HYDROLOGY_INFO: dict[str, dict[str, str]] = {
    "sca": {
        "unit": "m",
        "method": "specific catchment area a = upslope area / cell width; Priority-Flood "
        "(Barnes et al. 2014) + {routing}",
    },
    "twi": {"unit": "1", "method": "TWI = ln(a / tan(beta)), tan(beta) >= {floor}; {routing}"},
    "spi": {"unit": "m", "method": "SPI = a * tan(beta), tan(beta) >= {floor}; {routing}"},
}

# neighbour k (0..7): N, NE, E, SE, S, SW, W, NW; direction codes are k + 1 (0 = outlet)
_DR = np.array([-1, -1, 0, 1, 1, 1, 0, -1], dtype=np.int64)
_DC = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)
NODATA_DIR = 255


@numba.njit(inline="always")
def _less(ka, ia, kb, ib):  # pragma: no cover - numba
    return ka < kb or (ka == kb and ia < ib)


@numba.njit(nogil=True, cache=True)
def _heap_push(hk, hi, hsize, key, idx):
    """Push (elevation ``key`` in m, cell ``idx``) onto the binary min-heap ``hk``/``hi``.

    The heap arrays double when full. Returns the (possibly new) arrays and the new size.
    """
    if hsize == hk.shape[0]:
        hk2 = np.empty(2 * hsize, dtype=np.float32)
        hi2 = np.empty(2 * hsize, dtype=np.int64)
        hk2[:hsize] = hk
        hi2[:hsize] = hi
        hk, hi = hk2, hi2
    pos = hsize
    while pos > 0:
        parent = (pos - 1) // 2
        if _less(key, idx, hk[parent], hi[parent]):
            hk[pos] = hk[parent]
            hi[pos] = hi[parent]
            pos = parent
        else:
            break
    hk[pos] = key
    hi[pos] = idx
    return hk, hi, hsize + 1


@numba.njit(nogil=True, cache=True)
def _heap_pop(hk, hi, hsize):  # pragma: no cover - numba
    """Pop the smallest (elevation, cell) of the heap; return the cell and the new size."""
    top = hi[0]
    hsize -= 1
    lk = hk[hsize]
    li = hi[hsize]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= hsize:
            break
        if child + 1 < hsize and _less(hk[child + 1], hi[child + 1], hk[child], hi[child]):
            child += 1
        if _less(hk[child], hi[child], lk, li):
            hk[pos] = hk[child]
            hi[pos] = hi[child]
            pos = child
        else:
            break
    hk[pos] = lk
    hi[pos] = li
    return top, hsize


@numba.njit(nogil=True, cache=True)
def _fifo_push(pq, phead, pcount, idx):  # pragma: no cover - numba
    """Append ``idx`` to the ring-buffer FIFO ``pq`` (doubling it when full)."""
    if pcount == pq.shape[0]:
        pq2 = np.empty(2 * pcount, dtype=np.int64)
        for t in range(pcount):
            pq2[t] = pq[(phead + t) % pcount]
        pq = pq2
        phead = 0
    tail = phead + pcount
    if tail >= pq.shape[0]:
        tail -= pq.shape[0]
    pq[tail] = idx
    return pq, phead, pcount + 1


@numba.njit(nogil=True, cache=True)
def _flat_dirs(z, dirs, dist, dr, dc):  # pragma: no cover - numba
    """Drain each flat cell to its same-level neighbour nearest an exit (ties: N, NE, ...)."""
    rows, cols = z.shape
    zf = z.ravel()
    for r in range(rows):
        for c in range(cols):
            idx = r * cols + c
            if dirs[idx] == 255 or dist[idx] <= 0:
                continue
            best = 0
            best_d = dist[idx]
            for q in range(8):
                rr = r + dr[q]
                cc = c + dc[q]
                if rr < 0 or rr >= rows or cc < 0 or cc >= cols:
                    continue
                nb = rr * cols + cc
                if dirs[nb] != 255 and zf[nb] == zf[idx] and dist[nb] < best_d:
                    best_d = dist[nb]
                    best = q + 1
            dirs[idx] = best


@numba.njit(nogil=True, cache=True)
def _flood(z, dirs, order, dist, dr, dc):  # pragma: no cover - numba
    """Priority-Flood + pit queue: fill ``z`` in place, record the order and flat distances.

    When the pit queue is empty, every heap entry at the lowest elevation moves to the pit
    queue at once (distance 0), so that a flat is flooded breadth-first from all its exits
    together: ``dist`` is then each flat cell's 8-connected distance (cells) to the nearest
    cell of its level that is not flat, and cells leave the queue in non-decreasing
    (elevation, distance).
    """
    rows, cols = z.shape
    n = rows * cols
    zf = z.ravel()
    closed = np.zeros(n, dtype=np.uint8)
    hk = np.empty(1024, dtype=np.float32)
    hi = np.empty(1024, dtype=np.int64)
    hsize = 0
    pq = np.empty(1024, dtype=np.int64)
    phead = 0
    pcount = 0
    for idx in range(n):
        if math.isnan(zf[idx]):
            closed[idx] = 1
            dirs[idx] = 255
        else:
            dirs[idx] = 0
    for r in range(rows):
        for c in range(cols):
            idx = r * cols + c
            if closed[idx] == 1:
                continue
            seed = r == 0 or r == rows - 1 or c == 0 or c == cols - 1
            if not seed:
                for q in range(8):
                    if math.isnan(zf[(r + dr[q]) * cols + c + dc[q]]):
                        seed = True
                        break
            if not seed:
                continue
            closed[idx] = 1
            dirs[idx] = 0
            hk, hi, hsize = _heap_push(hk, hi, hsize, zf[idx], idx)
    k = 0
    while hsize > 0 or pcount > 0:
        if pcount == 0:
            level = hk[0]
            while hsize > 0 and hk[0] == level:
                src, hsize = _heap_pop(hk, hi, hsize)
                dist[src] = 0
                pq, phead, pcount = _fifo_push(pq, phead, pcount, src)
        cur = pq[phead]
        phead += 1
        if phead == pq.shape[0]:
            phead = 0
        pcount -= 1
        order[k] = cur
        k += 1
        r0 = cur // cols
        c0 = cur - r0 * cols
        zc = zf[cur]
        for q in range(8):
            r = r0 + dr[q]
            c = c0 + dc[q]
            if r < 0 or r >= rows or c < 0 or c >= cols:
                continue
            nb = r * cols + c
            if closed[nb] == 1:
                continue
            closed[nb] = 1
            if zf[nb] <= zc:
                zf[nb] = zc
                dist[nb] = dist[cur] + 1
                pq, phead, pcount = _fifo_push(pq, phead, pcount, nb)
            else:
                hk, hi, hsize = _heap_push(hk, hi, hsize, zf[nb], nb)
    return k


@numba.njit(nogil=True, cache=True)
def _steepest(z, dirs, dist, dr, dc):  # pragma: no cover - numba
    """Drain every cell with a strictly lower neighbour to the steepest one."""
    rows, cols = z.shape
    zf = z.ravel()
    for r in range(rows):
        for c in range(cols):
            idx = r * cols + c
            if dirs[idx] == 255:
                continue
            zc = zf[idx]
            best = 0
            best_s = 0.0
            for q in range(8):
                rr = r + dr[q]
                cc = c + dc[q]
                if rr < 0 or rr >= rows or cc < 0 or cc >= cols:
                    continue
                nb = rr * cols + cc
                if dirs[nb] == 255:
                    continue
                drop = np.float64(zc) - np.float64(zf[nb])
                if drop > 0.0:
                    s = drop / dist[q]
                    if s > best_s:
                        best_s = s
                        best = q + 1
            if best > 0:
                dirs[idx] = best


@numba.njit(nogil=True, cache=True)
def _accumulate_d8(order, k, dirs, cols, acc, dr, dc):  # pragma: no cover - numba
    for t in range(k - 1, -1, -1):
        c = order[t]
        d = dirs[c]
        if d > 0 and d < 255:
            acc[c + dr[d - 1] * cols + dc[d - 1]] += acc[c]


@numba.njit(nogil=True, cache=True)
def _accumulate_mfd(order, k, z, dirs, acc, dist, p, dr, dc):  # pragma: no cover - numba
    rows, cols = z.shape
    zf = z.ravel()
    w = np.zeros(8, dtype=np.float64)
    for t in range(k - 1, -1, -1):
        c = order[t]
        r0 = c // cols
        c0 = c - r0 * cols
        zc = np.float64(zf[c])
        total = 0.0
        for q in range(8):
            w[q] = 0.0
            r = r0 + dr[q]
            cc = c0 + dc[q]
            if r < 0 or r >= rows or cc < 0 or cc >= cols:
                continue
            nb = r * cols + cc
            if dirs[nb] == 255:
                continue
            drop = zc - np.float64(zf[nb])
            if drop > 0.0:
                w[q] = (drop / dist[q]) ** p
                total += w[q]
        if total > 0.0:
            a = acc[c] / total
            for q in range(8):
                if w[q] > 0.0:
                    acc[c + dr[q] * cols + dc[q]] += a * w[q]
        else:
            d = dirs[c]
            if d > 0 and d < 255:
                acc[c + dr[d - 1] * cols + dc[d - 1]] += acc[c]


class FlowResult:
    """Result of :func:`route_flow`.

    Attributes
    ----------
    filled
        Depression-filled DEM (m), float32, NaN = nodata.
    dirs
        D8 flow direction codes (uint8): 1..8 = N, NE, E, SE, S, SW, W, NW; 0 = outlet;
        255 = nodata.
    order
        Flat indices of the valid cells in processing order (downstream first).
    acc_cells
        D8 flow accumulation (cells draining through each cell, itself included), float64,
        NaN = nodata.
    """

    def __init__(
        self, filled: np.ndarray, dirs: np.ndarray, order: np.ndarray, acc: np.ndarray
    ) -> None:
        self.filled = filled
        self.dirs = dirs
        self.order = order
        self.acc_cells = acc


def _distances(ewres: float, nsres: float) -> np.ndarray:
    lx, ly = abs(ewres), abs(nsres)
    diag = math.hypot(lx, ly)
    return np.array([ly, diag, lx, diag, ly, diag, lx, diag], dtype=np.float64)


def route_flow(
    dem: np.ndarray, *, ewres: float, nsres: float, overwrite: bool = False
) -> FlowResult:
    """Fill depressions, derive D8 flow directions and the D8 flow accumulation.

    Parameters
    ----------
    dem
        Elevation (m), 2-D, NaN = nodata.
    ewres, nsres
        Cell size along x and y (m; the transform's ``a`` and ``e``).
    overwrite
        Fill ``dem`` in place when it is a C-contiguous float32 array (saves 4 B per cell);
        otherwise it is copied and left unchanged.

    Returns
    -------
    FlowResult
        Filled DEM, D8 directions, processing order and D8 accumulation (cells).
    """
    z = np.array(dem, dtype=np.float32, order="C", copy=not overwrite)
    rows, cols = z.shape
    n = rows * cols
    dirs = np.empty(n, dtype=np.uint8)
    order = np.empty(n, dtype=np.int32 if n < 2**31 - 1 else np.int64)
    dist = np.empty(n, dtype=np.int32)
    k = _flood(z, dirs, order, dist, _DR, _DC)
    order = order[:k]
    _flat_dirs(z, dirs, dist, _DR, _DC)
    del dist
    _steepest(z, dirs, _distances(ewres, nsres), _DR, _DC)
    acc = np.where(dirs == NODATA_DIR, np.nan, 1.0)
    _accumulate_d8(order, k, dirs, cols, acc, _DR, _DC)
    return FlowResult(z, dirs.reshape(rows, cols), order, acc.reshape(rows, cols))


def accumulate_mfd(
    flow: FlowResult, *, ewres: float, nsres: float, exponent: float = 1.1
) -> np.ndarray:
    """Accumulate flow with multiple flow directions (Freeman 1991) on a routed DEM.

    Parameters
    ----------
    flow
        Output of :func:`route_flow` (its filled DEM, directions and order are used).
    ewres, nsres
        Cell size along x and y (m).
    exponent
        Freeman's exponent ``p`` on ``tan(beta)``.

    Returns
    -------
    numpy.ndarray
        Cells draining through each cell (itself included), float64, NaN = nodata.
    """
    dirs = flow.dirs.ravel()
    acc = np.where(dirs == NODATA_DIR, np.nan, 1.0)
    _accumulate_mfd(
        flow.order,
        len(flow.order),
        flow.filled,
        dirs,
        acc,
        _distances(ewres, nsres),
        float(exponent),
        _DR,
        _DC,
    )
    return acc.reshape(flow.dirs.shape)


def specific_catchment_area(acc_cells: Any, *, ewres: float, nsres: float) -> Any:
    """Compute the specific catchment area ``a`` (m): upslope area / cell width.

    Parameters
    ----------
    acc_cells
        Cells draining through each cell (itself included), numpy or dask.
    ewres, nsres
        Cell size along x and y (m); contour width = ``sqrt(|ewres * nsres|)``.

    Returns
    -------
    array
        ``a`` in metres (same shape and type as ``acc_cells``).
    """
    area = abs(ewres * nsres)
    return acc_cells * (area / math.sqrt(area))


def twi_spi(sca_m: Any, tan_beta: Any, min_tan_beta: float) -> tuple[Any, Any]:
    """Compute the topographic wetness index and the stream power index.

    Parameters
    ----------
    sca_m
        Specific catchment area ``a`` (m), numpy or dask.
    tan_beta
        Tangent of the local slope (dimensionless), NaN where unknown.
    min_tan_beta
        Floor applied to ``tan_beta`` in both indices.

    Returns
    -------
    twi, spi
        ``ln(a / tan_beta)`` (dimensionless) and ``a * tan_beta`` (m), float64 (NaN where
        ``a`` or ``tan_beta`` is NaN).
    """
    tb = np.maximum(tan_beta, min_tan_beta)  # NaN stays NaN
    return np.log(sca_m / tb), sca_m * tb


def hydrology_tags(
    name: str, routing: str, min_tan_beta: float, *, memory_bytes_per_cell: float
) -> dict[str, str]:
    """Build the COG tags of hydrology factor ``name`` (what factors.json lists).

    Parameters
    ----------
    name
        ``"sca"``, ``"twi"`` or ``"spi"``.
    routing
        The routing's description (e.g. ``"D8 steepest descent"``).
    min_tan_beta
        Floor of ``tan(beta)`` (dimensionless).
    memory_bytes_per_cell
        Peak memory of the routing job, bytes per grid cell (or per tile cell when tiled).

    Returns
    -------
    dict
        ``factor``, ``kind``, ``source``, ``memory_bytes_per_cell``, ``unit``, ``method``.
    """
    info = {
        key: value.format(routing=routing, floor=min_tan_beta)
        for key, value in HYDROLOGY_INFO[name].items()
    }
    return {
        "factor": name,
        "kind": "continuous",
        "source": "grid/dem.tif",
        "memory_bytes_per_cell": str(memory_bytes_per_cell),
        **info,
    }


def write_hydrology(
    dem_path: str | os.PathLike,
    *,
    sca_path: str | os.PathLike,
    twi_path: str | os.PathLike,
    spi_path: str | os.PathLike,
    streams_path: str | os.PathLike,
    method: str = "mfd",
    mfd_exponent: float = 1.1,
    stream_threshold_cells: int = 1000,
    min_tan_beta: float = 0.001,
    chunk_size: int = 1024,
    threads: int = 1,
    compress: str = "deflate",
) -> dict[str, Any]:
    """Compute SCA, TWI, SPI and the stream network of the grid DEM and write them.

    Parameters
    ----------
    dem_path
        The grid DEM (``grid/dem.tif``).
    sca_path, twi_path, spi_path
        Output COGs.
    streams_path
        Output GeoPackage (layer ``streams``).
    method
        ``"mfd"`` (the default, ``factors.hydrology.method``) or ``"d8"`` routing for
        SCA/TWI/SPI (streams always use D8).
    mfd_exponent
        Freeman's exponent for ``"mfd"``.
    stream_threshold_cells
        D8 accumulation (cells) from which a cell is a stream.
    min_tan_beta
        Floor of ``tan(beta)`` in TWI and SPI.
    chunk_size
        Chunk edge (cells) for the slope and the output blocks.
    threads
        Threads for the slope, the outputs and compression (routing is single-threaded).
    compress
        COG compression, ``"deflate"`` or ``"zstd"`` (``factors.compress``).

    Returns
    -------
    dict
        Summary: number of streams, cells, maximum accumulation, memory bound.

    Raises
    ------
    ConfigError
        If no cell reaches the stream threshold.
    """
    import dask.array as da

    from slidemap.factors.streams import stream_segments
    from slidemap.factors.terrain import terrain_dask
    from slidemap.io import write_gpkg
    from slidemap.raster import Grid, Layer, open_on_grid, write_cogs

    if method not in ("d8", "mfd"):
        raise ConfigError(f"config key 'factors.hydrology.method': {method!r} is not d8 or mfd.")
    grid = Grid.from_raster(dem_path)
    ewres, nsres = grid.transform.a, grid.transform.e
    dem_lazy = open_on_grid(dem_path, chunk_size=chunk_size).data
    dem = dem_lazy.compute(scheduler="threads", num_workers=threads)
    flow = route_flow(dem, ewres=ewres, nsres=nsres, overwrite=True)
    del dem
    max_acc = float(np.nanmax(flow.acc_cells))
    if max_acc < stream_threshold_cells:
        raise ConfigError(
            f"config key 'factors.hydrology.stream_threshold_cells': no cell drains "
            f"{stream_threshold_cells} cells (the largest accumulation is {max_acc:.0f} "
            "cells). Lower the threshold."
        )
    if method == "mfd":
        acc = accumulate_mfd(flow, ewres=ewres, nsres=nsres, exponent=mfd_exponent)
        routing = f"MFD Freeman 1991 (p = {mfd_exponent})"
    else:
        acc = flow.acc_cells
        routing = "D8 steepest descent"
    flow.filled = None  # the streams need directions, order and D8 accumulation only
    streams = stream_segments(flow, stream_threshold_cells, transform=grid.transform, crs=grid.crs)
    write_gpkg(streams, streams_path, "streams")
    del flow
    sca = specific_catchment_area(
        da.from_array(acc, chunks=(chunk_size, chunk_size)), ewres=ewres, nsres=nsres
    )
    slope = terrain_dask(dem_lazy, ewres=ewres, nsres=nsres, names=["slope"])["slope"]
    tan_beta = da.tan(da.deg2rad(slope.astype(np.float64)))
    twi, spi = twi_spi(sca, tan_beta, min_tan_beta)
    layers = []
    outputs = (("sca", sca, sca_path), ("twi", twi, twi_path), ("spi", spi, spi_path))
    for name, data, path in outputs:
        tags = hydrology_tags(
            name, routing, min_tan_beta, memory_bytes_per_cell=BYTES_PER_CELL[method]
        )
        layers.append(
            Layer(data, path, nodata=np.nan, dtype="float32", tags=tags, resampling="average")
        )
    write_cogs(layers, grid=grid, threads=threads, compress=compress, level=1, predictor=True)
    return {
        "streams": len(streams),
        "stream_threshold_cells": stream_threshold_cells,
        "max_accumulation_cells": max_acc,
        "method": method,
        "memory_bytes_per_cell": BYTES_PER_CELL[method],
    }
