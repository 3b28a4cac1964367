"""Regions of a thresholded raster: 4-connected labels, their point statistics, polygons.

A boolean raster (the cells whose hot or cold density reaches the threshold) is split into
4-connected regions (:func:`label_regions`); the points inside each region give its
statistics (:func:`region_statistics`: counts, velocities in mm/yr, trend-class
proportions); each region becomes a polygon of its cell edges (:func:`polygonize_labels`,
``rasterio.features.shapes``), optionally cut to the buffered hull of its moving points
(:func:`hull_outlines`). :mod:`slidemap.hotspots.candidates` builds the candidate polygons
of a track and the merged PLCs from these.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from scipy import ndimage

from slidemap.raster import Grid

__all__ = [
    "label_regions",
    "region_statistics",
    "polygonize_labels",
    "hull_outlines",
]


def label_regions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected regions of a boolean raster.

    Parameters
    ----------
    mask
        Boolean raster (rows × cols).

    Returns
    -------
    tuple
        ``(labels, n)``: int32 labels 1..n (0 = background) in raster-scan order, and n.
    """
    labels, n = ndimage.label(np.asarray(mask, dtype=bool))
    return labels.astype(np.int32, copy=False), int(n)


def _trend_counts(label_of_point: np.ndarray, trend_class: Sequence, n: int) -> np.ndarray:
    """Count points of each trend class per label (n+1 × 3)."""
    cls = pd.Series(np.asarray(trend_class, dtype=object)).astype("str")
    out = np.zeros((n + 1, 3))
    for k, name in enumerate(("uncorrelated", "linear", "nonlinear")):
        sel = (cls == name).to_numpy()
        out[:, k] = np.bincount(label_of_point[sel], minlength=n + 1)
    return out


def region_statistics(
    label_of_point: np.ndarray,
    n_labels: int,
    velocity_mm_yr: np.ndarray,
    moving: np.ndarray,
    trend_class: Sequence | None = None,
) -> pd.DataFrame:
    """Point statistics of each labelled region.

    Parameters
    ----------
    label_of_point
        Region label (1..n_labels; 0 = outside every region) of each point.
    n_labels
        Number of regions.
    velocity_mm_yr
        LOS velocity of each point (mm/yr).
    moving
        Whether each point is moving (|v| ≥ threshold).
    trend_class
        Trend class of each point (``uncorrelated|linear|nonlinear`` or missing), or None.

    Returns
    -------
    pandas.DataFrame
        Indexed by label 1..n_labels: ``n_points``, ``n_moving``, ``mean_v_mm_yr``,
        ``mean_abs_v_mm_yr``, ``max_abs_v_mm_yr``, ``p_uncorrelated``, ``p_linear``,
        ``p_nonlinear`` (proportions among the classified points; NaN when none).
    """
    lab = np.asarray(label_of_point, dtype=np.int64)
    v = np.asarray(velocity_mm_yr, dtype=np.float64)
    m = n_labels + 1
    n_pts = np.bincount(lab, minlength=m).astype(np.int64)
    n_mov = np.bincount(lab, weights=np.asarray(moving, dtype=np.float64), minlength=m)
    sum_v = np.bincount(lab, weights=v, minlength=m)
    sum_abs = np.bincount(lab, weights=np.abs(v), minlength=m)
    max_abs = np.full(m, np.nan)
    nonempty = n_pts > 0
    if lab.size:
        peak = ndimage.maximum(np.abs(v), lab, index=np.arange(m))
        max_abs[nonempty] = np.asarray(peak, dtype=np.float64)[nonempty]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_v = sum_v / n_pts
        mean_abs = sum_abs / n_pts
    frame = pd.DataFrame(
        {
            "n_points": n_pts,
            "n_moving": n_mov.astype(np.int64),
            "mean_v_mm_yr": mean_v,
            "mean_abs_v_mm_yr": mean_abs,
            "max_abs_v_mm_yr": max_abs,
        }
    )
    if trend_class is not None:
        counts = _trend_counts(lab, trend_class, n_labels)
        total = counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            props = counts / total[:, None]
    else:
        props = np.full((m, 3), np.nan)
    frame["p_uncorrelated"] = props[:, 0]
    frame["p_linear"] = props[:, 1]
    frame["p_nonlinear"] = props[:, 2]
    return frame.iloc[1:].set_axis(np.arange(1, m), axis=0)


