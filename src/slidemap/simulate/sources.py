"""Deformation sources: placing moving slopes at landslide points and subsidence bowls.

Moving slopes are ellipses elongated along the downslope direction of a smoothed DEM, their
head just above a landslide initiation point or a random site on steep ground
(:func:`place_slides`; the footprint geometry is in :mod:`~slidemap.simulate.footprints`).
Subsidence bowls are Mogi point sources (Mogi 1958) centred under gentle ground
(:func:`place_subsidence`). How the sources move is in :mod:`~slidemap.simulate.motion`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from rasterio.transform import Affine

from slidemap.raster import horn_gradient
from slidemap.simulate.footprints import (
    _fit_footprint,
    _normalised_radius,
    _slope_grid,
    _SlopeGrid,
    ellipse_polygon,
    in_north_south_sector,
)
from slidemap.simulate.params import SimulationParams
from slidemap.simulate.terrain import smooth_dem

__all__ = [
    "BEHAVIOURS",
    "place_slides",
    "place_subsidence",
]

#: Behaviours of a moving slope.
BEHAVIOURS = ("linear", "accelerating", "step")


def _draw_slide(rng: np.random.Generator, params: SimulationParams, span_years: float) -> dict:
    """Draw the five numbers every candidate draws, accepted or not (a stable stream)."""
    lo, hi = params.slide_length_range_m
    vlo, vhi = params.v_down_range_mm_yr
    length = float(
        np.clip(
            params.slide_length_median_m
            * np.exp(params.slide_length_sigma_ln * rng.standard_normal()),
            lo,
            hi,
        )
    )
    ratio = float(rng.uniform(*params.slide_width_ratio_range))
    v_down = float(
        np.clip(
            params.v_down_median_mm_yr * np.exp(params.v_down_sigma_ln * rng.standard_normal()),
            vlo,
            vhi,
        )
    )
    accel_share = float(rng.uniform(0.6, 1.0))
    step_year = float(rng.uniform(0.25, 0.75)) * span_years
    return {
        "length": length,
        "ratio": ratio,
        "v_down": v_down,
        "accel_share": accel_share,
        "step_year": step_year,
    }


def _slide_row(
    n: int, idx: int, px: float, py: float, fit: dict, draw: dict, params: SimulationParams
) -> dict:
    """One accepted footprint as a row of :func:`place_slides`' table."""
    return {
        "slide_id": n + 1,
        "point_index": int(idx),
        "point_x": px,
        "point_y": py,
        "cx": round(fit["cx"], 2),
        "cy": round(fit["cy"], 2),
        "length_m": round(fit["length"], 1),
        "width_m": round(2 * fit["b"], 1),
        "azimuth_deg": round(fit["az"], 2),
        "plunge_deg": round(fit["plunge"], 2),
        "v_down_mm_yr": round(draw["v_down"], 2),
        "accel_share": round(draw["accel_share"], 3),
        "step_year": round(draw["step_year"], 4),
        "seasonal_mm": round(params.slide_seasonal_share * draw["v_down"], 2),
        "geometry": ellipse_polygon(fit["cx"], fit["cy"], fit["a"], fit["b"], fit["az"]),
    }


def _want_north_south(n_ns: int, n_placed: int, share: float) -> bool:
    """Whether the next footprint should face north or south to keep ``share``."""
    return share > 0 and n_ns < int(round(share * (n_placed + 1)))


