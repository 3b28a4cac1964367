"""One track through the hot-spot analysis, and the settings of the ``hotspots`` config section.

:func:`analyse_points` adds trend classes, the moving flag and Gi* to a track's points;
:func:`track_density` makes the hot/cold density raster; :func:`track_hotspots` runs both and
the polygons. The workflow scripts call these; the benchmark and the tests too.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import special

from slidemap.errors import ConfigError
from slidemap.hotspots.adaptive import clipped_noise, highpass_velocity, knn_radius, robust_sigma
from slidemap.hotspots.candidates import (
    mean_point_density,
    moving_threshold,
    track_polygons,
)
from slidemap.hotspots.density import hot_cold_density
from slidemap.hotspots.gistar import SCALES, GiStarResult, getis_ord_gi_star
from slidemap.hotspots.pointio import REQUIRED_POINT_COLUMNS, read_track_points
from slidemap.hotspots.trend import point_trends
from slidemap.io import write_geoparquet as write_geoparquet_file
from slidemap.io import write_gpkg
from slidemap.raster import Grid

__all__ = [
    "HotspotParams",
    "METHODS",
    "PRESETS",
    "resolve_settings",
    "analyse_points",
    "track_density",
    "track_hotspots",
    "track_hotspots_to_files",
    "hotspots_to_files",
    "density_weights",
    "trend_summary",
    "moving_flags",
    "density_tags",
    "study_area_windows",
    "REQUIRED_POINT_COLUMNS",
    "read_track_points",
    "study_area_mask",
    "write_geoparquet",
    "write_layer",
]

#: Columns of the ingested points the hot-spot stage needs.

log = logging.getLogger(__name__)


#: Seed 002's fixed-parameter method as a preset: ``hotspots.preset: seed002`` replaces the keys
#: it lists, whatever the configuration says (as the model presets do).
PRESETS: dict[str, dict] = {
    "seed002": {
        "params": {
            "stability_threshold_mm_yr": 10.0,
            "highpass_radius_m": None,
            "search_radius_m": 200.0,
            "kernel_radius_m": 200.0,
            "density_points": "moving",
            "density_threshold": 1.96,
            "min_points": 6,
            "min_area_m2": 10000.0,
            "trend_evidence": False,
            "outline": "density",
            "gi_scale": "sample",
            "sparse_upslope_noise_factor": None,
        },
        "source": (
            "seed 002, sections 3.2 and 4.2: +-10 mm/yr stability threshold on the LOS "
            "velocity, Gi* with a 200 m distance band, quartic kernel density of the Gi* z of "
            "the moving points (search radius 200 m), polygons of the density map's cells. The "
            "paper classified its density map by eye: the density threshold (1.96 x the mean "
            "point density), 6 moving points and 1 ha are slidemap's fixed-method values."
        ),
    },
}

#: Hot-spot methods: ``adaptive`` (settings derived from each track's data) and the presets.
METHODS = ("adaptive", *PRESETS)

#: Fallback length (m) of the Gi* band and the kernel when a track has too few points for
#: a neighbour-count radius.
FALLBACK_RADIUS_M = 200.0


@dataclass(frozen=True)
class HotspotParams:
    """Settings of the hot-spot stage (the ``hotspots`` config section; see config/README.md).

    Attributes
    ----------
    preset
        ``adaptive`` (default: noise level, threshold and radii derived from each track) or
        ``seed002`` (the paper's fixed method; :data:`PRESETS` replaces the keys it lists).
    stability_threshold_mm_yr
        |v| (mm/yr) at or above which a point is moving; ``"auto"`` =
        ``noise_multiplier`` × the track's noise level (``noise_estimator`` of the high-passed
        velocities); ``"2sigma"`` = twice the standard deviation of the velocities.
    noise_multiplier
        Multiple of the noise level (σ, mm/yr, ``noise_estimator``) that ``"auto"`` takes as
        threshold.
    highpass_radius_m
        Radius (m) of the local median removed from the velocities before the threshold and
        Gi* (the atmosphere's and orbits' smooth residuals); None = no high-pass.
    search_radius_m
        Gi* distance band (m), or ``"auto"`` = the median distance to the
        ``search_neighbours``-th nearest point.
    search_neighbours
        Neighbour count of the ``"auto"`` Gi* band.
    kernel_radius_m
        Kernel density search radius d of Eq. (2) (m), or ``"auto"`` = the median distance to
        the ``kernel_neighbours``-th nearest point.
    kernel_neighbours
        Neighbour count of the ``"auto"`` kernel radius.
    gi_scale
        ``"robust"`` (default): Gi* z against the median and 1.4826 × MAD of all analysed
        velocities; ``"clipped"``: against the centre and noise level of
        ``noise_estimator: clipped`` (the stable points' median and σ); ``"sample"``:
        against their mean and standard deviation (the textbook Gi*, seed 002). See
        :func:`slidemap.hotspots.gistar.getis_ord_gi_star`.
    noise_estimator
        ``"clipped"`` (default) or ``"mad"``: how the noise level σ (mm/yr) behind
        ``"auto"`` is taken (:func:`noise_level`; docs/hotspots.md, "The clipped noise
        level" and "Sparse candidates moving up the slope", for the choice).
    cell_size_m
        Density cell size (m); None = the study grid's.
    density_points
        ``"moving"``: only moving points weight the density; ``"all"``: every point (Eq. 2
        over all IPTs).
    density_threshold
        Density threshold in units of the track's mean point density: a cell is a hot (cold)
        spot when its density ≥ ``density_threshold × ρ̄`` (ρ̄ in points/km²), i.e. when the
        kernel-weighted mean z there reaches this value.
    min_points
        Least number of moving points of a polygon.
    min_area_m2
        Least polygon area (m²).
    trend_evidence
        A point counts as moving only when its time series holds a significant trend (trend
        class ``linear`` or ``nonlinear``; unclassified series are not held back).
    outline
        ``"density"``: a polygon is the cells of its density region; ``"hull"``: the region
        cut to the convex hull of its moving points, widened by ``outline_buffer_m``.
    outline_buffer_m
        Width (m) added around the hull of the moving points (``outline: hull``).
    outline_concavity
        1 = convex hull; below 1 a concave hull of that ratio (``shapely.concave_hull``).
    outline_carve
        Cut out of the hull the Voronoi cells of the region's points that are not moving
        its way (:func:`slidemap.hotspots.regions.carve_stable`).
    trend_alpha, trend_min_dates, trend_min_segment, trend_max_breakpoints, trend_seasonal
        Trend-class tests (see :func:`slidemap.hotspots.trend.classify_trends`).
    permutations, seed
        Conditional permutations of Gi* (0 = none) and their seed.
    merge_tolerance_m
        Candidates of different tracks closer than this are merged (m).
    downslope_min_cosine
        Least |LOS · downslope| for the downslope projection.
    sparse_upslope_noise_factor
        Noise levels (default 2): the merged candidates holding at most ``min_points``
        moving points, all of one track, that move up the slope in the line of sight by
        more than this many noise levels are dropped
        (:func:`slidemap.hotspots.evidence.sparse_upslope`); None keeps every candidate.
    preclassify
        Thresholds of the rule-based pre-classification of the merged candidates
        (:data:`slidemap.hotspots.evidence.RULES`; missing keys take the defaults).
    reference, reference_query, reference_other_moving, reference_min_overlap_m2
        Reference polygons for ``accuracy.json``, a selection query, files of other moving
        ground (subsidence), and the overlap area (m²) that counts as a hit.
    chunk_size
        Dask chunk edge (cells) of the density raster.
    """

    preset: str = "adaptive"
    stability_threshold_mm_yr: float | str = "auto"
    noise_multiplier: float = 3.0
    highpass_radius_m: float | None = 1500.0
    search_radius_m: float | str = "auto"
    search_neighbours: int = 8
    kernel_radius_m: float | str = "auto"
    kernel_neighbours: int = 8
    gi_scale: str = "robust"
    noise_estimator: str = "clipped"
    cell_size_m: float | None = None
    density_points: str = "moving"
    density_threshold: float = 1.0
    min_points: int = 4
    min_area_m2: float = 0.0
    trend_evidence: bool = True
    outline: str = "hull"
    outline_buffer_m: float = 10.0
    outline_concavity: float = 0.15
    outline_carve: bool = True
    trend_alpha: float = 0.05
    trend_min_dates: int = 10
    trend_min_segment: int = 6
    trend_max_breakpoints: int = 12
    trend_seasonal: bool = True
    permutations: int = 0
    seed: int = 20240601
    merge_tolerance_m: float = 0.0
    downslope_min_cosine: float = 0.3
    sparse_upslope_noise_factor: float | None = 2.0
    preclassify: dict = field(default_factory=dict)
    reference: str | None = None
    reference_query: str | None = None
    reference_other_moving: tuple = ()
    reference_min_overlap_m2: float = 0.0
    chunk_size: int = 1024
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: Mapping) -> HotspotParams:
        """Build the settings from the (validated) ``hotspots`` config section.

        A ``preset`` other than ``adaptive`` replaces the keys it lists (:data:`PRESETS`).

        Parameters
        ----------
        section
            ``config["hotspots"]``.

        Returns
        -------
        HotspotParams
            The settings; unknown keys are kept in ``extra``.

        Raises
        ------
        ConfigError
            When the preset is unknown, ``stability_threshold_mm_yr`` is a string other than
            ``"auto"``/``"2sigma"``, a radius is a string other than ``"auto"``, or
            ``density_points``/``outline`` take an unknown value.
        """
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in section.items() if k in names}
        extra = {k: v for k, v in section.items() if k not in names}
        preset = known.get("preset", "adaptive")
        if preset not in METHODS:
            raise ConfigError(
                f"config key 'hotspots.preset': unknown method {preset!r}; use one of "
                f"{', '.join(METHODS)}."
            )
        if preset in PRESETS:
            known.update(PRESETS[preset]["params"])
        thr = known.get("stability_threshold_mm_yr", "auto")
        if isinstance(thr, str) and thr.strip().lower() not in ("2sigma", "auto"):
            raise ConfigError(
                f"config key 'hotspots.stability_threshold_mm_yr': {thr!r} is neither a number "
                "nor 'auto' nor '2sigma'. Use 'auto' (a multiple of the track's noise level), "
                "e.g. 10 (mm/yr, seed 002) or '2sigma' (ADAfinder)."
            )
        for key in ("search_radius_m", "kernel_radius_m"):
            value = known.get(key, "auto")
            if isinstance(value, str) and value != "auto":
                raise ConfigError(
                    f"config key 'hotspots.{key}': {value!r} is neither a number of metres nor "
                    "'auto' (a radius holding a set number of points)."
                )
        if known.get("density_points", "moving") not in ("moving", "all"):
            raise ConfigError(
                "config key 'hotspots.density_points' must be 'moving' or 'all', got "
                f"{known['density_points']!r}."
            )
        if known.get("gi_scale", "robust") not in SCALES:
            raise ConfigError(
                f"config key 'hotspots.gi_scale' must be one of {', '.join(SCALES)}, got "
                f"{known['gi_scale']!r}."
            )
        if known.get("noise_estimator", "clipped") not in NOISE_ESTIMATORS:
            raise ConfigError(
                "config key 'hotspots.noise_estimator' must be one of "
                f"{', '.join(NOISE_ESTIMATORS)}, got {known['noise_estimator']!r}."
            )
        if known.get("outline", "hull") not in ("hull", "density"):
            raise ConfigError(
                f"config key 'hotspots.outline' must be 'hull' or 'density', got "
                f"{known['outline']!r}."
            )
        if "reference_other_moving" in known:
            known["reference_other_moving"] = tuple(known["reference_other_moving"])
        return cls(**known, extra=extra)


def _radius(value: float | str, knn: Any, neighbours: int, key: str) -> tuple[float, str]:
    """Resolve a radius setting: metres, or ``"auto"`` from a neighbour count.

    ``knn(k)`` gives the median distance to the k-th nearest point (m).
    """
    if value != "auto":
        return float(value), f"set by hotspots.{key}"
    r = knn(neighbours)
    if not np.isfinite(r) or r <= 0:
        return FALLBACK_RADIUS_M, (
            f"auto: too few distinct points for a {neighbours}-neighbour radius; "
            f"{FALLBACK_RADIUS_M:g} m used"
        )
    return r, f"auto: median distance to the {neighbours}th nearest point"


#: Estimators of a track's noise level (``hotspots.noise_estimator``).
NOISE_ESTIMATORS = ("clipped", "mad")


def noise_level(v_hp: np.ndarray, estimator: str = "mad") -> float:
    """Noise level (σ, mm/yr) of a track's analysed velocities.

    Parameters
    ----------
    v_hp
        High-passed LOS velocities (mm/yr) of every point of the track.
    estimator
        ``"clipped"``: :func:`~slidemap.hotspots.adaptive.clipped_noise` (1.4826 × MAD of
        the points within 3σ, re-drawn until stable: the stable ground's noise where many
        points move); ``"mad"``: 1.4826 × MAD of all points
        (:func:`~slidemap.hotspots.adaptive.robust_sigma`).

    Returns
    -------
    float
        σ in mm/yr; NaN without points.
    """
    if estimator == "mad":
        return robust_sigma(v_hp)
    if estimator == "clipped":
        return clipped_noise(v_hp)[1]
    raise ValueError(
        f"noise estimator must be one of {', '.join(NOISE_ESTIMATORS)}, got {estimator!r}"
    )


def resolve_settings(
    points: pd.DataFrame,
    params: HotspotParams,
    *,
    highpassed: tuple[np.ndarray, np.ndarray] | None = None,
    knn: Any = None,
) -> tuple[dict, pd.DataFrame]:
    """Derive a track's hot-spot settings from its points (noise, threshold, radii).

    Parameters
    ----------
    points
        The track's points (``x_m``, ``y_m``, ``velocity_mm_yr``).
    params
        Hot-spot settings.
    highpassed
        ``(v_hp, background)`` (mm/yr) computed elsewhere (tile by tile,
        :mod:`slidemap.hotspots.spatialtiles`); None = :func:`highpass_velocity` here.
    knn
        ``k -> radius`` (m) replacing :func:`~slidemap.hotspots.adaptive.knn_radius` of the
        points (the tiled computation); None = computed here.

    Returns
    -------
    tuple
        ``(settings, columns)``. ``settings``: ``method``, ``noise_sigma_mm_yr`` (σ of the
        analysed velocities, :func:`noise_level`), ``noise_estimator``,
        ``stability_threshold_mm_yr``,
        ``search_radius_m``, ``kernel_radius_m`` (each with a ``*_why`` text),
        ``highpass_radius_m``, ``points_per_km2`` (median, from the 8th-neighbour
        distance) and ``warnings`` (list of str). ``columns``: ``v_background_mm_yr`` (the
        removed smooth field; 0 without high-pass) and ``v_hp_mm_yr`` (the analysed
        velocity), one row per point.
    """
    warnings: list[str] = []
    if highpassed is None or knn is None:
        xy = points[["x_m", "y_m"]].to_numpy(np.float64)
        v = points["velocity_mm_yr"].to_numpy(np.float64)
    if knn is None:  # each k once (band, kernel and the density figure share k = 8)
        knn = functools.lru_cache(maxsize=None)(lambda k: knn_radius(xy, k))

    if highpassed is not None:
        v_hp, background = highpassed
    elif params.highpass_radius_m:
        v_hp, background = highpass_velocity(xy, v, float(params.highpass_radius_m))
    else:
        v_hp, background = v.copy(), np.zeros_like(v)
    sigma = noise_level(v_hp, params.noise_estimator)
    thr_setting = params.stability_threshold_mm_yr
    if isinstance(thr_setting, str) and thr_setting.strip().lower() == "auto":
        thr = params.noise_multiplier * sigma if np.isfinite(sigma) else math.inf
        thr_why = f"auto: {params.noise_multiplier:g} x the noise level {sigma:.2f} mm/yr"
    else:
        thr = moving_threshold(v_hp, thr_setting)
        thr_why = (
            "2sigma: twice the standard deviation of the velocities"
            if isinstance(thr_setting, str)
            else "set by hotspots.stability_threshold_mm_yr"
        )
        if np.isfinite(sigma) and thr < 2.0 * sigma:
            warnings.append(
                f"the stability threshold {thr:.2f} mm/yr is below twice the track's noise "
                f"level ({sigma:.2f} mm/yr): expect false candidates; use 'auto' or raise it."
            )
    band, band_why = _radius(
        params.search_radius_m, knn, params.search_neighbours, "search_radius_m"
    )
    kernel, kernel_why = _radius(
        params.kernel_radius_m, knn, params.kernel_neighbours, "kernel_radius_m"
    )
    r8 = knn(8)
    density = 8.0 / (math.pi * r8 * r8) * 1e6 if np.isfinite(r8) and r8 > 0 else math.nan
    per_100m_band = density * math.pi * 0.01 if np.isfinite(density) else math.nan
    if np.isfinite(per_100m_band) and per_100m_band < 5.0:
        warnings.append(
            f"sparse points: {per_100m_band:.1f} points per 100 m disc (fewer than 5); slides "
            "smaller than about "
            f"{2 * knn(5):.0f} m cannot hold the 5 points a candidate needs."
        )
    if np.isfinite(sigma) and sigma > 5.0:
        warnings.append(
            f"noisy track: noise level {sigma:.1f} mm/yr after the high-pass; motion slower "
            f"than about {3 * sigma:.0f} mm/yr cannot be told from noise."
        )
    settings = {
        "method": params.preset,
        "highpass_radius_m": params.highpass_radius_m,
        "noise_sigma_mm_yr": sigma,
        "noise_estimator": params.noise_estimator,
        "stability_threshold_mm_yr": thr,
        "stability_threshold_why": thr_why,
        "search_radius_m": band,
        "search_radius_why": band_why,
        "kernel_radius_m": kernel,
        "kernel_radius_why": kernel_why,
        "points_per_km2": density,
        "warnings": warnings,
    }
    for w in warnings:
        log.warning("%s", w)
    columns = pd.DataFrame(
        {"v_background_mm_yr": background, "v_hp_mm_yr": v_hp}, index=points.index
    )
    return settings, columns


def analyse_points(
    points: pd.DataFrame,
    params: HotspotParams,
    *,
    trends: tuple | None = None,
    fields: tuple[dict, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Add trend classes, the moving flag and Gi* to a track's points.

    Parameters
    ----------
    points
        The track's ingested points (``x_m``, ``y_m``, ``velocity_mm_yr``, ``d_YYYYMMDD`` …).
    params
        Hot-spot settings.
    trends
        ``(trend, seasonal_mm, n_dates)`` of :func:`~slidemap.hotspots.trend.point_trends`
        computed elsewhere (the tile jobs: :func:`slidemap.hotspots.tilejobs.join_trends`),
        in the points' order; None = computed here.
    fields
        ``(settings, columns)`` computed by the tile jobs and merges
        (:mod:`slidemap.hotspots.tilefields`): the settings of :func:`resolve_settings`
        and ``v_background_mm_yr``, ``v_hp_mm_yr``, ``gi_z`` and ``gi_n`` in the points'
        order; None = computed here.

    Returns
    -------
    tuple
        ``(points, info)``: a copy of the points with the trend columns (see
        :func:`slidemap.hotspots.trend.trend_frame`), ``seasonal_mm`` (annual amplitude,
        :func:`slidemap.hotspots.trend.seasonal_amplitude`), ``v_background_mm_yr`` and
        ``v_hp_mm_yr`` (see :func:`resolve_settings`), ``moving`` (bool: ``|v_hp| ≥``
        threshold), ``gi_z`` (Gi* of ``v_hp``), ``gi_p`` (two-sided normal p-value),
        ``gi_n`` (neighbours in the band, itself included) and ``gi_p_sim`` (with
        permutations); and a dict of summary figures (the resolved settings of
        :func:`resolve_settings` among them) and stage timings (s).
    """
    info: dict = {"timings_s": {}}
    tic = time.perf_counter()
    trend, seasonal_mm, n_dates = point_trends(points, params) if trends is None else trends
    info["timings_s"]["trend"] = time.perf_counter() - tic
    info["n_dates"] = n_dates
    info.update(trend_summary(trend["trend_class"]))

    tic = time.perf_counter()
    settings, columns = resolve_settings(points, params) if fields is None else fields
    info["timings_s"]["settings"] = time.perf_counter() - tic
    info.update(settings)
    v = columns["v_hp_mm_yr"].to_numpy(np.float64)
    moving, counts = moving_flags(v, settings, trend["trend_class"], params)
    info.update(counts)

    tic = time.perf_counter()
    if fields is None:
        gi = getis_ord_gi_star(
            v,
            points[["x_m", "y_m"]].to_numpy(np.float64),
            settings["search_radius_m"],
            permutations=params.permutations,
            seed=params.seed if params.permutations else None,
            scale=params.gi_scale,
        )
    else:  # the tile jobs' z and band counts (no permutations)
        z = columns["gi_z"].to_numpy(np.float64)
        gi = GiStarResult(
            z=z,
            p_norm=2.0 * special.ndtr(-np.abs(z)),
            cardinality=columns["gi_n"].to_numpy(np.int64),
            p_sim=None,
        )
    info["timings_s"]["gistar"] = time.perf_counter() - tic
    info["mean_neighbours"] = float(gi.cardinality.mean() - 1)

    # a shallow copy (copy-on-write: the caller's frame is untouched) and the trend columns'
    # own arrays, so that the light columns and the trends are not held twice
    out = points.copy(deep=False)
    for c in trend.columns:
        out[c] = trend[c].array
    out["seasonal_mm"] = seasonal_mm
    out["v_background_mm_yr"] = columns["v_background_mm_yr"].to_numpy()
    out["v_hp_mm_yr"] = v
    out["moving"] = moving
    out["gi_z"] = gi.z
    out["gi_p"] = gi.p_norm
    out["gi_n"] = gi.cardinality.astype(np.int32)
    if gi.p_sim is not None:
        out["gi_p_sim"] = gi.p_sim
    return out, info


def trend_summary(trend_class: pd.Series) -> dict[str, Any]:
    """``trend_counts`` (points per trend class) and ``trend_unclassified`` of a track."""
    counts = trend_class.value_counts(dropna=False)
    return {
        "trend_counts": {k: int(v) for k, v in counts.items() if pd.notna(k)},
        "trend_unclassified": int(trend_class.isna().sum()),
    }


def moving_flags(
    v_hp: np.ndarray, settings: Mapping[str, Any], trend_class: pd.Series, params: HotspotParams
) -> tuple[np.ndarray, dict[str, int]]:
    """Return the moving flag of each point and the counts of the track's summary.

    A point moves where ``|v_hp|`` (mm/yr) reaches ``settings["stability_threshold_mm_yr"]``
    and, with ``params.trend_evidence``, its series holds a significant trend.

    Returns
    -------
    moving, counts
        Bool per point; ``n_fast_without_trend`` (with trend evidence), ``n_points`` and
        ``n_moving``.
    """
    moving = np.abs(v_hp) >= settings["stability_threshold_mm_yr"]
    counts = {}
    if params.trend_evidence:
        # a point whose series holds no significant trend is noise, however fast its rate
        trendless = (trend_class == "uncorrelated").to_numpy(bool)
        counts["n_fast_without_trend"] = int((moving & trendless).sum())
        moving &= ~trendless
    counts["n_points"] = int(v_hp.size)
    counts["n_moving"] = int(moving.sum())
    return moving, counts


def density_weights(points: pd.DataFrame, params: HotspotParams) -> tuple[np.ndarray, np.ndarray]:
    """Return the coordinates (n × 2, metres) and the Gi* z weights of a track's density.

    ``density_points: moving`` zeroes the weight of the points that are not moving.
    """
    xy = points[["x_m", "y_m"]].to_numpy(np.float64)
    z = points["gi_z"].to_numpy(np.float64)
    if params.density_points == "moving":
        z = np.where(points["moving"].to_numpy(bool), z, 0.0)
    return xy, z


def track_density(
    points: pd.DataFrame,
    grid: Grid,
    params: HotspotParams,
    *,
    kernel_radius_m: float,
    valid: np.ndarray | None = None,
    threads: int = 1,
) -> tuple[np.ndarray, dict]:
    """Hot/cold kernel density of the Gi* z of a track's analysed points.

    Parameters
    ----------
    points
        Output of :func:`analyse_points`.
    grid
        Density grid.
    params
        Hot-spot settings (``density_points``, ``density_threshold``, ``chunk_size``).
    kernel_radius_m
        The resolved kernel radius (m; ``info["kernel_radius_m"]`` of
        :func:`analyse_points`).
    valid
        Optional boolean raster of the study area; cells outside get NaN.
    threads
        Dask threads.

    Returns
    -------
    tuple
        ``(density, info)``: float32 (2 × rows × cols), hot then cold, in z per km²; and
        ``mean_point_density_per_km2`` and ``density_threshold_per_km2``.
    """
    xy, z = density_weights(points, params)
    dens = hot_cold_density(
        xy, z, grid, kernel_radius_m, chunk_size=params.chunk_size, threads=threads
    )
    if valid is not None:
        dens[:, ~valid] = np.nan
    rho = mean_point_density(xy, kernel_radius_m)
    info = {
        "mean_point_density_per_km2": rho,
        "density_threshold_per_km2": params.density_threshold * rho,
    }
    return dens, info


def polygon_options(params: HotspotParams) -> dict[str, Any]:
    """Return the polygon settings of ``track_polygons``/``track_polygons_tiled`` (m, m²)."""
    return {
        "min_points": params.min_points,
        "min_area_m2": params.min_area_m2,
        "hull_buffer_m": params.outline_buffer_m if params.outline == "hull" else None,
        "hull_concavity": params.outline_concavity,
        "hull_carve": params.outline_carve,
    }


def track_hotspots(
    points: pd.DataFrame,
    grid: Grid,
    params: HotspotParams,
    *,
    track: str,
    valid: np.ndarray | None = None,
    threads: int = 1,
    trends: tuple | None = None,
    fields: tuple[dict, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, gpd.GeoDataFrame, dict]:
    """Run trend classes, Gi*, density and polygons for one track.

    Parameters
    ----------
    points
        The track's ingested points (GeoDataFrame or DataFrame in the grid's CRS).
    grid
        Density grid.
    params
        Hot-spot settings.
    track
        Track name.
    valid
        Optional boolean study-area raster on ``grid``.
    threads
        Dask threads.
    trends
        Trend columns computed by the tile jobs (see :func:`analyse_points`).
    fields
        Settings, high-pass and Gi* computed by the tile jobs (see :func:`analyse_points`).

    Returns
    -------
    tuple
        ``(points, density, polygons, info)`` (see :func:`analyse_points`,
        :func:`track_density`, :func:`slidemap.hotspots.candidates.track_polygons`).
    """
    pts, info = analyse_points(points, params, trends=trends, fields=fields)
    tic = time.perf_counter()
    dens, dinfo = track_density(
        pts, grid, params, kernel_radius_m=info["kernel_radius_m"], valid=valid, threads=threads
    )
    info["timings_s"]["density"] = time.perf_counter() - tic
    info.update(dinfo)
    tic = time.perf_counter()
    polys, _ = track_polygons(
        dens,
        grid,
        pts,
        track=track,
        density_threshold=dinfo["density_threshold_per_km2"],
        **polygon_options(params),
    )
    info["timings_s"]["polygons"] = time.perf_counter() - tic
    info["n_polygons"] = len(polys)
    return pts, dens, polys, info


#: Tile edge (cells) of the polygon pass of :func:`track_hotspots_to_files`: a tile costs
#: ~30 B per cell (density read, mask, labels, ids), ~130 MB at 2048.
POLYGON_TILE_CELLS = 2048


def density_tags(info: Mapping[str, Any]) -> dict[str, str]:
    """Metadata of a track's ``density.tif`` from the ``info`` of the hot-spot analysis."""
    return {
        "unit": "Gi* z per km2 (seed 002 Eq. 2, quartic kernel)",
        "kernel_radius_m": repr(info["kernel_radius_m"]),
        "density_threshold_per_km2": repr(info["density_threshold_per_km2"]),
        "mean_point_density_per_km2": repr(info["mean_point_density_per_km2"]),
    }


def track_hotspots_to_files(
    points: pd.DataFrame,
    grid: Grid,
    params: HotspotParams,
    *,
    track: str,
    density_path: str | Path,
    grid_path: str | Path | None = None,
    threads: int = 1,
    trends: tuple | None = None,
    fields: tuple[dict, pd.DataFrame] | None = None,
    polygon_tile_cells: int = POLYGON_TILE_CELLS,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame, dict]:
    """:func:`track_hotspots` with the density written block by block to ``density_path``.

    The density grid is never held whole: its blocks go straight to the file
    (:func:`slidemap.hotspots.density.hot_cold_density_blocks`, the study area read window
    by window), and the polygons are made tile by tile from the file
    (:func:`slidemap.hotspots.tiledpolygons.track_polygons_tiled`), so memory is the points
    plus a few blocks and tiles whatever the grid's size. The file equals
    ``track_hotspots``'s density bit for bit; the polygons are the same regions with the same
    ids and statistics, and equal geometries (a region crossing a tile edge comes back with
    its vertices in another order).

    Parameters
    ----------
    points, grid, params, track, threads, trends, fields
        As for :func:`track_hotspots`.
    density_path
        The track's ``density.tif`` (COG, bands hot and cold, z per km², NaN outside).
    grid_path
        The study grid raster (``R/grid/dem.tif``): cells where it has no data are NaN
        (:func:`study_area_mask`, window by window); None keeps every cell.
    polygon_tile_cells
        Tile edge (cells) of the polygon pass.

    Returns
    -------
    tuple
        ``(points, polygons, info)`` as :func:`track_hotspots` (without the density array).
    """
    pts, info = analyse_points(points, params, trends=trends, fields=fields)
    polys, info = hotspots_to_files(
        pts,
        info,
        grid,
        params,
        track=track,
        density_path=density_path,
        grid_path=grid_path,
        threads=threads,
        polygon_tile_cells=polygon_tile_cells,
    )
    return pts, polys, info


def hotspots_to_files(
    pts: pd.DataFrame,
    info: dict,
    grid: Grid,
    params: HotspotParams,
    *,
    track: str,
    density_path: str | Path,
    grid_path: str | Path | None = None,
    threads: int = 1,
    polygon_tile_cells: int = POLYGON_TILE_CELLS,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Write the density file and make the polygons of analysed points (step 2 of 2).

    :func:`track_hotspots_to_files` is :func:`analyse_points` then this. The rule's script
    calls the two itself and drops the analysis' inputs (light columns, trends, fields)
    between them, so that they are not held beside ``pts``.

    Parameters
    ----------
    pts, info
        What :func:`analyse_points` returns (``info`` gets the density figures, the
        timings of the density (s) and polygon stages and ``n_polygons``).
    grid, params, track, density_path, grid_path, threads, polygon_tile_cells
        As for :func:`track_hotspots_to_files`.

    Returns
    -------
    tuple
        ``(polygons, info)``.
    """
    from slidemap.hotspots.density import hot_cold_density_blocks
    from slidemap.hotspots.tiledpolygons import track_polygons_tiled
    from slidemap.raster import write_cog

    tic = time.perf_counter()
    xy, z = density_weights(pts, params)
    rho = mean_point_density(xy, info["kernel_radius_m"])
    info["mean_point_density_per_km2"] = rho
    info["density_threshold_per_km2"] = params.density_threshold * rho
    chunk = params.chunk_size or max(grid.height, grid.width)
    valid = study_area_windows(grid_path, grid, chunk) if grid_path is not None else None
    blocks = hot_cold_density_blocks(
        xy, z, grid, info["kernel_radius_m"], chunk_size=chunk, valid=valid, threads=threads
    )
    write_cog(
        blocks,
        density_path,
        grid=grid,
        nodata=math.nan,
        dtype="float32",
        count=2,
        band_names=["hot", "cold"],
        tags=density_tags(info),
    )
    info["timings_s"]["density"] = time.perf_counter() - tic
    tic = time.perf_counter()
    polys = track_polygons_tiled(
        density_path,
        grid,
        pts,
        polygon_tile_cells,
        track=track,
        density_threshold=info["density_threshold_per_km2"],
        **polygon_options(params),
    )
    info["timings_s"]["polygons"] = time.perf_counter() - tic
    info["n_polygons"] = len(polys)
    return polys, info


def study_area_windows(grid_path: str | Path, grid: Grid, chunk_size: int = 2048):
    """:func:`study_area_mask` window by window: ``valid(window) -> bool array``.

    Parameters
    ----------
    grid_path, grid
        As for :func:`study_area_mask`.
    chunk_size
        Chunk edge (cells) of the lazy study grid on ``grid``: windows aligned with it read
        each chunk once.

    Returns
    -------
    callable
        ``valid(rasterio.windows.Window) -> numpy.ndarray`` (bool, the window's shape).
    """
    from slidemap.raster import open_on_grid

    data = open_on_grid(grid_path, grid, chunk_size=chunk_size, resampling="nearest")

    def valid(window) -> np.ndarray:
        r0, c0 = int(window.row_off), int(window.col_off)
        part = data[r0 : r0 + int(window.height), c0 : c0 + int(window.width)]
        return np.isfinite(np.asarray(part.values))

    return valid


def study_area_mask(grid_path: str | Path, grid: Grid) -> np.ndarray:
    """Cells of ``grid`` where the study grid (``R/grid/dem.tif``) has data.

    Parameters
    ----------
    grid_path
        The study grid raster (NaN or its nodata outside the study area).
    grid
        The hot-spot grid (same origin; its cell size may differ: then each hot-spot cell
        takes the study-grid cell under its centre, nearest neighbour, and cells beyond the
        study grid are outside).

    Returns
    -------
    numpy.ndarray
        Boolean (rows × cols).
    """
    from slidemap.raster import open_on_grid

    data = open_on_grid(grid_path, grid, chunk_size=2048, resampling="nearest").values
    return np.isfinite(data)


def write_geoparquet(frame: gpd.GeoDataFrame, path: str | Path) -> None:
    """Write a GeoDataFrame as GeoParquet, atomically.

    Parameters
    ----------
    frame
        The table.
    path
        Output ``.parquet`` file.
    """
    write_geoparquet_file(frame, path)


def write_layer(frame: gpd.GeoDataFrame, path: str | Path, layer: str) -> None:
    """Write a GeoDataFrame as one layer of a new GeoPackage (see :func:`slidemap.io.write_gpkg`).

    Parameters
    ----------
    frame
        The table (polygon geometries, working-CRS metres).
    path
        Output ``.gpkg`` file.
    layer
        Layer name.
    """
    write_gpkg(frame, path, layer)
