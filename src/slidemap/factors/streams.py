"""The stream network: D8 stream cells vectorised as segments between confluences.

Cells whose D8 accumulation reaches a threshold are streams; a segment runs from a head
(no upstream stream cell) or a confluence (two or more) down to the next confluence or an
outlet, as a line joining cell centres along the flow directions, with its Strahler order.
Segments are numbered by their first cell in row-major order, so any tiling of the grid
gives the same numbering (see :mod:`slidemap.factors.hydrology` for the routing).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import numba
import numpy as np

from slidemap.errors import ConfigError
from slidemap.factors.hydrology import _DC, _DR, FlowResult

__all__ = [
    "stream_segments",
    "segments_frame",
    "segment_chunks",
    "stream_pieces",
    "assemble_segments",
    "stream_pieces_job",
    "assemble_streams_job",
]

log = logging.getLogger(__name__)


@numba.njit(nogil=True, cache=True)
def _segments(order, k, dirs, acc, thr, cols, dr, dc):  # pragma: no cover - numba
    n = dirs.shape[0]
    nup = np.zeros(n, dtype=np.uint8)
    for t in range(k):
        c = order[t]
        if acc[c] >= thr:
            d = dirs[c]
            if d > 0 and d < 255:
                nb = c + dr[d - 1] * cols + dc[d - 1]
                nup[nb] += 1
    strahler = np.zeros(n, dtype=np.uint8)
    maxin = np.zeros(n, dtype=np.uint8)
    cnt = np.zeros(n, dtype=np.uint8)
    for t in range(k - 1, -1, -1):
        c = order[t]
        if not acc[c] >= thr:
            continue
        if nup[c] == 0:
            s = 1
        else:
            s = maxin[c] + (1 if cnt[c] >= 2 else 0)
        strahler[c] = s
        d = dirs[c]
        if d > 0 and d < 255:
            nb = c + dr[d - 1] * cols + dc[d - 1]
            if s > maxin[nb]:
                maxin[nb] = s
                cnt[nb] = 1
            elif s == maxin[nb]:
                cnt[nb] += 1
    # pass 1: count segments and vertices; pass 2: fill
    nseg = 0
    nvert = 0
    for t in range(k):
        c = order[t]
        if acc[c] >= thr and nup[c] != 1:
            nseg += 1
            nvert += 1
            cur = c
            while True:
                d = dirs[cur]
                if d == 0 or d == 255:
                    break
                cur = cur + dr[d - 1] * cols + dc[d - 1]
                nvert += 1
                if nup[cur] != 1:
                    break
    verts = np.empty(nvert, dtype=np.int64)
    offsets = np.empty(nseg + 1, dtype=np.int64)
    seg_order = np.empty(nseg, dtype=np.uint8)
    seg_acc = np.empty(nseg, dtype=np.float64)
    j = 0
    v = 0
    for t in range(k):
        c = order[t]
        if acc[c] >= thr and nup[c] != 1:
            offsets[j] = v
            seg_order[j] = strahler[c]
            verts[v] = c
            v += 1
            cur = c
            last = c
            while True:
                d = dirs[cur]
                if d == 0 or d == 255:
                    break
                cur = cur + dr[d - 1] * cols + dc[d - 1]
                verts[v] = cur
                v += 1
                if nup[cur] != 1:
                    break
                last = cur
            seg_acc[j] = acc[last]
            j += 1
    offsets[nseg] = v
    return verts, offsets, seg_order, seg_acc


def _by_start_cell(
    verts: np.ndarray, offsets: np.ndarray, seg_order: np.ndarray, seg_acc: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reorder segments by their first cell (row-major), which any tiling reproduces."""
    counts = np.diff(offsets)
    perm = np.argsort(verts[offsets[:-1]], kind="stable")
    rank = np.empty_like(perm)
    rank[perm] = np.arange(perm.size)
    vorder = np.argsort(np.repeat(rank, counts), kind="stable")
    new_offsets = np.zeros_like(offsets)
    np.cumsum(counts[perm], out=new_offsets[1:])
    return verts[vorder], new_offsets, seg_order[perm], seg_acc[perm]