def _place_at_points(
    rng: np.random.Generator,
    grid: _SlopeGrid,
    points_xy: np.ndarray,
    params: SimulationParams,
    span_years: float,
) -> list[dict]:
    """Footprints grown from the landslide points (``slide_sites = inventory``)."""
    n_points = len(points_xy)
    n_target = int(round(params.slide_fraction * n_points))
    covered = np.zeros(n_points, dtype=bool)
    order = rng.permutation(n_points)
    share = params.slide_north_south_share
    if share > 0:
        # the north/south footprints grow from points whose smoothed aspect is in the sectors
        cols = np.floor((points_xy[:, 0] - grid.transform.c) / grid.cell).astype(np.int64)
        rows = np.floor((grid.transform.f - points_xy[:, 1]) / grid.cell).astype(np.int64)
        inside = (rows >= 0) & (rows < grid.shape[0]) & (cols >= 0) & (cols < grid.shape[1])
        rc, cc = np.clip(rows, 0, grid.shape[0] - 1), np.clip(cols, 0, grid.shape[1] - 1)
        aspect = np.degrees(np.arctan2(-grid.gx[rc, cc], -grid.gy[rc, cc])) % 360.0
        ns_point = inside & np.isfinite(aspect)
        ns_point &= in_north_south_sector(aspect, params.slide_north_south_tolerance_deg)
        ns_queue = [int(i) for i in order if ns_point[i]]
    else:
        ns_queue = []
    rows_out: list[dict] = []
    polys: list[shapely.Polygon] = []
    n_ns = 0
    pos = {"any": 0, "ns": 0}
    queues = {"any": [int(i) for i in order], "ns": ns_queue}
    while True:
        if params.n_slides > 0:
            if len(rows_out) >= params.n_slides:
                break
        elif covered.sum() >= n_target:
            break
        kind = "ns" if _want_north_south(n_ns, len(rows_out), share) else "any"
        if pos[kind] >= len(queues[kind]):
            kind = "any" if kind == "ns" else "ns"
            if pos[kind] >= len(queues[kind]):
                break
        idx = queues[kind][pos[kind]]
        pos[kind] += 1
        # every candidate draws the same numbers, accepted or not, so the stream is stable
        draw = _draw_slide(rng, params, span_years)
        if covered[idx]:
            continue  # already on moving ground
        px, py = (float(v) for v in points_xy[idx])
        sector = None if share <= 0 else ("ns" if kind == "ns" else "not_ns")
        fit = _fit_footprint(grid, px, py, draw["length"], draw["ratio"], params, polys, sector)
        if fit is None:
            continue
        row = _slide_row(len(rows_out), idx, px, py, fit, draw, params)
        polys.append(row["geometry"])
        r_pts = _normalised_radius(
            points_xy[:, 0], points_xy[:, 1], fit["cx"], fit["cy"], fit["a"], fit["b"], fit["az"]
        )
        covered |= r_pts < 1.0
        covered[idx] = True
        n_ns += kind == "ns"
        rows_out.append(row)
    return rows_out


def _place_at_random(
    rng: np.random.Generator,
    grid: _SlopeGrid,
    params: SimulationParams,
    span_years: float,
) -> list[dict]:
    """``n_slides`` footprints at random sites on steep enough ground (``random``)."""
    slope = np.degrees(np.arctan(np.hypot(grid.gx, grid.gy)))
    aspect = np.degrees(np.arctan2(-grid.gx, -grid.gy)) % 360.0
    with np.errstate(invalid="ignore"):
        steep = grid.valid & (slope >= params.slide_site_min_slope_deg)
    ns_cell = steep & in_north_south_sector(aspect, params.slide_north_south_tolerance_deg)
    share = params.slide_north_south_share
    pools = {
        "ns": np.flatnonzero(ns_cell),
        "any": np.flatnonzero(steep & ~ns_cell) if share > 0 else np.flatnonzero(steep),
    }
    rows_out: list[dict] = []
    polys: list[shapely.Polygon] = []
    n_ns = 0
    failures = {"ns": 0, "any": 0}
    cell = grid.cell
    for _ in range(params.slide_site_max_tries * max(params.n_slides, 1)):
        if len(rows_out) >= params.n_slides:
            break
        kind = "ns" if _want_north_south(n_ns, len(rows_out), share) else "any"
        if pools[kind].size == 0:
            kind = "any" if kind == "ns" else "ns"
            if pools[kind].size == 0:
                break
        pick = pools[kind][rng.integers(pools[kind].size)]
        jitter = rng.random(2)
        draw = _draw_slide(rng, params, span_years)
        r, c = np.unravel_index(pick, grid.shape)
        px = float(grid.transform.c + (c + jitter[0]) * cell)
        py = float(grid.transform.f - (r + jitter[1]) * cell)
        if any(shapely.contains_xy(p, px, py) for p in polys):
            failures[kind] += 1
            continue
        sector = None if share <= 0 else ("ns" if kind == "ns" else "not_ns")
        fit = _fit_footprint(
            grid,
            px,
            py,
            draw["length"],
            draw["ratio"],
            params,
            polys,
            sector,
            min_plunge_deg=params.slide_site_min_slope_deg,
        )
        if fit is None:
            failures[kind] += 1
            if kind == "ns" and failures["ns"] >= params.slide_site_max_tries:
                pools["ns"] = pools["ns"][:0]  # no room left on north/south slopes
            continue
        failures[kind] = 0
        row = _slide_row(len(rows_out), -1, round(px, 2), round(py, 2), fit, draw, params)
        polys.append(row["geometry"])
        n_ns += kind == "ns"
        rows_out.append(row)
    return rows_out


