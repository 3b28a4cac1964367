"""Tiled D8 flow directions of a filled DEM, flats included: equal to the whole-array ones.

On the filled DEM ``F`` (:mod:`slidemap.factors.tiledfill`), the whole-array routing of
:func:`slidemap.factors.hydrology.route_flow` gives each valid cell

* the steepest strictly lower neighbour (drop / distance, first in N, NE, E, ... order on a
  tie) when there is one: local, a one-cell halo suffices;
* else, for a *seed* (grid edge or next to nodata), code 0 (an outlet);
* else (a *flat* cell) the neighbour of the same level with the smallest *flat distance*
  (first in N, NE, ... order on a tie): the 8-connected breadth-first distance through flat
  cells to the nearest cell of that level that is not flat (a *source*, distance 0).

The flat distance is the only non-local part. A tile job reads ``F`` with a two-cell halo,
so it knows which cells of the tile and of a one-cell ring around it are flat or sources.
Breadth-first search inside the tile is exact for every connected flat component that has
no flat neighbour across the tile edge. The other components (*seam flats*) go to a merge
job: their cells (grid index) and whether each touches a source. The merge
(:func:`solve_flat_distances_tiled`) searches them tile by tile: each tile's search starts
from its sources and from the distances known so far on the edges of its neighbours, and a
tile whose ring changed is searched again until nothing changes -- the same distances as one
search over the union of all seam flats (:func:`solve_flat_distances`, the reference). It
writes per tile the distances of its seam flats and of the seam-flat cells of its ring; the
tile jobs then choose the directions.

Memory: a tile job ~ 20 B per cell of the padded tile; the merge one tile's search (~60 B
per tile cell at most) plus ~8 B per seam-flat cell on tile edges -- bounded by the tile, not
by the area of the flats that cross tile edges (large lakes, the filled basins of a DEM with
integer heights).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np
from affine import Affine
from rasterio.windows import Window

from slidemap.factors.hydrology import _DC, _DR, _distances
from slidemap.factors.tiledfill import _load_npz, _save_npz

__all__ = [
    "flat_seams",
    "solve_flat_distances",
    "solve_flat_distances_tiled",
    "tile_directions",
    "directions_tiled",
    "flat_seams_job",
    "solve_flat_distances_job",
    "directions_tile_job",
]

_UNSET = np.int32(2**31 - 1)


@numba.njit(nogil=True, cache=True)
def _status(fp, dr, dc):  # pragma: no cover - numba
    """Per cell of the core + one-cell ring of ``fp`` (halo 2): 0 nodata, 1 source, 2 flat."""
    rows = fp.shape[0] - 2
    cols = fp.shape[1] - 2
    st = np.zeros((rows, cols), dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            z = fp[r + 1, c + 1]
            if np.isnan(z):
                continue
            source = False
            for q in range(8):
                zn = fp[r + 1 + dr[q], c + 1 + dc[q]]
                if np.isnan(zn) or zn < z:
                    source = True
                    break
            st[r, c] = 1 if source else 2
    return st


@numba.njit(nogil=True, cache=True)
def _local_flats(fp, st, dr, dc):  # pragma: no cover - numba
    """BFS flat distances inside the tile core and the seam flag of each core flat cell.

    ``fp`` is the tile with a two-cell halo; ``st`` the status of core + ring (offset 1).
    Returns (dist int32 core, seam uint8 core, touches_source uint8 core).
    """
    rows = st.shape[0] - 2
    cols = st.shape[1] - 2
    n = rows * cols
    dist = np.full(n, 2**31 - 1, dtype=np.int32)
    touch = np.zeros(n, dtype=np.uint8)
    queue = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    for r in range(rows):
        for c in range(cols):
            if st[r + 1, c + 1] != 2:
                continue
            z = fp[r + 2, c + 2]
            for q in range(8):
                rr = r + 1 + dr[q]
                cc = c + 1 + dc[q]
                if st[rr, cc] == 1 and fp[rr + 1, cc + 1] == z:
                    touch[r * cols + c] = 1
                    dist[r * cols + c] = 1
                    queue[tail] = r * cols + c
                    tail += 1
                    break
    while head < tail:
        cur = queue[head]
        head += 1
        r0 = cur // cols
        c0 = cur - r0 * cols
        for q in range(8):
            r = r0 + dr[q]
            c = c0 + dc[q]
            if r < 0 or r >= rows or c < 0 or c >= cols:
                continue
            nb = r * cols + c
            if st[r + 1, c + 1] == 2 and dist[nb] == 2**31 - 1:
                dist[nb] = dist[cur] + 1
                queue[tail] = nb
                tail += 1
    # connected flat components of the core; a component is a seam flat when one of its
    # cells has a flat neighbour in the ring (another tile)
    comp = np.full(n, -1, dtype=np.int64)
    seam_comp = np.zeros(n, dtype=np.uint8)
    ncomp = 0
    for start in range(n):
        r = start // cols
        c = start - r * cols
        if st[r + 1, c + 1] != 2 or comp[start] >= 0:
            continue
        comp[start] = ncomp
        head = 0
        tail = 1
        queue[0] = start
        is_seam = False
        while head < tail:
            cur = queue[head]
            head += 1
            r0 = cur // cols
            c0 = cur - r0 * cols
            for q in range(8):
                r = r0 + dr[q]
                c = c0 + dc[q]
                if st[r + 1, c + 1] != 2:
                    continue
                if r < 0 or r >= rows or c < 0 or c >= cols:
                    is_seam = True
                    continue
                nb = r * cols + c
                if comp[nb] < 0:
                    comp[nb] = ncomp
                    queue[tail] = nb
                    tail += 1
        if is_seam:
            seam_comp[ncomp] = 1
        ncomp += 1
    seam = np.zeros(n, dtype=np.uint8)
    for idx in range(n):
        if comp[idx] >= 0 and seam_comp[comp[idx]] == 1:
            seam[idx] = 1
    return dist.reshape(rows, cols), seam.reshape(rows, cols), touch.reshape(rows, cols)


def _check_padded(padded: np.ndarray) -> np.ndarray:
    fp = np.ascontiguousarray(padded, dtype=np.float32)
    if fp.ndim != 2 or fp.shape[0] < 5 or fp.shape[1] < 5:
        raise ValueError(
            f"a tile with a two-cell halo must be at least 5 x 5 cells, got {fp.shape}"
        )
    return fp


def flat_seams(padded: np.ndarray, origin: tuple[int, int], width: int) -> dict[str, np.ndarray]:
    """Tile pass: the tile's seam-flat cells for the merge.

    Parameters
    ----------
    padded
        Filled DEM (m) of the tile with a two-cell halo (NaN outside the grid and at nodata).
    origin
        Grid row and column of the tile's first cell (cells).
    width
        Grid width (cells), to number cells ``row * width + col``.

    Returns
    -------
    dict
        ``index`` (int64 grid cell numbers) and ``touches_source`` (uint8) of the seam-flat
        cells, e.g. for ``numpy.savez``.
    """
    fp = _check_padded(padded)
    st = _status(fp, _DR, _DC)
    _, seam, touch = _local_flats(fp, st, _DR, _DC)
    rr, cc = np.nonzero(seam)
    index = (rr + origin[0]).astype(np.int64) * width + (cc + origin[1])
    return {"index": index, "touches_source": touch[rr, cc]}


@numba.njit(nogil=True, cache=True)
def _bfs_sorted(index, touch, width, height, dr, dc):  # pragma: no cover - numba
    n = index.shape[0]
    dist = np.full(n, 2**31 - 1, dtype=np.int32)
    queue = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    for k in range(n):
        if touch[k] == 1:
            dist[k] = 1
            queue[tail] = k
            tail += 1
    while head < tail:
        k = queue[head]
        head += 1
        r0 = index[k] // width
        c0 = index[k] - r0 * width
        for q in range(8):
            r = r0 + dr[q]
            c = c0 + dc[q]
            if r < 0 or r >= height or c < 0 or c >= width:
                continue
            g = r * width + c
            j = np.searchsorted(index, g)
            if j < n and index[j] == g and dist[j] == 2**31 - 1:
                dist[j] = dist[k] + 1
                queue[tail] = j
                tail += 1
    return dist, tail


def solve_flat_distances(
    seams: Sequence[dict[str, np.ndarray]], height: int, width: int
) -> dict[str, np.ndarray]:
    """One search: flat distances (cells) of every seam-flat cell of the grid (the reference).

    Holds every seam flat of the grid at once (~40 B per cell at its peak); the workflow's
    merge is :func:`solve_flat_distances_tiled`, equal to it tile by tile.

    Parameters
    ----------
    seams
        :func:`flat_seams` of every tile.
    height, width
        Grid size (cells).

    Returns
    -------
    dict
        ``index`` (sorted int64 cell numbers) and ``dist`` (int32 cells).

    Raises
    ------
    ValueError
        If a cell is listed twice or a seam flat reaches no source (inconsistent input).
    """
    index = np.concatenate([np.asarray(s["index"], dtype=np.int64) for s in seams] or [[]])
    touch = np.concatenate([np.asarray(s["touches_source"], dtype=np.uint8) for s in seams] or [[]])
    order = np.argsort(index, kind="stable")
    index, touch = index[order].astype(np.int64), touch[order].astype(np.uint8)
    if index.size and (np.diff(index) == 0).any():
        raise ValueError("a seam-flat cell is listed by two tiles: the tiles overlap")
    dist, reached = _bfs_sorted(index, touch, width, height, _DR, _DC)
    if reached != index.size:
        raise ValueError(f"{index.size - reached} seam-flat cells reach no source")
    return {"index": index, "dist": dist}


@numba.njit(nogil=True, cache=True)
def _tile_flat_bfs(lr, lc, touch, dist, dr, dc):  # pragma: no cover - numba
    """BFS of one tile's seam flats seeded by its sources and the ring's known distances.

    ``dist`` is the tile with a one-cell ring (int32): -1 outside the seam flats, the known
    distance of each ring cell (``_UNSET`` when not known yet) and ``_UNSET`` in the core;
    ``lr``/``lc`` are the core seam-flat cells (rows/columns of the core) and ``touch`` their
    source flag. Fills ``dist`` in place (breadth first, the ring's cells entering the front
    in the order of their distances: the shortest distances through the tile and the ring)
    and returns the number of core cells left unreached.
    """
    rows = dist.shape[0] - 2
    cols = dist.shape[1] - 2
    w2 = cols + 2
    n = lr.shape[0]
    big = 2**31 - 1
    for k in range(n):
        if touch[k] == 1:
            dist[lr[k] + 1, lc[k] + 1] = 1
    # the seeds: core sources (distance 1) and the ring cells of known distance
    n_ring = 0
    for r in range(rows + 2):
        for c in range(cols + 2):
            if (r == 0 or r == rows + 1 or c == 0 or c == cols + 1) and 0 < dist[r, c] < big:
                n_ring += 1
    seed = np.empty(n + n_ring, dtype=np.int64)
    seed_d = np.empty(n + n_ring, dtype=np.int64)
    m = 0
    for k in range(n):
        if touch[k] == 1:
            seed[m] = (lr[k] + 1) * w2 + lc[k] + 1
            seed_d[m] = 1
            m += 1
    for r in range(rows + 2):
        for c in range(cols + 2):
            if (r == 0 or r == rows + 1 or c == 0 or c == cols + 1) and 0 < dist[r, c] < big:
                seed[m] = r * w2 + c
                seed_d[m] = dist[r, c]
                m += 1
    order = np.argsort(seed_d[:m], kind="mergesort")
    flat = dist.reshape(-1)
    queue = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    si = 0
    while True:
        if si < m and (head == tail or seed_d[order[si]] <= flat[queue[head]]):
            u = seed[order[si]]
            si += 1
        elif head < tail:
            u = queue[head]
            head += 1
        else:
            break
        du = flat[u]
        r0 = u // w2
        c0 = u - r0 * w2
        for q in range(8):
            r = r0 + dr[q]
            c = c0 + dc[q]
            if r < 1 or r > rows or c < 1 or c > cols:
                continue
            v = r * w2 + c
            if flat[v] == big:
                flat[v] = du + 1
                queue[tail] = v
                tail += 1
    unreached = 0
    for k in range(n):
        if dist[lr[k] + 1, lc[k] + 1] == big:
            unreached += 1
    return unreached


class _FlatLines:
    """Distances of the seam-flat cells on the tile edges inside the grid (int32, -1 = none).

    One array per grid row next to a horizontal tile seam (``k * tile - 1`` and ``k * tile``)
    and per grid column next to a vertical one: ~8 B per seam cell of the grid (32 MB for
    32768² cells in 4096-cell tiles) -- all the merge keeps between tiles.
    """

    def __init__(self, height: int, width: int, tile_size: int) -> None:
        self.height, self.width = height, width
        seams_r = range(tile_size, height, tile_size)
        seams_c = range(tile_size, width, tile_size)
        self.rows = {r: np.full(width, -1, np.int32) for k in seams_r for r in (k - 1, k)}
        self.cols = {c: np.full(height, -1, np.int32) for k in seams_c for c in (k - 1, k)}

    def ring(self, r0: int, c0: int, h: int, w: int) -> np.ndarray:
        """Return the tile with its one-cell ring (int32): the ring from the lines, core -1."""
        out = np.full((h + 2, w + 2), -1, np.int32)
        a, b = max(c0 - 1, 0), min(c0 + w + 1, self.width)
        if r0 > 0:
            out[0, a - c0 + 1 : b - c0 + 1] = self.rows[r0 - 1][a:b]
        if r0 + h < self.height:
            out[h + 1, a - c0 + 1 : b - c0 + 1] = self.rows[r0 + h][a:b]
        a, b = max(r0 - 1, 0), min(r0 + h + 1, self.height)
        if c0 > 0:
            out[a - r0 + 1 : b - r0 + 1, 0] = self.cols[c0 - 1][a:b]
        if c0 + w < self.width:
            out[a - r0 + 1 : b - r0 + 1, w + 1] = self.cols[c0 + w][a:b]
        return out

    def store(self, r0: int, c0: int, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Write the tile's edge distances (core of ``dist``); return the cells that changed.

        Only changes to a known distance count: they are what a neighbour's search can use.
        """
        h, w = dist.shape[0] - 2, dist.shape[1] - 2
        changed_r: list[np.ndarray] = []
        changed_c: list[np.ndarray] = []

        def put(line: np.ndarray, lo: int, new: np.ndarray, fixed: int, is_row: bool) -> None:
            old = line[lo : lo + new.size]
            if ((old > 0) & (old < _UNSET) & (new > old)).any():
                # every search's distances are path lengths given a ring that only falls
                raise RuntimeError("a seam-flat distance grew between two searches of a tile")
            hit = np.flatnonzero((old != new) & (new > 0) & (new < _UNSET))
            old[:] = new
            if hit.size:
                along = hit + lo
                changed_r.append(np.full(hit.size, fixed) if is_row else along)
                changed_c.append(along if is_row else np.full(hit.size, fixed))

        for r, core_row in ((r0, 1), (r0 + h - 1, h)):
            if r in self.rows:
                put(self.rows[r], c0, dist[core_row, 1 : w + 1], r, True)
        for c, core_col in ((c0, 1), (c0 + w - 1, w)):
            if c in self.cols:
                put(self.cols[c], r0, dist[1 : h + 1, core_col], c, False)
        if not changed_r:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(changed_r), np.concatenate(changed_c)


