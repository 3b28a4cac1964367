"""Potential-landslide candidates (PLC): thresholded hot-spot density → polygons → merged PLCs.

Per track, cells whose hot (or cold) density reaches the threshold form 4-connected regions;
each region becomes a polygon (``rasterio.features.shapes``) and is kept when it holds at
least ``min_points`` moving points and covers at least ``min_area_m2``. The polygons of every
track (hot and cold: both mean motion) are then rasterised back onto the common grid, joined
(regions closer than ``merge_tolerance_m`` are bridged) and polygonised again: overlapping
candidates of different tracks become one PLC. Every PLC gets the statistics of the points
inside it (seed 002's model factors: trend-class proportions; and the mean velocity projected
on the downslope direction).

The region labelling, statistics and polygons are in :mod:`slidemap.hotspots.regions`, the
raster sampling and downslope projection (``V = v_los / cos``, masked where
``|cos| < min_cosine``) in :mod:`slidemap.hotspots.downslope`; their functions are
re-exported here.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage
from scipy.sparse import coo_matrix, csgraph

from slidemap.hotspots.downslope import downslope_cosine, sample_raster
from slidemap.hotspots.regions import (
    hull_outlines,
    label_regions,
    polygonize_labels,
    region_statistics,
)
from slidemap.raster import Grid

log = logging.getLogger(__name__)

__all__ = [
    "moving_threshold",
    "mean_point_density",
    "label_regions",
    "region_statistics",
    "polygonize_labels",
    "track_polygons",
    "hull_outlines",
    "downslope_cosine",
    "sample_raster",
    "merge_candidates",
    "CANDIDATE_TILE_CELLS",
    "CANDIDATE_POINT_COLUMNS",
    "POLYGON_COLUMNS",
    "near_polygons",
]

#: Columns of a track's ``polygons.gpkg`` (besides geometry).
POLYGON_COLUMNS = [
    "poly_id",
    "track",
    "kind",
    "area_m2",
    "n_points",
    "n_moving",
    "mean_v_mm_yr",
    "mean_abs_v_mm_yr",
    "max_abs_v_mm_yr",
    "p_uncorrelated",
    "p_linear",
    "p_nonlinear",
    "max_density",
]


def moving_threshold(velocity_mm_yr: np.ndarray, threshold: float | str) -> float:
    """Return the stability threshold of a track in mm/yr.

    Parameters
    ----------
    velocity_mm_yr
        LOS velocities of the track's points (mm/yr).
    threshold
        A number (mm/yr; seed 002: 10) or ``"2sigma"``: twice the standard deviation of the
        track's velocities (ADAfinder).

    Returns
    -------
    float
        Points with ``|v| ≥`` this value are moving.
    """
    if isinstance(threshold, str):
        if threshold.strip().lower() != "2sigma":
            raise ValueError(f"stability threshold must be a number or '2sigma', got {threshold!r}")
        v = np.asarray(velocity_mm_yr, dtype=np.float64)
        v = v[np.isfinite(v)]
        return float(2.0 * v.std()) if v.size else math.inf
    value = float(threshold)
    if not value >= 0:
        raise ValueError(f"stability threshold must be ≥ 0, got {threshold}")
    return value


def mean_point_density(xy: np.ndarray, cell_m: float) -> float:
    """Mean density of a track's points over its footprint, in points per km².

    The footprint is the set of ``cell_m`` × ``cell_m`` cells holding at least one point (with
    ``cell_m`` the search radius, a cell holds ~10 points at seed 002's 264 points/km², so the
    footprint follows the track's coverage, gaps of incoherent ground included).

    Parameters
    ----------
    xy
        Point coordinates (n × 2) in metres.
    cell_m
        Footprint cell edge in metres.

    Returns
    -------
    float
        Points per km² (0 without points).
    """
    xy = np.asarray(xy, dtype=np.float64)
    if xy.shape[0] == 0:
        return 0.0
    ij = np.floor((xy - xy.min(axis=0)) / cell_m).astype(np.int64)
    cells = np.unique(ij[:, 0] * (ij[:, 1].max() + 1) + ij[:, 1]).size
    return float(xy.shape[0] / (cells * cell_m * cell_m) * 1e6)


def track_polygons(
    density: np.ndarray,
    grid: Grid,
    points: pd.DataFrame,
    *,
    track: str,
    density_threshold: float,
    min_points: int,
    min_area_m2: float,
    hull_buffer_m: float | None = None,
    hull_concavity: float = 1.0,
    hull_carve: bool = False,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Candidate polygons of one track from its hot/cold density.

    Parameters
    ----------
    density
        float (2 × rows × cols): hot and cold density (z per km²; NaN outside the study area).
    grid
        Grid of ``density``.
    points
        The track's hot-spot points: ``x_m``, ``y_m``, ``velocity_mm_yr``, ``moving``,
        optionally ``v_hp_mm_yr`` (the analysed velocity; else ``velocity_mm_yr``) and
        ``trend_class``.
    track
        Track name (written in the ``track`` column).
    density_threshold
        Density (z per km²) at or above which a cell belongs to a hot (cold) spot.
    min_points
        Least number of moving points inside a polygon.
    min_area_m2
        Least polygon area in m².
    hull_buffer_m
        None: a polygon is its region's cells. A number (m): the region is cut to the convex
        hull of its moving points of the region's sign (toward the satellite for hot, away
        for cold), widened by this many metres, so that a polygon covers the ground that
        measurements show moving rather than the kernel's reach around them; a spoke to the
        cell centre of any such point the widened hull leaves out keeps every such point's
        cell in the polygon (:func:`~slidemap.hotspots.regions.hull_outlines`); ``area_m2``
        is then the cut polygon's area.
    hull_concavity
        Concavity of the hull (see :func:`hull_outlines`).
    hull_carve
        Cut the Voronoi cells of the region's other points (stable, or moving the other
        way) out of the hull (see :func:`~slidemap.hotspots.regions.carve_stable`).

    Returns
    -------
    tuple
        ``(polygons, kept)``: a GeoDataFrame with :data:`POLYGON_COLUMNS` + geometry, and the
        boolean raster (rows × cols) of the kept cells (hot or cold, before any hull cut).
    """
    x = points["x_m"].to_numpy(np.float64)
    y = points["y_m"].to_numpy(np.float64)
    v = points["velocity_mm_yr"].to_numpy(np.float64)
    v_sign = points["v_hp_mm_yr"].to_numpy(np.float64) if "v_hp_mm_yr" in points else v
    moving = points["moving"].to_numpy(bool)
    trend = points["trend_class"] if "trend_class" in points else None
    row, col, inside = grid.cell_of(x, y)
    cell_area = grid.resolution_m**2
    kept = np.zeros(grid.shape, bool)
    frames = []
    for band, kind in enumerate(("hot", "cold")):
        layer = np.asarray(density[band])
        mask = np.isfinite(layer) & (layer >= density_threshold)
        labels, n = label_regions(mask)
        if n == 0:
            continue
        lab_pt = np.where(inside, labels[row, col], 0)
        stats = region_statistics(lab_pt, n, v, moving, trend)
        # per-region cell count and peak over the (few) cells above the threshold only
        cell_labels = labels[mask]
        stats["area_m2"] = np.bincount(cell_labels, minlength=n + 1)[1:] * cell_area
        peak = np.full(n + 1, -np.inf)
        np.maximum.at(peak, cell_labels, layer[mask].astype(np.float64))
        stats["max_density"] = peak[1:]
        good = (stats["n_moving"] >= min_points) & (stats["area_m2"] >= min_area_m2)
        keep_ids = stats.index[good].to_numpy()
        if keep_ids.size == 0:
            continue
        lut = np.zeros(n + 1, np.int32)
        lut[keep_ids] = keep_ids
        kept_labels = lut[labels]
        kept |= kept_labels > 0
        geoms = polygonize_labels(kept_labels, grid).loc[keep_ids]
        frames.append(
            band_polygons(
                stats,
                keep_ids,
                geoms,
                kind,
                lab_pt,
                moving & (v_sign > 0 if kind == "hot" else v_sign < 0),
                x,
                y,
                hull_buffer_m=hull_buffer_m,
                hull_concavity=hull_concavity,
                hull_carve=hull_carve,
                grid=grid,
            )
        )
    return polygon_table(frames, track, grid.crs), kept


def band_polygons(
    stats: pd.DataFrame,
    keep_ids: np.ndarray,
    geoms: gpd.GeoSeries,
    kind: str,
    lab_pt: np.ndarray,
    outline_points: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    hull_buffer_m: float | None,
    hull_concavity: float,
    hull_carve: bool = False,
    grid: Grid | None = None,
) -> pd.DataFrame:
    """Rows of one band's kept regions: statistics, ``kind`` and the (hull-cut) polygons.

    ``geoms``: the regions' polygons indexed by ``keep_ids``; ``lab_pt``: each point's
    region; ``outline_points``: the points that outline a region (moving, of the band's
    sign; the region's other points carve with ``hull_carve``); ``x``, ``y``: the points (m);
    hull settings (m) as for :func:`track_polygons`;
    ``grid``: the regions' grid (spokes to the outline points' cell centres that the
    widened hull leaves out, see :func:`~slidemap.hotspots.regions.hull_outlines`).
    """
    if hull_buffer_m is not None:
        geoms = hull_outlines(
            geoms,
            lab_pt,
            outline_points,
            x,
            y,
            buffer_m=hull_buffer_m,
            concavity=hull_concavity,
            grid=grid,
            carve=hull_carve,
        )
    sub = stats.loc[keep_ids].copy()
    sub["kind"] = kind
    sub["geometry"] = geoms.to_numpy()
    if hull_buffer_m is not None:
        sub["area_m2"] = shapely.area(sub["geometry"].to_numpy())
    return sub


def polygon_table(frames: list[pd.DataFrame], track: str, crs: Any) -> gpd.GeoDataFrame:
    """Assemble the polygons table (:data:`POLYGON_COLUMNS` + geometry) from bands' rows."""
    if frames:
        out = pd.concat(frames, ignore_index=True)
    else:
        out = pd.DataFrame({c: [] for c in POLYGON_COLUMNS if c != "track"} | {"geometry": []})
    out["track"] = track
    out["poly_id"] = np.arange(1, len(out) + 1)
    gdf = gpd.GeoDataFrame(out, geometry="geometry", crs=crs)
    return gdf[[*POLYGON_COLUMNS, "geometry"]]


def _burn_bit(word: np.ndarray, bit: np.uint8, geoms, grid: Grid) -> None:
    """Set ``bit`` in ``word`` (uint8 raster on ``grid``) in the cells the geometries cover.

    Rasterised over the geometries' bounding window only (cell centres inside, as
    ``rasterio.features.rasterize`` does over the whole grid).
    """
    x0, y0, x1, y1 = (float(v) for v in geoms.total_bounds)
    inv = ~grid.transform
    corners = [(x, y) for x in (x0, x1) for y in (y0, y1)]
    cols = [inv.a * x + inv.b * y + inv.c for x, y in corners]
    rows = [inv.d * x + inv.e * y + inv.f for x, y in corners]
    c0, r0 = max(0, math.floor(min(cols)) - 1), max(0, math.floor(min(rows)) - 1)
    c1 = min(grid.width, math.ceil(max(cols)) + 1)
    r1 = min(grid.height, math.ceil(max(rows)) + 1)
    if c1 <= c0 or r1 <= r0:
        return
    burnt = rasterio.features.rasterize(
        ((g, 1) for g in geoms),
        out_shape=(r1 - r0, c1 - c0),
        transform=grid.transform @ Affine.translation(c0, r0),
        fill=0,
        dtype="uint8",
    )
    word[r0:r1, c0:c1] |= burnt * bit


def _burn_ids(geoms, grid: Grid) -> np.ndarray:
    """Rasterise geometries (cell centres inside) as their position + 1 (int32, 0 = none).

    Where geometries overlap, the later one holds the cell (``rasterio.features.rasterize``).
    """
    if geoms is None or not len(geoms):
        return np.zeros(grid.shape, np.int32)
    return rasterio.features.rasterize(
        ((g, i + 1) for i, g in enumerate(geoms)),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        dtype="int32",
    )


def _piece_pairs(ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Return the unique (geometry id, label) pairs (int64, m × 2) of the cells both set."""
    sel = (ids > 0) & (labels > 0)
    if not sel.any():
        return np.zeros((0, 2), np.int64)
    return np.unique(np.column_stack([ids[sel], labels[sel]]).astype(np.int64), axis=0)


def _chain(groups: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the node pairs that chain each group's nodes (rows sorted by group)."""
    same = groups[1:] == groups[:-1]
    return nodes[:-1][same], nodes[1:][same]


def _split_parts(polygons: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """One row per connected part of each track polygon (the other columns repeated).

    A track polygon is one density region cut to the hull of its moving points, and the
    carve (``hull_carve``) removes the Voronoi cells of the region's other points: where a
    line of stable points crosses the region, the cut leaves parts apart on the ground —
    ground measured still between them. Those parts are separate candidates unless they
    touch (or another track's polygons join them): a subsidence bowl and a settling
    embankment 60 m apart, which one kernel's reach had joined into one region, are judged
    apart by the pre-classification. A part's own cells that fall apart on the grid (a
    hull narrower than a cell) stay one candidate (:func:`_join_pieces`).
    """
    if polygons is None or not len(polygons):
        return polygons
    return polygons.explode(index_parts=False)


def _join_pieces(labels: np.ndarray, polygons, keys, grid: Grid) -> np.ndarray:
    """Give every track polygon's cells one label, renumbered 1..n in raster-scan order.

    A polygon (one connected part of a track polygon, :func:`_split_parts`) whose cells
    (centres inside) fall apart on the grid — a hull narrower than a cell somewhere — is one
    region of its track's hot spot: its moving points count together (``min_moving``) and
    its pieces make one candidate. Labels are joined through the polygons they share; the
    joined labels are numbered by their first cell in raster order, as :func:`_bridge`
    numbers them.
    """
    n = int(labels.max())
    if n == 0:
        return labels
    a_all, b_all = [], []
    for geoms in _key_geometries(polygons, keys):
        if geoms is None:
            continue
        pairs = _piece_pairs(_burn_ids(geoms, grid), labels)
        a, b = _chain(pairs[:, 0], pairs[:, 1])
        a_all.append(a)
        b_all.append(b)
    a = np.concatenate(a_all) if a_all else np.zeros(0, np.int64)
    b = np.concatenate(b_all) if b_all else np.zeros(0, np.int64)
    if a.size == 0:
        return labels
    graph = coo_matrix((np.ones(a.size), (a, b)), shape=(n + 1, n + 1))
    _, comp = csgraph.connected_components(graph, directed=False)
    return _raster_order(comp[labels], labels > 0)


def _raster_order(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Renumber the labels of the ``mask`` cells 1..n by their first cell in raster-scan order.

    Returns int32 labels (0 outside ``mask``); cells that share a label keep sharing one.
    """
    uniq, inverse = np.unique(labels[mask], return_inverse=True)
    out = np.zeros(labels.shape, np.int32)
    first = np.full(uniq.size, np.iinfo(np.int64).max)
    np.minimum.at(first, inverse, np.flatnonzero(mask.ravel()))
    rank = np.empty(uniq.size, np.int64)
    rank[np.argsort(first)] = np.arange(1, uniq.size + 1)
    out[mask] = rank[inverse]
    return out


def _bridge(mask: np.ndarray, tolerance_cells: float) -> np.ndarray:
    """Labels of ``mask`` where regions closer than the tolerance share a label."""
    if tolerance_cells <= 0:
        return label_regions(mask)[0]
    r = int(math.ceil(tolerance_cells / 2.0))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = (xx * xx + yy * yy) <= (tolerance_cells / 2.0) ** 2 + 1e-9
    grown = ndimage.binary_dilation(mask, structure=disk)
    labels, _ = label_regions(grown)
    return _raster_order(labels, mask)  # 1..n in raster-scan order of the original cells


def _drop_small(labels: np.ndarray, points: Mapping[str, pd.DataFrame], grid: Grid, least: int):
    """Zero the labels holding fewer than ``least`` moving points; renumber the rest 1..n."""
    n = int(labels.max())
    count = np.zeros(n + 1, np.int64)
    for pts in points.values():
        row, col, inside = grid.cell_of(
            pts["x_m"].to_numpy(np.float64), pts["y_m"].to_numpy(np.float64)
        )
        lab = np.where(inside, labels[row, col], 0)
        count += np.bincount(lab[pts["moving"].to_numpy(bool)], minlength=n + 1)
    keep = count >= least
    keep[0] = False
    lut = np.zeros(n + 1, np.int32)
    lut[keep] = np.arange(1, int(keep.sum()) + 1)  # label order = raster-scan order kept
    return lut[labels]


#: Tile edge (cells) of rule ``candidates``' labelling (~20 B per tile cell: ~80 MB; joining a
#: polygon's pieces adds ~4 B per tile cell and ~40 B per cell the polygons cover, briefly).
CANDIDATE_TILE_CELLS = 2048

#: The hot-spot points' columns :func:`merge_candidates` reads (the statistics, the evidence
#: of :func:`slidemap.hotspots.evidence.candidate_evidence`); rule ``candidates`` reads these
#: alone (~75 B per point, where every column but the series is ~240 B with the pid).
CANDIDATE_POINT_COLUMNS = [
    "x_m",
    "y_m",
    "velocity_mm_yr",
    "v_hp_mm_yr",
    "moving",
    "trend_class",
    "los_e",
    "los_n",
    "los_u",
    "seasonal_mm",
]


def near_polygons(
    polygons: Mapping[str, gpd.GeoDataFrame],
    grid: Grid,
    *,
    block_cells: int = 64,
    margin_m: float = 0.0,
) -> Callable[[pd.DataFrame], np.ndarray]:
    """Which points may lie in a cell that a candidate polygon covers (a superset).

    :func:`merge_candidates` counts a point only when its cell (of ``grid``) is burnt by a
    polygon; every such cell lies in the polygon's cell window as :func:`_burn_bit` takes
    it (its bounds and one cell more). Blocks of ``block_cells`` cells that meet a window
    are marked; the points in marked blocks pass. With the tracks' densities known
    (``merge_candidates(densities=...)``) the candidates from these points alone equal
    those from every point, and rule ``candidates`` holds the points near the polygons
    only, whatever the size of the tracks.

    Parameters
    ----------
    polygons
        Track name → its ``polygons.gpkg`` (any geometries, any CRS of ``grid``).
    grid
        The hot-spot grid (north-up).
    block_cells
        Edge of the marked blocks (cells): ~1 byte per block of the grid.
    margin_m
        Widen each window by this distance (m) on every side: the points around the
        candidates that their evidence reads (the halo of
        :func:`slidemap.hotspots.evidence.candidate_evidence`, ``halo_m``) pass too.

    Returns
    -------
    callable
        ``f(frame) -> bool array``: True for the rows (``x_m``, ``y_m``, metres) in a
        marked block of the grid.
    """
    size = int(block_cells)
    blocks = np.zeros((-(-grid.height // size), -(-grid.width // size)), bool)
    pad = 1 + int(np.ceil(max(float(margin_m), 0.0) / grid.resolution_m))
    inv = ~grid.transform
    for frame in polygons.values():
        if not len(frame):
            continue
        b = frame.geometry.bounds.to_numpy(np.float64)  # minx, miny, maxx, maxy
        corners = [(b[:, i], b[:, j]) for i in (0, 2) for j in (1, 3)]
        cols = np.stack([inv.a * x + inv.b * y + inv.c for x, y in corners])
        rows = np.stack([inv.d * x + inv.e * y + inv.f for x, y in corners])
        c0 = np.maximum(np.floor(cols.min(0)) - pad, 0).astype(np.int64)
        r0 = np.maximum(np.floor(rows.min(0)) - pad, 0).astype(np.int64)
        c1 = np.minimum(np.ceil(cols.max(0)) + pad, grid.width).astype(np.int64)
        r1 = np.minimum(np.ceil(rows.max(0)) + pad, grid.height).astype(np.int64)
        for a0, a1, b0, b1 in zip(r0, r1, c0, c1, strict=True):
            if a1 > a0 and b1 > b0:
                blocks[a0 // size : (a1 - 1) // size + 1, b0 // size : (b1 - 1) // size + 1] = True

    def near(frame: pd.DataFrame) -> np.ndarray:
        row, col, inside = grid.cell_of(
            frame["x_m"].to_numpy(np.float64), frame["y_m"].to_numpy(np.float64)
        )
        return inside & blocks[row // size, col // size]

    return near


@dataclasses.dataclass
class _Labelled:
    """The merged candidates of :func:`merge_candidates` before their statistics.

    ``n`` candidates 1..n in raster order of their first cell; ``cells`` (n: cells per
    candidate); ``contributing``/``kinds`` (per candidate: tracks, ``track:kind``);
    ``point_labels`` (track -> candidate of each point, 0 = none); ``cell_centres``
    (candidate, x, y in metres of every labelled cell, in raster order); ``geoms``
    (GeoSeries indexed by candidate).
    """

    n: int
    cells: np.ndarray
    contributing: list
    kinds: list
    point_labels: dict
    cell_centres: tuple
    geoms: gpd.GeoSeries


def _union(words: list[np.ndarray]) -> np.ndarray:
    """Return the cells where any bit of the uint8 words is set (bool)."""
    union = words[0] != 0
    for word in words[1:]:
        union |= word != 0
    return union


def _has_bit(words: list[np.ndarray], k: int) -> np.ndarray:
    """Return the cells where bit ``k`` (key k: word k // 8, bit k % 8) is set (bool)."""
    return (words[k // 8] & np.uint8(1 << (k % 8))) != 0


def _key_geometries(polygons, keys) -> list:
    """Return the polygons of each (track, kind) key (a GeoSeries, or None if none)."""
    out = []
    for t, kind in keys:
        gdf = polygons.get(t)
        sub = gdf[gdf["kind"] == kind] if gdf is not None and len(gdf) else None
        out.append(sub.geometry if sub is not None and len(sub) else None)
    return out


def _contributions(keys, ids_per_key, n) -> tuple[list, list]:
    """Per candidate: contributing tracks and ``track:kind`` (keys in order, ids ascending)."""
    contributing = [[] for _ in range(n)]
    kinds = [[] for _ in range(n)]
    for (t, kind), ids in zip(keys, ids_per_key, strict=True):
        for i in sorted(ids):
            if t not in contributing[i - 1]:
                contributing[i - 1].append(t)
            kinds[i - 1].append(f"{t}:{kind}")
    return contributing, kinds


def _label_whole(polygons, points, grid: Grid, keys, merge_tolerance_m, min_moving) -> _Labelled:
    """Label the candidates on the whole grid (one bit per key in uint8 words)."""
    from slidemap.hotspots.evidence import cell_centres

    words = [np.zeros(grid.shape, np.uint8) for _ in range(max(1, math.ceil(len(keys) / 8)))]
    for k, geoms in enumerate(_key_geometries(polygons, keys)):
        if geoms is not None:
            _burn_bit(words[k // 8], np.uint8(1 << (k % 8)), geoms, grid)
    union = _union(words)
    labels = _bridge(union, merge_tolerance_m / grid.resolution_m)
    del union
    labels = _join_pieces(labels, polygons, keys, grid)
    if min_moving > 0 and labels.max() > 0:
        labels = _drop_small(labels, points, grid, min_moving)
    n = int(labels.max())
    ids_per_key = []
    for k in range(len(keys)):
        ids = np.unique(labels[_has_bit(words, k)])
        ids_per_key.append([int(i) for i in ids[ids > 0]])
    del words
    contributing, kinds = _contributions(keys, ids_per_key, n)
    point_labels = {}
    for t in sorted(points):
        pts = points[t]
        row, col, inside = grid.cell_of(
            pts["x_m"].to_numpy(np.float64), pts["y_m"].to_numpy(np.float64)
        )
        point_labels[t] = np.where(inside, labels[row, col], 0)
    return _Labelled(
        n=n,
        cells=np.bincount(labels.ravel(), minlength=n + 1)[1:],
        contributing=contributing,
        kinds=kinds,
        point_labels=point_labels,
        cell_centres=cell_centres(labels, grid.transform),
        geoms=polygonize_labels(labels, grid),
    )


def _label_tiled(polygons, points, grid: Grid, keys, min_moving, size: int) -> _Labelled:
    """:func:`_label_whole` (tolerance 0) tile by tile: the same candidates and order.

    Pass 1 burns each tile's polygons, labels the tile alone and keeps only the labels of
    its points and along its edges; the merge (:func:`~slidemap.hotspots.tiledpolygons.
    merge_regions`) numbers the joined regions in raster order, as ``scipy.ndimage.label``
    numbers the whole grid, joining too the tile labels that one polygon covers (as
    :func:`_join_pieces`); the small ones are dropped and the rest renumbered as
    :func:`_drop_small` does; pass 2 burns and labels each tile again (deterministic) for the
    contributions, the cell centres (sorted back into raster order) and the outline pieces,
    unioned per candidate.
    """
    from slidemap.hotspots.tiledpolygons import merge_regions, points_by_tile, tile_regions
    from slidemap.raster import iter_windows

    windows = list(iter_windows(grid.height, grid.width, size))
    tile_rows, tile_cols = -(-grid.height // size), -(-grid.width // size)
    key_geoms = _key_geometries(polygons, keys)
    key_bounds = [None if g is None else np.asarray(g.bounds, float) for g in key_geoms]
    n_words = max(1, math.ceil(len(keys) / 8))
    res = grid.resolution_m

    def near_tile(w) -> list:
        """Per key: which of its polygons may cover a cell of the tile (None: no polygon)."""
        x0, y1 = grid.window(w).transform.c, grid.window(w).transform.f
        x1, y0 = x0 + w.width * res, y1 - w.height * res
        out = []
        for b in key_bounds:
            if b is None:
                out.append(None)
                continue
            near = (b[:, 2] >= x0 - res) & (b[:, 0] <= x1 + res)
            near &= (b[:, 3] >= y0 - res) & (b[:, 1] <= y1 + res)
            out.append(near if near.any() else None)
        return out

    def burn(w) -> tuple[list, np.ndarray]:
        """Burn the tile's key bits (uint8 words); return them and their union."""
        tgrid = grid.window(w)
        words = [np.zeros((int(w.height), int(w.width)), np.uint8) for _ in range(n_words)]
        for k, near in enumerate(near_tile(w)):
            if near is not None:
                _burn_bit(words[k // 8], np.uint8(1 << (k % 8)), key_geoms[k][near], tgrid)
        return words, _union(words)

    def pieces(ti: int, w, labels: np.ndarray) -> list[np.ndarray]:
        """Rows ``key, polygon, tile, label`` of the tile labels each polygon covers."""
        tgrid = grid.window(w)
        out = []
        for k, near in enumerate(near_tile(w)):
            if near is None:
                continue
            pairs = _piece_pairs(_burn_ids(key_geoms[k][near], tgrid), labels)
            pid = np.flatnonzero(near)[pairs[:, 0] - 1]
            tile = np.full(pid.size, ti)
            out.append(np.column_stack([np.full(pid.size, k), pid, tile, pairs[:, 1]]))
        return out

    tracks = sorted(points)
    where = {}
    for t in tracks:
        pts = points[t]
        row, col, inside = grid.cell_of(
            pts["x_m"].to_numpy(np.float64), pts["y_m"].to_numpy(np.float64)
        )
        tile = np.where(inside, (row // size) * tile_cols + col // size, -1)
        where[t] = (row, col, points_by_tile(tile, len(windows)), np.zeros(row.size, np.int64))
    summaries, found = [], []
    for ti, w in enumerate(windows):  # pass 1: label each tile alone
        _, union = burn(w)
        summary = tile_regions(union, union, (w.row_off, w.col_off), grid.width)
        found += pieces(ti, w, summary["labels"])
        for row, col, in_tile, local in where.values():
            sel = in_tile[ti]
            local[sel] = summary["labels"][row[sel] - w.row_off, col[sel] - w.col_off]
        summary["labels"] = None
        summaries.append(summary)
    rows = np.concatenate(found) if found else np.zeros((0, 4), np.int64)
    rows = rows[np.lexsort((rows[:, 3], rows[:, 2], rows[:, 1], rows[:, 0]))]
    same = (rows[1:, 0] == rows[:-1, 0]) & (rows[1:, 1] == rows[:-1, 1])
    links = np.column_stack([rows[:-1, 2:][same], rows[1:, 2:][same]])  # a polygon's pieces
    luts, regions = merge_regions(summaries, tile_rows, tile_cols, links)
    n0 = regions["cells"].size - 1
    point_labels = {}
    for t, (_, _, in_tile, local) in where.items():
        lab = np.zeros(local.size, np.int64)
        for ti, sel in enumerate(in_tile):
            lab[sel] = luts[ti][local[sel]]
        point_labels[t] = lab
    final = np.arange(n0 + 1)  # region -> candidate (0 = dropped)
    if min_moving > 0 and n0 > 0:  # as _drop_small
        count = np.zeros(n0 + 1, np.int64)
        for t in tracks:
            moving = points[t]["moving"].to_numpy(bool)
            count += np.bincount(point_labels[t][moving], minlength=n0 + 1)
        keep = count >= min_moving
        keep[0] = False
        final = np.zeros(n0 + 1, np.int64)
        final[keep] = np.arange(1, int(keep.sum()) + 1)
    n = int(final.max()) if final.size else 0
    point_labels = {t: final[lab] for t, lab in point_labels.items()}
    cells = np.zeros(n + 1, np.int64)
    np.add.at(cells, final, regions["cells"])
    ids_per_key = [set() for _ in keys]
    centre_index, centre_lab, pieces = [], [], {}
    for ti, w in enumerate(windows):  # pass 2: the kept candidates' cells and outlines
        lut = final[luts[ti]]
        if not lut.any():
            continue
        words, union = burn(w)
        ids = lut[label_regions(union)[0]].astype(np.int32)
        for k in range(len(keys)):
            u = np.unique(ids[_has_bit(words, k)])
            ids_per_key[k].update(int(i) for i in u[u > 0])
        rr, cc = np.nonzero(ids)
        centre_index.append((rr + w.row_off) * grid.width + (cc + w.col_off))
        centre_lab.append(ids[rr, cc].astype(np.int64))
        for rid, geom in polygonize_labels(ids, grid.window(w)).items():
            pieces.setdefault(int(rid), []).append(geom)
    contributing, kinds = _contributions(keys, ids_per_key, n)
    index = np.concatenate(centre_index) if centre_index else np.zeros(0, np.int64)
    lab_c = np.concatenate(centre_lab) if centre_lab else np.zeros(0, np.int64)
    order = np.argsort(index, kind="stable")  # raster order, as np.nonzero of the grid
    index, lab_c = index[order], lab_c[order]
    rows, cols = np.divmod(index, grid.width)
    x, y = grid.transform @ (cols + 0.5, rows + 0.5)
    geoms = gpd.GeoSeries(
        [shapely.union_all(pieces[i]) for i in range(1, n + 1)],
        index=np.arange(1, n + 1),
        crs=grid.crs,
    )
    return _Labelled(
        n=n,
        cells=cells[1:],
        contributing=contributing,
        kinds=kinds,
        point_labels=point_labels,
        cell_centres=(lab_c, np.asarray(x, float), np.asarray(y, float)),
        geoms=geoms,
    )


def merge_candidates(
    polygons: Mapping[str, gpd.GeoDataFrame],
    points: Mapping[str, pd.DataFrame],
    grid: Grid,
    *,
    merge_tolerance_m: float = 0.0,
    slope_deg: np.ndarray | str | os.PathLike | None = None,
    aspect_deg: np.ndarray | str | os.PathLike | None = None,
    terrain_transform=None,
    min_cosine: float = 0.3,
    rules: Mapping[str, float] | None = None,
    min_moving: int = 0,
    tile_size_cells: int | None = None,
    densities: Mapping[str, float] | None = None,
    noise: Mapping[str, float] | None = None,
    sparse_upslope_noise_factor: float | None = None,
) -> gpd.GeoDataFrame:
    """Merge the candidate polygons of all tracks into PLCs with their point statistics.

    Parameters
    ----------
    polygons
        Track name → that track's ``polygons.gpkg`` (cells of ``grid``).
    points
        Track name → that track's hot-spot points (``x_m``, ``y_m``, ``velocity_mm_yr``,
        ``moving``, ``trend_class``, ``los_e``, ``los_n``, ``los_u``). With ``densities``
        given, the points outside every polygon's cells do not count: those that
        :func:`near_polygons` passes are enough (the same table, in the same bits).
    grid
        The hot-spot grid the polygons were made on.
    merge_tolerance_m
        Candidates closer than this (metres) are merged; 0 merges overlapping or adjacent
        (edge-sharing) ones only.
    slope_deg, aspect_deg
        Slope and aspect rasters (degrees) on ``terrain_transform``, as arrays or as files
        (then only the blocks under candidates and their points are read: memory does not
        grow with the grid); None leaves ``v_slope_mm_yr`` NaN.
    terrain_transform
        Affine transform of the slope/aspect rasters.
    min_cosine
        Least ``|LOS · downslope|`` for a point's downslope projection to count.
    rules
        Thresholds of the rule-based pre-classification
        (:data:`slidemap.hotspots.evidence.RULES`); None = the defaults.
    min_moving
        Merged candidates holding fewer moving points (all tracks together) are dropped:
        slivers that a hull cut leaves a cell or two wide. The cells one connected part of
        a track polygon covers count as one candidate even where they fall apart on the
        grid (a hull narrower than a cell somewhere: :func:`_join_pieces`); parts apart on
        the ground (a carve through stable points) are candidates of their own unless they
        touch (:func:`_split_parts`).
    tile_size_cells
        None: the candidates are labelled on the whole grid (~12 B per cell). A tile edge
        (cells): tile by tile (:func:`_label_tiled`: per tile the polygons burnt, labelled
        alone, joined across tile edges by a union-find merge numbering regions in raster
        order), so memory is a few tiles plus the points whatever the grid's size; the
        table is the same (geometries equal as point sets). Needs ``merge_tolerance_m`` 0
        (a tolerance labels the whole grid).
    densities
        Track name → its typical point density (points/km²): the hot-spot summary's
        ``points_per_km2``; None computes it from the points
        (:func:`slidemap.hotspots.evidence.candidate_evidence`).
    noise
        Track name → its noise level (mm/yr): the hot-spot summary's ``noise_sigma_mm_yr``
        (the evidence's ``noise_mm_yr``, read by the pre-classification); None: unknown.
    sparse_upslope_noise_factor
        None keeps every candidate. A number (noise levels): the candidates holding at most
        ``min_moving`` moving points, all of one track, that move up the slope in the line of
        sight by more than this many noise levels are dropped
        (:func:`slidemap.hotspots.evidence.sparse_upslope`; logged one by one) and the rest
        renumbered 1..n. Their points and cells still count in the other candidates'
        evidence (the halo Mogi contrast).

    Returns
    -------
    geopandas.GeoDataFrame
        Layer ``candidates``: ``cand_id``, ``area_m2``, ``tracks``, ``kinds``, per track
        ``n_points_<t>``, ``n_moving_<t>``, ``mean_v_mm_yr_<t>``, then ``n_points``,
        ``n_moving``, ``mean_abs_v_mm_yr``, ``max_abs_v_mm_yr``, ``p_uncorrelated``,
        ``p_linear``, ``p_nonlinear``, ``v_slope_mm_yr``, ``n_v_slope``, the evidence of
        :func:`slidemap.hotspots.evidence.candidate_evidence`, ``precls`` (the rule-based
        class, :func:`slidemap.hotspots.evidence.preclassify`), ``precls_landslide`` (1 when
        ``precls`` is ``landslide``, else 0) and geometry.
    """
    from slidemap.hotspots.evidence import (
        EVIDENCE_COLUMNS,
        candidate_evidence,
        preclassify,
        sparse_upslope,
    )

    tracks = sorted(points)
    keys = [(t, kind) for t in tracks for kind in ("hot", "cold")]
    polygons = {t: _split_parts(g) for t, g in polygons.items()}
    if tile_size_cells and merge_tolerance_m <= 0:
        found = _label_tiled(polygons, points, grid, keys, min_moving, int(tile_size_cells))
    else:
        found = _label_whole(polygons, points, grid, keys, merge_tolerance_m, min_moving)
    n = found.n
    columns: dict[str, np.ndarray] = {}
    columns["cand_id"] = np.arange(1, n + 1)
    columns["area_m2"] = found.cells * grid.resolution_m**2
    contributing, kinds = found.contributing, found.kinds
    all_lab, all_v, all_moving, all_cls, all_vslope = [], [], [], [], []
    point_labels = found.point_labels
    for t in tracks:
        pts = points[t]
        x = pts["x_m"].to_numpy(np.float64)
        y = pts["y_m"].to_numpy(np.float64)
        lab = point_labels[t]
        v = pts["velocity_mm_yr"].to_numpy(np.float64)
        moving = pts["moving"].to_numpy(bool)
        stats = region_statistics(lab, n, v, moving, None)
        columns[f"n_points_{t}"] = stats["n_points"].to_numpy()
        columns[f"n_moving_{t}"] = stats["n_moving"].to_numpy()
        columns[f"mean_v_mm_yr_{t}"] = stats["mean_v_mm_yr"].to_numpy()
        sel = lab > 0
        all_lab.append(lab[sel])
        all_v.append(v[sel])
        all_moving.append(moving[sel])
        cls = pts["trend_class"] if "trend_class" in pts else pd.Series([None] * len(pts))
        all_cls.append(np.asarray(cls, dtype=object)[sel])
        if slope_deg is not None and aspect_deg is not None and terrain_transform is not None:
            cos = downslope_cosine(
                pts["los_e"].to_numpy(np.float64)[sel],
                pts["los_n"].to_numpy(np.float64)[sel],
                pts["los_u"].to_numpy(np.float64)[sel],
                sample_raster(slope_deg, terrain_transform, x[sel], y[sel]),
                sample_raster(aspect_deg, terrain_transform, x[sel], y[sel]),
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                vs = np.where(np.abs(cos) >= min_cosine, v[sel] / cos, np.nan)
        else:
            vs = np.full(int(sel.sum()), np.nan)
        all_vslope.append(vs)
    lab = np.concatenate(all_lab) if all_lab else np.zeros(0, np.int64)
    v = np.concatenate(all_v) if all_v else np.zeros(0)
    moving = np.concatenate(all_moving) if all_moving else np.zeros(0, bool)
    cls = np.concatenate(all_cls) if all_cls else np.zeros(0, object)
    vs = np.concatenate(all_vslope) if all_vslope else np.zeros(0)
    stats = region_statistics(lab, n, v, moving, cls)
    for key in (
        "n_points",
        "n_moving",
        "mean_abs_v_mm_yr",
        "max_abs_v_mm_yr",
        "p_uncorrelated",
        "p_linear",
        "p_nonlinear",
    ):
        columns[key] = stats[key].to_numpy()
    ok = np.isfinite(vs)
    n_vs = np.bincount(lab[ok], minlength=n + 1)[1:]
    sum_vs = np.bincount(lab[ok], weights=vs[ok], minlength=n + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        columns["v_slope_mm_yr"] = np.where(n_vs > 0, sum_vs / np.maximum(n_vs, 1), np.nan)
    columns["n_v_slope"] = n_vs
    evidence = candidate_evidence(
        None,
        n,
        grid.transform,
        points,
        point_labels,
        slope_deg=slope_deg,
        aspect_deg=aspect_deg,
        terrain_transform=terrain_transform,
        cells=(*found.cell_centres, found.cells),
        densities=densities,
        noise=noise,
    )
    for key in evidence.columns:
        columns[key] = evidence[key].to_numpy()
    precls = preclassify(evidence, rules).to_numpy()
    columns["precls"] = precls
    columns["precls_landslide"] = (precls == "landslide").astype(np.int64)
    columns["tracks"] = np.array([",".join(c) for c in contributing], dtype=object)
    columns["kinds"] = np.array([",".join(k) for k in kinds], dtype=object)
    order = ["cand_id", "area_m2", "tracks", "kinds"]
    for t in tracks:
        order += [f"n_points_{t}", f"n_moving_{t}", f"mean_v_mm_yr_{t}"]
    order += [
        "n_points",
        "n_moving",
        "mean_abs_v_mm_yr",
        "max_abs_v_mm_yr",
        "p_uncorrelated",
        "p_linear",
        "p_nonlinear",
        "v_slope_mm_yr",
        "n_v_slope",
        *EVIDENCE_COLUMNS,
        *[f"v_hp_mm_yr_{t}" for t in tracks],
        "precls",
        "precls_landslide",
    ]
    frame = pd.DataFrame({k: columns[k] for k in order})
    for key in ("tracks", "kinds", "precls"):
        frame[key] = frame[key].astype("str")
    frame["geometry"] = found.geoms.reindex(np.arange(1, n + 1)).to_numpy() if n else []
    cands = gpd.GeoDataFrame(frame, geometry="geometry", crs=grid.crs)
    if sparse_upslope_noise_factor is None or not n:
        return cands
    drop = sparse_upslope(cands, tracks, min_moving, float(sparse_upslope_noise_factor))
    for _, row in cands[drop].iterrows():
        centre = row.geometry.representative_point()
        log.info(
            "candidate %d dropped (%.0f m², %d moving points of one track at x %.0f, y %.0f m): "
            "it moves up the slope in the line of sight, %.1f mm/yr against a noise level of "
            "%.2f mm/yr (hotspots.sparse_upslope_noise_factor %g)",
            row["cand_id"],
            row["area_m2"],
            row["n_moving"],
            centre.x,
            centre.y,
            row["v_downslope_mm_yr"] * row["max_abs_cos_downslope"],
            row["noise_mm_yr"],
            sparse_upslope_noise_factor,
        )
    if drop.any():
        log.info("%d of %d candidates dropped as sparse and moving up the slope", drop.sum(), n)
    kept = cands[~drop].reset_index(drop=True)
    kept["cand_id"] = np.arange(1, len(kept) + 1)
    return kept
