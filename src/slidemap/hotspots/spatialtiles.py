"""Spatial tiles of a track for the InSAR stages (issue 14, item 1): Gi* per tile + halo.

A track of tens of millions of points does not fit one job; cut into square tiles of
``tile_size_m`` it does, if every per-point result of a tile equals the one of the whole
track. The tiles are fixed by the working CRS alone (tile ``(i, j)`` covers
``[i·s, (i+1)·s) × [j·s, (j+1)·s)`` metres), not by the points, so a new batch of points
never moves a tile boundary: it touches the tiles its points fall in, plus their halos.

Getis-Ord Gi* (:mod:`slidemap.hotspots.gistar`) splits into

- a **global** part: the number of points n and the centre and spread of the values
  (:func:`~slidemap.hotspots.gistar.gistar_scale`: mean and standard deviation, or median
  and 1.4826 × MAD) — one small merge over every tile's values (8 bytes per point: 160 MB
  for 20 M points);
- a **local** part: the band sum ``Σ_j w_ij x_j`` and the band count ``W_i`` of each point,
  which need only the points within the band — the tile's own points and a halo of at least
  the band radius around the tile (:func:`gistar_tile`).

z is then :func:`~slidemap.hotspots.gistar.gistar_z` of the two. The band sums of a tile add
the same terms as the whole-track computation in another order, so z agrees to rounding
(~1e-15 relative); the band counts are identical (the same pairs are within the band: a
pair's distance is computed from the same two coordinates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from slidemap.hotspots.gistar import gistar_scale, gistar_z, neighbour_pairs
from slidemap.insar.partition import point_tiles

if TYPE_CHECKING:
    import pandas as pd

    from slidemap.hotspots.pipeline import HotspotParams

__all__ = [
    "point_tiles",
    "halo_mask",
    "gistar_tile",
    "gistar_tiled",
    "knn_distances_tile",
    "knn_ranks",
    "hotspot_fields_tiled",
]

#: Relative and absolute widening of a halo (float rounding of the tile edges must never
#: drop a point within the band; extra halo points only cost time).
_HALO_REL, _HALO_ABS = 1e-9, 1e-6


def halo_mask(
    xy: np.ndarray, tile: tuple[int, int], tile_size_m: float, halo_m: float
) -> np.ndarray:
    """Points of a tile grown by a halo: every point within ``halo_m`` of the tile (box).

    Parameters
    ----------
    xy
        Coordinates (n × 2) in metres.
    tile
        ``(i, j)`` of :func:`point_tiles`.
    tile_size_m
        Tile edge in metres.
    halo_m
        Halo width in metres (at least the Gi* band); widened by a hair against rounding.

    Returns
    -------
    numpy.ndarray
        bool (n,): True for the tile's own points and its halo points.
    """
    xy = np.asarray(xy, dtype=np.float64)
    s = float(tile_size_m)
    h = float(halo_m) * (1.0 + _HALO_REL) + _HALO_ABS
    x0, y0 = tile[0] * s, tile[1] * s
    x, y = xy[:, 0], xy[:, 1]
    return (x >= x0 - h) & (x < x0 + s + h) & (y >= y0 - h) & (y < y0 + s + h)


def gistar_tile(
    values: np.ndarray,
    xy: np.ndarray,
    core: np.ndarray,
    radius_m: float,
    *,
    centre: float,
    spread: float,
    n_total: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z and band counts of a tile's own points, from the tile and its halo.

    Parameters
    ----------
    values
        Values (n,) of the tile's points and its halo points (e.g. mm/yr).
    xy
        Their coordinates (n × 2) in metres.
    core
        bool (n,): True for the tile's own points (those whose z is wanted). The others
        must hold every point within ``radius_m`` of a core point (:func:`halo_mask`).
    radius_m
        Distance band in metres.
    centre, spread
        :func:`~slidemap.hotspots.gistar.gistar_scale` of the whole track.
    n_total
        Number of points of the whole track.

    Returns
    -------
    z, cardinality
        For the core points, in their order: z-scores and ``W_i`` (int64).
    """
    x = np.asarray(values, dtype=np.float64)
    core = np.asarray(core, dtype=bool)
    # core points first: indices below n_core are the ones whose sums are wanted
    order = np.concatenate([np.flatnonzero(core), np.flatnonzero(~core)])
    xs, ps = x[order], np.asarray(xy, dtype=np.float64)[order]
    n_core = int(core.sum())
    pairs = neighbour_pairs(ps, radius_m)
    i, j = pairs[:, 0], pairs[:, 1]
    a, b = i < n_core, j < n_core
    lag = xs[:n_core] + np.bincount(i[a], weights=xs[j[a]], minlength=n_core)
    lag += np.bincount(j[b], weights=xs[i[b]], minlength=n_core)
    card = 1 + np.bincount(i[a], minlength=n_core) + np.bincount(j[b], minlength=n_core)
    return gistar_z(lag, card, n_total, centre, spread), card.astype(np.int64)


