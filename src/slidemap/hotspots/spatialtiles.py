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

import numpy as np

from slidemap.hotspots.gistar import gistar_scale, gistar_z, neighbour_pairs

__all__ = ["point_tiles", "halo_mask", "gistar_tile", "gistar_tiled"]

#: Relative and absolute widening of a halo (float rounding of the tile edges must never
#: drop a point within the band; extra halo points only cost time).
_HALO_REL, _HALO_ABS = 1e-9, 1e-6


def point_tiles(xy: np.ndarray, tile_size_m: float) -> np.ndarray:
    """Tile index ``(i, j)`` of each point: ``floor(x / s)``, ``floor(y / s)``.

    Parameters
    ----------
    xy
        Coordinates (n × 2) in metres of the working CRS.
    tile_size_m
        Tile edge ``s`` in metres.

    Returns
    -------
    numpy.ndarray
        int64 (n × 2): column index i (x) and row index j (y) of each point's tile.
    """
    if not tile_size_m > 0:
        raise ValueError(f"tile_size_m must be > 0, got {tile_size_m}")
    return np.floor(np.asarray(xy, dtype=np.float64) / float(tile_size_m)).astype(np.int64)


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
