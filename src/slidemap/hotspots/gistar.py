"""Getis-Ord Gi* (seed 002, Eq. 1) with a binary fixed distance band, for millions of points.

For point i with binary weights ``w_ij = 1`` for every point j within the distance band
(``star``: the point itself included, ``w_ii = 1``):

    Gi* = (Σ_j w_ij x_j − x̄ W_i) / (S √((n W_i − W_i²) / (n − 1)))

with ``W_i = Σ_j w_ij`` (for binary weights also ``Σ_j w_ij²``), ``x̄`` and ``S`` the mean and
the population standard deviation of all n values (Ord & Getis 1995). Gi* is a z-score;
``p_norm`` is its two-sided normal p-value (ArcGIS's convention; esda reports the one-sided
``norm.sf(|z|)``, half of it).

The neighbour pairs come from a KD-tree (``scipy.spatial.cKDTree.query_pairs``) on points
sorted by a coarse spatial key (so that neighbours are close in memory), the sums from the
pair list (the upper triangle of the sparse binary weights matrix). This equals
``esda.G_Local(x, libpysal.weights.DistanceBand(xy, r, binary=True), star=True,
transform="B").Zs`` to rounding when ``mean(x) > 0``; for ``mean(x) < 0`` esda's ``Zs`` has
the opposite sign, because esda standardises ``G = Σ w x / Σ x`` and divides by ``|x̄|`` (Eq. 1
has no such sign flip). Coincident points are neighbours of each other here (distance 0 is
within the band); libpysal's DistanceBand drops zero distances.

Optional conditional-permutation p-values hold ``x_i`` fixed and draw the other ``W_i − 1``
neighbour values without replacement from the other n − 1 points (esda's scheme: one set of
random ids per permutation shared by all points), with an explicit seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp
from scipy import special
from scipy.spatial import cKDTree

from slidemap.hotspots.adaptive import clipped_noise

__all__ = [
    "SCALES",
    "GiStarResult",
    "neighbour_pairs",
    "band_sums",
    "distance_band_weights",
    "getis_ord_gi_star",
    "gistar_scale",
    "gistar_z",
]


#: Scales of the Gi* z-scores (:func:`gistar_scale`).
SCALES = ("sample", "robust", "clipped")


@dataclass
class GiStarResult:
    """Gi* of n points (arrays of length n, in the input order).

    Attributes
    ----------
    z
        Gi* z-scores (Eq. 1).
    p_norm
        Two-sided p-values under the normal approximation.
    cardinality
        ``W_i``: number of points within the band, the point itself included.
    p_sim
        Folded pseudo p-values of the conditional permutation test (``(larger + 1) /
        (permutations + 1)`` with ``larger`` the number of permuted values at least as
        extreme on the observed side), or None without permutations.
    """

    z: np.ndarray
    p_norm: np.ndarray
    cardinality: np.ndarray
    p_sim: np.ndarray | None = None


def _spatial_order(xy: np.ndarray, cell_m: float) -> np.ndarray:
    """Permutation that sorts points by (row, column) of a ``cell_m`` grid (memory locality)."""
    ij = np.floor((xy - xy.min(axis=0)) / cell_m).astype(np.int64)
    return np.lexsort((ij[:, 0], ij[:, 1]))


#: Points per block of :func:`band_sums` (bounds its pair list, 16 bytes per pair: a block
#: of 200,000 points with 100 neighbours each holds ~0.2 GB of pairs at a time).
BAND_BLOCK_POINTS = 200_000


def _core_sums(x: np.ndarray, pairs: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Band sums and counts of points ``lo:hi`` of ``x`` from pairs of a superset of them."""
    i, j = pairs[:, 0], pairs[:, 1]
    a, b = (i >= lo) & (i < hi), (j >= lo) & (j < hi)
    m = hi - lo
    # sums over the upper triangle of the binary weights, both directions, plus the diagonal
    lag = x[lo:hi] + np.bincount(i[a] - lo, weights=x[j[a]], minlength=m)
    lag += np.bincount(j[b] - lo, weights=x[i[b]], minlength=m)
    card = 1 + np.bincount(i[a] - lo, minlength=m) + np.bincount(j[b] - lo, minlength=m)
    return lag, card


