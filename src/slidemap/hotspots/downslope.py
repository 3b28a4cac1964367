"""Raster values at points, and the LOS cosine of downslope motion.

Downslope projection: with slope angle s and aspect A (degrees, clockwise from north, the
direction the slope faces), the downslope unit vector is ``(sin A cos s, cos A cos s, −sin s)``
(east, north, up). A downslope motion of V mm/yr shows as ``v_los = V · (LOS · downslope)``
on a ground-to-satellite LOS, so ``V = v_los / cos`` — masked where ``|cos| < min_cosine``,
where the LOS barely sees downslope motion and the division would blow up noise
(:func:`slidemap.hotspots.candidates.merge_candidates`).
"""

from __future__ import annotations

import os

import numpy as np

from slidemap.raster.read import values_at

__all__ = ["downslope_cosine", "sample_raster"]


def downslope_cosine(
    los_e: np.ndarray,
    los_n: np.ndarray,
    los_u: np.ndarray,
    slope_deg: np.ndarray,
    aspect_deg: np.ndarray,
) -> np.ndarray:
    """Cosine between the ground-to-satellite LOS and the downslope direction.

    Parameters
    ----------
    los_e, los_n, los_u
        LOS unit vector components (ground → satellite).
    slope_deg
        Slope angle in degrees (0 = flat).
    aspect_deg
        Aspect in degrees clockwise from north (the downslope azimuth).

    Returns
    -------
    numpy.ndarray
        ``LOS · downslope`` (−1..1); NaN where slope or aspect is not finite, the aspect is
        outside [0, 360] (flat-cell flags such as −1), or the slope is 0.
    """
    s = np.deg2rad(np.asarray(slope_deg, dtype=np.float64))
    a_deg = np.asarray(aspect_deg, dtype=np.float64)
    a = np.deg2rad(a_deg)
    down_e = np.sin(a) * np.cos(s)
    down_n = np.cos(a) * np.cos(s)
    down_u = -np.sin(s)
    cos = np.asarray(los_e) * down_e + np.asarray(los_n) * down_n + np.asarray(los_u) * down_u
    bad = (
        ~np.isfinite(cos)
        | ~(a_deg >= 0)
        | ~(a_deg <= 360)
        | ~(np.asarray(slope_deg, dtype=np.float64) > 0)
    )
    return np.where(bad, np.nan, cos)


def sample_raster(
    values: np.ndarray | str | os.PathLike,
    transform,
    x: np.ndarray,
    y: np.ndarray,
    nodata: float | None = None,
) -> np.ndarray:
    """Values of a raster at points (the cell holding each point; NaN outside or at nodata).

    Parameters
    ----------
    values
        2-D raster array, or a raster file: then only the blocks holding points are read
        (:func:`slidemap.raster.read.values_at`; the file's nodata reads as NaN), so a
        national grid is never held whole.
    transform
        Its affine transform (north-up); for a file, the file's own.
    x, y
        Point coordinates in the raster's CRS.
    nodata
        Value to treat as missing (NaN always is).

    Returns
    -------
    numpy.ndarray
        float64 values (NaN outside the raster).
    """
    inv = ~transform
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    cols = inv.a * x + inv.b * y + inv.c
    rows = inv.d * x + inv.e * y + inv.f
    r = np.floor(rows).astype(np.int64)
    c = np.floor(cols).astype(np.int64)
    if isinstance(values, (str, os.PathLike)):
        out = values_at(values, r, c)
    else:
        arr = np.asarray(values, dtype=np.float64)
        ok = (r >= 0) & (r < arr.shape[0]) & (c >= 0) & (c < arr.shape[1])
        out = np.full(r.shape, np.nan)
        out[ok] = arr[r[ok], c[ok]]
    if nodata is not None and np.isfinite(nodata):
        out[out == nodata] = np.nan
    return out
