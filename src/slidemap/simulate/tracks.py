"""Measurement points and displacement time series of one simulated Sentinel-1 track."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer
from rasterio.transform import Affine

from slidemap.insar.geometry import los_unit_vector, project_on_los
from slidemap.simulate.decoys import decoy_members, extra_points
from slidemap.simulate.fields import (
    component_rng,
    gaussian_random_field,
    powerlaw_screens_mm,
    sample_grid,
)
from slidemap.simulate.motion import (
    motion_vector,
    slide_displacement_mm,
    slide_membership,
    subsidence_velocity_mm_yr,
)
from slidemap.simulate.params import SimulationParams, TrackSpec, acquisition_dates
from slidemap.simulate.series import DAYS_PER_YEAR, fit_series
from slidemap.simulate.terrain import visibility

__all__ = ["Scene", "TrackResult", "simulate_track", "seasonal_shape", "track_los"]

#: Azimuth and range pixel spacing of Sentinel-1 IW SLCs (m) for the line/pixel columns.
_AZIMUTH_SPACING_M = 13.9
_RANGE_SPACING_M = 2.33


@dataclass
class Scene:
    """The terrain and the fields every track of one simulation shares.

    Attributes
    ----------
    dem
        Elevation (m), north-up, NaN nodata.
    transform
        Affine transform of ``dem`` (square cells in metres).
    crs
        CRS of ``dem`` (projected, metres).
    gx, gy
        Horn gradient of ``dem`` toward east and north (m/m; NaN at nodata and edges).
    coherence
        Expected temporal coherence of a point in each cell.
    patches
        Cells in low-coherence (vegetation) patches.
    epoch
        Start of the simulated period (the earliest first acquisition).
    span_years
        Length of the period (years, first to last acquisition over all tracks).
    """

    dem: np.ndarray
    transform: Affine
    crs: CRS
    gx: np.ndarray
    gy: np.ndarray
    coherence: np.ndarray
    patches: np.ndarray
    epoch: date
    span_years: float
    dem_mean_m: float = field(init=False)

    def __post_init__(self) -> None:
        self.dem_mean_m = float(np.nanmean(self.dem))

    @property
    def cell_m(self) -> float:
        """Cell size (m)."""
        return float(self.transform.a)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` (m)."""
        t = self.transform
        return t.c, t.f - self.dem.shape[0] * t.a, t.c + self.dem.shape[1] * t.a, t.f

    def rowcol(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell indices (row, col) containing points; may fall outside the grid."""
        t = self.transform
        return (
            np.floor((t.f - y) / t.a).astype(np.int64),
            np.floor((x - t.c) / t.a).astype(np.int64),
        )


@dataclass
class TrackResult:
    """What one track delivers.

    Attributes
    ----------
    spec
        The track.
    dates
        Acquisition dates.
    points
        One row per delivered point: ``pid``, ``x``, ``y`` (m, scene CRS), ``latitude``,
        ``longitude``, ``easting``, ``northing`` (EPSG:3035), ``height``, ``height_wgs84``,
        ``line``, ``pixel``, ``mp_type``, ``temporal_coherence``, ``amplitude_dispersion``,
        ``incidence_angle``, ``track_angle``, ``los_east``, ``los_north``, ``los_up``, the
        fitted ``mean_velocity`` … ``rmse`` (see :func:`fit_series`), ``slide_id`` (0 = on
        no moving slope), ``source_id`` (0 = outside every subsidence bowl and decoy),
        ``v_true_mm_yr`` (the noise-free LOS rate of the deformation at the point),
        ``row``, ``col`` (its DEM cell), ``decoy_extra`` (an extra scatterer of a decoy),
        ``v_ramp_mm_yr`` (LOS rate of the orbit-error ramp at the point, not deformation),
        ``unwrap_step_mm`` (size of its unwrapping error, 0 = none) and ``unwrap_index``
        (acquisition from which the error applies, -1 = none).
    displacement
        ``(n_points, n_dates)`` LOS displacement (mm, + toward the satellite, 0.1 mm steps,
        0 at the first date).
    counts
        Candidate points and how many were dropped per reason.
    extras
        What the optional physics drew for this track (empty when none is on):
        ``aps_sd_mm`` (per-acquisition standard deviation of the power-law screen, mm),
        ``ramp_azimuth_deg`` (direction in which the ramp's rate grows, degrees clockwise
        from north), ``ramp_mm_yr_per_km`` and ``unwrap_errors`` (points with a step).
    """

    spec: TrackSpec
    dates: list[date]
    points: pd.DataFrame
    displacement: np.ndarray
    counts: dict[str, int]
    extras: dict = field(default_factory=dict)


def seasonal_shape(
    dates: list[date], peak_doy: float, lag_days: np.ndarray | float = 0.0
) -> np.ndarray:
    """Annual cosine peaking on day ``peak_doy`` (+ ``lag_days``).

    Parameters
    ----------
    dates
        Dates (``n_t``).
    peak_doy
        Day of year of the maximum.
    lag_days
        Per-point delay of the maximum (days), scalar or ``(n,)``.

    Returns
    -------
    numpy.ndarray
        ``(n_t,)`` or ``(n, n_t)`` values in [-1, 1].
    """
    doy = np.array([d.timetuple().tm_yday for d in dates], dtype=float)
    lag = np.asarray(lag_days, dtype=float)
    if lag.ndim:
        lag = lag[:, np.newaxis]
    return np.cos(2.0 * np.pi * (doy - peak_doy - lag) / DAYS_PER_YEAR)


def track_los(
    spec: TrackSpec, scene: Scene, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Incidence angle and LOS unit vector of a track at points.

    The incidence grows by ``incidence_gradient_deg_per_km`` per km of ground range away
    from the satellite, and equals ``incidence_deg`` at the centre of the scene.

    Parameters
    ----------
    spec
        The track.
    scene
        The scene (its centre is the reference).
    x, y
        Point coordinates (m).

    Returns
    -------
    tuple
        ``(incidence_deg, (e, n, u))`` arrays like ``x``.
    """
    e0, n0, _ = los_unit_vector(spec.heading_deg, spec.incidence_deg, spec.look)
    h = np.hypot(e0, n0)
    west, south, east, north = scene.bounds
    xc, yc = (west + east) / 2.0, (south + north) / 2.0
    ground_range_km = -((x - xc) * e0 + (y - yc) * n0) / h / 1000.0
    inc = spec.incidence_deg + spec.incidence_gradient_deg_per_km * ground_range_km
    return inc, los_unit_vector(spec.heading_deg, inc, spec.look)


def _pids(rng: np.random.Generator, n: int, prefix_letters: int = 2) -> np.ndarray:
    """Draw unique 10-character point ids (EGMS-like) that start with letters."""
    letters = np.array(list(string.ascii_letters))
    alnum = np.array(list(string.ascii_letters + string.digits))
    seen: set[str] = set()
    out = []
    while len(out) < n:
        head = rng.choice(letters, size=prefix_letters)
        tail = rng.choice(alnum, size=10 - prefix_letters)
        pid = "".join(head) + "".join(tail)
        if pid not in seen:
            seen.add(pid)
            out.append(pid)
    return np.array(out, dtype=object)


def simulate_track(
    spec: TrackSpec,
    scene: Scene,
    slides: pd.DataFrame,
    sources: pd.DataFrame,
    params: SimulationParams,
    decoys: pd.DataFrame | None = None,
) -> TrackResult:
    """Sample the points of one track and simulate their LOS time series.

    Points are a Poisson process of ``density_per_km2`` over the DEM's box; a point is
    dropped when it falls on nodata, in layover or shadow (:func:`visibility` at its cell,
    with its own incidence and LOS), or when its temporal coherence is below
    ``coherence_min``. A point's coherence scatters around the scene's coherence field; its
    white noise has the phase standard deviation ``sqrt(-2 ln coherence)`` (so that the
    expected ``|mean exp(i phase)|`` equals the coherence), and the written
    ``temporal_coherence`` is that mean over its own noise. Each series is the LOS
    projection of the slide and subsidence motion, a seasonal term, an atmospheric delay
    (a smooth random field per acquisition plus a height-proportional stratified term) and
    the white noise, referred to the first acquisition and rounded to 0.1 mm.

    Optional physics (:class:`SimulationParams`, off by default, own random streams): the
    decoys add extra strong scatterers (expected coherence ``decoy_coherence``) and their
    motion (:mod:`~slidemap.simulate.decoys`); ``aps_model = powerlaw`` replaces the
    Gaussian turbulent field by power-law screens; a planar ramp whose LOS rate grows by
    ``ramp_mm_yr_per_km`` along a random azimuth is added; ``unwrap_error_share`` of the
    delivered points get a +/- half-wavelength step from a random acquisition onward.

    Parameters
    ----------
    spec
        The track.
    scene
        Terrain and shared fields.
    slides
        Moving slopes (:func:`~slidemap.simulate.sources.place_slides`).
    sources
        Subsidence bowls (:func:`~slidemap.simulate.sources.place_subsidence`).
    params
        Simulation parameters.
    decoys
        Thermal discs and embankments (:mod:`~slidemap.simulate.decoys` table with a
        ``source_id`` column), or None.

    Returns
    -------
    TrackResult
        Points, series and drop counts.
    """
    seed = params.seed
    rng = component_rng(seed, f"points/{spec.name}")
    dates = acquisition_dates(spec)
    n_t = len(dates)
    west, south, east, north = scene.bounds
    area_km2 = (east - west) * (north - south) / 1e6
    n_cand = int(rng.poisson(params.density_per_km2 * area_km2))
    x = west + (east - west) * rng.random(n_cand)
    y = south + (north - south) * rng.random(n_cand)
    coh_jitter = rng.standard_normal(n_cand) * params.coherence_point_sd
    height_err = rng.standard_normal(n_cand) * params.height_sd_m
    da_jitter = rng.standard_normal(n_cand) * 0.03
    seas_amp = np.abs(rng.standard_normal(n_cand)) * params.seasonal_sd_mm
    seas_lag = rng.standard_normal(n_cand) * 20.0
    phase_noise = rng.standard_normal((n_cand, n_t))
    has_decoys = decoys is not None and len(decoys) > 0
    is_extra = np.zeros(n_cand, dtype=bool)
    if has_decoys:
        # extra strong scatterers of the decoys, from their own stream, after the others
        rng_dec = component_rng(seed, f"decoy_points/{spec.name}")
        ex, ey = extra_points(rng_dec, decoys, params)
        n_ex = ex.size
        x, y = np.concatenate([x, ex]), np.concatenate([y, ey])
        coh_jitter = np.concatenate(
            [coh_jitter, rng_dec.standard_normal(n_ex) * params.coherence_point_sd]
        )
        height_err = np.concatenate(
            [height_err, rng_dec.standard_normal(n_ex) * params.height_sd_m]
        )
        da_jitter = np.concatenate([da_jitter, rng_dec.standard_normal(n_ex) * 0.03])
        seas_amp = np.concatenate(
            [seas_amp, np.abs(rng_dec.standard_normal(n_ex)) * params.seasonal_sd_mm]
        )
        seas_lag = np.concatenate([seas_lag, rng_dec.standard_normal(n_ex) * 20.0])
        phase_noise = np.concatenate([phase_noise, rng_dec.standard_normal((n_ex, n_t))])
        is_extra = np.concatenate([is_extra, np.ones(n_ex, dtype=bool)])
        n_cand += n_ex
    counts = {"candidates": n_cand}

    rows, cols = scene.rowcol(x, y)
    inside = (rows >= 0) & (rows < scene.dem.shape[0]) & (cols >= 0) & (cols < scene.dem.shape[1])
    rows_c, cols_c = (
        np.clip(rows, 0, scene.dem.shape[0] - 1),
        np.clip(cols, 0, scene.dem.shape[1] - 1),
    )
    gx, gy = scene.gx[rows_c, cols_c], scene.gy[rows_c, cols_c]
    on_dem = inside & np.isfinite(gx) & np.isfinite(gy)
    counts["nodata"] = int((~on_dem).sum())

    inc, los = track_los(spec, scene, x, y)
    layover, shadow = visibility(gx, gy, los, inc, params.visibility_margin_deg)
    layover &= on_dem
    shadow &= on_dem
    counts["layover"] = int(layover.sum())
    counts["shadow"] = int(shadow.sum())
    visible = on_dem & ~layover & ~shadow

    base_coherence = np.where(is_extra, params.decoy_coherence, scene.coherence[rows_c, cols_c])
    target = np.clip(base_coherence + coh_jitter, 0.05, 0.995)
    sigma_phase = np.sqrt(-2.0 * np.log(target))
    phase = phase_noise * sigma_phase[:, np.newaxis]
    realised = np.abs(np.exp(1j * phase).mean(axis=1))
    coherence = realised if params.white_noise else target
    coherent = coherence >= params.coherence_min
    counts["low_coherence"] = int((visible & ~coherent).sum())
    keep = np.flatnonzero(visible & coherent)
    counts["kept"] = int(keep.size)
    if has_decoys:
        counts["decoy_candidates"] = int(is_extra.sum())
        counts["decoy_kept"] = int(is_extra[keep].sum())

    x, y = x[keep], y[keep]
    rows_k, cols_k = rows_c[keep], cols_c[keep]
    inc = inc[keep]
    los = tuple(c[keep] for c in los)
    coherence = coherence[keep]
    sigma_phase = sigma_phase[keep]
    noise_mm = phase[keep] * params.wavelength_mm / (4.0 * np.pi)
    if not params.white_noise:
        noise_mm = np.zeros_like(noise_mm)
    dem_here = sample_grid(
        _filled(scene.dem),
        (scene.transform.f - y) / scene.cell_m - 0.5,
        (x - scene.transform.c) / scene.cell_m - 0.5,
    )

    # ---- deformation (LOS, mm) -------------------------------------------------------
    t_common = np.array([(d - scene.epoch).days for d in dates], dtype=float) / DAYS_PER_YEAR
    season = seasonal_shape(dates, params.seasonal_peak_doy)
    signal = np.zeros((keep.size, n_t))
    v_true = np.zeros(keep.size)
    slide_row, weight = slide_membership(slides, x, y, params.slide_core_radius)
    slide_id = np.zeros(keep.size, dtype=np.int64)
    if len(slides):
        disp = slide_displacement_mm(
            slides, t_common, scene.span_years, season, params.step_background_share
        )
        motion = motion_vector(
            slides["azimuth_deg"].to_numpy(float), slides["plunge_deg"].to_numpy(float)
        )
        on = slide_row >= 0
        k = slide_row[on]
        cos_los = project_on_los(
            motion[k, 0], motion[k, 1], motion[k, 2], tuple(c[on] for c in los)
        )
        signal[on] = weight[on, np.newaxis] * cos_los[:, np.newaxis] * disp[k]
        v_true[on] = weight[on] * cos_los * slides["v_down_mm_yr"].to_numpy(float)[k]
        slide_id[on] = slides["slide_id"].to_numpy()[k]
    source_id = np.zeros(keep.size, dtype=np.int64)
    if len(sources):
        ve, vn, vu = subsidence_velocity_mm_yr(sources, x, y)
        v_los_sub = project_on_los(ve, vn, vu, los)
        # seasonal amplitude proportional to the local rate (groundwater-driven)
        seas_sub = params.subsidence_seasonal_share * np.abs(v_los_sub)
        signal += v_los_sub[:, np.newaxis] * t_common + seas_sub[:, np.newaxis] * season
        v_true += v_los_sub
        for s in sources.itertuples(index=False):
            source_id[np.hypot(x - s.cx, y - s.cy) <= s.radius_m] = s.source_id
    if has_decoys:
        member = decoy_members(decoys, x, y, params)
        thermal_shape = seasonal_shape(dates, params.thermal_peak_doy)
        for k, d in enumerate(decoys.itertuples(index=False)):
            sel = member == k
            if d.kind == "thermal":  # annual dilation, no trend
                signal[sel] += d.amplitude_mm * thermal_shape
            else:  # vertical settlement (0, 0, -r)
                v_los = -d.rate_mm_yr * los[2][sel]
                signal[sel] += v_los[:, np.newaxis] * t_common
                v_true[sel] += v_los
            source_id[sel] = d.source_id
    signal += seas_amp[keep, np.newaxis] * seasonal_shape(
        dates, params.seasonal_peak_doy, seas_lag[keep]
    )

    # ---- atmosphere ----------------------------------------------------------------------
    extras: dict = {}
    rng_aps = component_rng(seed, f"aps/{spec.name}")
    ny = int(np.ceil((north - south) / params.aps_cell_m)) + 1
    nx = int(np.ceil((east - west) / params.aps_cell_m)) + 1
    if params.aps_model == "powerlaw":
        turbulent, aps_sd = powerlaw_screens_mm(
            component_rng(seed, f"aps_powerlaw/{spec.name}"),
            (ny, nx),
            params.aps_beta,
            params.aps_sd_range_mm,
            n_t,
        )
        extras["aps_sd_mm"] = aps_sd
    else:
        turbulent = (
            gaussian_random_field(
                rng_aps, (ny, nx), params.aps_sigma_m / params.aps_cell_m, count=n_t
            )
            * params.aps_sd_mm
        )
    stratified = rng_aps.standard_normal(n_t) * params.aps_stratified_sd_mm_per_km
    aps = sample_grid(
        turbulent, (north - y) / params.aps_cell_m - 0.5, (x - west) / params.aps_cell_m - 0.5
    ).T
    aps += (dem_here - scene.dem_mean_m)[:, np.newaxis] / 1000.0 * stratified[np.newaxis, :]

    series = signal + aps + noise_mm
    xc, yc = (west + east) / 2.0, (south + north) / 2.0
    v_ramp = np.zeros(keep.size)
    if params.ramp_mm_yr_per_km > 0:
        # orbit-error-like ramp: planar LOS rate through the scene centre, growing in time
        ramp_az = float(component_rng(seed, f"ramp/{spec.name}").uniform(0.0, 360.0))
        a = np.deg2rad(ramp_az)
        v_ramp = params.ramp_mm_yr_per_km * ((x - xc) * np.sin(a) + (y - yc) * np.cos(a)) / 1e3
        series += v_ramp[:, np.newaxis] * t_common
        extras["ramp_azimuth_deg"] = ramp_az
        extras["ramp_mm_yr_per_km"] = params.ramp_mm_yr_per_km
    unwrap_step = np.zeros(keep.size)
    unwrap_index = np.full(keep.size, -1, dtype=np.int64)
    if params.unwrap_error_share > 0:
        # cycle slips: +/- half a wavelength of LOS from a random acquisition onward
        rng_u = component_rng(seed, f"unwrap/{spec.name}")
        n_err = int(round(params.unwrap_error_share * keep.size))
        which = rng_u.choice(keep.size, size=n_err, replace=False)
        sign = rng_u.choice(np.array([-1.0, 1.0]), size=n_err)
        start = rng_u.integers(1, n_t, size=n_err)
        unwrap_step[which] = sign * params.wavelength_mm / 2.0
        unwrap_index[which] = start
        series += unwrap_step[:, np.newaxis] * (np.arange(n_t) >= unwrap_index[:, np.newaxis])
        extras["unwrap_errors"] = n_err
    series = series - series[:, :1]
    series = np.round(series, 1) + 0.0

    t_track = np.array([(d - dates[0]).days for d in dates], dtype=float) / DAYS_PER_YEAR
    fits = fit_series(t_track, series)

    # ---- point attributes -----------------------------------------------------------------
    to_wgs84 = Transformer.from_crs(scene.crs, "EPSG:4326", always_xy=True)
    to_3035 = Transformer.from_crs(scene.crs, "EPSG:3035", always_xy=True)
    lon, lat = to_wgs84.transform(x, y)
    easting, northing = to_3035.transform(x, y)
    e0, n0, _ = los_unit_vector(spec.heading_deg, spec.incidence_deg, spec.look)
    h = np.hypot(e0, n0)
    along = (x - xc) * np.sin(np.deg2rad(spec.heading_deg)) + (y - yc) * np.cos(
        np.deg2rad(spec.heading_deg)
    )
    ground_range = -((x - xc) * e0 + (y - yc) * n0) / h
    theta = np.deg2rad(inc)
    slant = ground_range * np.sin(theta) - (dem_here - scene.dem_mean_m) * np.cos(theta)
    amp_disp = np.clip(sigma_phase + da_jitter[keep], 0.02, None)
    pid = _pids(component_rng(seed, f"pid/{spec.name}"), keep.size)
    height = dem_here + height_err[keep]
    points = pd.DataFrame(
        {
            "pid": pid,
            "x": x,
            "y": y,
            "latitude": lat,
            "longitude": lon,
            "easting": easting,
            "northing": northing,
            "height": height,
            "height_wgs84": height + params.geoid_undulation_m,
            "line": np.round(along / _AZIMUTH_SPACING_M + 5000).astype(np.int64),
            "pixel": np.round(slant / _RANGE_SPACING_M + 20000).astype(np.int64),
            "mp_type": np.where(amp_disp <= 0.4, "PS", "DS"),
            "temporal_coherence": coherence,
            "amplitude_dispersion": amp_disp,
            "incidence_angle": inc,
            "track_angle": np.full(keep.size, spec.heading_deg),
            "los_east": los[0],
            "los_north": los[1],
            "los_up": los[2],
            **fits,
            "slide_id": slide_id,
            "source_id": source_id,
            "v_true_mm_yr": v_true,
            "row": rows_k,
            "col": cols_k,
            "decoy_extra": is_extra[keep],
            "v_ramp_mm_yr": v_ramp,
            "unwrap_step_mm": unwrap_step,
            "unwrap_index": unwrap_index,
        }
    )
    return TrackResult(
        spec=spec, dates=dates, points=points, displacement=series, counts=counts, extras=extras
    )


def _filled(dem: np.ndarray) -> np.ndarray:
    """DEM with nodata filled by the nearest value (for bilinear sampling near edges)."""
    from slidemap.simulate.terrain import fill_nan_nearest

    return fill_nan_nearest(dem)