def band_sums(
    x: np.ndarray, xy: np.ndarray, radius_m: float, *, block_points: int = BAND_BLOCK_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Band sums ``Σ_j w_ij x_j`` and counts ``W_i`` (self included), block by block.

    The points must be in the order of :func:`_spatial_order` with ``cell_m = radius_m``
    (rows of ``radius_m`` cells, bottom up). Blocks of ``block_points`` consecutive points
    take their neighbours from the rows within two of theirs, so the pairs of one block are
    in memory at a time (a dense track has ~10^8 pairs: 2 GB at once). A single block
    sums in the order of the whole-track pair list; more blocks add the same terms in
    another order (~1e-16 relative); the counts are identical.

    Parameters
    ----------
    x
        Values (n,), e.g. mm/yr.
    xy
        Coordinates (n × 2) in metres, in spatial order.
    radius_m
        Distance band in metres.
    block_points
        Points per block (≥ 1).

    Returns
    -------
    lag, card
        float64 and int64 (n,), in the input order.
    """
    n = x.size
    if n <= block_points:
        return _core_sums(x, neighbour_pairs(xy, radius_m), 0, n)
    rows = np.floor((xy[:, 1] - xy[:, 1].min()) / radius_m).astype(np.int64)
    lag, card = np.empty(n), np.empty(n, np.int64)
    for lo in range(0, n, block_points):
        hi = min(lo + block_points, n)
        # two rows of halo (one is enough in exact arithmetic; the floor may round)
        h0 = int(np.searchsorted(rows, rows[lo] - 2, side="left"))
        h1 = int(np.searchsorted(rows, rows[hi - 1] + 2, side="right"))
        pairs = neighbour_pairs(xy[h0:h1], radius_m)
        lag[lo:hi], card[lo:hi] = _core_sums(x[h0:h1], pairs, lo - h0, hi - h0)
    return lag, card


def neighbour_pairs(xy: np.ndarray, radius_m: float) -> np.ndarray:
    """Every unordered pair of distinct points closer than or at ``radius_m``.

    Parameters
    ----------
    xy
        Coordinates (n × 2) in metres of a projected CRS.
    radius_m
        Distance band in metres.

    Returns
    -------
    numpy.ndarray
        int64 array (m × 2) of index pairs ``i < j`` into ``xy`` (each pair once).
    """
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    if xy.shape[0] < 2:
        return np.empty((0, 2), np.int64)
    tree = cKDTree(xy, balanced_tree=False, compact_nodes=False)
    return tree.query_pairs(float(radius_m), output_type="ndarray")


def distance_band_weights(xy: np.ndarray, radius_m: float, *, star: bool = True) -> sp.csr_array:
    """Binary distance-band weights as a sparse matrix.

    Parameters
    ----------
    xy
        Coordinates (n × 2) in metres.
    radius_m
        Distance band in metres (neighbours at distance ≤ radius).
    star
        Put ones on the diagonal (each point is its own neighbour, as Gi* needs).

    Returns
    -------
    scipy.sparse.csr_array
        Symmetric n × n matrix of 0/1 weights (float64).
    """
    n = len(xy)
    pairs = neighbour_pairs(xy, radius_m)
    rows = [pairs[:, 0], pairs[:, 1]]
    cols = [pairs[:, 1], pairs[:, 0]]
    if star:
        rows.append(np.arange(n))
        cols.append(np.arange(n))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    return sp.csr_array((np.ones(r.size), (r, c)), shape=(n, n))


@numba.njit(parallel=True, cache=True, nogil=True)
def _permutation_counts(x, cardinality, rids, observed_sum):  # pragma: no cover - numba
    """Count permutations whose neighbour sum is ≥ the observed one, per point."""
    n = x.size
    n_perm = rids.shape[0]
    larger = np.zeros(n, np.int64)
    for i in numba.prange(n):
        k = cardinality[i] - 1
        cnt = 0
        for p in range(n_perm):
            s = x[i]
            for c in range(k):
                r = rids[p, c]
                if r >= i:
                    r += 1
                s += x[r]
            if s >= observed_sum[i]:
                cnt += 1
        larger[i] = cnt
    return larger


def gistar_scale(values: np.ndarray, scale: str = "sample") -> tuple[float, float]:
    """Compute the centre and spread Gi* measures local sums against (all values of a track).

    Parameters
    ----------
    values
        Every value of the track (n,), e.g. mm/yr; finite.
    scale
        ``"sample"``: mean and population standard deviation; ``"robust"``: median and
        1.4826 × the median absolute deviation; ``"clipped"``: the same over the values
        within 3σ, re-drawn until stable (:func:`slidemap.hotspots.adaptive.clipped_noise`:
        the noise level of the stable points where many points move).

    Returns
    -------
    centre, spread
        In the unit of ``values``.

    Raises
    ------
    ValueError
        For a constant field (zero spread).
    """
    x = np.asarray(values, dtype=np.float64)
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if scale == "robust":
        mean = float(np.median(x))
        std = 1.4826 * float(np.median(np.abs(x - mean)))
    elif scale == "clipped":
        mean, std = clipped_noise(x)
    else:
        mean = float(x.mean())
        std = float(np.sqrt(max(np.mean(x * x) - mean * mean, 0.0)))
    if std <= 1e-12 * max(1.0, abs(mean)):
        raise ValueError("Gi* is undefined for a constant field (zero standard deviation)")
    return mean, std


def gistar_z(
    lag: np.ndarray, cardinality: np.ndarray, n: int, centre: float, spread: float
) -> np.ndarray:
    """Compute Gi* z-scores (Eq. 1) from band sums, band counts and the track statistics.

    Parameters
    ----------
    lag
        ``Σ_j w_ij x_j`` per point (unit of the values; the point itself included).
    cardinality
        ``W_i`` per point (points in the band, itself included).
    n
        Number of points of the whole track.
    centre, spread
        From :func:`gistar_scale` over the whole track.

    Returns
    -------
    numpy.ndarray
        z per point (0 where the band holds every point).
    """
    w = np.asarray(cardinality, dtype=np.float64)
    denom = spread * np.sqrt(np.maximum(n * w - w * w, 0.0) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.asarray(lag, dtype=np.float64) - centre * w) / denom
    return np.where(denom > 0, z, 0.0)  # a band holding every point carries no signal


def getis_ord_gi_star(
    values: np.ndarray,
    xy: np.ndarray,
    radius_m: float,
    *,
    permutations: int = 0,
    seed: int | None = None,
    scale: str = "sample",
) -> GiStarResult:
    """Getis-Ord Gi* z-scores of ``values`` with a binary distance band (star: self included).

    With ``scale="sample"`` (Getis & Ord 1992; Ord & Getis 1995) the z-score is
    ``(Σ_j w_ij x_j − x̄ W_i) / (S √((n Σ w_ij² − W_i²)/(n − 1)))`` with the sample mean x̄ and
    standard deviation S of all values. With ``scale="robust"`` x̄ is replaced by the median
    and S by 1.4826 × the median absolute deviation: the z-score then measures a local sum
    against the noise of the field rather than against a spread that the moving areas
    themselves inflate (a track with a few fast slides has S several times its noise level,
    which hides slow ones).

    Parameters
    ----------
    values
        Values at the points (n,), e.g. LOS velocity in mm/yr. Must be finite.
    xy
        Coordinates (n × 2) in metres of a projected CRS.
    radius_m
        Distance band in metres (seed 002: 200 m).
    permutations
        Number of conditional permutations for ``p_sim`` (0 = none). Cost grows with
        ``n × permutations × mean cardinality``.
    seed
        Seed of the permutation random numbers (required when ``permutations > 0``).
    scale
        ``"sample"`` (mean and standard deviation, the textbook Gi*), ``"robust"``
        (median and 1.4826 × MAD) or ``"clipped"`` (the same without the values beyond 3σ:
        :func:`gistar_scale`); the permutation p-values do not depend on it.

    Returns
    -------
    GiStarResult
        z-scores, two-sided normal p-values, cardinalities and (optionally) ``p_sim``.

    Raises
    ------
    ValueError
        On non-finite values, fewer than 2 points, a constant field, a non-positive radius,
        permutations without a seed or an unknown ``scale``.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    x = np.asarray(values, dtype=np.float64)
    xy = np.asarray(xy, dtype=np.float64)
    n = x.size
    if xy.shape != (n, 2):
        raise ValueError(f"xy must be {n} × 2, got {xy.shape}")
    if n < 2:
        raise ValueError("Gi* needs at least 2 points")
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(xy)):
        raise ValueError("values and coordinates must be finite")
    if not radius_m > 0:
        raise ValueError(f"radius_m must be > 0, got {radius_m}")
    if permutations and seed is None:
        raise ValueError("permutations need an explicit seed")

    order = _spatial_order(xy, float(radius_m))
    lag_s, card_s = band_sums(x[order], xy[order], float(radius_m))

    lag = np.empty(n)
    lag[order] = lag_s
    card = np.empty(n, np.int64)
    card[order] = card_s

    mean, std = gistar_scale(x, scale)
    z = gistar_z(lag, card, n, mean, std)
    p_norm = 2.0 * special.ndtr(-np.abs(z))

    p_sim = None
    if permutations:
        rng = np.random.default_rng(seed)
        kmax = int(card.max()) - 1
        rids = np.empty((permutations, max(kmax, 0)), np.int64)
        for p in range(permutations):  # loop over permutations, not points
            rids[p] = rng.choice(n - 1, size=kmax, replace=False, shuffle=True)
        larger = _permutation_counts(x, card, rids, lag)
        below = (permutations - larger) < larger
        larger = np.where(below, permutations - larger, larger)
        p_sim = (larger + 1.0) / (permutations + 1.0)
    return GiStarResult(z=z, p_norm=p_norm, cardinality=card, p_sim=p_sim)