def gistar_tiled(
    values: np.ndarray,
    xy: np.ndarray,
    radius_m: float,
    tile_size_m: float,
    *,
    scale: str = "sample",
) -> tuple[np.ndarray, np.ndarray]:
    """Gi* of a whole track computed tile by tile (what the tile jobs and merge compute).

    Parameters
    ----------
    values, xy
        Values (n,) and coordinates (n × 2, metres) of every point of the track.
    radius_m
        Distance band in metres.
    tile_size_m
        Tile edge in metres (any size ≥ the band gives the same result).
    scale
        ``"sample"`` or ``"robust"`` (:func:`~slidemap.hotspots.gistar.gistar_scale`).

    Returns
    -------
    z, cardinality
        Per point, in the input order.
    """
    x = np.asarray(values, dtype=np.float64)
    xy = np.asarray(xy, dtype=np.float64)
    if not (np.isfinite(x).all() and np.isfinite(xy).all()):
        raise ValueError("values and coordinates must be finite")
    if x.size < 2:
        raise ValueError("Gi* needs at least 2 points")
    centre, spread = gistar_scale(x, scale)  # the merge: global statistics
    tiles = point_tiles(xy, tile_size_m)
    z = np.empty(x.size)
    card = np.empty(x.size, np.int64)
    for tile in np.unique(tiles, axis=0):  # the tile jobs
        own = (tiles[:, 0] == tile[0]) & (tiles[:, 1] == tile[1])
        near = halo_mask(xy, (int(tile[0]), int(tile[1])), tile_size_m, radius_m)
        near |= own
        z_t, card_t = gistar_tile(
            x[near], xy[near], own[near], radius_m, centre=centre, spread=spread, n_total=x.size
        )
        idx = np.flatnonzero(near)[own[near]]
        z[idx], card[idx] = z_t, card_t
    return z, card


def _box_margin(xy: np.ndarray, tile: tuple[int, int], tile_size_m: float, halo_m: float):
    """Distance (m) from each point to the edge of the tile's box grown by ``halo_m``."""
    s = float(tile_size_m)
    x0, y0 = tile[0] * s - halo_m, tile[1] * s - halo_m
    x1, y1 = (tile[0] + 1) * s + halo_m, (tile[1] + 1) * s + halo_m
    return np.minimum.reduce([xy[:, 0] - x0, x1 - xy[:, 0], xy[:, 1] - y0, y1 - xy[:, 1]])


