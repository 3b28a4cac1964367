"""Deformation decoys that are not landslides: thermal dilation of buildings, road embankments.

Both are optional (:class:`~slidemap.simulate.params.SimulationParams` ``n_thermal``,
``n_embankment``; default 0) and draw from their own random streams, so the rest of a
simulation is unchanged by them.

- **Thermal dilation** (buildings): a disc of radius ``thermal_radius_range_m`` on gentle
  ground where extra strong scatterers are added; every point in the disc moves with an
  annual LOS signal ``A cos(2 pi (doy - thermal_peak_doy) / 365.25)`` (amplitude ``A`` in mm,
  the same in every track) and **no trend**.
- **Road embankment**: a segment of a simulated road (or a straight segment along the contour
  of the gentlest free ground); extra scatterers are added within
  ``embankment_point_half_width_m`` of the line and every point within
  ``embankment_settle_half_width_m`` settles vertically at a constant rate ``r`` (mm/yr), 3-D
  velocity ``(0, 0, -r)``, LOS rate ``-r los_up``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from rasterio.transform import Affine
from shapely import ops

from slidemap.raster import horn_gradient
from slidemap.simulate.footprints import ellipse_polygon
from slidemap.simulate.params import SimulationParams
from slidemap.simulate.terrain import smooth_dem

__all__ = [
    "DECOY_COLUMNS",
    "place_thermal",
    "place_embankments",
    "decoy_members",
    "extra_points",
]

#: Columns of the decoy table (:func:`place_thermal`, :func:`place_embankments`).
DECOY_COLUMNS = [
    "kind",
    "cx",
    "cy",
    "radius_m",
    "length_m",
    "amplitude_mm",
    "rate_mm_yr",
    "placement",
    "line",
    "geometry",
]


def _gentle_slope_deg(dem: np.ndarray, transform: Affine, params: SimulationParams) -> np.ndarray:
    """Slope (degrees) of the DEM smoothed like the footprints' (NaN at nodata)."""
    zs = smooth_dem(dem, params.smoothing_sigma_m / transform.a)
    gx, gy = horn_gradient(zs, transform.a)
    return np.degrees(np.arctan(np.hypot(gx, gy)))


def _disc_mean(grid: np.ndarray, radius_cells: float) -> np.ndarray:
    """Mean of ``grid`` over a disc of ``radius_cells`` around each cell (0 outside)."""
    from scipy.signal import fftconvolve

    n = int(np.ceil(radius_cells))
    yy, xx = np.mgrid[-n : n + 1, -n : n + 1]
    kernel = (np.hypot(yy, xx) <= radius_cells).astype(float)
    return fftconvolve(grid, kernel / kernel.sum(), mode="same")


def _distance_to(
    geoms: list[shapely.Geometry], shape: tuple[int, int], transform: Affine
) -> np.ndarray:
    """Distance (m) from each cell centre to the nearest cell touched by ``geoms``."""
    from rasterio import features
    from scipy import ndimage

    if not geoms:
        return np.full(shape, np.inf)
    mask = features.rasterize(
        [(g, 1) for g in geoms], out_shape=shape, transform=transform, all_touched=True
    ).astype(bool)
    return ndimage.distance_transform_edt(~mask) * transform.a


def _far_enough(geom: shapely.Geometry, occupied: list[shapely.Geometry], gap_m: float) -> bool:
    """Whether ``geom`` keeps ``gap_m`` (m) from every geometry of ``occupied``."""
    return all(shapely.distance(geom, g) >= gap_m for g in occupied)


def _all_valid(geom: shapely.Geometry, valid: np.ndarray, transform: Affine) -> bool:
    """Whether every cell whose centre lies in ``geom`` has elevation (and there is one)."""
    from rasterio import features

    mask = features.geometry_mask(
        [geom], out_shape=valid.shape, transform=transform, invert=True, all_touched=True
    )
    bounds = geom.bounds
    t = transform
    inside_grid = (
        bounds[0] >= t.c
        and bounds[2] <= t.c + valid.shape[1] * t.a
        and bounds[3] <= t.f
        and bounds[1] >= t.f - valid.shape[0] * t.a
    )
    return inside_grid and bool(mask.any()) and bool(valid[mask].all())


