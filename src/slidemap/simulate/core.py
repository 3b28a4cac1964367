"""The whole simulation: inputs -> sources, layers, tracks -> files."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from pyproj import CRS
from rasterio.transform import Affine
from scipy import ndimage

from slidemap.errors import InputDataError
from slidemap.raster import horn_gradient
from slidemap.simulate import layers as lyr
from slidemap.simulate.decoys import place_embankments, place_thermal
from slidemap.simulate.fields import component_rng, gaussian_random_field
from slidemap.simulate.motion import motion_vector
from slidemap.simulate.params import SimulationParams, acquisition_dates
from slidemap.simulate.result import Simulation
from slidemap.simulate.series import DAYS_PER_YEAR
from slidemap.simulate.sources import place_slides, place_subsidence
from slidemap.simulate.tracks import Scene, TrackResult, simulate_track, track_los
from slidemap.simulate.writers import write_simulation

__all__ = [
    "Simulation",
    "DETECT_THRESHOLD_MM_YR",
    "DETECT_MIN_POINTS",
    "read_inputs",
    "simulate",
    "make_demo",
]

#: Default LOS rate (mm/yr) a point must reach to count as moving in the truth's
#: detectability flags (the stability threshold of seed 002;
#: ``SimulationParams.detect_threshold_mm_yr``).
DETECT_THRESHOLD_MM_YR = 10.0
#: Default number of delivered points a footprint needs above that rate, in one track, to be
#: detectable (the ">= 6 moving PS" of the EGMS landslide-ranking workflow of Marmoni et
#: al.; ``SimulationParams.detect_min_points``).
DETECT_MIN_POINTS = 6


def read_inputs(
    dem_path: str | os.PathLike,
    inventory_path: str | os.PathLike,
    label_column: str = "lslpts",
    label_value: int = 1,
) -> tuple[np.ndarray, Affine, CRS, np.ndarray]:
    """Read the DEM and the landslide points the simulation is built on.

    Parameters
    ----------
    dem_path
        GeoTIFF of elevation (m) in a projected CRS with square cells (m).
    inventory_path
        CSV with ``x``, ``y`` (DEM CRS, m) and ``label_column``.
    label_column, label_value
        Rows whose ``label_column`` equals ``label_value`` are landslide points.

    Returns
    -------
    tuple
        ``(dem, transform, crs, points_xy)``: float64 elevation with NaN nodata, the affine
        transform, the CRS, and an ``(n, 2)`` array of landslide points.

    Raises
    ------
    InputDataError
        If the DEM is not north-up with square cells in a projected CRS, or the CSV lacks
        the columns.
    """
    with rasterio.open(dem_path) as src:
        dem = src.read(1, masked=True).astype(float).filled(np.nan)
        transform, crs = src.transform, CRS.from_user_input(src.crs)
    if transform.b != 0 or transform.d != 0 or transform.a != -transform.e:
        raise InputDataError(
            dem_path,
            "the simulator needs a north-up DEM with square cells.",
            "warp it first (gdalwarp -tr 10 10).",
        )
    if not crs.is_projected:
        raise InputDataError(
            dem_path,
            "the simulator needs a DEM in a projected CRS (m).",
            "reproject it to the UTM zone of the area (gdalwarp -t_srs).",
        )
    table = pd.read_csv(inventory_path)
    for col in ("x", "y", label_column):
        if col not in table.columns:
            raise InputDataError(
                inventory_path,
                "the inventory has no such column.",
                "give x, y and the label column.",
                column=col,
            )
    pts = table.loc[table[label_column] == label_value, ["x", "y"]].to_numpy(float)
    return dem, transform, crs, pts


def _period(params: SimulationParams) -> tuple[date, float]:
    """Start date and length (years) of the period every track covers."""
    all_dates = [d for t in params.tracks for d in acquisition_dates(t)]
    start, end = min(all_dates), max(all_dates)
    return start, (end - start).days / DAYS_PER_YEAR


def simulate(
    dem: np.ndarray,
    transform: Affine,
    crs: CRS,
    landslide_xy: np.ndarray,
    params: SimulationParams | None = None,
) -> Simulation:
    """Run the simulation on a DEM and landslide points (nothing is written).

    Parameters
    ----------
    dem
        Elevation (m), north-up, square cells, NaN nodata.
    transform
        Affine transform of ``dem``.
    crs
        Projected CRS of ``dem``.
    landslide_xy
        ``(n, 2)`` landslide initiation points (m); moving slopes go to a subset (ignored
        when ``params.slide_sites`` is ``random``; may be empty).
    params
        Parameters; default :class:`SimulationParams` (the committed demo).

    Returns
    -------
    Simulation
        Sources, layers, tracks and their truth.
    """
    params = params or SimulationParams()
    seed = params.seed
    cell = float(transform.a)
    epoch, span = _period(params)
    slide_stream = "slides/random" if params.slide_sites == "random" else "slides"
    slides = place_slides(
        component_rng(seed, slide_stream), dem, transform, landslide_xy, params, span
    )
    sources = place_subsidence(component_rng(seed, "subsidence"), dem, transform, slides, params)
    roads = lyr.make_roads(dem, transform)
    decoys = _place_decoys(dem, transform, slides, sources, roads, params)
    west, north = transform.c, transform.f
    bounds = (west, north - dem.shape[0] * cell, west + dem.shape[1] * cell, north)
    faults = lyr.make_faults(component_rng(seed, "faults"), bounds)
    litho, litho_t = lyr.make_lithology(component_rng(seed, "lithology"), dem, transform)

    patch_field = gaussian_random_field(
        component_rng(seed, "coherence"), dem.shape, params.coherence_patch_sigma_m / cell
    )
    valid = np.isfinite(dem)
    cut = np.quantile(patch_field[valid], 1.0 - params.coherence_patch_share)
    patches = (patch_field > cut) & valid
    landuse = lyr.make_landuse(dem, transform, patches, roads)
    coherence = np.where(landuse == 1, params.coherence_patch, params.coherence_good)
    coherence = ndimage.gaussian_filter(coherence, 1.5, mode="nearest")

    gx, gy = horn_gradient(dem, cell)
    scene = Scene(
        dem=dem,
        transform=transform,
        crs=crs,
        gx=gx,
        gy=gy,
        coherence=coherence,
        patches=patches,
        epoch=epoch,
        span_years=span,
    )
    tracks = [
        simulate_track(spec, scene, slides, sources, params, decoys) for spec in params.tracks
    ]

    slides_gdf = _slide_truth(slides, scene, tracks, params)
    sources_gdf = _source_truth(sources, scene, tracks, params, decoys)
    return Simulation(
        params=params,
        scene=scene,
        slides=slides_gdf,
        sources=sources_gdf,
        tracks=tracks,
        roads=gpd.GeoDataFrame(roads, geometry="geometry", crs=crs),
        faults=gpd.GeoDataFrame(faults, geometry="geometry", crs=crs),
        lithology=litho,
        lithology_transform=litho_t,
        landuse=landuse,
    )


def _place_decoys(
    dem: np.ndarray,
    transform: Affine,
    slides: pd.DataFrame,
    sources: pd.DataFrame,
    roads: pd.DataFrame,
    params: SimulationParams,
) -> pd.DataFrame | None:
    """Thermal discs, then embankments, away from the slides, the bowls and each other."""
    if params.n_thermal <= 0 and params.n_embankment <= 0:
        return None
    occupied = list(slides.geometry) + list(sources.geometry)
    thermal = place_thermal(component_rng(params.seed, "thermal"), dem, transform, occupied, params)
    embankment = place_embankments(
        component_rng(params.seed, "embankment"), dem, transform, roads, occupied, params
    )
    parts = [t for t in (thermal, embankment) if len(t)]
    out = pd.concat(parts, ignore_index=True) if parts else thermal
    out.insert(0, "source_id", np.arange(len(sources) + 1, len(sources) + 1 + len(out)))
    return out


def _slide_truth(
    slides: pd.DataFrame, scene: Scene, tracks: list[TrackResult], params: SimulationParams
) -> gpd.GeoDataFrame:
    """Build the moving-slope truth: motion vector and what each track should see."""
    out = pd.DataFrame(
        {
            "slide_id": slides["slide_id"].astype("int64"),
            "point_index": slides["point_index"].astype("int64"),
            "point_x": slides["point_x"],
            "point_y": slides["point_y"],
            "behaviour": slides["behaviour"].astype(str),
            "v_down_mm_yr": slides["v_down_mm_yr"],
            "azimuth_deg": slides["azimuth_deg"],
            "plunge_deg": slides["plunge_deg"],
        }
    )
    m = motion_vector(slides["azimuth_deg"].to_numpy(float), slides["plunge_deg"].to_numpy(float))
    m = m.reshape(-1, 3)
    v = slides["v_down_mm_yr"].to_numpy(float)
    out["v_east_mm_yr"] = np.round(v * m[:, 0], 2)
    out["v_north_mm_yr"] = np.round(v * m[:, 1], 2)
    out["v_up_mm_yr"] = np.round(v * m[:, 2], 2)
    out["length_m"] = slides["length_m"]
    out["width_m"] = slides["width_m"]
    out["area_m2"] = np.round([g.area for g in slides.geometry], 1)
    out["accel_share"] = slides["accel_share"]
    out["step_date"] = [
        (scene.epoch + timedelta(days=float(s) * DAYS_PER_YEAR)).isoformat()
        if np.isfinite(s)
        else None
        for s in slides["step_year"]
    ]
    out["step_mm"] = slides["step_mm"]
    out["seasonal_mm"] = slides["seasonal_mm"]
    if params.uses_optional:
        out["north_south"] = slides["north_south"].astype(bool)
    detectable = np.zeros(len(slides), dtype=bool)
    for tr in tracks:
        name = tr.spec.name
        _inc, los = track_los(
            tr.spec, scene, slides["cx"].to_numpy(float), slides["cy"].to_numpy(float)
        )
        v_los = v * (m[:, 0] * los[0] + m[:, 1] * los[1] + m[:, 2] * los[2])
        pts = tr.points
        on = pts["slide_id"].to_numpy() > 0
        ids = pts.loc[on, "slide_id"].to_numpy()
        moving = np.abs(pts.loc[on, "v_true_mm_yr"].to_numpy()) >= params.detect_threshold_mm_yr
        n_pts = np.bincount(ids, minlength=len(slides) + 1)[1:]
        n_mov = np.bincount(ids[moving], minlength=len(slides) + 1)[1:]
        out[f"v_los_{name}_mm_yr"] = np.round(v_los, 2)
        out[f"n_points_{name}"] = n_pts.astype("int64")
        out[f"n_moving_{name}"] = n_mov.astype("int64")
        det = n_mov >= params.detect_min_points
        out[f"detectable_{name}"] = det
        detectable |= det
    out["detectable"] = detectable
    return gpd.GeoDataFrame(out, geometry=list(slides.geometry), crs=scene.crs)


def _source_truth(
    sources: pd.DataFrame,
    scene: Scene,
    tracks: list[TrackResult],
    params: SimulationParams,
    decoys: pd.DataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Other sources with the LOS rate at their centre and point counts per track.

    With the optional physics on, the table also holds the decoys and the columns
    ``length_m`` (embankments) and ``placement``; ``v_up_max_mm_yr`` is then the peak
    vertical rate of a bowl, ``-r`` of an embankment and 0 for a thermal disc, and
    ``seasonal_mm`` a thermal disc's annual LOS amplitude.
    """
    cols = ["source_id", "kind", "cx", "cy", "depth_m", "v_up_max_mm_yr", "radius_m", "seasonal_mm"]
    out = pd.DataFrame({c: sources[c] for c in cols})
    geometry = list(sources.geometry)
    if params.uses_optional:
        out["length_m"] = np.nan
        out["placement"] = "low gentle ground"
        if decoys is not None and len(decoys):
            extra = pd.DataFrame(
                {
                    "source_id": decoys["source_id"],
                    "kind": decoys["kind"],
                    "cx": decoys["cx"],
                    "cy": decoys["cy"],
                    "depth_m": np.nan,
                    "v_up_max_mm_yr": -decoys["rate_mm_yr"].to_numpy(float) + 0.0,
                    "radius_m": decoys["radius_m"],
                    "seasonal_mm": decoys["amplitude_mm"],
                    "length_m": decoys["length_m"],
                    "placement": decoys["placement"],
                }
            )
            out = pd.concat([out.astype({"depth_m": float}), extra], ignore_index=True)
            geometry += list(decoys.geometry)
        out["length_m"] = out["length_m"].astype(float)
    out["source_id"] = out["source_id"].astype("int64")
    out["kind"] = out["kind"].astype(str)
    for tr in tracks:
        name = tr.spec.name
        _inc, los = track_los(tr.spec, scene, out["cx"].to_numpy(float), out["cy"].to_numpy(float))
        out[f"v_los_{name}_mm_yr"] = (
            np.round(out["v_up_max_mm_yr"].to_numpy(float) * los[2], 2) + 0.0
        )
        ids = tr.points["source_id"].to_numpy()
        out[f"n_points_{name}"] = np.bincount(ids, minlength=len(out) + 1)[1:].astype("int64")
    return gpd.GeoDataFrame(out, geometry=geometry, crs=scene.crs)


def make_demo(
    dem_path: str | os.PathLike,
    inventory_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    params: SimulationParams | None = None,
) -> list[Path]:
    """Simulate the demo study area and write its tracks, truth and layers.

    Parameters
    ----------
    dem_path
        The DEM (``resources/demo/dem.tif``).
    inventory_path
        The landslide points (``resources/demo/landslide_points.csv``, ``lslpts == 1``).
    out_dir
        Folder that receives ``tracks/``, ``truth/`` and ``layers/``.
    params
        Parameters; default the committed demo's.

    Returns
    -------
    list of pathlib.Path
        Every file written, sorted.
    """
    params = params or SimulationParams()
    dem, transform, crs, xy = read_inputs(dem_path, inventory_path)
    sim = simulate(dem, transform, crs, xy, params)
    return write_simulation(sim, Path(out_dir))