def knn_distances_tile(
    xy: np.ndarray,
    core: np.ndarray,
    k: int,
    *,
    tile: tuple[int, int],
    tile_size_m: float,
    halo_m: float,
    beyond: str = "raise",
) -> np.ndarray:
    """Distance (m) from each core point to its k-th nearest other point, from tile + halo.

    Parameters
    ----------
    xy
        The tile's points and its halo points (n × 2, metres; :func:`halo_mask` with
        ``halo_m``).
    core
        bool (n,): the tile's own points.
    k
        Neighbour rank (≥ 1; the point itself is not counted).
    tile, tile_size_m, halo_m
        The tile and the halo its points were selected with.
    beyond
        What to do where a core point's k-th neighbour is farther than the halo reaches
        (its true k-th neighbour could lie outside): ``"raise"`` (ValueError) or ``"inf"``
        (+inf for that point: its true distance is at least ``halo_m``, which is all a
        median below ``halo_m`` needs; see
        :func:`slidemap.hotspots.tilefields.knn_median`).

    Returns
    -------
    numpy.ndarray
        Distances (core points, in order); NaN where fewer than k other points exist.

    Raises
    ------
    ValueError
        With ``beyond="raise"``, when a core point's k-th neighbour is farther than the
        halo reaches: a larger halo is needed.
    """
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, dtype=np.float64)
    core = np.asarray(core, dtype=bool)
    if xy.shape[0] <= k:  # too few points in tile + halo: none, or all beyond the halo
        return np.full(int(core.sum()), np.inf if beyond == "inf" else np.nan)
    dist = cKDTree(xy).query(xy[core], k=k + 1)[0][:, k]
    margin = _box_margin(xy[core], tile, tile_size_m, halo_m)
    short = dist > margin
    if short.any() and beyond == "inf":
        return np.where(short, np.inf, dist)
    if short.any():
        raise ValueError(
            f"tile {tile}: the {k}-th neighbour of {int(short.sum())} point(s) is up to "
            f"{float(dist[short].max()):.0f} m away, beyond the {halo_m:g} m halo: sparse "
            "points need a larger halo."
        )
    return dist


def knn_ranks(params: HotspotParams) -> list[int]:
    """Neighbour ranks whose k-th-neighbour distances the settings use, ascending.

    The "auto" radii take the median k-th-neighbour distance of ``search_neighbours`` and
    ``kernel_neighbours``; the summary reports the 5th and 8th.
    """
    return sorted({params.search_neighbours, params.kernel_neighbours, 8, 5})


