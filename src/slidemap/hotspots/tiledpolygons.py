"""Candidate polygons of a track from its density raster cut into tiles (issue 14, item 1).

:func:`~slidemap.hotspots.candidates.track_polygons` labels the 4-connected regions of the
density mask, keeps those with enough moving points and area, and polygonizes them. A
national density raster does not fit one job, so here each tile is labelled alone
(:func:`tile_regions`: labels, per-label cell count, peak density and first cell, and the
labels along the tile's four edges), one small merge joins labels that touch across a tile
edge with a union-find and numbers the joined regions by their first cell in raster order —
the numbering ``scipy.ndimage.label`` gives the whole raster (:func:`merge_regions`) — and
each tile then polygonizes its cells under the joined labels; the merge unions the pieces of
each region. :func:`track_polygons_tiled` runs that chain in one process and returns the
same table as ``track_polygons``: same regions, ids, statistics, and polygons equal as point
sets (a region crossing a tile edge comes back with its vertices in another order).
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

import numpy as np

from slidemap.hotspots.regions import label_regions

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from slidemap.raster import Grid

__all__ = ["tile_regions", "merge_regions", "points_by_tile", "track_polygons_tiled"]


def points_by_tile(tile: np.ndarray, n_tiles: int) -> list[np.ndarray]:
    """Return the indices of the points in each tile (one sort, not a pass per tile).

    Parameters
    ----------
    tile
        Tile index of each point (row-major over the layout; -1 = outside the grid).
    n_tiles
        Number of tiles.

    Returns
    -------
    list of numpy.ndarray
        For tile 0..n_tiles-1 the indices of its points, ascending.
    """
    order = np.argsort(tile, kind="stable")
    bounds = np.searchsorted(tile[order], np.arange(n_tiles + 1))
    return [order[bounds[t] : bounds[t + 1]] for t in range(n_tiles)]


def tile_regions(
    mask: np.ndarray, layer: np.ndarray, origin: tuple[int, int], width: int
) -> dict[str, np.ndarray]:
    """Tile pass: label one tile's mask alone and summarise its labels for the merge.

    Parameters
    ----------
    mask
        bool (rows × cols) of the tile: cells at or above the density threshold.
    layer
        The tile's density (z per km²), for each label's peak.
    origin
        Grid row and column of the tile's first cell.
    width
        Grid width (cells), for the global raster index of a cell.

    Returns
    -------
    dict
        ``labels`` (int32, the tile's own 1..n), ``first`` (global raster index of each
        label's first cell, int64), ``cells`` (cells per label), ``peak`` (max density per
        label) and ``top``/``bottom``/``left``/``right`` (labels along each edge).
    """
    labels, n = label_regions(mask)
    flat = np.flatnonzero(labels)
    lab = labels.ravel()[flat]
    rows, cols = np.divmod(flat, labels.shape[1])
    index = (rows + origin[0]) * width + (cols + origin[1])
    first = np.full(n + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, lab, index)
    peak = np.full(n + 1, -np.inf)
    np.maximum.at(peak, lab, np.asarray(layer, dtype=np.float64).ravel()[flat])
    return {
        "labels": labels,
        "first": first[1:],
        "cells": np.bincount(lab, minlength=n + 1)[1:],
        "peak": peak[1:],
        "top": labels[0].copy(),
        "bottom": labels[-1].copy(),
        "left": labels[:, 0].copy(),
        "right": labels[:, -1].copy(),
    }


def _find(parent: np.ndarray, a: int) -> int:
    root = a
    while parent[root] != root:
        root = parent[root]
    while parent[a] != root:  # path compression
        parent[a], a = root, parent[a]
    return root


def _join(parent: np.ndarray, u: int, v: int) -> None:
    """Union of the sets of nodes ``u`` and ``v``: the smaller root becomes the root."""
    ru, rv = _find(parent, u), _find(parent, v)
    if ru != rv:
        parent[max(ru, rv)] = min(ru, rv)


def merge_regions(
    summaries: list[dict[str, np.ndarray]],
    tile_rows: int,
    tile_cols: int,
    links: np.ndarray | None = None,
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Merge: join labels across tile edges, number the regions in raster order.

    Parameters
    ----------
    summaries
        :func:`tile_regions` of every tile, row-major over the layout.
    tile_rows, tile_cols
        Layout size (tiles).
    links
        Optional int (m × 4) rows ``tile_a, label_a, tile_b, label_b``: tile labels joined
        into one region although their cells do not touch (the pieces of one polygon).

    Returns
    -------
    luts, regions
        Per tile a lookup ``local label -> region id`` (index 0 -> 0); and per region
        (ids 1..n, index 0 unused) ``cells`` and ``peak``.
    """
    offsets = np.cumsum([0] + [s["first"].size for s in summaries])
    total = int(offsets[-1])
    parent = np.arange(total + 1)  # node 0 = background

    def node(t: int, labels: np.ndarray) -> np.ndarray:
        return np.where(labels > 0, labels + offsets[t], 0)

    for t in range(len(summaries)):
        r, c = divmod(t, tile_cols)
        pairs = []
        if c + 1 < tile_cols:
            pairs.append((node(t, summaries[t]["right"]), node(t + 1, summaries[t + 1]["left"])))
        if r + 1 < tile_rows:
            below = t + tile_cols
            pairs.append((node(t, summaries[t]["bottom"]), node(below, summaries[below]["top"])))
        for a, b in pairs:  # 4-connectivity: only the cell straight across the edge
            both = (a > 0) & (b > 0)
            for u, v in set(zip(a[both].tolist(), b[both].tolist(), strict=True)):
                _join(parent, u, v)
    if links is not None and len(links):
        links = np.asarray(links, np.int64)
        for ta, la, tb, lb in zip(*links.T.tolist(), strict=True):
            _join(parent, la + int(offsets[ta]), lb + int(offsets[tb]))
    roots = np.array([_find(parent, u) for u in range(total + 1)])
    first = np.concatenate([[np.iinfo(np.int64).max]] + [s["first"] for s in summaries])
    cells = np.concatenate([[0]] + [s["cells"] for s in summaries]).astype(np.int64)
    peak = np.concatenate([[-np.inf]] + [s["peak"] for s in summaries])
    uniq, inverse = np.unique(roots[1:], return_inverse=True)
    start = np.full(uniq.size, np.iinfo(np.int64).max)
    np.minimum.at(start, inverse, first[1:])
    rank = np.empty(uniq.size, np.int64)
    rank[np.argsort(start, kind="stable")] = np.arange(1, uniq.size + 1)
    region = np.concatenate([[0], rank[inverse]])  # node -> region id (raster order)
    n = uniq.size
    region_cells = np.bincount(region[1:], weights=cells[1:], minlength=n + 1).astype(np.int64)
    region_peak = np.full(n + 1, -np.inf)
    np.maximum.at(region_peak, region[1:], peak[1:])
    luts = [region[offsets[t] : offsets[t + 1] + 1].copy() for t in range(len(summaries))]
    for lut in luts:
        lut[0] = 0
    return luts, {"cells": region_cells, "peak": region_peak}


