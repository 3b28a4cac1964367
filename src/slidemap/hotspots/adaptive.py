"""Estimators that let the hot-spot stage adapt to a track's own data (the ``adaptive`` preset).

A user has no truth to tune the hot-spot settings against, so the default method derives them
from the track:

- :func:`robust_plane`, :func:`local_median_field` / :func:`highpass_velocity`: the spatially
  smooth part of the LOS velocity field (orbital ramps as a robust plane; atmospheric
  residuals, which decorrelate over kilometres while slides are 0.1-0.7 km, as a local
  median over a disc of ``radius_m``), removed from every point;
- :func:`robust_sigma`: the noise level of the high-passed velocities, 1.4826 × their median
  absolute deviation (a normal standard deviation that a few per cent of moving points barely
  inflate; where a fifth of the points move it reads 15-20 % high), and
  :func:`clipped_noise`: the same, re-estimated without the points beyond 3σ until they stop
  changing (the stable ground's noise to a few per cent; option ``noise_estimator: clipped``,
  not the default: docs/hotspots.md, "The clipped noise level");
- :func:`knn_radius`: a length scale tied to the point density (the median distance from a
  point to its k-th nearest neighbour), for the Gi* band and the kernel radius, instead of
  fixed metres.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special
from scipy.spatial import cKDTree

__all__ = [
    "MAD_TO_SIGMA",
    "robust_sigma",
    "CLIP_SIGMAS",
    "clipped_noise",
    "knn_radius",
    "local_median_field",
    "robust_plane",
    "highpass_velocity",
]

#: Factor from the median absolute deviation to the standard deviation of a normal sample.
MAD_TO_SIGMA = 1.482602218505602


def robust_sigma(values: np.ndarray) -> float:
    """Estimate a standard deviation from the median absolute deviation (1.4826 × MAD).

    Parameters
    ----------
    values
        Sample (any unit; non-finite values are ignored).

    Returns
    -------
    float
        ``1.4826 · median(|x − median(x)|)`` in the unit of ``values``; NaN for an empty
        sample.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan
    return float(MAD_TO_SIGMA * np.median(np.abs(x - np.median(x))))


#: Half-width of the clipped noise estimate in units of its σ (as the 3σ moving threshold).
CLIP_SIGMAS = 3.0


def clipped_noise(
    values: np.ndarray, *, clip: float = CLIP_SIGMAS, max_iter: int = 100
) -> tuple[float, float]:
    """Centre and noise level of a sample whose tails hold a share of signal (σ-clipped MAD).

    The median m and σ = 1.4826 × MAD are taken over the values with ``|x − m| < clip × σ``,
    the set re-drawn with the new m and σ until it stops changing (or ``max_iter`` rounds).
    σ is corrected for the clip: for a normal sample cut at ±c σ the MAD is the quantile
    ``Φ⁻¹(½ + ½ (2Φ(c) − 1) / 2)``, not ``Φ⁻¹(¾)``, so the factor is ``Φ⁻¹(¾) / Φ⁻¹(...)``
    (1.0027 at c = 3). On pure normal noise the result is the MAD estimate's; where moving
    points make up a share ε of the sample, the plain MAD grows with ε (≈ +15 % at
    ε = 0.2 when they lie beyond 3σ) and this does not.

    Parameters
    ----------
    values
        Sample (n,), e.g. high-passed LOS velocities in mm/yr; non-finite values are ignored.
    clip
        Half-width of the kept set in units of σ (> 0).
    max_iter
        Most rounds of re-drawing the set.

    Returns
    -------
    centre, sigma
        In the unit of ``values``; NaN for an empty sample; ``(median, 0)`` when the MAD is 0.
    """
    if not clip > 0:
        raise ValueError(f"clip must be > 0, got {clip}")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan
    # MAD of a normal sample cut at +-clip sigma, in sigma
    kept_mass = 2.0 * float(special.ndtr(clip)) - 1.0
    factor = float(special.ndtri(0.75)) / float(special.ndtri(0.5 + 0.25 * kept_mass))
    keep = np.ones(x.size, bool)
    centre = float(np.median(x))
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(x - centre)))
    for _ in range(int(max_iter)):
        if sigma <= 0.0:
            break
        new = np.abs(x - centre) < clip * sigma
        if not new.any() or np.array_equal(new, keep):
            break
        keep = new
        centre = float(np.median(x[keep]))
        sigma = factor * MAD_TO_SIGMA * float(np.median(np.abs(x[keep] - centre)))
    return centre, sigma