def place_thermal(
    rng: np.random.Generator,
    dem: np.ndarray,
    transform: Affine,
    occupied: list[shapely.Geometry],
    params: SimulationParams,
) -> pd.DataFrame:
    """Place ``n_thermal`` thermal-dilation discs (buildings) on gentle free ground.

    Each disc draws its radius (m, ``thermal_radius_range_m``) and annual LOS amplitude (mm,
    ``thermal_amplitude_range_mm``). Its candidate centres are the cells whose smoothed
    slope, and the mean smoothed slope over the disc around them, are below
    ``thermal_max_slope_deg``, whose disc lies on the DEM and which are at least the radius
    plus ``decoy_min_distance_m`` from every geometry in ``occupied``; up to
    ``decoy_max_tries`` of them are drawn uniformly until one keeps that distance exactly
    (the grid test is to the nearest cell). The accepted disc is added to ``occupied``.

    Parameters
    ----------
    rng
        Random generator.
    dem
        Elevation (m), NaN nodata.
    transform
        Affine transform of ``dem`` (square cells, m).
    occupied
        Geometries to keep away from (footprints, bowls, other decoys); appended to.
    params
        Simulation parameters.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`DECOY_COLUMNS`: ``kind`` ``thermal``, centre ``cx``, ``cy`` (m),
        ``radius_m``, ``amplitude_mm`` (annual LOS amplitude), ``rate_mm_yr`` 0,
        ``placement``, ``geometry`` (the disc). Fewer rows when the ground has no room.
    """
    slope = _gentle_slope_deg(dem, transform, params)
    valid = np.isfinite(dem)
    slope_filled = np.where(np.isfinite(slope), slope, 90.0)
    cell = transform.a
    rows = []
    for _ in range(params.n_thermal):
        radius = float(rng.uniform(*params.thermal_radius_range_m))
        amp = float(rng.uniform(*params.thermal_amplitude_range_mm))
        # centres whose whole disc is on the DEM, gentle on average and free
        mean_slope = _disc_mean(slope_filled, radius / cell)
        valid_share = _disc_mean(valid.astype(float), radius / cell)
        free_m = _distance_to(occupied, dem.shape, transform)
        with np.errstate(invalid="ignore"):
            ok = (
                valid
                & (slope < params.thermal_max_slope_deg)
                & (mean_slope < params.thermal_max_slope_deg)
                & (valid_share > 0.999)
                & (free_m >= radius + params.decoy_min_distance_m)
            )
        cand = np.flatnonzero(ok)
        if cand.size == 0:
            continue
        for _try in range(params.decoy_max_tries):
            pick = cand[rng.integers(cand.size)]
            r, c = np.unravel_index(pick, dem.shape)
            cx = float(transform.c + (c + 0.5) * cell)
            cy = float(transform.f - (r + 0.5) * cell)
            disc = ellipse_polygon(cx, cy, radius, radius, 0.0)
            if not _far_enough(disc, occupied, params.decoy_min_distance_m):
                continue
            if not _all_valid(disc, valid, transform):
                continue
            occupied.append(disc)
            rows.append(
                {
                    "kind": "thermal",
                    "cx": round(cx, 2),
                    "cy": round(cy, 2),
                    "radius_m": round(radius, 1),
                    "length_m": np.nan,
                    "amplitude_mm": round(amp, 2),
                    "rate_mm_yr": 0.0,
                    "placement": "gentle ground",
                    "line": None,
                    "geometry": disc,
                }
            )
            break
    return pd.DataFrame(rows, columns=DECOY_COLUMNS)