def place_slides(
    rng: np.random.Generator,
    dem: np.ndarray,
    transform: Affine,
    points_xy: np.ndarray,
    params: SimulationParams,
    span_years: float,
) -> pd.DataFrame:
    """Place non-overlapping moving slopes at landslide points or at random steep sites.

    ``slide_sites = inventory`` (default): the points are visited in a random order,
    skipping those already inside a footprint; each draws a length, a width ratio, a rate
    and the timing of an acceleration or a step. The footprint's direction is the downslope
    direction of the smoothed DEM averaged over a first footprint at the point, then the
    footprint is rebuilt along that direction. It is accepted when at least 95 % of its
    cells have elevation, at least ``slide_min_on_slope_share`` of them descend along that
    direction by ``slide_min_cell_slope_deg`` or more (one slope, not across a valley floor
    or a ridge), and it stays ``slide_gap_m`` from every accepted footprint; otherwise it is
    retried at the shorter lengths of ``slide_shrink_steps``, then the point is skipped.
    Placement stops once ``round(slide_fraction * n_points)`` landslide points lie inside
    footprints (or, with ``n_slides > 0``, once that many footprints are placed).

    ``slide_sites = random``: sites are drawn uniformly among the cells whose smoothed slope
    is at least ``slide_site_min_slope_deg`` (with a random position inside the cell) and
    a footprint is fitted there as above, also requiring a mean slope (plunge) of at least
    that angle, until ``n_slides`` are placed or ``slide_site_max_tries * n_slides`` sites
    were tried (after ``slide_site_max_tries`` failures in a row on north/south slopes the
    remaining footprints take any other azimuth).

    With ``slide_north_south_share > 0`` the footprints alternate between the north/south
    sectors and the other azimuths so that ``round(share * count)`` face north or south. The
    behaviours are then dealt to the footprints in the proportions of
    ``behaviour_probabilities`` (rounded), in random order.

    Parameters
    ----------
    rng
        Random generator.
    dem
        Elevation (m), north-up, NaN nodata.
    transform
        Affine transform of ``dem`` (square cells, metres).
    points_xy
        ``(n, 2)`` landslide points (m, DEM CRS); unused with ``random`` sites.
    params
        Simulation parameters.
    span_years
        Length of the simulated period (years); timing of accelerations and steps.

    Returns
    -------
    pandas.DataFrame
        One row per moving slope: ``slide_id`` (1..), ``point_index`` (row of the point in
        ``points_xy``; -1 for a random site), ``point_x``, ``point_y`` (the point or site,
        m), ``cx``, ``cy`` (centre, m), ``length_m``, ``width_m``, ``azimuth_deg``
        (direction of horizontal motion), ``plunge_deg`` (of the motion below horizontal),
        ``behaviour``, ``v_down_mm_yr`` (rate along the 3-D downslope direction; the
        least-squares rate of the noise-free trend over the period), ``accel_share``
        (accelerating: share of the displacement that is quadratic), ``step_year`` (step:
        time of the step, years from the start of the period), ``step_mm`` (step size, mm),
        ``seasonal_mm`` (amplitude, mm), ``geometry`` and ``north_south`` (the azimuth lies
        in the north/south sectors).
    """
    grid = _slope_grid(dem, transform, params)
    if params.slide_sites == "random":
        rows_out = _place_at_random(rng, grid, params, span_years)
    else:
        rows_out = _place_at_points(rng, grid, points_xy, params, span_years)
    columns = [
        "slide_id",
        "point_index",
        "point_x",
        "point_y",
        "cx",
        "cy",
        "length_m",
        "width_m",
        "azimuth_deg",
        "plunge_deg",
        "behaviour",
        "v_down_mm_yr",
        "accel_share",
        "step_year",
        "step_mm",
        "seasonal_mm",
        "geometry",
    ]
    out = pd.DataFrame(rows_out, columns=[c for c in columns if c not in ("behaviour", "step_mm")])
    # behaviours in the stated proportions (largest remainders), in random order
    n = len(out)
    share = np.asarray(params.behaviour_probabilities, dtype=float) * n
    counts = np.floor(share).astype(int)
    counts[np.argsort(-(share - counts), kind="stable")[: n - counts.sum()]] += 1
    behaviour = rng.permutation(np.repeat(np.array(BEHAVIOURS, dtype=object), counts))
    out["behaviour"] = behaviour.astype(str) if n else pd.Series([], dtype=str)
    is_step = out["behaviour"] == "step"
    out.loc[out["behaviour"] != "accelerating", "accel_share"] = 0.0
    t_s = out["step_year"].to_numpy(float)
    v = out["v_down_mm_yr"].to_numpy(float)
    step_mm = (
        (1.0 - params.step_background_share) * v * span_years**3 / (6.0 * t_s * (span_years - t_s))
    )
    out["step_mm"] = np.where(is_step, np.round(step_mm, 2), 0.0)
    out.loc[~is_step, "step_year"] = np.nan
    out = out[columns]
    out["north_south"] = in_north_south_sector(
        out["azimuth_deg"].to_numpy(float), params.slide_north_south_tolerance_deg
    )
    return out


