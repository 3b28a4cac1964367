"""Footprint geometry of moving slopes and bowls, and fitting a footprint to the terrain.

Footprints are ellipses (:func:`ellipse_polygon`; a circle for a subsidence bowl or a
thermal disc). A moving slope's footprint is elongated along the downslope direction of a
smoothed DEM, its head just above a landslide initiation point (:func:`_fit_footprint` on
the gradient of :func:`_slope_grid`); it must lie on one slope, cover the DEM and keep its
distance from the footprints already placed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from rasterio.transform import Affine

from slidemap.raster import horn_gradient
from slidemap.simulate.params import SimulationParams
from slidemap.simulate.terrain import smooth_dem

__all__ = [
    "ellipse_polygon",
    "in_north_south_sector",
]

#: Vertices of a footprint polygon.
_N_VERTICES = 72


def ellipse_polygon(
    cx: float, cy: float, half_length: float, half_width: float, azimuth_deg: float
) -> shapely.Polygon:
    """Ellipse whose long axis points to ``azimuth_deg``.

    Parameters
    ----------
    cx, cy
        Centre (m).
    half_length, half_width
        Semi-axes (m) along and across the azimuth.
    azimuth_deg
        Direction of the long axis (degrees clockwise from north).

    Returns
    -------
    shapely.Polygon
        72 vertices, coordinates rounded to 1 cm.
    """
    az = np.deg2rad(azimuth_deg)
    ue, un = np.sin(az), np.cos(az)
    phi = np.linspace(0.0, 2 * np.pi, _N_VERTICES, endpoint=False)
    a = half_length * np.cos(phi)
    b = half_width * np.sin(phi)
    x = cx + a * ue + b * un
    y = cy + a * un - b * ue
    return shapely.Polygon(np.round(np.column_stack([x, y]), 2))


def _normalised_radius(
    x: np.ndarray,
    y: np.ndarray,
    cx: float,
    cy: float,
    half_length: float,
    half_width: float,
    azimuth_deg: float,
) -> np.ndarray:
    """Elliptical radius of points (1 on the outline)."""
    az = np.deg2rad(azimuth_deg)
    ue, un = np.sin(az), np.cos(az)
    dx, dy = x - cx, y - cy
    along = dx * ue + dy * un
    across = dx * un - dy * ue
    return np.sqrt((along / half_length) ** 2 + (across / half_width) ** 2)


def _cells_inside(
    transform: Affine, shape: tuple[int, int], cx: float, cy: float, a: float, b: float, az: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, cols and normalised radius of the cells whose centre lies inside an ellipse."""
    cell = transform.a
    c0 = int(np.floor((cx - a - transform.c) / cell)) - 1
    c1 = int(np.ceil((cx + a - transform.c) / cell)) + 1
    r0 = int(np.floor((transform.f - (cy + a)) / cell)) - 1
    r1 = int(np.ceil((transform.f - (cy - a)) / cell)) + 1
    rows, cols = np.mgrid[max(r0, 0) : min(r1, shape[0]), max(c0, 0) : min(c1, shape[1])]
    xs = transform.c + (cols + 0.5) * cell
    ys = transform.f - (rows + 0.5) * cell
    r = _normalised_radius(xs, ys, cx, cy, a, b, az)
    inside = r <= 1.0
    return rows[inside], cols[inside], r[inside]


@dataclass
class _SlopeGrid:
    """Smoothed-terrain gradient the footprints are fitted on."""

    transform: Affine
    shape: tuple[int, int]
    valid: np.ndarray
    gx: np.ndarray
    gy: np.ndarray

    @property
    def cell(self) -> float:
        return float(self.transform.a)


def _slope_grid(dem: np.ndarray, transform: Affine, params: SimulationParams) -> _SlopeGrid:
    """Gradient of the DEM smoothed with ``smoothing_sigma_m``."""
    zs = smooth_dem(dem, params.smoothing_sigma_m / transform.a)
    gx, gy = horn_gradient(zs, transform.a)
    return _SlopeGrid(transform, dem.shape, np.isfinite(dem), gx, gy)