def _straight_segment(
    slope: np.ndarray,
    dem: np.ndarray,
    transform: Affine,
    length_m: float,
    occupied: list[shapely.Geometry],
    params: SimulationParams,
) -> shapely.LineString | None:
    """Straight segment along the contour of the gentlest free ground, or None."""
    zs = smooth_dem(dem, params.smoothing_sigma_m / transform.a)
    gx, gy = horn_gradient(zs, transform.a)
    valid = np.isfinite(dem)
    order = np.argsort(np.where(np.isfinite(slope), slope, np.inf), axis=None, kind="stable")
    half = length_m / 2.0
    for pick in order[: min(order.size, 5000)]:
        if not np.isfinite(slope.flat[pick]):
            break
        r, c = np.unravel_index(pick, dem.shape)
        cx = transform.c + (c + 0.5) * transform.a
        cy = transform.f - (r + 0.5) * transform.a
        # along the contour: perpendicular to the gradient (east-west on flat ground)
        g = np.hypot(gx[r, c], gy[r, c])
        ue, un = (-gy[r, c] / g, gx[r, c] / g) if g > 0 else (1.0, 0.0)
        line = shapely.LineString(
            [(cx - half * ue, cy - half * un), (cx + half * ue, cy + half * un)]
        )
        line = shapely.set_precision(line, 0.01)
        strip = line.buffer(params.embankment_settle_half_width_m)
        if _far_enough(strip, occupied, params.decoy_min_distance_m) and _all_valid(
            strip, valid, transform
        ):
            return line
    return None


def place_embankments(
    rng: np.random.Generator,
    dem: np.ndarray,
    transform: Affine,
    roads: pd.DataFrame,
    occupied: list[shapely.Geometry],
    params: SimulationParams,
) -> pd.DataFrame:
    """Place ``n_embankment`` settling road embankments.

    Each draws its length (m, ``embankment_length_range_m``) and settlement rate (mm/yr,
    ``embankment_rate_range_mm_yr``), then tries up to ``decoy_max_tries`` segments of that
    length starting at a uniform position along a road (chosen at random among the roads at
    least that long). A segment is accepted when its settling strip
    (``embankment_settle_half_width_m`` on either side) lies on the DEM and keeps
    ``decoy_min_distance_m`` from every geometry of ``occupied``. When no road is long
    enough, or no segment fits, it falls back to a straight segment along the contour
    through the gentlest cell (smoothed slope) where it fits.

    Parameters
    ----------
    rng
        Random generator.
    dem
        Elevation (m), NaN nodata.
    transform
        Affine transform of ``dem`` (square cells, m).
    roads
        Road lines (:func:`~slidemap.simulate.layers.make_roads`, ``geometry`` column).
    occupied
        Geometries to keep away from; the accepted strips are appended.
    params
        Simulation parameters.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`DECOY_COLUMNS`: ``kind`` ``embankment``, ``cx``, ``cy`` (midpoint,
        m), ``length_m``, ``rate_mm_yr`` (settlement, positive), ``amplitude_mm`` 0,
        ``placement`` (``road`` or ``straight segment on gentle ground``), ``line`` (the
        centre line) and ``geometry`` (the line buffered by the settling half-width).
    """
    slope = _gentle_slope_deg(dem, transform, params)
    valid = np.isfinite(dem)
    lines = [g for g in roads.geometry if g is not None and not g.is_empty]
    rows = []
    for _ in range(params.n_embankment):
        length = float(rng.uniform(*params.embankment_length_range_m))
        rate = float(rng.uniform(*params.embankment_rate_range_mm_yr))
        long_enough = [g for g in lines if g.length >= length]
        chosen, placement = None, "road"
        for _try in range(params.decoy_max_tries if long_enough else 0):
            road = long_enough[int(rng.integers(len(long_enough)))]
            s0 = float(rng.uniform(0.0, road.length - length))
            seg = shapely.set_precision(ops.substring(road, s0, s0 + length), 0.01)
            strip = seg.buffer(params.embankment_settle_half_width_m)
            if _far_enough(strip, occupied, params.decoy_min_distance_m) and _all_valid(
                strip, valid, transform
            ):
                chosen = seg
                break
        if chosen is None:
            chosen = _straight_segment(slope, dem, transform, length, occupied, params)
            placement = "straight segment on gentle ground"
        if chosen is None:
            continue
        strip = shapely.set_precision(chosen.buffer(params.embankment_settle_half_width_m), 0.01)
        occupied.append(strip)
        mid = chosen.interpolate(0.5, normalized=True)
        rows.append(
            {
                "kind": "embankment",
                "cx": round(mid.x, 2),
                "cy": round(mid.y, 2),
                "radius_m": np.nan,
                "length_m": round(chosen.length, 1),
                "amplitude_mm": 0.0,
                "rate_mm_yr": round(rate, 2),
                "placement": placement,
                "line": chosen,
                "geometry": strip,
            }
        )
    return pd.DataFrame(rows, columns=DECOY_COLUMNS)


