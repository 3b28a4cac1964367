"""Seeded synthetic InSAR tracks in the exact ``points.parquet`` format, with known truth.

A flat-lying study area on a uniform slope (background slope/aspect), Poisson points at a
given density, elliptical landslides elongated downslope, each with its own slope angle,
aspect, downslope velocity and behaviour (linear, accelerating, step). The LOS velocity is
the downslope motion projected on the track's ground-to-satellite LOS; the displacement
series are sampled on a 12-day cadence with white noise, and the stored mean velocity is the
least-squares rate of the series (as in EGMS and the demo simulator).

Used by tests/test_hotspots.py and benchmarks/hotspots.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine

from slidemap.insar.geometry import los_unit_vector
from slidemap.raster import Grid

CRS = "EPSG:32717"
ASC = (-12.0, 39.0)  # heading, incidence (deg)
DSC = (192.0, 39.0)


@dataclass
class Slide:
    """An elliptical landslide: centre (m), semi-axes (m) along/across the downslope azimuth."""

    x: float
    y: float
    a_m: float
    b_m: float
    aspect_deg: float
    slope_deg: float
    v_down_mm_yr: float
    behaviour: str = "linear"  # linear | accelerating | step

    def polygon(self) -> shapely.Polygon:
        t = np.linspace(0, 2 * np.pi, 73)[:-1]
        az = np.deg2rad(self.aspect_deg)
        u = self.a_m * np.cos(t)  # along the downslope direction
        w = self.b_m * np.sin(t)
        # downslope direction in (e, n): (sin az, cos az); across: (cos az, -sin az)
        x = self.x + u * np.sin(az) + w * np.cos(az)
        y = self.y + u * np.cos(az) - w * np.sin(az)
        return shapely.Polygon(np.column_stack([x, y]))

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        az = np.deg2rad(self.aspect_deg)
        dx, dy = x - self.x, y - self.y
        u = dx * np.sin(az) + dy * np.cos(az)
        w = dx * np.cos(az) - dy * np.sin(az)
        return (u / self.a_m) ** 2 + (w / self.b_m) ** 2 <= 1.0


@dataclass
class Landscape:
    points: gpd.GeoDataFrame
    truth: gpd.GeoDataFrame
    grid: Grid
    slope_deg: np.ndarray
    aspect_deg: np.ndarray
    dates: list[str]


def _shape(behaviour: str, t: np.ndarray) -> np.ndarray:
    """Displacement of a unit-rate slide over time (years) for each behaviour."""
    span = t[-1]
    if behaviour == "linear":
        return t
    if behaviour == "accelerating":
        return 0.25 * t + 0.75 * t * t / span  # mean rate 1 over the span, rate rising
    if behaviour == "step":
        return 0.3 * t + np.where(t >= span / 2, 0.7 * span, 0.0)
    raise ValueError(behaviour)


def make_landscape(
    *,
    seed: int = 0,
    width_m: float = 6000.0,
    height_m: float = 5000.0,
    density_per_km2: float = 264.0,
    n_dates: int = 60,
    slides: list[Slide] | None = None,
    track: tuple[float, float] = ASC,
    background_slope_deg: float = 20.0,
    background_aspect_deg: float = 90.0,
    noise_mm: float = 2.0,
    background_v_std_mm_yr: float = 1.0,
    cell_m: float = 10.0,
    origin: tuple[float, float] = (700000.0, 9550000.0),
    with_series: bool = True,
    terrain: bool = True,
) -> Landscape:
    """Build a seeded synthetic track (see module docstring); ``terrain=False`` skips rasters."""
    rng = np.random.default_rng(seed)
    x0, y0 = origin
    area_km2 = width_m * height_m / 1e6
    n = int(rng.poisson(density_per_km2 * area_km2))
    x = x0 + rng.uniform(0, width_m, n)
    y = y0 + rng.uniform(0, height_m, n)
    # slide centres are given relative to the origin
    slides = [dataclasses.replace(s, x=s.x + x0, y=s.y + y0) for s in (slides or [])]
    # terrain rasters
    transform = Affine(cell_m, 0, x0, 0, -cell_m, y0 + height_m)
    h, w = int(round(height_m / cell_m)), int(round(width_m / cell_m))
    grid = Grid(crs=CRS, transform=transform, width=w, height=h)
    slope = np.full((h, w) if terrain else (0, 0), background_slope_deg, np.float32)
    aspect = np.full((h, w) if terrain else (0, 0), background_aspect_deg, np.float32)
    if terrain:
        cx = x0 + (np.arange(w) + 0.5) * cell_m
        cy = y0 + height_m - (np.arange(h) + 0.5) * cell_m
        gx, gy = np.meshgrid(cx, cy)
        for s in slides:
            inside = s.contains(gx, gy)
            slope[inside] = s.slope_deg
            aspect[inside] = s.aspect_deg
    # dates and time
    t0 = pd.Timestamp("2020-01-05")
    dates = [(t0 + pd.Timedelta(days=12 * k)).strftime("%Y%m%d") for k in range(n_dates)]
    t = 12.0 * np.arange(n_dates) / 365.25
    le, ln, lu = (float(c) for c in los_unit_vector(*track))
    # motion
    v_true = rng.normal(0.0, background_v_std_mm_yr, n)  # background LOS rate
    shape_id = np.zeros(n, np.int32)
    for k, s in enumerate(slides):
        inside = s.contains(x, y)
        a = np.deg2rad(s.aspect_deg)
        sl = np.deg2rad(s.slope_deg)
        cos = le * np.sin(a) * np.cos(sl) + ln * np.cos(a) * np.cos(sl) - lu * np.sin(sl)
        v_true[inside] = s.v_down_mm_yr * cos
        shape_id[inside] = k + 1
    if with_series:
        disp = np.empty((n, n_dates), np.float32)
        base = np.outer(v_true, t)
        for k, s in enumerate(slides):
            sel = shape_id == k + 1
            base[sel] = np.outer(v_true[sel], _shape(s.behaviour, t))
        disp[:] = base + rng.normal(0.0, noise_mm, (n, n_dates))
        disp -= disp[:, :1]  # displacement relative to the first date
        tc = t - t.mean()
        vel = (disp.astype(np.float64) - disp.mean(axis=1, keepdims=True)) @ tc / (tc @ tc)
        resid = disp - disp.mean(axis=1, keepdims=True) - np.outer(vel, tc)
        vstd = np.sqrt((resid.astype(np.float64) ** 2).sum(axis=1) / (n_dates - 2) / (tc @ tc))
    else:
        vel = v_true + rng.normal(0.0, noise_mm * 0.5, n)
        vstd = np.full(n, noise_mm * 0.5)
    frame = pd.DataFrame(
        {
            "pid": pd.array([f"S{i:07d}" for i in range(n)], dtype="str"),
            "x_m": x,
            "y_m": y,
            "velocity_mm_yr": vel,
            "velocity_std_mm_yr": vstd,
            "coherence": rng.uniform(0.7, 1.0, n),
            "height_m": np.full(n, np.nan),
            "los_e": np.full(n, le),
            "los_n": np.full(n, ln),
            "los_u": np.full(n, lu),
            "source_file": pd.array(["synthetic.csv"] * n, dtype="str"),
        }
    )
    if with_series:
        series = pd.DataFrame(disp, columns=[f"d_{d}" for d in dates])
        frame = pd.concat([frame, series], axis=1)
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(x, y), crs=CRS)
    points = points.sort_values("pid", ignore_index=True)
    truth = gpd.GeoDataFrame(
        {
            "slide_id": np.arange(1, len(slides) + 1),
            "v_down_mm_yr": [s.v_down_mm_yr for s in slides],
            "behaviour": [s.behaviour for s in slides],
        },
        geometry=[s.polygon() for s in slides],
        crs=CRS,
    )
    return Landscape(points, truth, grid, slope, aspect, dates if with_series else [])


def default_slides(width_m: float = 6000.0, height_m: float = 5000.0) -> list[Slide]:
    """A handful of medium to large slides (east-facing, seen well by the ascending track)."""
    return [
        Slide(1200, 1200, 450, 250, 90, 30, 40, "linear"),
        Slide(3500, 1100, 400, 220, 100, 32, 30, "accelerating"),
        Slide(1500, 3600, 500, 300, 80, 28, 50, "step"),
        Slide(4300, 3400, 380, 260, 95, 35, 35, "linear"),
    ]
