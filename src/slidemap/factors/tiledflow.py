"""Tiled D8 flow accumulation: tile jobs, one small merge, the whole-array result exactly.

Barnes (2017) *Parallel non-divergent flow accumulation for trillion cell digital elevation
models on desktops or clusters*, Environmental Modelling & Software 92, 202-212, restated.
Given the D8 flow directions of the grid (codes of :mod:`slidemap.factors.hydrology`: 1..8 =
N, NE, E, SE, S, SW, W, NW, 0 = outlet, 255 = nodata), the accumulation ``G(c)`` of a cell
(cells draining through it, itself included) is linear in the unit weight of every cell, so
a tile can be accumulated alone once the flow entering it from other tiles is known:

1. **Tile pass** (:func:`flow_tile`): accumulate the tile's own cells only (``A``, a
   topological pass inside the tile). For each perimeter cell ``p`` record ``A(p)``, the
   first perimeter cell strictly downstream of it inside the tile (``down``), or, when its
   receiver lies in another tile, that receiver's grid cell (``cross``).
2. **Merge** (:func:`solve_inflows`): on the graph of all perimeter cells, in topological
   order, the flow a cell receives from other tiles is ``X(q) = sum of G(d)`` over the cells
   ``d`` of other tiles draining into ``q``, with ``G(d) = A(d) + E(d)`` and
   ``E(p) = X(p) + sum of E(r)`` over the perimeter cells ``r`` whose ``down`` is ``p``
   (the extra flow that passes through ``p``).
3. **Apply** (:func:`apply_inflows`): accumulate the tile again with the weight ``1 + X``.

D8 accumulations are integer cell counts held in float64, exact up to 2^53 cells, so the
order of the sums does not matter: the result equals :func:`~slidemap.factors.hydrology.
route_flow`'s accumulation cell for cell (tested). Memory: a tile job holds the directions
(1 B/cell), the accumulation (8 B), in-degrees and the order (8 B); the merge ``O(perimeter)``.

The directions themselves come from the whole-array routing for now: flat cells drain to
their Priority-Flood parent, which depends on the global processing order (see the closing
note of issue 14 for the tile-decomposable flat rule still to build).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from slidemap.factors.hydrology import _DC, _DR, NODATA_DIR
from slidemap.factors.tiledfill import _slot, n_slots

__all__ = [
    "TileFlow",
    "flow_tile",
    "solve_inflows",
    "apply_inflows",
    "accumulate_tiled",
    "flow_tile_job",
    "solve_inflows_job",
    "accumulate_tile_job",
    "tile_hydrology_factors",
    "hydrology_factors_tile_job",
]


@numba.njit(nogil=True, cache=True)
def _accumulate_tile(dirs, weight, dr, dc):  # pragma: no cover - numba
    """Accumulate ``weight`` inside the tile; return (acc, topological order, count)."""
    rows, cols = dirs.shape
    n = rows * cols
    indeg = np.zeros(n, dtype=np.int32)
    recv = np.full(n, -1, dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            d = dirs[r, c]
            if d == 0 or d == 255:
                continue
            rr = r + dr[d - 1]
            cc = c + dc[d - 1]
            if 0 <= rr < rows and 0 <= cc < cols:
                recv[r * cols + c] = rr * cols + cc
                indeg[rr * cols + cc] += 1
    acc = np.zeros(n, dtype=np.float64)
    order = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    for idx in range(n):
        if dirs.ravel()[idx] != 255:
            acc[idx] = weight.ravel()[idx]
            if indeg[idx] == 0:
                order[tail] = idx
                tail += 1
    while head < tail:
        cur = order[head]
        head += 1
        nxt = recv[cur]
        if nxt >= 0:
            acc[nxt] += acc[cur]
            indeg[nxt] -= 1
            if indeg[nxt] == 0:
                order[tail] = nxt
                tail += 1
    return acc, order, tail, recv


@numba.njit(nogil=True, cache=True)
def _perimeter_links(dirs, order, count, recv, r0, c0, dr, dc):  # pragma: no cover - numba
    """Per perimeter slot: ``down`` slot (-1 none) and ``cross`` target grid cell (-1 none)."""
    rows, cols = dirs.shape
    n = rows * cols
    nextp = np.full(n, -1, dtype=np.int64)  # first perimeter cell strictly downstream (flat)
    for t in range(count - 1, -1, -1):
        cur = order[t]
        nxt = recv[cur]
        if nxt < 0:
            continue
        rn = nxt // cols
        cn = nxt - rn * cols
        if rn == 0 or rn == rows - 1 or cn == 0 or cn == cols - 1:
            nextp[cur] = nxt
        else:
            nextp[cur] = nextp[nxt]
    slots = 2 * cols + 2 * (rows - 2) if rows > 1 else cols
    down = np.full(slots, -1, dtype=np.int64)
    cross_r = np.full(slots, -1, dtype=np.int64)
    cross_c = np.full(slots, -1, dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            if not (r == 0 or r == rows - 1 or c == 0 or c == cols - 1):
                continue
            s = _slot(r, c, rows, cols)
            idx = r * cols + c
            d = dirs[r, c]
            if d == 0 or d == 255:
                continue
            if recv[idx] >= 0:
                p = nextp[idx]
                if p >= 0:
                    pr = p // cols
                    down[s] = _slot(pr, p - pr * cols, rows, cols)
            else:
                cross_r[s] = r0 + r + dr[d - 1]
                cross_c[s] = c0 + c + dc[d - 1]
    return down, cross_r, cross_c


@dataclass
class TileFlow:
    """Result of :func:`flow_tile` for one tile.

    Attributes
    ----------
    acc
        Accumulation of the tile's own cells (cells), float64, tile shape, NaN = nodata.
    summary
        Per perimeter slot (:func:`slidemap.factors.tiledfill.n_slots`): ``acc`` (cells),
        ``down`` (slot of the first perimeter cell downstream inside the tile, -1 none),
        ``cross_row``/``cross_col`` (grid cell of the receiver in another tile, -1 none);
        and ``shape``/``origin`` (cells). ``O(perimeter)``, e.g. for ``numpy.savez``.
    """

    acc: np.ndarray
    summary: dict[str, np.ndarray]


def _as_dirs(dirs: np.ndarray) -> np.ndarray:
    d = np.ascontiguousarray(dirs, dtype=np.uint8)
    if d.ndim != 2 or min(d.shape) < 1:
        raise ValueError(f"flow directions must be a 2-D array, got shape {d.shape}")
    return d


def flow_tile(dirs: np.ndarray, origin: tuple[int, int] = (0, 0)) -> TileFlow:
    """Tile pass: accumulate one tile alone and record its perimeter links (step 1).

    Parameters
    ----------
    dirs
        D8 direction codes of the tile (uint8; 0 outlet, 255 nodata), no halo.
    origin
        Grid row and column of the tile's first cell (cells).

    Returns
    -------
    TileFlow
    """
    d = _as_dirs(dirs)
    rows, cols = d.shape
    weight = np.ones(d.shape, dtype=np.float64)
    acc, order, count, recv = _accumulate_tile(d, weight, _DR, _DC)
    down, cross_r, cross_c = _perimeter_links(d, order, count, recv, origin[0], origin[1], _DR, _DC)
    perim = np.zeros(n_slots(rows, cols), dtype=np.float64)
    rr, cc, slots = _perimeter_cells(rows, cols)
    perim[slots] = acc.reshape(d.shape)[rr, cc]
    acc = acc.reshape(d.shape)
    acc[d == NODATA_DIR] = np.nan
    summary = {
        "acc": perim,
        "down": down,
        "cross_row": cross_r,
        "cross_col": cross_c,
        "shape": np.array([rows, cols], dtype=np.int64),
        "origin": np.array(origin, dtype=np.int64),
    }
    return TileFlow(acc, summary)


def _perimeter_cells(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and perimeter slots of a tile's perimeter cells, each once, row-major."""
    if rows <= 2 or cols <= 2:
        r, c = np.divmod(np.arange(rows * cols), cols)
    else:
        middle = np.repeat(np.arange(1, rows - 1), 2)
        r = np.concatenate([np.zeros(cols, int), middle, np.full(cols, rows - 1)])
        c = np.concatenate([np.arange(cols), np.tile([0, cols - 1], rows - 2), np.arange(cols)])
    slots = np.array([_slot(a, b, rows, cols) for a, b in zip(r, c, strict=True)], dtype=np.int64)
    return r, c, slots