def stream_segments(flow: FlowResult, threshold_cells: float, *, transform: Any, crs: Any) -> Any:
    """Vectorise the D8 stream network (cells with accumulation >= ``threshold_cells``).

    Parameters
    ----------
    flow
        Output of :func:`route_flow`.
    threshold_cells
        Minimum D8 accumulation (cells) of a stream cell.
    transform
        Affine transform of the grid (cell centres are the vertices).
    crs
        CRS of the grid.

    Returns
    -------
    geopandas.GeoDataFrame
        One LineString per segment between confluences (heads, confluences and outlets are
        the end points), ordered by their first cell (row-major): ``segment_id``,
        ``strahler`` (Strahler order), ``upstream_area_m2`` (at the segment's last cell above
        the next confluence), ``length_m``, ``geometry``.
        A stream that is a single cell (a head that is also an outlet on the grid edge)
        has no length and is left out (counted in the log).
    """
    rows, cols = flow.dirs.shape
    verts, offsets, seg_order, seg_acc = _segments(
        flow.order,
        len(flow.order),
        flow.dirs.ravel(),
        flow.acc_cells.ravel(),
        float(threshold_cells),
        cols,
        _DR,
        _DC,
    )
    return segments_frame(verts, offsets, seg_order, seg_acc, cols, transform=transform, crs=crs)


def segments_frame(
    verts: np.ndarray,
    offsets: np.ndarray,
    seg_order: np.ndarray,
    seg_acc: np.ndarray,
    width: int,
    *,
    transform: Any,
    crs: Any,
) -> Any:
    """Build the streams table from segments given as cell lists (see :func:`stream_segments`).

    Parameters
    ----------
    verts, offsets
        Grid cell numbers (``row * width + col``) of every segment's vertices, segment ``i``
        being ``verts[offsets[i]:offsets[i + 1]]``; any segment order.
    seg_order, seg_acc
        Strahler order and D8 accumulation (cells) of each segment.
    width
        Grid width (cells).
    transform, crs
        The grid's affine transform (m) and CRS.
    """
    (table,) = segment_chunks(
        verts, offsets, seg_order, seg_acc, width, transform=transform, crs=crs
    )
    return table


def segment_chunks(
    verts: np.ndarray,
    offsets: np.ndarray,
    seg_order: np.ndarray,
    seg_acc: np.ndarray,
    width: int,
    *,
    transform: Any,
    crs: Any,
    chunk_vertices: int | None = None,
) -> Iterator[Any]:
    """Yield the streams table of :func:`segments_frame` in pieces of consecutive rows.

    Parameters
    ----------
    verts, offsets, seg_order, seg_acc, width, transform, crs
        As for :func:`segments_frame`.
    chunk_vertices
        Vertices per piece (a piece holds whole segments: at least one, and more than this
        only for one longer segment); None = one piece. Memory: ~100 B per vertex of a piece
        (coordinates, the shapely lines, the table), beside ~30 B per vertex of the input.

    Yields
    ------
    geopandas.GeoDataFrame
        The rows of :func:`segments_frame`, in its order and with its ``segment_id`` values;
        one empty table when no segment has a length.
    """
    verts, offsets, seg_order, seg_acc = _by_start_cell(verts, offsets, seg_order, seg_acc)
    counts = np.diff(offsets)
    keep = counts >= 2
    if (~keep).any():
        log.info("%d single-cell stream(s) at outlets have no length: left out", (~keep).sum())
    kept = np.flatnonzero(keep)
    ends = np.cumsum(counts[kept])
    step = int(ends[-1]) if chunk_vertices is None and kept.size else chunk_vertices or 1
    start = 0
    while True:
        done = int(ends[start - 1]) if start else 0
        stop = max(int(np.searchsorted(ends, done + step, side="right")), start + 1)
        stop = min(stop, kept.size)
        yield _segment_rows(
            verts, offsets, kept[start:stop], start, seg_order, seg_acc, width, transform, crs
        )
        start = stop
        if start >= kept.size:
            return