def in_north_south_sector(azimuth_deg: np.ndarray | float, tolerance_deg: float) -> np.ndarray:
    """Whether azimuths lie within ``tolerance_deg`` of north or south.

    Parameters
    ----------
    azimuth_deg
        Azimuths (degrees clockwise from north).
    tolerance_deg
        Half-width of the sectors (degrees).

    Returns
    -------
    numpy.ndarray
        Boolean, like ``azimuth_deg``.
    """
    a = np.asarray(azimuth_deg, dtype=float) % 180.0
    return np.minimum(a, 180.0 - a) <= tolerance_deg


def _fit_footprint(
    grid: _SlopeGrid,
    px: float,
    py: float,
    length: float,
    ratio: float,
    params: SimulationParams,
    polys: list[shapely.Polygon],
    sector: str | None = None,
    min_plunge_deg: float | None = None,
) -> dict | None:
    """Fit a footprint with its head near ``(px, py)``, or None when none fits.

    The direction is the downslope direction of the smoothed DEM at the point, refined on
    the footprint's mean gradient; the footprint must cover the DEM, lie on one slope and
    keep ``slide_gap_m`` from ``polys``; it is retried at the lengths of
    ``slide_shrink_steps``. ``sector`` (``ns`` / ``not_ns``) requires the final azimuth to
    lie inside / outside the north and south sectors, ``min_plunge_deg`` a least mean slope.
    """
    transform, cell = grid.transform, grid.cell
    gx, gy, valid = grid.gx, grid.gy, grid.valid
    col = int(np.floor((px - transform.c) / cell))
    row = int(np.floor((transform.f - py) / cell))
    if not (0 <= row < grid.shape[0] and 0 <= col < grid.shape[1]):
        return None
    if not np.isfinite(gx[row, col]):
        return None
    az = float(np.degrees(np.arctan2(-gx[row, col], -gy[row, col])) % 360.0)
    for scale in params.slide_shrink_steps:
        length_s = length * scale
        a, b = length_s / 2.0, ratio * length_s / 2.0
        placed = None
        for _ in range(2):  # refine the direction on the footprint's mean gradient
            u = np.deg2rad(az)
            cx = px + np.sin(u) * (0.5 - params.slide_head_offset) * length_s
            cy = py + np.cos(u) * (0.5 - params.slide_head_offset) * length_s
            rr, cc, _r = _cells_inside(transform, grid.shape, cx, cy, a, b, az)
            ok = np.isfinite(gx[rr, cc])
            if ok.sum() < 3:
                break
            mgx, mgy = gx[rr, cc][ok].mean(), gy[rr, cc][ok].mean()
            az = float(np.degrees(np.arctan2(-mgx, -mgy)) % 360.0)
            placed = (cx, cy, rr, cc)
        if placed is None:
            return None
        u = np.deg2rad(az)
        cx = px + np.sin(u) * (0.5 - params.slide_head_offset) * length_s
        cy = py + np.cos(u) * (0.5 - params.slide_head_offset) * length_s
        rr, cc, _r = _cells_inside(transform, grid.shape, cx, cy, a, b, az)
        expected = np.pi * a * b / cell**2
        if len(rr) < 0.95 * expected or valid[rr, cc].mean() < 0.95:
            continue
        poly = ellipse_polygon(cx, cy, a, b, az)
        if any(shapely.distance(poly, p) < params.slide_gap_m for p in polys):
            continue
        ok = np.isfinite(gx[rr, cc])
        ue, un = np.sin(u), np.cos(u)
        downhill = -(gx[rr, cc][ok] * ue + gy[rr, cc][ok] * un)
        on_slope = np.degrees(np.arctan(downhill)) >= params.slide_min_cell_slope_deg
        if on_slope.mean() < params.slide_min_on_slope_share:
            continue  # the footprint would cross a valley floor or a ridge
        plunge = float(np.degrees(np.arctan(downhill.mean())))
        if sector is not None:
            ns = bool(in_north_south_sector(az, params.slide_north_south_tolerance_deg))
            if ns != (sector == "ns"):
                continue
        if min_plunge_deg is not None and plunge < min_plunge_deg:
            continue
        return {"cx": cx, "cy": cy, "a": a, "b": b, "length": length_s, "az": az, "plunge": plunge}
    return None