@numba.njit(nogil=True, cache=True)
def _propagate(acc, down, cross):  # pragma: no cover - numba
    """Topological pass over the perimeter graph: inflow X from other tiles per node."""
    n = acc.shape[0]
    indeg = np.zeros(n, dtype=np.int64)
    for p in range(n):
        if down[p] >= 0:
            indeg[down[p]] += 1
        if cross[p] >= 0:
            indeg[cross[p]] += 1
    extra = np.zeros(n, dtype=np.float64)
    inflow = np.zeros(n, dtype=np.float64)
    queue = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    for p in range(n):
        if indeg[p] == 0:
            queue[tail] = p
            tail += 1
    while head < tail:
        p = queue[head]
        head += 1
        e = extra[p]
        q = down[p]
        if q >= 0:
            extra[q] += e
            indeg[q] -= 1
            if indeg[q] == 0:
                queue[tail] = q
                tail += 1
        q = cross[p]
        if q >= 0:
            g = acc[p] + e
            inflow[q] += g
            extra[q] += g
            indeg[q] -= 1
            if indeg[q] == 0:
                queue[tail] = q
                tail += 1
    return inflow, tail


def solve_inflows(
    summaries: Sequence[dict[str, np.ndarray]], tile_size: int, height: int, width: int
) -> list[np.ndarray]:
    """Merge step: the flow each perimeter cell receives from other tiles (cells).

    Parameters
    ----------
    summaries
        :attr:`TileFlow.summary` of every tile, row-major over the layout of
        :func:`slidemap.factors.tiledfill.tile_layout` with ``tile_size``.
    tile_size
        Tile edge (cells).
    height, width
        Grid size (cells).

    Returns
    -------
    list of numpy.ndarray
        Per tile, float64 inflow (cells) indexed by perimeter slot.

    Raises
    ------
    ValueError
        If the summaries do not match the layout, or the directions have a cycle.
    """
    tile_rows, tile_cols = -(-height // tile_size), -(-width // tile_size)
    if len(summaries) != tile_rows * tile_cols:
        raise ValueError(
            f"{len(summaries)} tile summaries for a {tile_rows} x {tile_cols} tile layout"
        )
    offsets = np.zeros(len(summaries) + 1, dtype=np.int64)
    for t, s in enumerate(summaries):
        offsets[t + 1] = offsets[t] + s["acc"].size
    acc = np.concatenate([s["acc"] for s in summaries])
    down = np.full(acc.size, -1, dtype=np.int64)
    cross = np.full(acc.size, -1, dtype=np.int64)
    for t, s in enumerate(summaries):
        sl = slice(offsets[t], offsets[t + 1])
        down[sl] = np.where(s["down"] >= 0, s["down"] + offsets[t], -1)
        row, col = s["cross_row"], s["cross_col"]
        has = row >= 0
        if has.any():
            tr, tc = row[has] // tile_size, col[has] // tile_size
            target = tr * tile_cols + tc
            lr, lc = row[has] - tr * tile_size, col[has] - tc * tile_size
            slots = np.empty(target.size, dtype=np.int64)
            for k, (u, r, c) in enumerate(zip(target, lr, lc, strict=True)):
                h, w = summaries[u]["shape"]
                slots[k] = _slot(int(r), int(c), int(h), int(w))
            cross_t = np.full(row.size, -1, dtype=np.int64)
            cross_t[has] = offsets[target] + slots
            cross[sl] = cross_t
    inflow, visited = _propagate(acc, down, cross)
    if visited != acc.size:
        raise ValueError("the flow directions have a cycle across tiles")
    return [inflow[offsets[t] : offsets[t + 1]] for t in range(len(summaries))]


def apply_inflows(dirs: np.ndarray, inflow: np.ndarray) -> np.ndarray:
    """Step 3: the tile's accumulation with the inflow of other tiles (cells, float64).

    Parameters
    ----------
    dirs
        The tile's D8 direction codes, as given to :func:`flow_tile`.
    inflow
        The tile's entry of :func:`solve_inflows`.
    """
    d = _as_dirs(dirs)
    rows, cols = d.shape
    weight = np.ones(d.shape, dtype=np.float64)
    rr, cc, slots = _perimeter_cells(rows, cols)
    weight[rr, cc] += inflow[slots]
    acc = _accumulate_tile(d, weight, _DR, _DC)[0].reshape(d.shape)
    acc[d == NODATA_DIR] = np.nan
    return acc


def accumulate_tiled(dirs: np.ndarray, tile_size: int) -> np.ndarray:
    """D8 accumulation of ``dirs`` tile by tile in one process (tests and small grids).

    Parameters
    ----------
    dirs
        D8 direction codes of the grid (uint8).
    tile_size
        Tile edge (cells).

    Returns
    -------
    numpy.ndarray
        Accumulation (cells), float64, NaN = nodata; equal to the whole-array one.
    """
    d = _as_dirs(dirs)
    height, width = d.shape
    starts = [(r0, c0) for r0 in range(0, height, tile_size) for c0 in range(0, width, tile_size)]
    tiles = [d[r0 : r0 + tile_size, c0 : c0 + tile_size] for r0, c0 in starts]
    flows = [flow_tile(t, origin) for t, origin in zip(tiles, starts, strict=True)]
    inflows = solve_inflows([f.summary for f in flows], tile_size, height, width)
    out = np.empty(d.shape, dtype=np.float64)
    for (r0, c0), t, x in zip(starts, tiles, inflows, strict=True):
        out[r0 : r0 + t.shape[0], c0 : c0 + t.shape[1]] = apply_inflows(t, x)
    return out


# ---------------------------------------------------------------------------------------------
# Jobs: one process each, files in between
# ---------------------------------------------------------------------------------------------


def _read_dirs(dirs_path: str | os.PathLike) -> tuple[np.ndarray, Any]:
    import rasterio

    with rasterio.open(dirs_path) as src:
        return src.read(1), src.profile


def flow_tile_job(
    dirs_path: str | os.PathLike, origin: tuple[int, int], summary_path: str | os.PathLike
) -> dict[str, Any]:
    """Tile pass: accumulate a direction tile alone, write its perimeter summary (npz).

    Parameters
    ----------
    dirs_path
        The tile's D8 directions (uint8 GeoTIFF of :func:`~slidemap.factors.tileddirs.
        directions_tile_job`).
    origin
        Grid row and column of the tile's first cell (cells).
    summary_path
        Output ``.npz`` of :attr:`TileFlow.summary`.

    Returns
    -------
    dict
        Cells of the tile and perimeter cells draining into other tiles.
    """
    from slidemap.factors.tiledfill import _save_npz

    dirs, _ = _read_dirs(dirs_path)
    flow = flow_tile(dirs, origin)
    _save_npz(summary_path, flow.summary)
    return {"cells": int(dirs.size), "exits": int((flow.summary["cross_row"] >= 0).sum())}


def solve_inflows_job(
    summary_paths: Sequence[str | os.PathLike],
    tile_size: int,
    height: int,
    width: int,
    inflows_path: str | os.PathLike,
) -> dict[str, Any]:
    """Merge: read every tile summary, write each tile's inflow per perimeter slot (npz).

    Parameters
    ----------
    summary_paths
        The :func:`flow_tile_job` outputs, row-major over the layout.
    tile_size
        Tile edge (cells).
    height, width
        Grid size (cells).
    inflows_path
        Output ``.npz`` with one float64 array ``tile_<i>`` (cells) per tile.

    Returns
    -------
    dict
        Number of tiles and the largest inflow (cells).
    """
    from slidemap.factors.tiledfill import _load_npz, _save_npz

    inflows = solve_inflows(_load_npz(summary_paths), tile_size, height, width)
    _save_npz(inflows_path, {f"tile_{i}": x for i, x in enumerate(inflows)})
    return {
        "tiles": len(inflows),
        "max_inflow_cells": float(max(x.max(initial=0) for x in inflows)),
    }


def accumulate_tile_job(
    dirs_path: str | os.PathLike,
    tile_index: int,
    inflows_path: str | os.PathLike,
    out_path: str | os.PathLike,
) -> dict[str, Any]:
    """Apply pass: write the tile's D8 accumulation (cells; float64 GeoTIFF, NaN nodata).

    Parameters
    ----------
    dirs_path
        As for :func:`flow_tile_job`.
    tile_index
        The tile's row-major index in the layout.
    inflows_path
        The :func:`solve_inflows_job` output.
    out_path
        Output GeoTIFF (intermediate layout); float64 keeps counts above 2^24 exact.

    Returns
    -------
    dict
        Cells and the largest accumulation of the tile (cells).
    """
    from slidemap.raster import write_cog

    dirs, profile = _read_dirs(dirs_path)
    with np.load(inflows_path) as data:
        inflow = data[f"tile_{tile_index}"]
    if inflow.size != n_slots(*dirs.shape):
        raise ValueError(
            f"{inflows_path}: tile {tile_index} has {inflow.size} perimeter inflows, its "
            f"directions {n_slots(*dirs.shape)}; the merge was solved for another tiling. "
            "Rerun it."
        )
    acc = apply_inflows(dirs, inflow)
    write_cog(
        acc,
        out_path,
        nodata=np.nan,
        crs=profile["crs"],
        transform=profile["transform"],
        dtype="float64",
        layout="tiff",
    )
    return {"cells": int(acc.size), "max_accumulation_cells": float(np.nanmax(acc, initial=0))}


def tile_hydrology_factors(
    padded_dem: np.ndarray,
    acc_cells: np.ndarray,
    *,
    ewres: float,
    nsres: float,
    min_tan_beta: float,
) -> dict[str, np.ndarray]:
    """SCA, TWI and SPI of one tile, as :func:`~slidemap.factors.hydrology.write_hydrology`.

    Parameters
    ----------
    padded_dem
        The grid DEM (m) of the tile with a one-cell halo (NaN outside the grid), for the Horn
        slope ``tan(beta)``.
    acc_cells
        The tile's flow accumulation (cells), e.g. from :func:`accumulate_tile_job`.
    ewres, nsres
        Cell size along x and y (m).
    min_tan_beta
        Floor of ``tan(beta)`` (``factors.hydrology.min_tan_beta``).

    Returns
    -------
    dict
        ``sca`` (m), ``twi`` (1), ``spi`` (m): float32, tile shape, NaN where undefined.
    """
    from slidemap.factors.hydrology import specific_catchment_area, twi_spi
    from slidemap.factors.terrain import terrain_numpy

    acc = np.asarray(acc_cells, dtype=np.float64)
    if padded_dem.shape != (acc.shape[0] + 2, acc.shape[1] + 2):
        raise ValueError(
            f"the DEM tile {padded_dem.shape} is not the accumulation tile {acc.shape} plus a "
            "one-cell halo"
        )
    slope = terrain_numpy(padded_dem, ewres=ewres, nsres=nsres, names=["slope"])["slope"]
    tan_beta = np.tan(np.deg2rad(slope[1:-1, 1:-1].astype(np.float64)))
    sca = specific_catchment_area(acc, ewres=ewres, nsres=nsres)
    twi, spi = twi_spi(sca, tan_beta, min_tan_beta)
    return {name: a.astype(np.float32) for name, a in (("sca", sca), ("twi", twi), ("spi", spi))}


def hydrology_factors_tile_job(
    dem_path: str | os.PathLike,
    acc_path: str | os.PathLike,
    window: Any,
    out_paths: dict[str, str | os.PathLike],
    *,
    min_tan_beta: float,
) -> dict[str, Any]:
    """Write the tile's SCA, TWI and SPI GeoTIFFs (float32, NaN nodata, intermediate layout).

    Parameters
    ----------
    dem_path
        The grid DEM (m), read with a one-cell halo for the slope.
    acc_path
        The accumulation (cells) of the grid, e.g. the VRT of the :func:`accumulate_tile_job`
        tiles (read in grid coordinates).
    window
        The tile (cells of the grid).
    out_paths
        ``{"sca": ..., "twi": ..., "spi": ...}`` output files.
    min_tan_beta
        Floor of ``tan(beta)``.

    Returns
    -------
    dict
        Cells of the tile.
    """
    import rasterio
    from affine import Affine

    from slidemap.raster import Grid, read_window, write_cog

    with rasterio.open(dem_path) as src:
        grid = Grid.of(src)
        padded = read_window(src, window, halo=1)
    acc = read_window(acc_path, window, dtype="float64")
    factors = tile_hydrology_factors(
        padded, acc, ewres=grid.transform.a, nsres=grid.transform.e, min_tan_beta=min_tan_beta
    )
    transform = grid.transform @ Affine.translation(int(window.col_off), int(window.row_off))
    for name, path in out_paths.items():
        write_cog(
            factors[name], path, nodata=np.nan, crs=grid.crs, transform=transform, layout="tiff"
        )
    return {"cells": int(acc.size)}