def _segment_rows(verts, offsets, seg, first, seg_order, seg_acc, width, transform, crs) -> Any:
    """Build the table rows of segments ``seg`` (indices; their ids follow ``first``)."""
    import geopandas as gpd
    import shapely

    counts = offsets[seg + 1] - offsets[seg]
    total = int(counts.sum())
    seg_index = np.repeat(np.arange(seg.size), counts)
    pos = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    cells = verts[np.repeat(offsets[seg], counts) + pos]
    r = cells // width
    c = cells - r * width
    x = transform.c + (c + 0.5) * transform.a + (r + 0.5) * transform.b
    y = transform.f + (c + 0.5) * transform.d + (r + 0.5) * transform.e
    coords = np.column_stack([x, y])
    lines = shapely.linestrings(coords, indices=seg_index) if total else np.array([])
    cell_area = abs(transform.a * transform.e)
    gdf = gpd.GeoDataFrame(
        {
            "segment_id": np.arange(first + 1, first + seg.size + 1, dtype=np.int64),
            "strahler": seg_order[seg].astype(np.int64),
            "upstream_area_m2": seg_acc[seg] * cell_area,
        },
        geometry=list(lines),
        crs=crs,
    )
    gdf["length_m"] = gdf.geometry.length
    return gdf[["segment_id", "strahler", "upstream_area_m2", "length_m", "geometry"]]


# ---------------------------------------------------------------------------------------------
# Tiled: pieces per tile, segments assembled in one merge
# ---------------------------------------------------------------------------------------------


@numba.njit(nogil=True, cache=True)
def _pieces(dirs_p, acc_p, thr, r0, c0, width, dr, dc):  # pragma: no cover - numba
    """Stream pieces of the core of a tile padded by one cell (see :func:`stream_pieces`)."""
    rows = dirs_p.shape[0] - 2
    cols = dirs_p.shape[1] - 2
    nup = np.zeros((rows, cols), dtype=np.uint8)
    from_halo = np.zeros((rows, cols), dtype=np.uint8)
    for r in range(rows + 2):
        for c in range(cols + 2):
            d = dirs_p[r, c]
            if d == 0 or d == 255 or not acc_p[r, c] >= thr:
                continue
            rr = r + dr[d - 1] - 1
            cc = c + dc[d - 1] - 1
            if 0 <= rr < rows and 0 <= cc < cols:
                nup[rr, cc] += 1
                if r == 0 or r == rows + 1 or c == 0 or c == cols + 1:
                    from_halo[rr, cc] = 1
    # two passes: count pieces and vertices, then fill
    npiece = 0
    nvert = 0
    for p in range(2):
        if p == 1:
            start = np.empty(npiece, dtype=np.int64)
            head_nup = np.empty(npiece, dtype=np.uint8)
            exit_to = np.full(npiece, -1, dtype=np.int64)
            end_conf = np.zeros(npiece, dtype=np.uint8)
            offsets = np.empty(npiece + 1, dtype=np.int64)
            verts = np.empty(nvert, dtype=np.int64)
            vacc = np.empty(nvert, dtype=np.float64)
        j = 0
        v = 0
        for r in range(rows):
            for c in range(cols):
                if not acc_p[r + 1, c + 1] >= thr:
                    continue
                if nup[r, c] == 1 and from_halo[r, c] == 0:
                    continue  # inside a piece
                cr, cc = r, c
                if p == 1:
                    start[j] = (r0 + r) * width + c0 + c
                    head_nup[j] = nup[r, c]
                    offsets[j] = v
                    verts[v] = start[j]
                    vacc[v] = acc_p[r + 1, c + 1]
                v += 1
                while True:
                    d = dirs_p[cr + 1, cc + 1]
                    if d == 0 or d == 255:
                        break
                    nr = cr + dr[d - 1]
                    nc = cc + dc[d - 1]
                    if nr < 0 or nr >= rows or nc < 0 or nc >= cols:
                        if p == 1:
                            exit_to[j] = (r0 + nr) * width + c0 + nc
                        break
                    if p == 1:
                        verts[v] = (r0 + nr) * width + c0 + nc
                        vacc[v] = acc_p[nr + 1, nc + 1]
                    v += 1
                    if nup[nr, nc] != 1:
                        if p == 1:
                            end_conf[j] = 1
                        break
                    cr, cc = nr, nc
                j += 1
        npiece = j
        nvert = v
    offsets[npiece] = nvert
    return start, head_nup, exit_to, end_conf, offsets, verts, vacc