def hotspot_fields_tiled(
    points: pd.DataFrame, params: HotspotParams, tile_size_m: float, *, halo_m: float
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Compute the high-pass, the settings and Gi* of a track tile by tile.

    This is the chain the tile jobs and merges run, in one process: a merge over the light
    columns of every point (x, y, velocity: 24 bytes per point) fits the robust plane; tile
    jobs (tile + ``halo_m``) take the local medians of the nodes in their tile and the
    k-th-neighbour distances of their points; a merge fills the node grid, takes the
    high-passed velocities of all points (elementwise), the noise level, the threshold, the
    radii and Gi*'s centre and spread (:func:`~slidemap.hotspots.pipeline.resolve_settings`
    itself); tile jobs then take Gi* of their points. Equal to
    :func:`~slidemap.hotspots.pipeline.analyse_points` (same settings; the same
    ``v_background_mm_yr`` and ``v_hp_mm_yr`` bit for bit; the same ``gi_n``; ``gi_z`` to
    1e-12).

    Parameters
    ----------
    points
        The track's points (``x_m``, ``y_m``, ``velocity_mm_yr``), in track order.
    params
        Hot-spot settings (``permutations`` must be 0: their random draws span the track).
    tile_size_m
        Tile edge in metres.
    halo_m
        Halo in metres: at least the high-pass radius, the Gi* band and the k-th-neighbour
        distances of the "auto" radii (checked).

    Returns
    -------
    settings, fields
        The settings of :func:`~slidemap.hotspots.pipeline.resolve_settings`; and
        ``v_background_mm_yr``, ``v_hp_mm_yr``, ``gi_z``, ``gi_n`` per point (track order).
    """
    from slidemap.hotspots.adaptive import (
        _fill_nearest,
        _node_axes,
        evaluate_plane,
        interpolate_nodes,
        node_medians,
        plane_coefficients,
    )
    from slidemap.hotspots.pipeline import resolve_settings

    if params.permutations:
        raise ValueError("Gi* permutations draw over the whole track; tiles need 0")
    xy = points[["x_m", "y_m"]].to_numpy(np.float64)
    v = points["velocity_mm_yr"].to_numpy(np.float64)
    n, min_points = v.size, 30
    tiles = point_tiles(xy, tile_size_m)
    keys = np.unique(tiles, axis=0)
    radius = float(params.highpass_radius_m or 0.0)
    if radius and halo_m < radius:
        raise ValueError(f"halo {halo_m} m is below the high-pass radius {radius} m")
    # merge A: the robust plane and the node lattice from the light columns of every point
    highpass = bool(radius) and n >= min_points
    if highpass:
        plane = plane_coefficients(xy, v)
        spacing = radius / 2.0
        gx = _node_axes(xy[:, 0].min(), xy[:, 0].max(), spacing)
        gy = _node_axes(xy[:, 1].min(), xy[:, 1].max(), spacing)
        nodes = np.column_stack([np.repeat(gx, gy.size), np.tile(gy, gx.size)])
        node_tile = point_tiles(nodes, tile_size_m)
        med = np.full(len(nodes), np.nan)
    ks = knn_ranks(params)
    knn_d = {k: np.full(n, np.nan) for k in ks}
    # tile jobs, pass 1: node medians of the tile's nodes, k-th-neighbour distances; a tile
    # without points of its own may still hold nodes whose discs reach points of its halo
    jobs = np.unique(np.vstack([keys, node_tile]), axis=0) if highpass else keys
    for key in jobs:
        tile = (int(key[0]), int(key[1]))
        own = (tiles == key).all(axis=1)
        near = halo_mask(xy, tile, tile_size_m, halo_m) | own
        if highpass:
            mine = (node_tile == key).all(axis=1)
            resid = v[near] - evaluate_plane(xy[near], plane)
            med[mine] = node_medians(xy[near], resid, nodes[mine], radius, min_points)
        if own.any():
            idx = np.flatnonzero(near)[own[near]]
            for k in ks:
                knn_d[k][idx] = knn_distances_tile(
                    xy[near], own[near], k, tile=tile, tile_size_m=tile_size_m, halo_m=halo_m
                )
    # merge C: the node grid, the high-pass of every point, the settings
    if highpass:
        grid = med.reshape(gx.size, gy.size)
        if np.isfinite(grid).any():
            local = interpolate_nodes(xy, _fill_nearest(grid), gx, gy, spacing)
        else:
            local = np.zeros(n)
        background = evaluate_plane(xy, plane) + local
        highpassed = (v - background, background)
    elif radius:  # too few points to tell a background from the signal
        highpassed = (v.copy(), np.zeros(n))
    else:
        highpassed = (v.copy(), np.zeros_like(v))

    def knn(k: int) -> float:
        d = knn_d[k] if k in knn_d else np.full(n, np.nan)
        return float(np.median(d)) if n > k else float("nan")

    settings, columns = resolve_settings(points, params, highpassed=highpassed, knn=knn)
    v_hp = columns["v_hp_mm_yr"].to_numpy(np.float64)
    band = float(settings["search_radius_m"])
    if halo_m < band:
        raise ValueError(f"halo {halo_m} m is below the Gi* band {band} m")
    centre, spread = gistar_scale(v_hp, params.gi_scale)
    # tile jobs, pass 2: Gi* of the tile's points
    z = np.empty(n)
    card = np.empty(n, np.int64)
    for key in keys:
        tile = (int(key[0]), int(key[1]))
        own = (tiles == key).all(axis=1)
        near = halo_mask(xy, tile, tile_size_m, band) | own
        idx = np.flatnonzero(near)[own[near]]
        z[idx], card[idx] = gistar_tile(
            v_hp[near], xy[near], own[near], band, centre=centre, spread=spread, n_total=n
        )
    fields = {
        "v_background_mm_yr": columns["v_background_mm_yr"].to_numpy(),
        "v_hp_mm_yr": v_hp,
        "gi_z": z,
        "gi_n": card,
    }
    return settings, fields
