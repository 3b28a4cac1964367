"""Trend class of each InSAR displacement time series: uncorrelated, linear or non-linear.

In the spirit of PS-Time (Berti et al. 2013, used by seed 002, section 3.4.6), every series is
tested twice, by ordinary least squares on the common acquisition dates:

1. **Linear trend**: the t-test of the slope of ``d = a + b t`` (``df = T - 2``; with the
   optional annual terms ``df = T - 4``). ``p_linear`` is its two-sided p-value.
2. **Non-linear trend**: whether one extra regressor makes the fit significantly better than
   the straight line: a quadratic term ``t²``, a hinge ``max(t - τ, 0)`` (bilinear: a change of
   rate at ``τ``) or a step ``1[t ≥ τ]`` (a sudden offset at ``τ``), with ``τ`` at up to
   ``max_breakpoints`` acquisition dates that leave at least ``min_segment`` dates on each
   side. Each candidate gives a partial F statistic with ``(1, T - 3)`` degrees of freedom
   (``T - 5`` with annual terms); ``p_nonlinear`` is the smallest p-value times the number of
   candidates (Bonferroni), so under white noise a straight line is called non-linear with a
   probability of at most ``alpha``.

Class: ``nonlinear`` if ``p_nonlinear < alpha``, else ``linear`` if ``p_linear < alpha``, else
``uncorrelated``. A series with fewer than ``min_dates`` valid dates gets no class (missing).

Everything is vectorised: all series that share the same valid dates are fitted at once with
one matrix product against an orthonormal basis of the candidate models (no loop over points;
the only loop is over the distinct patterns of missing dates, usually one).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger(__name__)

__all__ = [
    "TREND_CLASSES",
    "date_columns",
    "decimal_years",
    "TrendResult",
    "classify_trends",
    "seasonal_amplitude",
    "point_trends",
    "trend_frame",
]

#: The trend classes, in the order of their integer codes 0, 1, 2 (−1 = not classified).
TREND_CLASSES = ("uncorrelated", "linear", "nonlinear")
#: Names of the non-linear candidate models (codes 0, 1, 2 of ``TrendResult.model``).
NONLINEAR_MODELS = ("quadratic", "bilinear", "step")

_DATE_COLUMN = re.compile(r"^d_(\d{8})$")


def date_columns(columns: Sequence[str]) -> list[str]:
    """Return the displacement columns (``d_YYYYMMDD``) of a points table, sorted by date.

    Parameters
    ----------
    columns
        Column names of a points table.

    Returns
    -------
    list of str
        The ``d_YYYYMMDD`` columns in chronological order (empty when there is no series).
    """
    found = [c for c in columns if _DATE_COLUMN.match(str(c))]
    return sorted(found, key=lambda c: c[2:])


def decimal_years(dates: Sequence) -> np.ndarray:
    """Time of each date in years since the first one (365.25-day years).

    Parameters
    ----------
    dates
        Dates (anything :func:`pandas.to_datetime` understands, e.g. ``"20200103"``).

    Returns
    -------
    numpy.ndarray
        float64 years, 0 at the first date.
    """
    ts = pd.to_datetime(pd.Index([str(d) for d in dates]), format="%Y%m%d")
    days = (ts - ts[0]) / pd.Timedelta(days=1)
    return np.asarray(days, dtype=np.float64) / 365.25


@dataclass
class TrendResult:
    """Trend statistics of n series (arrays of length n).

    Attributes
    ----------
    trend_class
        int8 code: 0 uncorrelated, 1 linear, 2 nonlinear, −1 not classified (too few dates).
    slope_mm_yr
        OLS rate of the series in mm/yr (NaN when not classified).
    t_linear
        t statistic of the slope.
    p_linear
        Two-sided p-value of the slope t-test.
    f_nonlinear
        Largest partial F statistic of the non-linear candidates against the line.
    p_nonlinear
        Bonferroni-adjusted p-value of the best non-linear candidate.
    model
        int8 code of the best non-linear candidate: 0 quadratic, 1 bilinear, 2 step
        (−1 when not classified).
    break_years
        Breakpoint of the best bilinear/step candidate in years since the first date (NaN for
        the quadratic or when not classified).
    n_dates
        Number of valid dates of each series.
    """

    trend_class: np.ndarray
    slope_mm_yr: np.ndarray
    t_linear: np.ndarray
    p_linear: np.ndarray
    f_nonlinear: np.ndarray
    p_nonlinear: np.ndarray
    model: np.ndarray
    break_years: np.ndarray
    n_dates: np.ndarray


def _orthonormal(columns: np.ndarray) -> np.ndarray:
    """Orthonormal basis (T × p) of the span of the given T × p design columns."""
    q, r = np.linalg.qr(columns)
    if np.any(np.abs(np.diag(r)) < 1e-10 * max(1.0, np.abs(r).max())):
        raise ValueError("the nuisance design is rank deficient (too few distinct dates)")
    return q


def _candidate_basis(
    t: np.ndarray, *, seasonal: bool, min_segment: int, max_breakpoints: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Build the bases of the nested models for one set of dates ``t`` (years).

    Returns ``q0`` (T × p0, nuisance: constant [+ annual sine/cosine]), ``q_lin`` (T, the time
    regressor orthogonalised against ``q0`` and normalised), ``t_norm`` (norm of that
    orthogonalised regressor, to turn projections into mm/yr), ``q_extra`` (T × E, each
    non-linear regressor orthogonalised against ``[q0, q_lin]`` and normalised), and the model
    code and breakpoint (years) of each extra column.
    """
    cols = [np.ones_like(t)]
    if seasonal:
        cols += [np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)]
    q0 = _orthonormal(np.column_stack(cols))
    t_perp = t - q0 @ (q0.T @ t)
    t_norm = float(np.linalg.norm(t_perp))
    q_lin = t_perp / t_norm
    q1 = np.column_stack([q0, q_lin])

    extra = [(t - t.mean()) ** 2]
    codes = [0]
    breaks = [np.nan]
    n = t.size
    ks = np.arange(min_segment, n - min_segment + 1)
    if ks.size > max_breakpoints > 0:
        ks = np.unique(np.round(np.linspace(ks[0], ks[-1], max_breakpoints)).astype(int))
    elif max_breakpoints <= 0:
        ks = ks[:0]
    for k in ks:
        tau = t[k]
        extra.append(np.maximum(t - tau, 0.0))  # bilinear: the rate changes at tau
        codes.append(1)
        breaks.append(tau)
        extra.append((t >= tau).astype(float))  # step: an offset at tau
        codes.append(2)
        breaks.append(tau)
    ex = np.column_stack(extra)
    ex = ex - q1 @ (q1.T @ ex)
    norms = np.linalg.norm(ex, axis=0)
    keep = norms > 1e-9 * np.sqrt(n)
    q_extra = ex[:, keep] / norms[keep]
    return q0, q_lin, t_norm, q_extra, np.asarray(codes)[keep], np.asarray(breaks)[keep]


