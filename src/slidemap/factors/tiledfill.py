"""Tiled Priority-Flood depression filling: tile jobs, one small merge, identical result.

Barnes (2016) *Parallel Priority-Flood depression filling for trillion cell digital
elevation models*, Computers & Geosciences 96, 56-68, restated here with the proof this
module relies on (the tests check it against the whole-array fill of
:mod:`slidemap.factors.hydrology` cell by cell).

The whole-array fill raises each valid cell ``c`` to its *spill elevation*
``F(c) = min over paths c -> o of max z along the path``, ``o`` an *outlet* (a valid cell on
the grid edge or with a nodata 8-neighbour), paths 8-connected through valid cells.

1. **Tile pass** (:func:`flood_tile`, one job per tile, memory ~ 10 B per tile cell): the tile
   is read with a one-cell halo (NaN outside the grid) so that outlets are known. A
   Priority-Flood inside the tile is seeded with every outlet of the tile (label
   ``OCEAN = 1``) and every other cell of the tile's perimeter (each its own label ``2 + i``,
   ``i`` the cell's slot in the row-major order of the perimeter). It gives each cell
   its *local* spill elevation ``f(c)`` (towards the nearest seed) and the label of the seed
   that reached it. Each pair of 8-adjacent cells with different labels ``a, b`` is an edge
   of the *label graph* of weight ``max(f(a), f(b))`` (the smallest per label pair is kept).
2. **Merge** (:func:`solve_levels`, one small job): the label graph of all tiles plus, for
   every two 8-adjacent perimeter cells of neighbouring tiles, an edge of weight
   ``max(z_a, z_b)``. A minimax Dijkstra from ``OCEAN`` (level ``-inf``) gives each label its
   level ``W(l)`` = the smallest possible maximum edge weight on a path to ``OCEAN``.
3. **Apply** (:func:`apply_levels`, per tile): ``F(c) = max(f(c), W(label(c)))``.

Why step 3 is exact: any path from ``c`` to an outlet leaves the tile through a perimeter
cell or ends at an outlet inside it, both seeds, so ``F(c) >= f(c)``; walking that path, each
change of label inside a tile crosses an edge of weight ``<= max(f) <=`` the path's maximum
and each crossing between tiles an edge ``max(z_a, z_b) <=`` it, so ``F(c) >= W(label(c))``.
Conversely ``c`` reaches its seed through its flood parents at ``<= f(c)``, and each label
edge of weight ``w`` joins two seeds through cells of local level ``<= w``, so a path of
maximum ``max(f(c), W)`` exists. The identity holds for any tie-breaking of the flood.

Memory: a tile job holds the padded tile (4 B/cell), ``f`` (4 B), labels (4 B), flags (1 B)
and the heap; the merge holds two nodes per perimeter cell's label and the label edges
(typically a few per perimeter cell), i.e. ``O(perimeter)``, not ``O(area)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
from rasterio.windows import Window

from slidemap.factors.hydrology import _DC, _DR, _fifo_push, _heap_pop, _heap_push

__all__ = [
    "OCEAN",
    "TileFlood",
    "n_slots",
    "flood_tile",
    "solve_levels",
    "apply_levels",
    "fill_tiled",
    "tile_layout",
    "flood_tile_job",
    "solve_levels_job",
    "fill_tile_job",
]

#: Local label of the outlets (global node 0 of the merge graph); 0 = nodata.
OCEAN = 1


def n_slots(rows: int, cols: int) -> int:
    """Count the perimeter slots of a ``rows`` x ``cols`` tile (some unused if it is thin)."""
    return cols if rows == 1 else 2 * cols + 2 * (rows - 2)


@numba.njit(nogil=True, cache=True)
def _slot(r, c, rows, cols):  # pragma: no cover - numba
    """Slot of perimeter cell (r, c) of a rows x cols tile, row-major over the perimeter."""
    if r == 0:
        return c
    if r == rows - 1:
        return cols + 2 * (rows - 2) + c
    if c == 0:
        return cols + 2 * (r - 1)
    return cols + 2 * (r - 1) + 1


@numba.njit(nogil=True, cache=True)
def _flood_tile(zp, dr, dc):  # pragma: no cover - numba
    """Priority-Flood of the core of the padded tile ``zp``; see :func:`flood_tile`."""
    rows = zp.shape[0] - 2
    cols = zp.shape[1] - 2
    n = rows * cols
    f = np.empty(n, dtype=np.float32)
    labels = np.zeros(n, dtype=np.int32)
    closed = np.zeros(n, dtype=np.uint8)
    hk = np.empty(1024, dtype=np.float32)
    hi = np.empty(1024, dtype=np.int64)
    hsize = 0
    pq = np.empty(1024, dtype=np.int64)
    phead = 0
    pcount = 0
    ea = np.empty(1024, dtype=np.int32)
    eb = np.empty(1024, dtype=np.int32)
    ew = np.empty(1024, dtype=np.float32)
    ne = 0
    for r in range(rows):
        for c in range(cols):
            idx = r * cols + c
            z = zp[r + 1, c + 1]
            f[idx] = z
            if math.isnan(z):
                closed[idx] = 1
                continue
            outlet = False
            for q in range(8):
                if math.isnan(zp[r + 1 + dr[q], c + 1 + dc[q]]):
                    outlet = True
                    break
            if outlet:
                labels[idx] = 1
            elif r == 0 or r == rows - 1 or c == 0 or c == cols - 1:
                labels[idx] = 2 + _slot(r, c, rows, cols)
            else:
                continue
            closed[idx] = 1
            hk, hi, hsize = _heap_push(hk, hi, hsize, z, idx)
    while hsize > 0 or pcount > 0:
        if pcount > 0:
            cur = pq[phead]
            phead += 1
            if phead == pq.shape[0]:
                phead = 0
            pcount -= 1
        else:
            cur, hsize = _heap_pop(hk, hi, hsize)
        r0 = cur // cols
        c0 = cur - r0 * cols
        fc = f[cur]
        lc = labels[cur]
        for q in range(8):
            r = r0 + dr[q]
            c = c0 + dc[q]
            if r < 0 or r >= rows or c < 0 or c >= cols:
                continue
            nb = r * cols + c
            if closed[nb] == 1:
                ln = labels[nb]
                if ln != 0 and ln != lc:
                    if ne == ea.shape[0]:
                        ea2 = np.empty(2 * ne, dtype=np.int32)
                        eb2 = np.empty(2 * ne, dtype=np.int32)
                        ew2 = np.empty(2 * ne, dtype=np.float32)
                        ea2[:ne] = ea
                        eb2[:ne] = eb
                        ew2[:ne] = ew
                        ea, eb, ew = ea2, eb2, ew2
                    ea[ne] = min(lc, ln)
                    eb[ne] = max(lc, ln)
                    ew[ne] = max(fc, f[nb])
                    ne += 1
                continue
            closed[nb] = 1
            labels[nb] = lc
            if f[nb] <= fc:
                f[nb] = fc
                pq, phead, pcount = _fifo_push(pq, phead, pcount, nb)
            else:
                hk, hi, hsize = _heap_push(hk, hi, hsize, f[nb], nb)
    return f, labels, ea[:ne], eb[:ne], ew[:ne]


@dataclass
class TileFlood:
    """Result of :func:`flood_tile` for one tile.

    Attributes
    ----------
    filled
        Local spill elevation ``f`` (m), float32, tile shape, NaN = nodata.
    labels
        Label of each cell (int32): 0 nodata, 1 outlet (``OCEAN``), ``2 + slot`` the
        perimeter seed that reached it.
    edges
        Label-graph edges ``(a, b, w)``: int32 ``a < b``, float32 weight (m), one per pair.
    n_labels
        ``2 + n_slots``: size of the tile's level table.
    sides
        ``{"top", "bottom", "left", "right"}`` -> (labels int32, elevations float32) of the
        tile's outer rows/columns, for the edges between tiles.
    """

    filled: np.ndarray
    labels: np.ndarray
    edges: tuple[np.ndarray, np.ndarray, np.ndarray]
    n_labels: int
    sides: dict[str, tuple[np.ndarray, np.ndarray]]

    def summary(self) -> dict[str, np.ndarray]:
        """Return the arrays the merge needs (``O(perimeter)``), e.g. for ``numpy.savez``."""
        out = {
            "edge_a": self.edges[0],
            "edge_b": self.edges[1],
            "edge_w": self.edges[2],
            "n_labels": np.array(self.n_labels, dtype=np.int64),
        }
        for side, (lab, z) in self.sides.items():
            out[f"{side}_labels"] = lab
            out[f"{side}_z"] = z
        return out


def flood_tile(padded: np.ndarray) -> TileFlood:
    """Local Priority-Flood of one tile (step 1 of the module docstring).

    Parameters
    ----------
    padded
        Elevation (m) of the tile plus a one-cell halo, shape ``(rows + 2, cols + 2)``: the
        neighbours' cells, NaN outside the grid and at nodata (``raster.read_window(...,
        halo=1)``).

    Returns
    -------
    TileFlood
    """
    zp = np.ascontiguousarray(padded, dtype=np.float32)
    if zp.ndim != 2 or zp.shape[0] < 3 or zp.shape[1] < 3:
        raise ValueError(f"a padded tile must be at least 3 x 3 cells, got {zp.shape}")
    rows, cols = zp.shape[0] - 2, zp.shape[1] - 2
    f, labels, ea, eb, ew = _flood_tile(zp, _DR, _DC)
    n_labels = 2 + n_slots(rows, cols)
    edges = _reduce_edges(ea, eb, ew, n_labels)
    f = f.reshape(rows, cols)
    labels = labels.reshape(rows, cols)
    core = zp[1:-1, 1:-1]
    sides = {
        "top": (labels[0].copy(), core[0].copy()),
        "bottom": (labels[-1].copy(), core[-1].copy()),
        "left": (labels[:, 0].copy(), core[:, 0].copy()),
        "right": (labels[:, -1].copy(), core[:, -1].copy()),
    }
    return TileFlood(f, labels, edges, n_labels, sides)


def _reduce_edges(
    a: np.ndarray, b: np.ndarray, w: np.ndarray, n_nodes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the lightest edge of each node pair (``a < b``); sorted by pair."""
    if a.size == 0:
        return a.astype(np.int64), b.astype(np.int64), w.astype(np.float32)
    key = a.astype(np.int64) * n_nodes + b
    order = np.lexsort((w, key))
    key = key[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    keep = order[first]
    return a[keep].astype(np.int64), b[keep].astype(np.int64), w[keep]


@numba.njit(nogil=True, cache=True)
def _minimax(n, indptr, indices, weights):  # pragma: no cover - numba
    """Minimax distances from node 0 (level -inf) over an undirected CSR graph."""
    level = np.full(n, np.inf, dtype=np.float32)
    done = np.zeros(n, dtype=np.uint8)
    hk = np.empty(1024, dtype=np.float32)
    hi = np.empty(1024, dtype=np.int64)
    hsize = 0
    level[0] = -np.inf
    hk, hi, hsize = _heap_push(hk, hi, hsize, level[0], 0)
    while hsize > 0:
        cur, hsize = _heap_pop(hk, hi, hsize)
        if done[cur] == 1:
            continue
        done[cur] = 1
        lc = level[cur]
        for t in range(indptr[cur], indptr[cur + 1]):
            nb = indices[t]
            cand = max(lc, weights[t])
            if cand < level[nb]:
                level[nb] = cand
                hk, hi, hsize = _heap_push(hk, hi, hsize, cand, nb)
    return level


def solve_levels(
    summaries: Sequence[dict[str, np.ndarray]], tile_rows: int, tile_cols: int
) -> list[np.ndarray]:
    """Merge step: the level ``W`` of every label of every tile (m).

    Parameters
    ----------
    summaries
        :meth:`TileFlood.summary` of every tile, row-major over the tile layout.
    tile_rows, tile_cols
        Number of tile rows and columns (tiles of one row share a height, of one column a
        width).

    Returns
    -------
    list of numpy.ndarray
        Per tile, float32 levels indexed by local label (``[0]`` NaN, ``[OCEAN]`` -inf).

    Raises
    ------
    ValueError
        If the number of summaries does not match the layout.
    RuntimeError
        If a label cannot reach an outlet (cannot happen for a consistent input).
    """
    if len(summaries) != tile_rows * tile_cols:
        raise ValueError(
            f"{len(summaries)} tile summaries for a {tile_rows} x {tile_cols} tile layout"
        )
    offsets = np.zeros(len(summaries) + 1, dtype=np.int64)
    offsets[0] = 1
    for t, s in enumerate(summaries):
        offsets[t + 1] = offsets[t] + int(s["n_labels"]) - 2

    def glob(t: int, local: np.ndarray) -> np.ndarray:
        local = np.asarray(local, dtype=np.int64)
        return np.where(local == OCEAN, 0, offsets[t] + local - 2)

    src, dst, wts = [], [], []
    for t, s in enumerate(summaries):
        src.append(glob(t, s["edge_a"]))
        dst.append(glob(t, s["edge_b"]))
        wts.append(np.asarray(s["edge_w"], dtype=np.float32))

    def connect(t: int, side_a: str, u: int, side_b: str, corner: tuple | None = None) -> None:
        la, za = summaries[t][f"{side_a}_labels"], summaries[t][f"{side_a}_z"]
        lb, zb = summaries[u][f"{side_b}_labels"], summaries[u][f"{side_b}_z"]
        if corner is not None:  # diagonal neighbours touch at one corner cell each
            i_a = np.array([corner[0] % la.size])
            i_b = np.array([corner[1] % lb.size])
        elif la.size != lb.size:
            raise ValueError(f"tiles {t} and {u} have facing sides of different lengths")
        else:
            n = la.size
            i_a = np.concatenate([np.arange(max(0, -d), min(n, n - d)) for d in (-1, 0, 1)])
            i_b = np.concatenate([np.arange(max(0, -d), min(n, n - d)) + d for d in (-1, 0, 1)])
        ok = (la[i_a] > 0) & (lb[i_b] > 0)
        i_a, i_b = i_a[ok], i_b[ok]
        src.append(glob(t, la[i_a]))
        dst.append(glob(u, lb[i_b]))
        wts.append(np.maximum(za[i_a], zb[i_b]).astype(np.float32))

    for i in range(tile_rows):
        for j in range(tile_cols):
            t = i * tile_cols + j
            if j + 1 < tile_cols:
                connect(t, "right", t + 1, "left")
            if i + 1 < tile_rows:
                connect(t, "bottom", t + tile_cols, "top")
                if j + 1 < tile_cols:
                    connect(t, "bottom", t + tile_cols + 1, "top", (-1, 0))
                if j > 0:
                    connect(t, "bottom", t + tile_cols - 1, "top", (0, -1))
    n = int(offsets[-1])
    a = np.concatenate(src)
    b = np.concatenate(dst)
    w = np.concatenate(wts)
    both_a = np.concatenate([a, b])
    both_b = np.concatenate([b, a])
    both_w = np.concatenate([w, w])
    order = np.argsort(both_a, kind="stable")
    indices = both_b[order]
    weights = both_w[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(both_a, minlength=n), out=indptr[1:])
    level = _minimax(n, indptr, indices, weights)
    out = []
    for t, s in enumerate(summaries):
        nl = int(s["n_labels"])
        local = np.full(nl, np.nan, dtype=np.float32)
        local[OCEAN] = -np.inf
        local[2:] = level[offsets[t] : offsets[t + 1]]
        out.append(local)
    for t, s in enumerate(summaries):
        for side in ("top", "bottom", "left", "right"):
            lab = s[f"{side}_labels"]
            if np.isposinf(out[t][lab[lab >= 2]]).any():
                raise RuntimeError(f"tile {t}: a perimeter label reaches no outlet")
    return out


def apply_levels(flood: TileFlood, levels: np.ndarray) -> np.ndarray:
    """Step 3: the filled tile ``max(f, W(label))`` (m), float32, NaN = nodata.

    Parameters
    ----------
    flood
        The tile's :func:`flood_tile` result (or one recomputed from the same padded tile).
    levels
        The tile's entry of :func:`solve_levels`.
    """
    lab = flood.labels
    out = np.maximum(flood.filled, levels[lab])
    out[lab == 0] = np.nan
    return out.astype(np.float32, copy=False)


def fill_tiled(dem: np.ndarray, tile_size: int) -> np.ndarray:
    """Fill ``dem`` (m, NaN = nodata) tile by tile in one process (tests and small grids).

    Parameters
    ----------
    dem
        Elevation (m), 2-D.
    tile_size
        Tile edge (cells), >= 1.

    Returns
    -------
    numpy.ndarray
        The filled DEM, float32; equal to the whole-array Priority-Flood of
        :func:`slidemap.factors.hydrology.route_flow`.
    """
    z = np.asarray(dem, dtype=np.float32)
    rows, cols = z.shape
    padded = np.full((rows + 2, cols + 2), np.nan, dtype=np.float32)
    padded[1:-1, 1:-1] = z
    starts_r = list(range(0, rows, tile_size))
    starts_c = list(range(0, cols, tile_size))
    floods = []
    for r0 in starts_r:
        for c0 in starts_c:
            h = min(tile_size, rows - r0)
            w = min(tile_size, cols - c0)
            floods.append(flood_tile(padded[r0 : r0 + h + 2, c0 : c0 + w + 2]))
    levels = solve_levels([fl.summary() for fl in floods], len(starts_r), len(starts_c))
    out = np.empty((rows, cols), dtype=np.float32)
    t = 0
    for r0 in starts_r:
        for c0 in starts_c:
            fl = floods[t]
            h, w = fl.labels.shape
            out[r0 : r0 + h, c0 : c0 + w] = apply_levels(fl, levels[t])
            t += 1
    return out


# ---------------------------------------------------------------------------------------------
# Jobs: one process each, files in between (what a Snakemake rule per tile runs)
# ---------------------------------------------------------------------------------------------


def tile_layout(height: int, width: int, tile_size: int) -> tuple[list[Window], int, int]:
    """Cut a ``height`` x ``width`` grid into tiles of ``tile_size`` cells (edge tiles smaller).

    Returns
    -------
    windows, tile_rows, tile_cols
        The tile windows in row-major order and the layout's size (tiles).
    """
    from slidemap.raster import iter_windows

    windows = list(iter_windows(height, width, tile_size))
    return windows, -(-height // tile_size), -(-width // tile_size)


def _load_npz(paths: Sequence[str | os.PathLike]) -> list[dict[str, np.ndarray]]:
    """Read each ``.npz`` file into a dict of arrays (the merge jobs' inputs)."""
    out = []
    for path in paths:
        with np.load(path) as data:
            out.append({key: data[key] for key in data.files})
    return out


def _save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    from slidemap.io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def flood_tile_job(
    dem_path: str | os.PathLike, window: Window, summary_path: str | os.PathLike
) -> dict[str, Any]:
    """Tile pass: flood one tile of the DEM and write its merge summary (``.npz``).

    Parameters
    ----------
    dem_path
        The grid DEM (m; nodata = NaN or the file's nodata value).
    window
        The tile (cells of the DEM), from :func:`tile_layout`.
    summary_path
        Output ``.npz`` (``O(perimeter)`` bytes), written atomically.

    Returns
    -------
    dict
        Cells, labels and label edges of the tile.
    """
    from slidemap.raster import read_window

    flood = flood_tile(read_window(dem_path, window, halo=1))
    _save_npz(summary_path, flood.summary())
    return {
        "cells": int(flood.labels.size),
        "labels": flood.n_labels,
        "edges": int(flood.edges[0].size),
    }


def solve_levels_job(
    summary_paths: Sequence[str | os.PathLike],
    tile_rows: int,
    tile_cols: int,
    levels_path: str | os.PathLike,
) -> dict[str, Any]:
    """Merge: read every tile summary, solve the levels, write them (one ``.npz``).

    Parameters
    ----------
    summary_paths
        The :func:`flood_tile_job` outputs, row-major over the layout.
    tile_rows, tile_cols
        Layout size (tiles).
    levels_path
        Output ``.npz`` with one float32 array ``tile_<i>`` (m) per tile.

    Returns
    -------
    dict
        Number of tiles and of graph nodes.
    """
    levels = solve_levels(_load_npz(summary_paths), tile_rows, tile_cols)
    _save_npz(levels_path, {f"tile_{i}": lv for i, lv in enumerate(levels)})
    return {"tiles": len(levels), "nodes": int(sum(lv.size - 2 for lv in levels)) + 1}


def fill_tile_job(
    dem_path: str | os.PathLike,
    window: Window,
    tile_index: int,
    levels_path: str | os.PathLike,
    out_path: str | os.PathLike,
) -> dict[str, Any]:
    """Apply pass: flood the tile again, raise it to its levels, write the filled tile.

    Parameters
    ----------
    dem_path, window
        As for :func:`flood_tile_job` (the flood is deterministic, so the labels match).
    tile_index
        The tile's row-major index in the layout.
    levels_path
        The :func:`solve_levels_job` output.
    out_path
        Output GeoTIFF of the filled tile (m, float32, NaN nodata; intermediate layout).

    Returns
    -------
    dict
        Cells of the tile and cells raised by the fill.
    """
    import rasterio
    from affine import Affine

    from slidemap.raster import Grid, read_window, write_cog

    padded = read_window(dem_path, window, halo=1)
    flood = flood_tile(padded)
    with np.load(levels_path) as data:
        levels = data[f"tile_{tile_index}"]
    if levels.size != flood.n_labels:
        raise ValueError(
            f"{levels_path}: tile {tile_index} has {levels.size} levels, its flood "
            f"{flood.n_labels}; the levels were solved for another DEM or tiling. Rerun the merge."
        )
    filled = apply_levels(flood, levels)
    with rasterio.open(dem_path) as src:
        grid = Grid.of(src)
    transform = grid.transform @ Affine.translation(int(window.col_off), int(window.row_off))
    write_cog(
        filled, Path(out_path), nodata=np.nan, crs=grid.crs, transform=transform, layout="tiff"
    )
    return {"cells": int(filled.size), "raised": int((filled > padded[1:-1, 1:-1]).sum())}