def track_polygons_tiled(
    density: np.ndarray | str | os.PathLike,
    grid: Grid,
    points: pd.DataFrame,
    tile_size_cells: int,
    *,
    track: str,
    density_threshold: float,
    min_points: int,
    min_area_m2: float,
    hull_buffer_m: float | None = None,
    hull_concavity: float = 1.0,
    hull_carve: bool = False,
) -> gpd.GeoDataFrame:
    """:func:`~slidemap.hotspots.candidates.track_polygons` computed tile by tile.

    Parameters
    ----------
    density
        float (2 × rows × cols): hot and cold density (z per km²; NaN outside); or the
        raster file holding them as bands 1 and 2 (a track's ``density.tif``): then it is
        read tile by tile, twice (regions, then the kept regions' outlines), and memory
        stays at a few tiles plus the points whatever the grid's size.
    grid
        Grid of ``density``.
    points
        The track's hot-spot points (as for ``track_polygons``).
    tile_size_cells
        Tile edge (cells; a tile of a file is read as float32: 4 B per cell).
    track
        Track name.
    density_threshold
        Density (z per km²) at or above which a cell belongs to a spot.
    min_points
        Least number of moving points inside a polygon.
    min_area_m2
        Least polygon area in m².
    hull_buffer_m
        None, or the hull widening in metres (as for ``track_polygons``).
    hull_concavity
        Concavity of the hull.
    hull_carve
        Carve the region's other points' Voronoi cells out of the hull (as for
        ``track_polygons``).

    Returns
    -------
    geopandas.GeoDataFrame
        The polygons table of ``track_polygons`` (same columns and rows).
    """
    import geopandas as gpd
    import shapely

    from slidemap.hotspots.candidates import band_polygons, polygon_table
    from slidemap.hotspots.regions import polygonize_labels, region_statistics
    from slidemap.raster import iter_windows

    in_memory = not isinstance(density, (str, os.PathLike))
    windows = list(iter_windows(grid.height, grid.width, tile_size_cells))
    tile_rows = -(-grid.height // tile_size_cells)
    tile_cols = -(-grid.width // tile_size_cells)
    x = points["x_m"].to_numpy(np.float64)
    y = points["y_m"].to_numpy(np.float64)
    v = points["velocity_mm_yr"].to_numpy(np.float64)
    v_sign = points["v_hp_mm_yr"].to_numpy(np.float64) if "v_hp_mm_yr" in points else v
    moving = points["moving"].to_numpy(bool)
    trend = points["trend_class"] if "trend_class" in points else None
    row, col, inside = grid.cell_of(x, y)
    row, col = row.astype(np.int32), col.astype(np.int32)
    t_of = np.where(inside, (row // tile_size_cells) * tile_cols + col // tile_size_cells, -1)
    del inside
    in_tile = points_by_tile(t_of.astype(np.int32, copy=False), len(windows))
    del t_of  # per point from here: its cell (int32) and the tile lists
    frames = []
    with contextlib.ExitStack() as stack:
        read = _tile_reader(density, stack)
        for band, kind in enumerate(("hot", "cold")):

            def tile_mask(w, band=band):
                part = read(band, w)
                return np.isfinite(part) & (part >= density_threshold), part

            summaries = []
            # the points in a region of their tile (most points are in none): their indices
            # and tile labels, tile by tile
            hit_pt: list[np.ndarray] = []
            hit_label: list[np.ndarray] = []
            for t, w in enumerate(windows):  # tile jobs: label each tile alone
                mask, part = tile_mask(w)
                summary = tile_regions(mask, part, (w.row_off, w.col_off), grid.width)
                sel = in_tile[t]
                local = summary["labels"][row[sel] - w.row_off, col[sel] - w.col_off]
                inside_region = local > 0
                hit_pt.append(sel[inside_region])
                hit_label.append(local[inside_region])
                if not in_memory:
                    summary["labels"] = None  # relabelled in the polygon pass: memory per tile
                summaries.append(summary)
            luts, regions = merge_regions(summaries, tile_rows, tile_cols)  # the merge
            n = regions["cells"].size - 1
            if n == 0:
                continue
            # each hit point's region (its tile label through the tile's lookup), in the
            # points' order: the statistics sum the same values in the same order as over
            # every point with the others labelled 0
            hit = np.concatenate(hit_pt)
            lab_hit = np.concatenate([luts[t][lab] for t, lab in enumerate(hit_label)]).astype(
                np.int64
            )
            del hit_pt, hit_label
            order = np.argsort(hit, kind="stable")
            hit, lab_hit = hit[order], lab_hit[order]
            del order
            stats = region_statistics(
                lab_hit, n, v[hit], moving[hit], None if trend is None else trend.iloc[hit]
            )
            stats["area_m2"] = regions["cells"][1:] * grid.resolution_m**2
            stats["max_density"] = regions["peak"][1:]
            good = (stats["n_moving"] >= min_points) & (stats["area_m2"] >= min_area_m2)
            keep_ids = stats.index[good].to_numpy()
            if keep_ids.size == 0:
                continue
            keep = np.zeros(n + 1, bool)
            keep[keep_ids] = True
            pieces: dict[int, list] = {}
            for t, w in enumerate(windows):  # tile jobs: polygonize the kept regions' cells
                if not keep[luts[t]].any():
                    continue
                labels = summaries[t]["labels"]
                if labels is None:  # the same labels again (label_regions is deterministic)
                    labels = label_regions(tile_mask(w)[0])[0]
                ids = luts[t][labels]
                ids = np.where(keep[ids], ids, 0).astype(np.int32)
                for rid, geom in polygonize_labels(ids, grid.window(w)).items():
                    pieces.setdefault(int(rid), []).append(geom)
            geoms = gpd.GeoSeries(  # the merge: one polygon per region
                [shapely.union_all(pieces[int(r)]) for r in keep_ids],
                index=keep_ids,
                crs=grid.crs,
            )
            v_hit = v_sign[hit]
            frames.append(
                band_polygons(
                    stats,
                    keep_ids,
                    geoms,
                    kind,
                    lab_hit,
                    moving[hit] & (v_hit > 0 if kind == "hot" else v_hit < 0),
                    x[hit],
                    y[hit],
                    hull_buffer_m=hull_buffer_m,
                    hull_concavity=hull_concavity,
                    hull_carve=hull_carve,
                    grid=grid,
                )
            )
    return polygon_table(frames, track, grid.crs)


def _tile_reader(density, stack: contextlib.ExitStack):
    """Return ``read(band, window) -> float array`` of a density array or raster file.

    A file (``str``/``PathLike``: the track's ``density.tif``, bands hot and cold) is opened
    once on ``stack`` and read window by window.
    """
    if isinstance(density, (str, os.PathLike)):
        import rasterio

        src = stack.enter_context(rasterio.open(density))

        def read_file(band: int, w) -> np.ndarray:
            return src.read(band + 1, window=w, out_dtype="float32")

        return read_file

    def read_array(band: int, w) -> np.ndarray:
        sl = np.s_[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width]
        return np.asarray(density[band][sl])

    return read_array