def place_subsidence(
    rng: np.random.Generator,
    dem: np.ndarray,
    transform: Affine,
    slides: pd.DataFrame,
    params: SimulationParams,
) -> pd.DataFrame:
    """Centre subsidence bowls on gentle ground away from the moving slopes.

    Candidate cells have a smoothed slope below ``subsidence_max_slope_deg``, lie
    ``subsidence_min_distance_m`` from every footprint and from the DEM's edge; the centre is
    drawn with a probability rising toward flat, low ground (valley floors), and the
    neighbourhood of each chosen centre is removed from the candidates.

    Parameters
    ----------
    rng
        Random generator.
    dem
        Elevation (m), NaN nodata.
    transform
        Affine transform of ``dem``.
    slides
        Moving slopes (their footprints are avoided).
    params
        Simulation parameters.

    Returns
    -------
    pandas.DataFrame
        ``source_id`` (1..), ``kind`` (``subsidence``), ``cx``, ``cy`` (m), ``depth_m``,
        ``v_up_max_mm_yr`` (peak vertical rate, negative), ``seasonal_mm`` and ``geometry``
        (circle where the vertical rate is at least 10 % of the peak). Fewer rows than
        ``n_subsidence`` when the terrain has too little gentle ground.
    """
    from scipy import ndimage

    cell = transform.a
    zs = smooth_dem(dem, params.smoothing_sigma_m / cell)
    gx, gy = horn_gradient(zs, cell)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    keep_out = ~np.isfinite(dem)
    if params.subsidence_exclude_slides and len(slides):
        from rasterio import features

        keep_out |= features.rasterize(
            [(g, 1) for g in slides.geometry],
            out_shape=dem.shape,
            transform=transform,
            all_touched=True,
            dtype="uint8",
        ).astype(bool)
    border = np.ones(dem.shape, dtype=bool)
    border[1:-1, 1:-1] = False
    dist = ndimage.distance_transform_edt(~(keep_out | border)) * cell
    with np.errstate(invalid="ignore"):
        cand = (slope < params.subsidence_max_slope_deg) & (
            dist >= params.subsidence_min_distance_m
        )
    z_lo, z_hi = np.nanpercentile(dem, [0, 100])
    rows_out = []
    for _ in range(params.n_subsidence):
        depth = float(rng.uniform(*params.subsidence_depth_range_m))
        v0 = float(rng.uniform(*params.subsidence_rate_range_mm_yr))
        u = float(rng.uniform())
        idx = np.flatnonzero(cand)
        if idx.size == 0:
            continue
        w = (1.0 - slope.flat[idx] / params.subsidence_max_slope_deg) * (
            1.0 - (dem.flat[idx] - z_lo) / (z_hi - z_lo)
        ) ** 4
        cdf = np.cumsum(w) / w.sum()
        pick = idx[min(int(np.searchsorted(cdf, u)), idx.size - 1)]
        r, c = np.unravel_index(pick, dem.shape)
        cx = transform.c + (c + 0.5) * cell
        cy = transform.f - (r + 0.5) * cell
        radius = depth * np.sqrt(0.1 ** (-2.0 / 3.0) - 1.0)
        rows_out.append(
            {
                "source_id": len(rows_out) + 1,
                "kind": "subsidence",
                "cx": round(cx, 2),
                "cy": round(cy, 2),
                "depth_m": round(depth, 1),
                "v_up_max_mm_yr": round(v0, 2),
                "seasonal_mm": round(params.subsidence_seasonal_share * abs(v0), 2),
                "radius_m": round(radius, 1),
                "geometry": ellipse_polygon(cx, cy, radius, radius, 0.0),
            }
        )
        yy, xx = np.mgrid[0 : dem.shape[0], 0 : dem.shape[1]]
        near = (yy - r) ** 2 + (xx - c) ** 2 <= (params.subsidence_min_distance_m / cell * 2) ** 2
        cand &= ~near
    columns = [
        "source_id",
        "kind",
        "cx",
        "cy",
        "depth_m",
        "v_up_max_mm_yr",
        "seasonal_mm",
        "radius_m",
        "geometry",
    ]
    return pd.DataFrame(rows_out, columns=columns)