def stream_pieces(
    dirs_padded: np.ndarray,
    acc_padded: np.ndarray,
    origin: tuple[int, int],
    width: int,
    threshold_cells: float,
) -> dict[str, np.ndarray]:
    """Tile pass: the pieces of stream inside one tile (cut at the tile's edges).

    A piece starts at a segment start of the tile (a stream cell with 0 or >= 2 upstream
    stream cells) or where a stream enters from another tile, and follows the directions to
    the next confluence, an outlet or the tile edge.

    Parameters
    ----------
    dirs_padded, acc_padded
        D8 directions (uint8, 255 nodata) and accumulation (cells, NaN nodata) of the tile
        with a one-cell halo.
    origin
        Grid row and column of the tile's first cell (cells).
    width
        Grid width (cells).
    threshold_cells
        Minimum D8 accumulation (cells) of a stream cell.

    Returns
    -------
    dict
        Arrays for the merge (``O(stream cells of the tile)``), e.g. for ``numpy.savez``.
    """
    d = np.ascontiguousarray(dirs_padded, dtype=np.uint8)
    a = np.ascontiguousarray(acc_padded, dtype=np.float64)
    if d.shape != a.shape or d.ndim != 2 or min(d.shape) < 3:
        raise ValueError(f"padded direction {d.shape} and accumulation {a.shape} tiles differ")
    out = _pieces(d, a, float(threshold_cells), origin[0], origin[1], width, _DR, _DC)
    keys = ("start", "head_nup", "exit_to", "end_conf", "offsets", "verts", "vacc")
    return dict(zip(keys, out, strict=True))