def _rows_times(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Multiply ``a @ b`` summing row by row in a fixed order (no BLAS blocking).

    BLAS may round a row's products differently with the number of rows in the block (its
    kernels tile the rows); this product gives each row the same bits whatever block it is
    in, at ~3x the time of BLAS for these thin matrices (a few ms per 100,000 series).
    """
    return np.einsum("ij,jk->ik", a, b)


def _fit_block(
    d: np.ndarray,
    t: np.ndarray,
    *,
    seasonal: bool,
    min_segment: int,
    max_breakpoints: int,
) -> dict[str, np.ndarray]:
    """Test statistics of the rows of ``d`` (m × T, complete series on dates ``t``)."""
    q0, q_lin, t_norm, q_extra, codes, breaks = _candidate_basis(
        t, seasonal=seasonal, min_segment=min_segment, max_breakpoints=max_breakpoints
    )
    n_dates = t.size
    p0 = q0.shape[1]
    df1 = n_dates - p0 - 1
    df2 = n_dates - p0 - 2
    d = np.asarray(d, dtype=np.float64)
    # row by row (einsum, not BLAS): a point's statistics do not depend on the block it is
    # fitted in, so a tile of a track gives the whole track's values bit for bit
    r0 = d - _rows_times(_rows_times(d, q0), q0.T)  # residual of the nuisance-only model
    rss0 = np.einsum("ij,ij->i", r0, r0)
    c_lin = np.einsum("ij,j->i", r0, q_lin)
    rss1 = np.maximum(rss0 - c_lin**2, 0.0)
    # guard exact fits (synthetic series): a tiny floor relative to the signal
    floor = 1e-20 * np.maximum(rss0, 1e-300)
    slope = c_lin / t_norm
    with np.errstate(divide="ignore", invalid="ignore"):
        t_lin = c_lin / np.sqrt(np.maximum(rss1, floor) / df1)
    t_lin = np.where(rss0 > 0, t_lin, 0.0)
    p_lin = 2.0 * stats.t.sf(np.abs(t_lin), df1)

    m = q_extra.shape[1]
    if m == 0 or df2 < 1:
        nan = np.full(d.shape[0], np.nan)
        return {
            "slope": slope,
            "t_lin": t_lin,
            "p_lin": p_lin,
            "f_nl": nan,
            "p_nl": np.ones(d.shape[0]),
            "model": np.full(d.shape[0], -1, np.int8),
            "break": nan,
        }
    c_ex = _rows_times(r0, q_extra)  # m × E projections on the non-linear regressors
    c2 = c_ex * c_ex
    best = np.argmax(c2, axis=1)
    c2_best = np.take_along_axis(c2, best[:, None], axis=1)[:, 0]
    rss_best = np.maximum(rss1 - c2_best, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f_nl = c2_best / (np.maximum(rss_best, floor) / df2)
    f_nl = np.where(rss1 > floor, f_nl, 0.0)
    p_nl = np.minimum(1.0, m * stats.f.sf(f_nl, 1, df2))
    return {
        "slope": slope,
        "t_lin": t_lin,
        "p_lin": p_lin,
        "f_nl": f_nl,
        "p_nl": p_nl,
        "model": codes[best].astype(np.int8),
        "break": breaks[best],
    }


def _valid_groups(valid: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rows grouped by their pattern of valid dates: ``[(date mask, row indices), …]``."""
    n, t = valid.shape
    if valid.all():
        return [(np.ones(t, bool), np.arange(n))]
    packed = np.packbits(valid, axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(first.size + 1))
    return [(valid[first[g]], order[bounds[g] : bounds[g + 1]]) for g in range(first.size)]