def knn_radius(xy: np.ndarray, k: int) -> float:
    """Median distance from a point to its k-th nearest other point.

    It is the radius of a disc that holds k neighbours around a typical point: tied to the
    point density where the points are (gaps of incoherent ground do not dilute it as a mean
    density over a bounding box would).

    Parameters
    ----------
    xy
        Point coordinates (n × 2) in metres.
    k
        Neighbour rank (≥ 1; the point itself is not counted).

    Returns
    -------
    float
        Distance in metres; NaN with k or fewer points.
    """
    xy = np.asarray(xy, dtype=np.float64)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if xy.shape[0] <= k:
        return math.nan
    dist, _ = cKDTree(xy).query(xy, k=k + 1)
    return float(np.median(dist[:, k]))


def _node_axes(lo: float, hi: float, spacing: float) -> np.ndarray:
    """Node coordinates covering [lo, hi] with the given spacing (at least two nodes)."""
    n = max(int(math.ceil((hi - lo) / spacing)) + 1, 2)
    return lo + spacing * np.arange(n)


def _fill_nearest(values: np.ndarray) -> np.ndarray:
    """Fill NaN nodes of a 2-D array with the value of the nearest finite node."""
    ok = np.isfinite(values)
    if ok.all() or not ok.any():
        return values
    from scipy import ndimage

    idx = ndimage.distance_transform_edt(~ok, return_distances=False, return_indices=True)
    return values[tuple(idx)]