def assemble_segments(
    pieces: list[dict[str, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge: join the tiles' pieces into segments and give each its Strahler order.

    Parameters
    ----------
    pieces
        :func:`stream_pieces` of every tile.

    Returns
    -------
    verts, offsets, seg_order, seg_acc
        As :func:`segments_frame` takes them.

    Raises
    ------
    ValueError
        If a piece runs into a tile that has no piece there (inconsistent tiles).
    """
    by_start: dict[int, tuple[int, int]] = {}
    for t, p in enumerate(pieces):
        for k, s in enumerate(p["start"].tolist()):
            by_start[s] = (t, k)

    def piece_verts(t: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        o = pieces[t]["offsets"]
        return pieces[t]["verts"][o[k] : o[k + 1]], pieces[t]["vacc"][o[k] : o[k + 1]]

    starts, heads, ends, chains, accs = [], [], [], [], []
    for t, p in enumerate(pieces):
        for k in range(p["start"].size):
            if p["head_nup"][k] == 1:
                continue  # a continuation: joined to the segment that enters it
            first_v, first_a = piece_verts(t, k)
            vs, va = [first_v], [first_a]
            tt, kk = t, k
            conf = bool(p["end_conf"][k])
            while pieces[tt]["exit_to"][kk] >= 0:
                g = int(pieces[tt]["exit_to"][kk])
                if g not in by_start:
                    raise ValueError(
                        f"a stream leaves tile {tt} into cell {g}, where no tile has one"
                    )
                tt, kk = by_start[g]
                if pieces[tt]["head_nup"][kk] != 1:  # a confluence: the segment ends on it
                    vs.append(np.array([g]))
                    va.append(np.array([np.nan]))
                    conf = True
                    break
                v2, a2 = piece_verts(tt, kk)
                vs.append(v2)
                va.append(a2)
                conf = bool(pieces[tt]["end_conf"][kk])
            verts = np.concatenate(vs)
            vacc = np.concatenate(va)
            starts.append(int(verts[0]))
            heads.append(int(p["head_nup"][k]))
            ends.append(int(verts[-1]) if conf else -1)
            chains.append(verts)
            accs.append(float(vacc[-2] if conf else vacc[-1]))
    n = len(starts)
    index = {s: i for i, s in enumerate(starts)}
    down = np.array([index.get(e, -1) if e >= 0 else -1 for e in ends], dtype=np.int64)
    indeg = np.bincount(down[down >= 0], minlength=n)
    maxin = np.zeros(n, dtype=np.int64)
    cnt = np.zeros(n, dtype=np.int64)
    order = np.zeros(n, dtype=np.int64)
    queue = [i for i in range(n) if indeg[i] == 0]
    while queue:
        i = queue.pop()
        order[i] = 1 if heads[i] == 0 else maxin[i] + (1 if cnt[i] >= 2 else 0)
        j = down[i]
        if j >= 0:
            if order[i] > maxin[j]:
                maxin[j], cnt[j] = order[i], 1
            elif order[i] == maxin[j]:
                cnt[j] += 1
            indeg[j] -= 1
            if indeg[j] == 0:
                queue.append(j)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([c.size for c in chains], out=offsets[1:])
    verts = np.concatenate(chains) if chains else np.empty(0, dtype=np.int64)
    return verts, offsets, order.astype(np.uint8), np.array(accs, dtype=np.float64)


def stream_pieces_job(
    dirs_path: str | os.PathLike,
    acc_path: str | os.PathLike,
    window: Any,
    threshold_cells: float,
    pieces_path: str | os.PathLike,
) -> dict[str, Any]:
    """Tile pass: read directions and accumulation with a one-cell halo, write the pieces.

    Parameters
    ----------
    dirs_path, acc_path
        The grid's D8 directions (uint8, nodata 255) and accumulation (cells), e.g. the VRTs
        of the tiles.
    window
        The tile (cells).
    threshold_cells
        Minimum D8 accumulation (cells) of a stream cell.
    pieces_path
        Output ``.npz`` of :func:`stream_pieces`.

    Returns
    -------
    dict
        Pieces and vertices of the tile.
    """
    import rasterio

    from slidemap.factors.tiledfill import _save_npz
    from slidemap.raster import read_window

    with rasterio.open(dirs_path) as src:
        width = src.width
        d = read_window(src, window, halo=1)
    dirs = np.where(np.isnan(d), 255, d).astype(np.uint8)
    acc = read_window(acc_path, window, halo=1, dtype="float64")
    origin = (int(window.row_off), int(window.col_off))
    pieces = stream_pieces(dirs, acc, origin, width, threshold_cells)
    _save_npz(pieces_path, pieces)
    return {"pieces": int(pieces["start"].size), "vertices": int(pieces["verts"].size)}


def assemble_streams_job(
    pieces_paths: list[str | os.PathLike],
    grid_path: str | os.PathLike,
    streams_path: str | os.PathLike,
    *,
    threshold_cells: float | None = None,
    chunk_vertices: int = 1_000_000,
) -> dict[str, Any]:
    """Merge: join every tile's pieces and write the stream network (GeoPackage, ``streams``).

    Parameters
    ----------
    pieces_paths
        The :func:`stream_pieces_job` outputs.
    grid_path
        A raster of the grid (its transform and CRS place the vertices).
    streams_path
        Output GeoPackage.
    threshold_cells
        The pieces' stream threshold (cells); when given, a network without any segment is
        refused (as :func:`~slidemap.factors.hydrology.write_hydrology` refuses it) and
        nothing is written.
    chunk_vertices
        Vertices per write (:func:`segment_chunks`): the table is built and written in
        pieces, so the job holds ~30 B per stream cell plus one piece, not the whole table.

    Returns
    -------
    dict
        Number of segments and the highest Strahler order.

    Raises
    ------
    ConfigError
        No segment while ``threshold_cells`` is given.
    """
    from slidemap.factors.tiledfill import _load_npz
    from slidemap.io import write_gpkg_chunks
    from slidemap.raster import Grid

    grid = Grid.from_raster(grid_path)
    segments = assemble_segments(_load_npz(pieces_paths))
    if threshold_cells is not None and not (np.diff(segments[1]) >= 2).any():
        raise ConfigError(
            f"config key 'factors.hydrology.stream_threshold_cells': no cell drains "
            f"{threshold_cells:g} cells. Lower the threshold."
        )
    rows, top = 0, 0

    def tables() -> Iterator[Any]:
        nonlocal rows, top
        for table in segment_chunks(
            *segments,
            grid.width,
            transform=grid.transform,
            crs=grid.crs,
            chunk_vertices=chunk_vertices,
        ):
            rows += len(table)
            top = max(top, int(table["strahler"].max()) if len(table) else 0)
            yield table

    write_gpkg_chunks(tables(), streams_path, "streams")
    return {"streams": rows, "max_strahler": top}