def seasonal_amplitude(
    displacement_mm: np.ndarray, t_years: np.ndarray, *, min_dates: int = 10
) -> np.ndarray:
    """Annual amplitude of each displacement series (line + annual sinusoid, least squares).

    Each series is fitted by ``d = a + b t + c cos 2πt + s sin 2πt`` on its valid dates; the
    amplitude is ``hypot(c, s)``. Thermal dilation of buildings and groundwater-driven
    heave show as a large amplitude with little trend; slow landslides as a trend.

    Parameters
    ----------
    displacement_mm
        Array (n points × T dates) of LOS displacement in mm; NaN marks a missing date.
    t_years
        Acquisition times in years (T values).
    min_dates
        Series with fewer valid dates get NaN.

    Returns
    -------
    numpy.ndarray
        Amplitude in mm (n,), NaN where not fitted.
    """
    d = np.asarray(displacement_mm, dtype=np.float64)
    t = np.asarray(t_years, dtype=np.float64)
    out = np.full(d.shape[0], np.nan)
    if d.shape[0] == 0 or t.size == 0:
        return out
    for mask, rows in _valid_groups(np.isfinite(d)):
        if mask.sum() < max(int(min_dates), 5):
            continue
        tg = t[mask]
        w = 2.0 * np.pi * tg
        design = np.column_stack([np.ones_like(tg), tg, np.cos(w), np.sin(w)])
        # the least-squares operator applied row by row (see _rows_times)
        coef = _rows_times(d[np.ix_(rows, mask)], np.linalg.pinv(design).T)
        out[rows] = np.hypot(coef[:, 2], coef[:, 3])
    return out