def local_median_field(
    xy: np.ndarray,
    values: np.ndarray,
    radius_m: float,
    *,
    node_spacing_m: float | None = None,
    min_points: int = 30,
) -> np.ndarray:
    """Spatially smooth field of scattered values: a local median, interpolated at the points.

    The median of the values within ``radius_m`` of each node of a regular grid (spacing
    ``node_spacing_m``, default ``radius_m / 2``) is interpolated bilinearly at every point.
    Nodes with fewer than ``min_points`` points in their disc take the value of the nearest
    node that has enough. Cost: one disc query per node, so it scales with the area over
    ``node_spacing_m²``, not with points × neighbours.

    Parameters
    ----------
    xy
        Point coordinates (n × 2) in metres.
    values
        Values at the points (n,), e.g. LOS velocity in mm/yr; must be finite.
    radius_m
        Radius of the median disc in metres (1-3 km separates atmosphere from slides).
    node_spacing_m
        Spacing of the interpolation nodes in metres; None = ``radius_m / 2``.
    min_points
        Least number of points in a node's disc for its median to count.

    Returns
    -------
    numpy.ndarray
        The smooth field at the points (n,), in the unit of ``values``; zeros when no node
        has ``min_points`` points (too few points to tell a background from the signal).
    """
    xy = np.asarray(xy, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if xy.shape != (v.size, 2):
        raise ValueError(f"xy must be {v.size} x 2, got {xy.shape}")
    if not radius_m > 0:
        raise ValueError(f"radius_m must be > 0, got {radius_m}")
    if v.size == 0:
        return np.zeros(0)
    spacing = float(node_spacing_m or radius_m / 2.0)
    gx = _node_axes(xy[:, 0].min(), xy[:, 0].max(), spacing)
    gy = _node_axes(xy[:, 1].min(), xy[:, 1].max(), spacing)
    nodes = np.column_stack([np.repeat(gx, gy.size), np.tile(gy, gx.size)])
    med = node_medians(xy, v, nodes, radius_m, min_points)
    grid = med.reshape(gx.size, gy.size)
    if not np.isfinite(grid).any():
        return np.zeros(v.size)
    return interpolate_nodes(xy, _fill_nearest(grid), gx, gy, spacing)


def node_medians(
    xy: np.ndarray, values: np.ndarray, nodes: np.ndarray, radius_m: float, min_points: int
) -> np.ndarray:
    """Median of the values within ``radius_m`` of each node (NaN below ``min_points``).

    Parameters
    ----------
    xy, values
        Points (n × 2, metres) and their values (n,); every point within ``radius_m`` of a
        node must be among them (a tile's points and its halo).
    nodes
        Node coordinates (m × 2) in metres.
    radius_m
        Disc radius in metres.
    min_points
        Least number of points in a disc for its median to count.

    Returns
    -------
    numpy.ndarray
        Medians (m,) in the unit of ``values``.
    """
    v = np.asarray(values, dtype=np.float64)
    med = np.full(len(nodes), np.nan)
    if len(nodes) == 0 or v.size == 0:
        return med
    members = cKDTree(np.asarray(xy, dtype=np.float64)).query_ball_point(
        np.asarray(nodes, dtype=np.float64), r=float(radius_m)
    )
    for n, idx in enumerate(members):
        if len(idx) >= min_points:
            med[n] = np.median(v[idx])
    return med


def interpolate_nodes(
    xy: np.ndarray, grid: np.ndarray, gx: np.ndarray, gy: np.ndarray, spacing: float
) -> np.ndarray:
    """Bilinear interpolation of a node grid (``grid[i, j]`` at ``(gx[i], gy[j])``) at points.

    Parameters
    ----------
    xy
        Points (n × 2) in metres.
    grid
        Node values (len(gx) × len(gy)), all finite.
    gx, gy
        Node axes in metres (regular, ``spacing`` apart).
    spacing
        Node spacing in metres.

    Returns
    -------
    numpy.ndarray
        Values at the points (n,); points outside the nodes take the nearest edge value.
        Each point's value depends on its coordinates and the grid only (elementwise), so
        any subset of the points gets the same values.
    """
    xy = np.asarray(xy, dtype=np.float64)
    fx = np.clip((xy[:, 0] - gx[0]) / spacing, 0.0, gx.size - 1.0)
    fy = np.clip((xy[:, 1] - gy[0]) / spacing, 0.0, gy.size - 1.0)
    i0 = np.minimum(np.floor(fx).astype(np.int64), gx.size - 2)
    j0 = np.minimum(np.floor(fy).astype(np.int64), gy.size - 2)
    tx, ty = fx - i0, fy - j0
    return (
        grid[i0, j0] * (1 - tx) * (1 - ty)
        + grid[i0 + 1, j0] * tx * (1 - ty)
        + grid[i0, j0 + 1] * (1 - tx) * ty
        + grid[i0 + 1, j0 + 1] * tx * ty
    )


def robust_plane(xy: np.ndarray, values: np.ndarray, *, iterations: int = 20) -> np.ndarray:
    """Least-absolute-deviation plane through scattered values, evaluated at the points.

    Iteratively reweighted least squares (weights ``1 / max(|residual|, ε)``) of
    ``v = a + b x + c y``: a median-like fit that a few per cent of moving points do not
    tilt (an orbital ramp, a regional tilt of the reference).

    Parameters
    ----------
    xy
        Point coordinates (n × 2) in metres.
    values
        Values at the points (n,), e.g. mm/yr.
    iterations
        IRLS iterations.

    Returns
    -------
    numpy.ndarray
        The plane at the points (n,), in the unit of ``values``; the median with fewer than
        3 points.
    """
    xy = np.asarray(xy, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if v.size < 3:
        return np.full(v.size, np.median(v) if v.size else 0.0)
    return evaluate_plane(xy, plane_coefficients(xy, v, iterations=iterations))


def plane_coefficients(
    xy: np.ndarray, values: np.ndarray, *, iterations: int = 20, chunk: int = 1 << 20
) -> tuple[float, float, float, float, float, float]:
    """Fit :func:`robust_plane` (at least 3 points) and return its parameters.

    Each IRLS step solves the 3 × 3 weighted normal equations, their sums gathered over
    ``chunk`` points at a time: memory is the inputs plus ~100 bytes per point of a chunk
    (~100 MB), whatever the number of points (a 20 M-point track's design matrix and its
    weighted copies alone would take ~1.5 GB). The coordinates enter centred and scaled to
    [−1, 1]; the sums are NumPy's pairwise ones (no BLAS), so the bits do not depend on the
    number of threads.

    Parameters
    ----------
    xy
        Point coordinates (n × 2) in metres.
    values
        Values at the points (n,), e.g. mm/yr.
    iterations
        IRLS iterations (weights ``1 / max(|residual|, ε)``, ε = 1e-6 × max(|values|, 1)).
    chunk
        Points per block of the sums (memory; the result depends on it through rounding
        only, which 20 IRLS steps, short of convergence, can carry to ~1e-2 of the values'
        unit on 1e5 points: keep the default for results that repeat bit for bit).

    Returns
    -------
    tuple
        ``(cx, cy, scale, a, b, c)``: the plane is ``a + b (x − cx)/scale + c (y − cy)/scale``
        (metres in, the unit of ``values`` out); see :func:`evaluate_plane`.
    """
    xy = np.asarray(xy, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    # per column (pairwise sums whatever the memory layout of xy)
    centre = np.array([xy[:, 0].mean(), xy[:, 1].mean()])
    # max |xy - centre| from the extremes (rounding is monotone: the same value, no copy)
    reach = np.maximum(xy.max(axis=0) - centre, centre - xy.min(axis=0))
    scale = max(float(reach.max()), 1.0)
    eps = 1e-6 * max(float(v.max()), -float(v.min()), 1.0)
    step = max(int(chunk), 1)

    def solve(coef: np.ndarray | None) -> np.ndarray:
        # the sums by np.sum (pairwise, no BLAS): the same bits whatever the thread count
        ata, atb = np.zeros((3, 3)), np.zeros(3)
        for start in range(0, v.size, step):
            vs = v[start : start + step]
            cols = [
                np.ones(vs.size),
                *((xy[start : start + step, k] - centre[k]) / scale for k in (0, 1)),
            ]
            if coef is None:
                w = cols[0]
            else:
                fit = coef[0] + cols[1] * coef[1] + cols[2] * coef[2]
                w = 1.0 / np.maximum(np.abs(vs - fit), eps)
            for i in range(3):
                wi = w * cols[i]
                atb[i] += float((wi * vs).sum())
                for j in range(i, 3):
                    ata[i, j] += float((wi * cols[j]).sum())
        ata = np.triu(ata) + np.triu(ata, 1).T
        return np.linalg.lstsq(ata, atb, rcond=None)[0]

    coef = solve(None)
    for _ in range(iterations):
        coef = solve(coef)
    return (float(centre[0]), float(centre[1]), scale, *(float(c) for c in coef))


def evaluate_plane(xy: np.ndarray, plane: tuple[float, ...]) -> np.ndarray:
    """Values (n,) of a :func:`plane_coefficients` plane at points (n × 2, metres).

    Elementwise, so any subset of the points (a tile) gets bit-identical values.
    """
    xy = np.asarray(xy, dtype=np.float64)
    cx, cy, scale, a, b, c = plane
    return a + ((xy[:, 0] - cx) / scale) * b + ((xy[:, 1] - cy) / scale) * c


def highpass_velocity(
    xy: np.ndarray, velocity_mm_yr: np.ndarray, radius_m: float, *, min_points: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Remove the spatially smooth part of a velocity field.

    The smooth part is a robust plane (:func:`robust_plane`: ramps, a tilted reference)
    plus the local median of what the plane leaves over a disc of ``radius_m``
    (:func:`local_median_field`: atmospheric residuals). Removing the plane first keeps the
    local median unbiased where its disc is cut by the track's edge.

    Parameters
    ----------
    xy
        Point coordinates (n × 2) in metres.
    velocity_mm_yr
        LOS velocities (mm/yr).
    radius_m
        Radius of the median disc in metres.
    min_points
        See :func:`local_median_field`; a track with fewer points in all is left as it is.

    Returns
    -------
    tuple of numpy.ndarray
        ``(highpassed, background)``, both in mm/yr: ``velocity − background`` and the
        background itself.
    """
    v = np.asarray(velocity_mm_yr, dtype=np.float64)
    if v.size < min_points:  # too few points to tell a background from the signal
        return v.copy(), np.zeros(v.size)
    plane = robust_plane(xy, v)
    background = plane + local_median_field(xy, v - plane, radius_m, min_points=min_points)
    return v - background, background