def decoy_members(
    decoys: pd.DataFrame, x: np.ndarray, y: np.ndarray, params: SimulationParams
) -> np.ndarray:
    """Which decoy each point belongs to.

    A point belongs to a thermal disc when it lies within its radius, to an embankment when
    it lies within ``embankment_settle_half_width_m`` of its line.

    Parameters
    ----------
    decoys
        Decoy table (:data:`DECOY_COLUMNS`).
    x, y
        Point coordinates (m).
    params
        Simulation parameters.

    Returns
    -------
    numpy.ndarray
        Row of ``decoys`` per point (-1 = none).
    """
    out = np.full(len(x), -1, dtype=np.int64)
    for k, d in enumerate(decoys.itertuples(index=False)):
        west, south, east, north = d.geometry.bounds
        near = np.flatnonzero((x >= west) & (x <= east) & (y >= south) & (y <= north))
        if near.size == 0:
            continue
        if d.kind == "thermal":
            inside = np.hypot(x[near] - d.cx, y[near] - d.cy) <= d.radius_m
        else:
            dist = shapely.distance(d.line, shapely.points(x[near], y[near]))
            inside = dist <= params.embankment_settle_half_width_m
        out[near[inside]] = k
    return out


def extra_points(
    rng: np.random.Generator, decoys: pd.DataFrame, params: SimulationParams
) -> tuple[np.ndarray, np.ndarray]:
    """Extra strong scatterers of the decoys: a Poisson process inside each decoy's strip.

    Thermal discs get ``thermal_density_per_km2`` over the disc, embankments
    ``embankment_density_per_km2`` within ``embankment_point_half_width_m`` of the line
    (points drawn in the bounding box and kept inside).

    Parameters
    ----------
    rng
        Random generator.
    decoys
        Decoy table (:data:`DECOY_COLUMNS`).
    params
        Simulation parameters.

    Returns
    -------
    tuple of numpy.ndarray
        ``(x, y)`` of the extra points (m).
    """
    xs, ys = [], []
    for d in decoys.itertuples(index=False):
        if d.kind == "thermal":
            region = ellipse_polygon(d.cx, d.cy, d.radius_m, d.radius_m, 0.0)
            density = params.thermal_density_per_km2
        else:
            region = d.line.buffer(params.embankment_point_half_width_m)
            density = params.embankment_density_per_km2
        west, south, east, north = region.bounds
        n = int(rng.poisson(density * (east - west) * (north - south) / 1e6))
        x = west + (east - west) * rng.random(n)
        y = south + (north - south) * rng.random(n)
        if d.kind == "thermal":
            keep = np.hypot(x - d.cx, y - d.cy) <= d.radius_m
        else:
            dist = shapely.distance(d.line, shapely.points(x, y))
            keep = dist <= params.embankment_point_half_width_m
        xs.append(x[keep])
        ys.append(y[keep])
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate(ys)
