"""One track through the hot-spot analysis, and the settings of the ``hotspots`` config section.

:func:`analyse_points` adds trend classes, the moving flag and Gi* to a track's points;
:func:`track_density` makes the hot/cold density raster; :func:`track_hotspots` runs both and
the polygons. The workflow scripts call these; the benchmark and the tests too.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from pyproj import CRS
from rasterio.enums import Resampling

from slidemap.errors import ConfigError, InputDataError
from slidemap.hotspots.candidates import (
    mean_point_density,
    moving_threshold,
    track_polygons,
)
from slidemap.hotspots.density import Grid, hot_cold_density
from slidemap.hotspots.gistar import getis_ord_gi_star
from slidemap.hotspots.trend import classify_trends, date_columns, decimal_years, trend_frame
from slidemap.io import atomic_path, write_gpkg

__all__ = [
    "HotspotParams",
    "analyse_points",
    "track_density",
    "track_hotspots",
    "REQUIRED_POINT_COLUMNS",
    "read_track_points",
    "study_area_mask",
    "write_geoparquet",
    "write_layer",
]

#: Columns of the ingested points the hot-spot stage needs.
REQUIRED_POINT_COLUMNS = ["pid", "x_m", "y_m", "velocity_mm_yr", "los_e", "los_n", "los_u"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HotspotParams:
    """Settings of the hot-spot stage (the ``hotspots`` config section; see config/README.md).

    Attributes
    ----------
    stability_threshold_mm_yr
        |v| (mm/yr) at or above which a point is moving, or ``"2sigma"``.
    search_radius_m
        Gi* distance band (m).
    kernel_radius_m
        Kernel density search radius d of Eq. (2) (m).
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
    trend_alpha, trend_min_dates, trend_min_segment, trend_max_breakpoints, trend_seasonal
        Trend-class tests (see :func:`slidemap.hotspots.trend.classify_trends`).
    permutations, seed
        Conditional permutations of Gi* (0 = none) and their seed.
    merge_tolerance_m
        Candidates of different tracks closer than this are merged (m).
    downslope_min_cosine
        Least |LOS · downslope| for the downslope projection.
    reference, reference_query, reference_other_moving, reference_min_overlap_m2
        Reference polygons for ``accuracy.json``, a selection query, files of other moving
        ground (subsidence), and the overlap area (m²) that counts as a hit.
    chunk_size
        Dask chunk edge (cells) of the density raster.
    """

    stability_threshold_mm_yr: float | str = 10.0
    search_radius_m: float = 200.0
    kernel_radius_m: float = 200.0
    cell_size_m: float | None = None
    density_points: str = "moving"
    density_threshold: float = 1.96
    min_points: int = 6
    min_area_m2: float = 10000.0
    trend_alpha: float = 0.05
    trend_min_dates: int = 10
    trend_min_segment: int = 6
    trend_max_breakpoints: int = 12
    trend_seasonal: bool = False
    permutations: int = 0
    seed: int = 20240601
    merge_tolerance_m: float = 0.0
    downslope_min_cosine: float = 0.3
    reference: str | None = None
    reference_query: str | None = None
    reference_other_moving: tuple = ()
    reference_min_overlap_m2: float = 0.0
    chunk_size: int = 1024
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: Mapping) -> HotspotParams:
        """Build the settings from the (validated) ``hotspots`` config section.

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
            When ``stability_threshold_mm_yr`` is a string other than ``"2sigma"`` or
            ``density_points`` is not ``moving``/``all``.
        """
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in section.items() if k in names}
        extra = {k: v for k, v in section.items() if k not in names}
        thr = known.get("stability_threshold_mm_yr", 10.0)
        if isinstance(thr, str) and thr.strip().lower() != "2sigma":
            raise ConfigError(
                f"config key 'hotspots.stability_threshold_mm_yr': {thr!r} is neither a number "
                "nor '2sigma'. Use e.g. 10 (mm/yr, seed 002) or '2sigma' (ADAfinder)."
            )
        if known.get("density_points", "moving") not in ("moving", "all"):
            raise ConfigError(
                "config key 'hotspots.density_points' must be 'moving' or 'all', got "
                f"{known['density_points']!r}."
            )
        if "reference_other_moving" in known:
            known["reference_other_moving"] = tuple(known["reference_other_moving"])
        return cls(**known, extra=extra)


def analyse_points(points: pd.DataFrame, params: HotspotParams) -> tuple[pd.DataFrame, dict]:
    """Add trend classes, the moving flag and Gi* to a track's points.

    Parameters
    ----------
    points
        The track's ingested points (``x_m``, ``y_m``, ``velocity_mm_yr``, ``d_YYYYMMDD`` …).
    params
        Hot-spot settings.

    Returns
    -------
    tuple
        ``(points, info)``: a copy of the points with the trend columns (see
        :func:`slidemap.hotspots.trend.trend_frame`), ``moving`` (bool), ``gi_z``, ``gi_p``
        (two-sided normal p-value), ``gi_n`` (neighbours in the band, itself included) and
        ``gi_p_sim`` (with permutations); and a dict of summary figures and stage timings (s).
    """
    info: dict = {"timings_s": {}}
    tic = time.perf_counter()
    cols = date_columns(points.columns)
    if cols:
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
        del disp
        trend = trend_frame(res, cols[0][2:])
    else:
        log.warning("no d_YYYYMMDD columns: trend classes are left missing")
        res = classify_trends(np.zeros((len(points), 0)), np.zeros(0))
        trend = trend_frame(res, None)
    info["timings_s"]["trend"] = time.perf_counter() - tic
    info["n_dates"] = len(cols)
    info["trend_counts"] = {
        k: int(v) for k, v in trend["trend_class"].value_counts(dropna=False).items() if pd.notna(k)
    }
    info["trend_unclassified"] = int(trend["trend_class"].isna().sum())

    v = points["velocity_mm_yr"].to_numpy(np.float64)
    thr = moving_threshold(v, params.stability_threshold_mm_yr)
    moving = np.abs(v) >= thr
    info["stability_threshold_mm_yr"] = thr
    info["n_points"] = int(v.size)
    info["n_moving"] = int(moving.sum())

    tic = time.perf_counter()
    xy = points[["x_m", "y_m"]].to_numpy(np.float64)
    gi = getis_ord_gi_star(
        v,
        xy,
        params.search_radius_m,
        permutations=params.permutations,
        seed=params.seed if params.permutations else None,
    )
    info["timings_s"]["gistar"] = time.perf_counter() - tic
    info["mean_neighbours"] = float(gi.cardinality.mean() - 1)

    out = points.copy()
    for c in trend.columns:
        out[c] = trend[c].to_numpy()
    out["moving"] = moving
    out["gi_z"] = gi.z
    out["gi_p"] = gi.p_norm
    out["gi_n"] = gi.cardinality.astype(np.int32)
    if gi.p_sim is not None:
        out["gi_p_sim"] = gi.p_sim
    return out, info


def track_density(
    points: pd.DataFrame,
    grid: Grid,
    params: HotspotParams,
    *,
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
        Hot-spot settings (``kernel_radius_m``, ``density_points``, ``chunk_size``).
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
    xy = points[["x_m", "y_m"]].to_numpy(np.float64)
    z = points["gi_z"].to_numpy(np.float64)
    if params.density_points == "moving":
        z = np.where(points["moving"].to_numpy(bool), z, 0.0)
    dens = hot_cold_density(
        xy, z, grid, params.kernel_radius_m, chunk_size=params.chunk_size, threads=threads
    )
    if valid is not None:
        dens[:, ~valid] = np.nan
    rho = mean_point_density(xy, params.kernel_radius_m)
    info = {
        "mean_point_density_per_km2": rho,
        "density_threshold_per_km2": params.density_threshold * rho,
    }
    return dens, info


def track_hotspots(
    points: pd.DataFrame,
    grid: Grid,
    params: HotspotParams,
    *,
    track: str,
    valid: np.ndarray | None = None,
    threads: int = 1,
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

    Returns
    -------
    tuple
        ``(points, density, polygons, info)`` (see :func:`analyse_points`,
        :func:`track_density`, :func:`slidemap.hotspots.candidates.track_polygons`).
    """
    pts, info = analyse_points(points, params)
    tic = time.perf_counter()
    dens, dinfo = track_density(pts, grid, params, valid=valid, threads=threads)
    info["timings_s"]["density"] = time.perf_counter() - tic
    info.update(dinfo)
    tic = time.perf_counter()
    polys, _ = track_polygons(
        dens,
        grid,
        pts,
        track=track,
        density_threshold=dinfo["density_threshold_per_km2"],
        min_points=params.min_points,
        min_area_m2=params.min_area_m2,
    )
    info["timings_s"]["polygons"] = time.perf_counter() - tic
    info["n_polygons"] = len(polys)
    return pts, dens, polys, info


