"""Motion of the deformation sources: 3-D velocities and displacement over time.

A moving slope's whole body moves along its 3-D downslope direction (horizontal along the
mean aspect, plunging at the mean slope of the footprint; :func:`motion_vector`) at the full
rate inside a core and tapers to rest at the edge (:func:`slide_membership`), with a
linear, accelerating or step behaviour in time (:func:`slide_displacement_mm`). Subsidence
bowls are Mogi point sources (Mogi 1958): vertical rate ``v0 (1 + rho**2)**-1.5`` and radial
horizontal rate ``v0 rho (1 + rho**2)**-1.5``, ``rho = r / depth``
(:func:`subsidence_velocity_mm_yr`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from slidemap.simulate.footprints import _normalised_radius

__all__ = [
    "motion_vector",
    "slide_membership",
    "slide_displacement_mm",
    "subsidence_velocity_mm_yr",
]


def motion_vector(azimuth_deg: np.ndarray, plunge_deg: np.ndarray) -> np.ndarray:
    """Return the unit vector of downslope motion.

    Parameters
    ----------
    azimuth_deg
        Azimuth of the horizontal motion (degrees clockwise from north).
    plunge_deg
        Angle of the motion below the horizontal (degrees).

    Returns
    -------
    numpy.ndarray
        ``(..., 3)`` east, north, up components (up is negative: downslope).
    """
    az = np.deg2rad(np.asarray(azimuth_deg, dtype=float))
    pl = np.deg2rad(np.asarray(plunge_deg, dtype=float))
    return np.stack([np.sin(az) * np.cos(pl), np.cos(az) * np.cos(pl), -np.sin(pl)], axis=-1)


def slide_membership(
    slides: pd.DataFrame, x: np.ndarray, y: np.ndarray, core_radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Which footprint each point lies in, and its share of the footprint's rate.

    Parameters
    ----------
    slides
        Output of :func:`~slidemap.simulate.sources.place_slides`.
    x, y
        Point coordinates (m).
    core_radius
        Normalised radius of the full-rate core; a raised cosine tapers the rate to 0 at 1.

    Returns
    -------
    tuple of numpy.ndarray
        ``(row, weight)``: the row in ``slides`` (-1 outside every footprint) and the
        weight in [0, 1] (0 outside).
    """
    row = np.full(len(x), -1, dtype=np.int64)
    weight = np.zeros(len(x))
    for k, s in enumerate(slides.itertuples(index=False)):
        a, b = s.length_m / 2.0, s.width_m / 2.0
        near = (np.abs(x - s.cx) <= a) & (np.abs(y - s.cy) <= a)
        if not near.any():
            continue
        idx = np.flatnonzero(near)
        r = _normalised_radius(x[idx], y[idx], s.cx, s.cy, a, b, s.azimuth_deg)
        inside = r < 1.0
        idx, r = idx[inside], r[inside]
        taper = 0.5 * (1.0 + np.cos(np.pi * (r - core_radius) / (1.0 - core_radius)))
        row[idx] = k
        weight[idx] = np.where(r <= core_radius, 1.0, taper)
    return row, weight


def slide_displacement_mm(
    slides: pd.DataFrame,
    t_years: np.ndarray,
    span_years: float,
    season: np.ndarray,
    step_background_share: float,
) -> np.ndarray:
    """Downslope displacement of each footprint's core over time.

    ``linear``: ``v t``; ``accelerating``: ``v ((1 - s) t + s t**2 / T)``; ``step``:
    ``b v t + S H(t - t_s)`` with ``S = (1 - b) v T**3 / (6 t_s (T - t_s))``. In each case the
    least-squares rate over ``[0, T]`` is ``v``. A seasonal term ``A season`` is added.

    Parameters
    ----------
    slides
        Output of :func:`~slidemap.simulate.sources.place_slides`.
    t_years
        Times (years since the start of the period, ``(n_t,)``).
    span_years
        ``T``, the length of the period (years).
    season
        The seasonal shape at ``t_years`` (``cos`` of the phase to the seasonal peak).
    step_background_share
        ``b``, the share of the rate a step slide creeps at outside the step.

    Returns
    -------
    numpy.ndarray
        ``(n_slides, n_t)`` displacement (mm) along the downslope direction.
    """
    t = np.asarray(t_years, dtype=float)[np.newaxis, :]
    v = slides["v_down_mm_yr"].to_numpy(float)[:, np.newaxis]
    s = slides["accel_share"].to_numpy(float)[:, np.newaxis]
    t_s = slides["step_year"].to_numpy(float)[:, np.newaxis]
    step = slides["step_mm"].to_numpy(float)[:, np.newaxis]
    beh = slides["behaviour"].to_numpy()[:, np.newaxis]
    linear = v * t
    accel = v * ((1.0 - s) * t + s * t**2 / span_years)
    with np.errstate(invalid="ignore"):
        stepped = step_background_share * v * t + step * (t >= t_s)
    out = np.where(beh == "accelerating", accel, np.where(beh == "step", stepped, linear))
    amp = slides["seasonal_mm"].to_numpy(float)[:, np.newaxis]
    return out + amp * np.asarray(season)[np.newaxis, :]


def subsidence_velocity_mm_yr(
    sources: pd.DataFrame, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3-D velocity of the Mogi sources at points (sum over sources).

    Parameters
    ----------
    sources
        Output of :func:`~slidemap.simulate.sources.place_subsidence`.
    x, y
        Point coordinates (m).

    Returns
    -------
    tuple of numpy.ndarray
        East, north, up velocity (mm/yr).
    """
    ve, vn, vu = np.zeros(len(x)), np.zeros(len(x)), np.zeros(len(x))
    for s in sources.itertuples(index=False):
        dx, dy = x - s.cx, y - s.cy
        r = np.hypot(dx, dy)
        rho = r / s.depth_m
        f = (1.0 + rho**2) ** -1.5
        vu += s.v_up_max_mm_yr * f
        vh = s.v_up_max_mm_yr * rho * f  # negative (inward) for subsidence
        with np.errstate(invalid="ignore", divide="ignore"):
            ve += np.where(r > 0, vh * dx / r, 0.0)
            vn += np.where(r > 0, vh * dy / r, 0.0)
    return ve, vn, vu
