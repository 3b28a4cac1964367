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
job: their cells (grid index) and whether each touches a source. The merge runs the same
search over the union of all tiles' seam flats (a flat component crossing a seam is a seam
flat in every tile it touches, so the union holds whole components) and returns their
distances; the tile jobs then choose the directions.

Memory: a tile job ~ 20 B per cell of the padded tile; the merge 16 B per seam-flat cell
(bounded by the area of the flats that cross tile edges, e.g. large lakes; not by the grid).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
    """Merge: flat distances (cells) of every seam-flat cell of the grid.

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
    flats = solve_flat_distances(seams, height, width)
    out = np.empty((height, width), dtype=np.uint8)
    for r0, c0 in starts:
        d = tile_directions(window(r0, c0), (r0, c0), width, flats, ewres=ewres, nsres=nsres)
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
    flats_path: str | os.PathLike,
) -> dict[str, Any]:
    """Merge: read every tile's seam flats, write their distances (one ``.npz``).

    Parameters
    ----------
    seams_paths
        The :func:`flat_seams_job` outputs.
    height, width
        Grid size (cells).
    flats_path
        Output ``.npz`` of :func:`solve_flat_distances`.

    Returns
    -------
    dict
        Number of seam-flat cells and the largest flat distance (cells).
    """
    flats = solve_flat_distances(_load_npz(seams_paths), height, width)
    _save_npz(flats_path, flats)
    return {
        "seam_flat_cells": int(flats["index"].size),
        "max_flat_distance": int(flats["dist"].max()) if flats["dist"].size else 0,
    }


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
        The :func:`solve_flat_distances_job` output.
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