def read_track_points(path: str | Path, crs=None) -> gpd.GeoDataFrame:
    """Read a track's ``points.parquet`` and check the columns the hot-spot stage needs.

    Parameters
    ----------
    path
        GeoParquet of the ingested points.
    crs
        Expected CRS (the study grid's); None skips the check.

    Returns
    -------
    geopandas.GeoDataFrame
        The points.

    Raises
    ------
    InputDataError
        When a required column is missing, a value is not finite, or the CRS differs.
    """
    pts = gpd.read_parquet(path)
    for col in REQUIRED_POINT_COLUMNS:
        if col not in pts.columns:
            raise InputDataError(
                path,
                f"the points table has no column '{col}'.",
                "rerun the ingest_track rule (see docs/contracts.md for the columns).",
                column=col,
            )
    if len(pts) < 2:
        raise InputDataError(
            path,
            f"the track has {len(pts)} point(s); the hot-spot analysis needs at least 2.",
            "check the track's CSV batches and the study area, or remove the track.",
        )
    for col in ("x_m", "y_m", "velocity_mm_yr"):
        bad = ~np.isfinite(pts[col].to_numpy(np.float64))
        if bad.any():
            raise InputDataError(
                path,
                f"{int(bad.sum())} value(s) of '{col}' are missing or infinite "
                f"(first pid {pts['pid'].iloc[int(np.argmax(bad))]!r}).",
                "rerun the ingest_track rule; it drops or rejects such rows.",
                column=col,
            )
    if crs is not None and pts.crs is not None and not CRS.from_user_input(crs).equals(pts.crs):
        raise InputDataError(
            path,
            f"the points are in {pts.crs.to_string()} but the study grid is in {crs}.",
            "rerun ingest_track and study_grid with the same study_area.crs.",
        )
    return pts


def study_area_mask(grid_path: str | Path, grid: Grid) -> np.ndarray:
    """Cells of ``grid`` where the study grid (``R/grid/dem.tif``) has data.

    Parameters
    ----------
    grid_path
        The study grid raster (NaN or its nodata outside the study area).
    grid
        The hot-spot grid (same origin; its cell size may differ).

    Returns
    -------
    numpy.ndarray
        Boolean (rows × cols).
    """
    with rasterio.open(grid_path) as src:
        if (src.height, src.width) == grid.shape:
            arr = src.read(1, masked=True)
        else:  # nearest cell of the study grid at each hot-spot cell (extent padded with nodata)
            h = int(round(grid.height * grid.cell_size_m / abs(src.transform.e)))
            w = int(round(grid.width * grid.cell_size_m / src.transform.a))
            window = rasterio.windows.Window(0, 0, w, h)
            arr = src.read(
                1,
                window=window,
                out_shape=grid.shape,
                boundless=True,
                masked=True,
                resampling=Resampling.nearest,
            )
    data = np.ma.filled(arr.astype(np.float64), np.nan)
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
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


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