def solve_flat_distances_tiled(
    load: Callable[[int], dict[str, np.ndarray]],
    emit: Callable[[int, dict[str, np.ndarray]], None],
    height: int,
    width: int,
    tile_size: int,
) -> dict[str, int]:
    """Merge tile by tile: :func:`solve_flat_distances`'s distances, one tile held at a time.

    The merge keeps only the distances of the seam-flat cells on tile edges
    (:class:`_FlatLines`). A tile's search (breadth first through its seam flats from its
    sources and from the known distances of the ring around it) writes its edge distances;
    a tile whose ring gained or shortened a distance is searched again, until nothing
    changes. Every value is the length of a path (an upper bound that only falls), and at
    the end each tile's distances are the breadth-first ones given its ring: the shortest
    distances (the fixed point of unit-weight Bellman-Ford is unique). A flat crossing
    ``k`` tiles takes about ``k`` rounds of its tiles.

    Parameters
    ----------
    load
        ``load(t)`` returns :func:`flat_seams` of tile ``t`` (row-major tile index).
    emit
        ``emit(t, flats)`` receives the distances tile ``t`` needs (:func:`tile_directions`'s
        ``flats``: ``index`` sorted int64 cell numbers of its seam flats and of the seam-flat
        cells of its one-cell ring, ``dist`` int32 cells). Called again when the tile is
        searched again; the last call is the answer.
    height, width, tile_size
        Grid size and tile edge (cells): the layout of
        :func:`slidemap.factors.tiledfill.tile_layout`.

    Returns
    -------
    dict
        ``seam_flat_cells``, ``tile_searches`` (tiles searched, repeats included),
        ``max_flat_distance`` (cells).

    Raises
    ------
    ValueError
        If a tile lists a cell outside itself, or a seam flat reaches no source.
    """
    from collections import deque

    from slidemap.factors.tiledfill import tile_layout

    windows, _, tile_cols = tile_layout(height, width, tile_size)
    lines = _FlatLines(height, width, tile_size)
    queue = deque(range(len(windows)))
    queued = np.ones(len(windows), dtype=bool)
    unreached = np.zeros(len(windows), dtype=np.int64)
    cells = np.zeros(len(windows), dtype=np.int64)
    longest = np.zeros(len(windows), dtype=np.int64)
    searches = 0
    while queue:
        t = queue.popleft()
        queued[t] = False
        searches += 1
        win = windows[t]
        r0, c0, h, w = int(win.row_off), int(win.col_off), int(win.height), int(win.width)
        seams = load(t)
        index = np.asarray(seams["index"], dtype=np.int64)
        lr, lc = np.divmod(index, width)
        lr -= r0
        lc -= c0
        if index.size and (lr.min() < 0 or lr.max() >= h or lc.min() < 0 or lc.max() >= w):
            raise ValueError(
                f"tile {t} lists a seam-flat cell outside its window: the seams were made "
                "for another tiling"
            )
        dist = lines.ring(r0, c0, h, w)
        dist[lr + 1, lc + 1] = _UNSET
        touch = np.asarray(seams["touches_source"], dtype=np.uint8)
        unreached[t] = _tile_flat_bfs(lr, lc, touch, dist, _DR, _DC)
        cells[t] = index.size
        core = dist[lr + 1, lc + 1]
        known = core[core < _UNSET]
        longest[t] = int(known.max()) if known.size else 0
        # the tile's distances and its ring's (the cells its directions read)
        side = np.arange(1, h + 1)
        rr = np.concatenate([np.zeros(w + 2, int), np.full(w + 2, h + 1), side, side])
        rc = np.concatenate([np.arange(w + 2), np.arange(w + 2), 0 * side, 0 * side + w + 1])
        ring = dist[rr, rc]
        known_ring = (ring > 0) & (ring < _UNSET)
        rr, rc, ring = rr[known_ring], rc[known_ring], ring[known_ring]
        ring_index = (rr + r0 - 1).astype(np.int64) * width + (rc + c0 - 1)
        all_index = np.concatenate([index, ring_index])
        order = np.argsort(all_index, kind="stable")
        emit(
            t,
            {
                "index": all_index[order],
                "dist": np.concatenate([core, ring]).astype(np.int32)[order],
            },
        )
        # a changed edge distance: the tiles whose ring holds it search again
        cr, cc = lines.store(r0, c0, dist)
        if cr.size:
            near = set()
            for dr_, dc_ in zip(_DR, _DC, strict=True):
                r, c = cr + dr_, cc + dc_
                ok = (r >= 0) & (r < height) & (c >= 0) & (c < width)
                near.update(((r[ok] // tile_size) * tile_cols + c[ok] // tile_size).tolist())
            near.discard(t)
            for u in sorted(near):
                if not queued[u]:
                    queued[u] = True
                    queue.append(u)
    if unreached.sum():
        raise ValueError(f"{int(unreached.sum())} seam-flat cells reach no source")
    return {
        "seam_flat_cells": int(cells.sum()),
        "tile_searches": searches,
        "max_flat_distance": int(longest.max()) if longest.size else 0,
    }


@numba.njit(nogil=True, cache=True)
def _choose(fp, st, dist_ring, lower_w, dr, dc):  # pragma: no cover - numba
    """Directions of the core: steepest descent, outlets, flats by (distance, order)."""
    rows = st.shape[0] - 2
    cols = st.shape[1] - 2
    dirs = np.empty((rows, cols), dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            s = st[r + 1, c + 1]
            if s == 0:
                dirs[r, c] = 255
                continue
            z = fp[r + 2, c + 2]
            if s == 1:
                best = 0
                best_s = 0.0
                for q in range(8):
                    zn = fp[r + 2 + dr[q], c + 2 + dc[q]]
                    if np.isnan(zn):
                        continue
                    drop = np.float64(z) - np.float64(zn)
                    if drop > 0.0:
                        slope = drop / lower_w[q]
                        if slope > best_s:
                            best_s = slope
                            best = q + 1
                dirs[r, c] = best
                continue
            best = 0
            best_d = dist_ring[r + 1, c + 1]
            for q in range(8):
                rr = r + 1 + dr[q]
                cc = c + 1 + dc[q]
                if st[rr, cc] == 0 or fp[rr + 1, cc + 1] != z:
                    continue
                d = 0 if st[rr, cc] == 1 else dist_ring[rr, cc]
                if d < best_d:
                    best_d = d
                    best = q + 1
            dirs[r, c] = best
    return dirs


def tile_directions(
    padded: np.ndarray,
    origin: tuple[int, int],
    width: int,
    flats: dict[str, np.ndarray],
    *,
    ewres: float,
    nsres: float,
) -> np.ndarray:
    """Apply pass: the D8 direction codes of the tile (uint8; 0 outlet, 255 nodata).

    Parameters
    ----------
    padded, origin, width
        As for :func:`flat_seams`.
    flats
        :func:`solve_flat_distances` output (distances of the seam flats).
    ewres, nsres
        Cell size along x and y (m).

    Raises
    ------
    ValueError
        If a seam flat of the tile is missing from ``flats`` (they belong to another DEM).
    """
    fp = _check_padded(padded)
    st = _status(fp, _DR, _DC)
    rows, cols = fp.shape[0] - 4, fp.shape[1] - 4
    local, seam, _ = _local_flats(fp, st, _DR, _DC)
    ring = np.full((rows + 2, cols + 2), _UNSET, dtype=np.int32)
    ring[1:-1, 1:-1] = local
    # seam flats of the tile and flat cells of the ring: distances from the merge
    want = (st == 2).copy()
    want[1:-1, 1:-1] = seam.astype(bool)
    wr, wc = np.nonzero(want)
    index = (wr + origin[0] - 1).astype(np.int64) * width + (wc + origin[1] - 1)
    known = flats["index"]
    pos = np.searchsorted(known, index)
    found = pos < known.size
    found[found] = known[pos[found]] == index[found]
    in_core = (wr >= 1) & (wr <= rows) & (wc >= 1) & (wc <= cols)
    if (in_core & ~found).any():
        raise ValueError(
            "a seam flat of this tile has no merged distance: the merge was solved for another "
            "DEM or tiling"
        )
    ring[wr[found], wc[found]] = flats["dist"][pos[found]]
    return _choose(fp, st, ring, _distances(ewres, nsres), _DR, _DC)


def directions_tiled(
    filled: np.ndarray, tile_size: int, *, ewres: float, nsres: float
) -> np.ndarray:
    """D8 directions of a filled DEM tile by tile in one process (tests and small grids).

    Parameters
    ----------
    filled
        Depression-filled DEM (m), NaN = nodata.
    tile_size
        Tile edge (cells).
    ewres, nsres
        Cell size along x and y (m).

    Returns
    -------
    numpy.ndarray
        uint8 codes, equal to ``route_flow(dem).dirs`` of the DEM that was filled.
    """
    f = np.asarray(filled, dtype=np.float32)
    height, width = f.shape
    padded = np.full((height + 4, width + 4), np.nan, dtype=np.float32)
    padded[2:-2, 2:-2] = f
    starts = [(r0, c0) for r0 in range(0, height, tile_size) for c0 in range(0, width, tile_size)]

    def window(r0: int, c0: int) -> np.ndarray:
        return padded[
            r0 : r0 + min(tile_size, height - r0) + 4, c0 : c0 + min(tile_size, width - c0) + 4
        ]

    seams = [flat_seams(window(r0, c0), (r0, c0), width) for r0, c0 in starts]
    flats: dict[int, dict[str, np.ndarray]] = {}
    solve_flat_distances_tiled(seams.__getitem__, flats.__setitem__, height, width, tile_size)
    out = np.empty((height, width), dtype=np.uint8)
    for t, (r0, c0) in enumerate(starts):
        d = tile_directions(window(r0, c0), (r0, c0), width, flats[t], ewres=ewres, nsres=nsres)
        out[r0 : r0 + d.shape[0], c0 : c0 + d.shape[1]] = d
    return out


# ---------------------------------------------------------------------------------------------
# Jobs: one process each, files in between
# ---------------------------------------------------------------------------------------------


def flat_seams_job(
    filled_path: str | os.PathLike, window: Window, seams_path: str | os.PathLike
) -> dict[str, Any]:
    """Tile pass: read the tile of the filled DEM (two-cell halo), write its seam flats (npz).

    Parameters
    ----------
    filled_path
        The filled DEM (m), e.g. the VRT of the fill's tiles.
    window
        The tile (cells).
    seams_path
        Output ``.npz`` of :func:`flat_seams`.

    Returns
    -------
    dict
        Number of seam-flat cells of the tile.
    """
    import rasterio

    from slidemap.raster import read_window

    with rasterio.open(filled_path) as src:
        seams = flat_seams(
            read_window(src, window, halo=2), (int(window.row_off), int(window.col_off)), src.width
        )
    _save_npz(seams_path, seams)
    return {"seam_flat_cells": int(seams["index"].size)}


def solve_flat_distances_job(
    seams_paths: Sequence[str | os.PathLike],
    height: int,
    width: int,
    tile_size: int,
    flats_paths: Sequence[str | os.PathLike],
    *,
    cache_mb: float = 200.0,
) -> dict[str, Any]:
    """Merge: the seam flats' distances tile by tile, one ``.npz`` per tile.

    :func:`solve_flat_distances_tiled` over the tiles' files: the job holds one tile's seam
    flats and search (~60 B per tile cell at most), the edge distances of every tile and up to
    ``cache_mb`` of tile files kept for the tiles searched again -- not every seam flat of the
    grid at once (a 32768² DEM whose filled lakes cross tile edges held ~13 B per grid cell
    that way).

    Parameters
    ----------
    seams_paths
        The :func:`flat_seams_job` outputs, one per tile in row-major order.
    height, width, tile_size
        Grid size and tile edge (cells).
    flats_paths
        Output ``.npz`` per tile (same order): the distances :func:`directions_tile_job` of
        that tile reads.
    cache_mb
        Tile files kept in memory between searches (MB).

    Returns
    -------
    dict
        ``seam_flat_cells``, ``tile_searches`` and ``max_flat_distance`` (cells).
    """
    import logging
    import time

    if len(seams_paths) != len(flats_paths):
        raise ValueError(
            f"{len(seams_paths)} seam files but {len(flats_paths)} outputs: one of each per tile"
        )
    log = logging.getLogger("slidemap")
    cache: dict[int, dict[str, np.ndarray]] = {}
    budget = cache_mb * 2**20
    held = 0
    searched = 0
    started = time.monotonic()

    def load(t: int) -> dict[str, np.ndarray]:
        nonlocal held
        if t in cache:
            return cache[t]
        (seams,) = _load_npz([seams_paths[t]])
        size = sum(a.nbytes for a in seams.values())
        while cache and held + size > budget:
            held -= sum(a.nbytes for a in cache.pop(next(iter(cache))).values())
        if size <= budget:
            cache[t] = seams
            held += size
        return seams

    def emit(t: int, flats: dict[str, np.ndarray]) -> None:
        nonlocal searched
        _save_npz(flats_paths[t], flats)
        searched += 1
        if searched % 50 == 0:
            log.info(
                "flat merge: %d tile searches (%d tiles), %.0f s",
                searched,
                len(seams_paths),
                time.monotonic() - started,
            )

    return solve_flat_distances_tiled(load, emit, height, width, tile_size)


def directions_tile_job(
    filled_path: str | os.PathLike,
    window: Window,
    flats_path: str | os.PathLike,
    out_path: str | os.PathLike,
) -> dict[str, Any]:
    """Apply pass: write the tile's D8 direction codes (uint8 GeoTIFF, nodata 255).

    Parameters
    ----------
    filled_path, window
        As for :func:`flat_seams_job`.
    flats_path
        The tile's :func:`solve_flat_distances_job` output.
    out_path
        Output GeoTIFF (intermediate layout) of the tile.

    Returns
    -------
    dict
        Cells and outlets (code 0) of the tile.
    """
    import rasterio

    from slidemap.raster import Grid, read_window, write_cog

    with rasterio.open(filled_path) as src:
        grid = Grid.of(src)
        padded = read_window(src, window, halo=2)
    (flats,) = _load_npz([flats_path])
    r0, c0 = int(window.row_off), int(window.col_off)
    dirs = tile_directions(
        padded, (r0, c0), grid.width, flats, ewres=grid.transform.a, nsres=grid.transform.e
    )
    write_cog(
        dirs,
        out_path,
        nodata=255,
        crs=grid.crs,
        transform=grid.transform @ Affine.translation(c0, r0),
        layout="tiff",
    )
    return {"cells": int(dirs.size), "outlets": int((dirs == 0).sum())}
