"""Least-squares summaries of displacement time series (vectorised over points)."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_series", "DAYS_PER_YEAR"]

#: Days per year used for every rate (Julian year).
DAYS_PER_YEAR = 365.25


def _lstsq(design: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients, residual variance and unscaled covariance of ``d ~ design``."""
    coef, *_ = np.linalg.lstsq(design, d.T, rcond=None)
    resid = d - (design @ coef).T
    dof = design.shape[0] - design.shape[1]
    s2 = np.einsum("ij,ij->i", resid, resid) / dof
    cov = np.linalg.inv(design.T @ design)
    return coef, s2, cov


def fit_series(t_years: np.ndarray, d: np.ndarray) -> dict[str, np.ndarray]:
    """EGMS-like summary of displacement series by ordinary least squares.

    Three models are fitted, each over all dates: a line (``mean_velocity``), a parabola
    (``acceleration`` = twice its quadratic coefficient) and a line plus an annual sinusoid
    (``seasonality`` = the sinusoid's amplitude; ``rmse`` = its residual root mean square).
    Standard deviations come from the residual variance and the design (delta method for
    the amplitude).

    Parameters
    ----------
    t_years
        ``(n_t,)`` acquisition times (years from the first acquisition).
    d
        ``(n, n_t)`` displacement (mm).

    Returns
    -------
    dict of numpy.ndarray
        ``mean_velocity``, ``mean_velocity_std`` (mm/yr), ``acceleration``,
        ``acceleration_std`` (mm/yr^2), ``seasonality``, ``seasonality_std`` (mm),
        ``rmse`` (mm), each ``(n,)``.
    """
    t = np.asarray(t_years, dtype=float)
    d = np.asarray(d, dtype=float)
    one = np.ones_like(t)
    coef1, s2_1, cov1 = _lstsq(np.column_stack([one, t]), d)
    coef2, s2_2, cov2 = _lstsq(np.column_stack([one, t, t**2]), d)
    w = 2.0 * np.pi * t
    design3 = np.column_stack([one, t, np.cos(w), np.sin(w)])
    coef3, s2_3, cov3 = _lstsq(design3, d)
    c, s = coef3[2], coef3[3]
    amp = np.hypot(c, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_amp = (c**2 * cov3[2, 2] + s**2 * cov3[3, 3] + 2 * c * s * cov3[2, 3]) / amp**2
    var_amp = np.where(amp > 0, var_amp, 0.5 * (cov3[2, 2] + cov3[3, 3])) * s2_3
    rss3 = s2_3 * (len(t) - 4)
    return {
        "mean_velocity": coef1[1],
        "mean_velocity_std": np.sqrt(s2_1 * cov1[1, 1]),
        "acceleration": 2.0 * coef2[2],
        "acceleration_std": 2.0 * np.sqrt(s2_2 * cov2[2, 2]),
        "seasonality": amp,
        "seasonality_std": np.sqrt(var_amp),
        "rmse": np.sqrt(rss3 / len(t)),
    }