def classify_trends(
    displacement_mm: np.ndarray,
    t_years: np.ndarray,
    *,
    alpha: float = 0.05,
    min_dates: int = 10,
    min_segment: int = 6,
    max_breakpoints: int = 12,
    seasonal: bool = False,
    chunk_rows: int = 100_000,
) -> TrendResult:
    """Classify each displacement series as uncorrelated, linear or non-linear.

    Parameters
    ----------
    displacement_mm
        Array (n points × T dates) of LOS displacement in mm; NaN marks a missing date.
    t_years
        Acquisition times in years (T values, increasing; e.g. :func:`decimal_years`).
    alpha
        Significance level of both tests.
    min_dates
        Series with fewer valid dates are not classified.
    min_segment
        Least number of dates on each side of a bilinear/step breakpoint.
    max_breakpoints
        Most breakpoint dates tried (evenly spread over the allowed ones); 0 = only the
        quadratic candidate.
    seasonal
        Add an annual sine and cosine to every model as nuisance terms (recommended where
        the series carry a seasonal signal; PS-Time does not).
    chunk_rows
        Rows fitted per block (bounds memory: about ``chunk_rows × T × 8 × 4`` bytes).

    Returns
    -------
    TrendResult
        Per-point class codes and test statistics (see :class:`TrendResult`).
    """
    d = np.asarray(displacement_mm)
    t = np.asarray(t_years, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != t.size:
        raise ValueError(f"displacement must be n × {t.size}, got shape {d.shape}")
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise ValueError("t_years must be strictly increasing")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    n = d.shape[0]
    n_nuisance = 3 if seasonal else 1
    min_dates = max(int(min_dates), n_nuisance + 3)
    out = {
        "slope": np.full(n, np.nan),
        "t_lin": np.full(n, np.nan),
        "p_lin": np.full(n, np.nan),
        "f_nl": np.full(n, np.nan),
        "p_nl": np.full(n, np.nan),
        "model": np.full(n, -1, np.int8),
        "break": np.full(n, np.nan),
    }
    valid = np.isfinite(d)
    n_valid = valid.sum(axis=1)
    if n == 0 or t.size == 0:
        return _result(out, n_valid, alpha)
    for mask, rows in _valid_groups(valid):
        if mask.sum() < min_dates:
            continue
        tg = t[mask]
        seg = min(int(min_segment), max(1, mask.sum() // 2))
        for start in range(0, rows.size, chunk_rows):
            idx = rows[start : start + chunk_rows]
            block = d[np.ix_(idx, mask)] if not mask.all() else d[idx]
            res = _fit_block(
                block, tg, seasonal=seasonal, min_segment=seg, max_breakpoints=max_breakpoints
            )
            for key, val in res.items():
                out[key][idx] = val
    return _result(out, n_valid, alpha)


def _result(out: dict[str, np.ndarray], n_valid: np.ndarray, alpha: float) -> TrendResult:
    """Turn the statistics into classes."""
    classified = np.isfinite(out["p_lin"])
    cls = np.full(out["p_lin"].size, -1, np.int8)
    cls[classified] = 0
    cls[classified & (out["p_lin"] < alpha)] = 1
    cls[classified & (out["p_nl"] < alpha)] = 2
    return TrendResult(
        trend_class=cls,
        slope_mm_yr=out["slope"],
        t_linear=out["t_lin"],
        p_linear=out["p_lin"],
        f_nonlinear=out["f_nl"],
        p_nonlinear=out["p_nl"],
        model=out["model"],
        break_years=out["break"],
        n_dates=n_valid.astype(np.int32),
    )


def trend_frame(result: TrendResult, first_date: str | None) -> pd.DataFrame:
    """Return the trend columns written onto the points (one row per point).

    Parameters
    ----------
    result
        Output of :func:`classify_trends`.
    first_date
        First acquisition date (``YYYYMMDD``), to turn breakpoints into dates; None when the
        track has no time series.

    Returns
    -------
    pandas.DataFrame
        ``trend_class`` (``uncorrelated|linear|nonlinear``, missing when not classified),
        ``trend_slope_mm_yr``, ``trend_t``, ``trend_p_linear``, ``trend_f_nonlinear``,
        ``trend_p_nonlinear``, ``trend_nonlinear_model`` (best non-linear candidate:
        ``quadratic|bilinear|step``), ``trend_break_date`` (its breakpoint), ``trend_n_dates``.
    """
    names = np.array(TREND_CLASSES + (None,), dtype=object)
    models = np.array(NONLINEAR_MODELS + (None,), dtype=object)
    if first_date is not None:
        t0 = pd.Timestamp(pd.to_datetime(str(first_date), format="%Y%m%d"))
        days = np.round(result.break_years * 365.25)
        brk = pd.Series(pd.NaT, index=range(days.size), dtype="datetime64[s]")
        ok = np.isfinite(days)
        brk[ok] = t0 + pd.to_timedelta(days[ok], unit="D")
    else:
        brk = pd.Series(pd.NaT, index=range(result.p_linear.size), dtype="datetime64[s]")
    return pd.DataFrame(
        {
            "trend_class": pd.array(names[result.trend_class], dtype="str"),
            "trend_slope_mm_yr": result.slope_mm_yr,
            "trend_t": result.t_linear,
            "trend_p_linear": result.p_linear,
            "trend_f_nonlinear": result.f_nonlinear,
            "trend_p_nonlinear": result.p_nonlinear,
            "trend_nonlinear_model": pd.array(models[result.model], dtype="str"),
            "trend_break_date": brk.to_numpy(),
            "trend_n_dates": result.n_dates,
        }
    )


def point_trends(points: pd.DataFrame, params: Any) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Trend columns and seasonal amplitude of each point of a track (or of any subset).

    Each point's result depends on its own time series only, so a tile of a track gives the
    rows of the whole track's result.

    Parameters
    ----------
    points
        Points with ``d_YYYYMMDD`` columns (LOS displacement, mm).
    params
        The hot-spot settings (``trend_alpha``, ``trend_min_dates``, ``trend_min_segment``,
        ``trend_max_breakpoints``, ``trend_seasonal``; see ``HotspotParams``).

    Returns
    -------
    trend, seasonal_mm, n_dates
        :func:`trend_frame` of :func:`classify_trends` (one row per point, in order), the
        annual amplitude (mm, :func:`seasonal_amplitude`) and the number of dates. Without
        date columns the classes are missing (a warning is logged).
    """
    cols = date_columns(points.columns)
    if not cols:
        log.warning("no d_YYYYMMDD columns: trend classes are left missing")
        res = classify_trends(np.zeros((len(points), 0)), np.zeros(0))
        return trend_frame(res, None), np.full(len(points), np.nan), 0
    t = decimal_years([c[2:] for c in cols])
    disp = points[cols].to_numpy(dtype=np.float32)
    res = classify_trends(
        disp,
        t,
        alpha=params.trend_alpha,
        min_dates=params.trend_min_dates,
        min_segment=params.trend_min_segment,
        max_breakpoints=params.trend_max_breakpoints,
        seasonal=params.trend_seasonal,
    )
    seasonal_mm = seasonal_amplitude(disp, t, min_dates=params.trend_min_dates)
    return trend_frame(res, cols[0][2:]), seasonal_mm, len(cols)