def polygonize_labels(labels: np.ndarray, grid: Grid) -> gpd.GeoSeries:
    """Polygons of the labelled regions of a raster (one (multi)polygon per label).

    Parameters
    ----------
    labels
        int32 raster of region labels (0 = background).
    grid
        The raster's grid.

    Returns
    -------
    geopandas.GeoSeries
        Indexed by label, geometries in the grid's CRS (cell edges exactly).
    """
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    mask = labels > 0
    if not mask.any():
        return gpd.GeoSeries([], crs=grid.crs, dtype="geometry")
    vals, geoms = [], []
    for geom, value in rasterio.features.shapes(
        labels, mask=mask, connectivity=4, transform=grid.transform
    ):
        vals.append(int(value))
        geoms.append(shapely.geometry.shape(geom))
    gs = gpd.GeoSeries(geoms, index=vals, crs=grid.crs)
    if gs.index.has_duplicates:  # a label split into parts (cannot happen with 4-connectivity)
        gs = gs.groupby(level=0).agg(shapely.union_all)
        gs = gpd.GeoSeries(gs, crs=grid.crs)
    return gs.sort_index()


def _polygonal(geom):
    """Keep the polygon parts of a geometry (an intersection may add stray lines or points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon") or geom.is_empty:
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def carve_stable(shape, selected_xy: np.ndarray, other_xy: np.ndarray):
    """Cut out of ``shape`` the ground nearer to an other point than to any selected point.

    Parameters
    ----------
    shape
        A shapely polygon (m): the widened hull of the selected points.
    selected_xy
        (n, 2) coordinates (m) of the selected points (moving, of the region's sign).
    other_xy
        (m, 2) coordinates (m) of the region's other points (stable or moving the other
        way).

    Returns
    -------
    shapely geometry
        ``shape`` minus the union of the other points' Voronoi cells in the diagram of both
        sets: what stays is the ground whose nearest measurement moves. An other point at
        the very place of a selected one (same coordinates) carves nothing there. With no
        other point, ``shape`` unchanged.
    """
    sel = np.asarray(selected_xy, np.float64).reshape(-1, 2)
    oth = np.asarray(other_xy, np.float64).reshape(-1, 2)
    if len(oth) == 0 or shape.is_empty:
        return shape
    both = shapely.multipoints(np.vstack([sel, oth]))
    bounds = shapely.bounds([shape, both])  # the diagram covers the shape and every site
    frame = shapely.box(*bounds[:, :2].min(0), *bounds[:, 2:].max(0))
    cells = shapely.get_parts(shapely.voronoi_polygons(both, extend_to=frame))
    tree = shapely.STRtree(cells)
    # which cell holds which site (a site lies inside its own cell; coincident sites share one)
    sel_cells = np.unique(tree.query(shapely.points(sel), predicate="within")[1])
    oth_cells = np.unique(tree.query(shapely.points(oth), predicate="within")[1])
    stable = np.setdiff1d(oth_cells, sel_cells)
    if stable.size == 0:
        return shape
    return _polygonal(shapely.difference(shape, shapely.union_all(cells[stable])))


def _points_by_region(mask: np.ndarray, lab: np.ndarray, x, y, ids: np.ndarray):
    """Return the ``mask`` points' coordinates (m) sorted by region, and each region's slice.

    Returns ``(coords, starts, ends)``: region ``ids[k]``'s points are
    ``coords[starts[k]:ends[k]]``.
    """
    order = np.argsort(lab[mask], kind="stable")
    labs = lab[mask][order]
    coords = np.column_stack([np.asarray(x)[mask][order], np.asarray(y)[mask][order]])
    return (
        coords,
        np.searchsorted(labs, ids, side="left"),
        np.searchsorted(labs, ids, side="right"),
    )


def hull_outlines(
    regions: gpd.GeoSeries,
    label_of_point: np.ndarray,
    selected: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    buffer_m: float,
    concavity: float = 1.0,
    grid: Grid | None = None,
    carve: bool = False,
) -> gpd.GeoSeries:
    """Cut region polygons to the buffered hull of their selected points.

    Parameters
    ----------
    regions
        Region polygons indexed by label.
    label_of_point
        Region label of each point (0 = outside every region).
    selected
        Points that outline a region (its moving points of the region's sign).
    x, y
        Point coordinates (m).
    buffer_m
        Width (m) added around each hull (a hull of one or two points is a disc or a
        capsule of this radius).
    concavity
        1 = the convex hull; below 1 a concave hull (``shapely.concave_hull`` with this
        ratio: the longest edge kept, relative to the longest distance between points), so
        that a curved band of points (a settling road embankment) is not filled in.
    grid
        Optional :class:`slidemap.raster.Grid` the regions' cells lie on. With a buffer
        under half a cell diagonal (10 m at 25–30 m cells) the widened hull can leave a
        selected point's cell centre out, so a raster burn of the outline (cell centres
        inside) misses that point's cell; given the grid, each such point gets a spoke to
        its cell centre, widened by ``min(buffer_m, cell / 4)`` (m): the outline then holds
        every selected point's cell centre. A spoke lies in its point's cell, at least half
        a cell from any other centre, so it adds no other cell; where every centre is
        inside already (a buffer of half a cell diagonal or more: 10 m at 10 m cells), or
        ``buffer_m`` is 0, the outline is unchanged.
    carve
        Also cut out the ground nearer to a measured point of the region that is not
        selected (a stable point, or one moving the other way) than to any selected point
        of it: the Voronoi cells of those points (:func:`carve_stable`). Where few points
        measure a slope, a hull spans stable measurements between moving ones; their
        cells are the ground the data show not moving. Applied before the spokes, so the
        outline still holds every selected point's cell centre.

    Returns
    -------
    geopandas.GeoSeries
        Same index; ``region ∩ (buffer(hull(points), buffer_m) [− stable cells] ∪
        spokes)``, or the region unchanged when it holds no selected point.
    """
    lab = np.asarray(label_of_point)
    chosen = np.asarray(selected, bool)
    ids = regions.index.to_numpy()
    coords, starts, ends = _points_by_region(chosen & (lab > 0), lab, x, y, ids)
    if grid is not None:
        row, col, _ = grid.cell_of(coords[:, 0], coords[:, 1])
        cx, cy = grid.transform @ (col + 0.5, row + 0.5)
        centres = np.column_stack([np.asarray(cx, float), np.asarray(cy, float)])
    if carve:  # the region's other points, grouped the same way
        o_coords, o_starts, o_ends = _points_by_region(~chosen & (lab > 0), lab, x, y, ids)
    out = []
    for k, (geom, a, b) in enumerate(zip(regions.to_numpy(), starts, ends, strict=True)):
        if b <= a:
            out.append(geom)
            continue
        pts = shapely.multipoints(coords[a:b])
        hull = (
            shapely.convex_hull(pts)
            if concavity >= 1.0
            else shapely.concave_hull(pts, ratio=float(concavity))
        )
        shape = shapely.buffer(hull, buffer_m)
        if carve and o_ends[k] > o_starts[k]:
            shape = carve_stable(shape, coords[a:b], o_coords[o_starts[k] : o_ends[k]])
        if grid is not None and buffer_m > 0:  # spokes to the cell centres left outside
            out_c = ~shapely.contains_xy(shape, centres[a:b, 0], centres[a:b, 1])
            if out_c.any():
                spokes = np.stack([coords[a:b][out_c], centres[a:b][out_c]], axis=1)
                width = min(buffer_m, 0.25 * grid.resolution_m)
                lines = shapely.multilinestrings(list(spokes))
                shape = shapely.union(shape, shapely.buffer(lines, width))
        cut = _polygonal(shapely.intersection(geom, shape))
        out.append(cut if not cut.is_empty else geom)
    return gpd.GeoSeries(out, index=regions.index, crs=regions.crs)
