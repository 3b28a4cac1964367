"""Scenario files: a YAML description of a simulated study area -> files slidemap can run on.

A scenario (``resources/scenarios/<name>.yaml``, every key documented in
``resources/scenarios/README.md``) names a real DEM (optionally cropped to a window in the
DEM's own CRS), the working CRS and cell size of the simulation, and every number of the
simulated deformation, noise, decoys and tracks. :func:`load_scenario` reads and checks it
(an unknown key or a bad value is a :class:`~slidemap.errors.ConfigError` naming the file,
the key and the fix) and maps it onto :class:`~slidemap.simulate.params.SimulationParams`;
:func:`make_scenario` simulates it and writes the study folder: ``dem.tif`` (the cropped DEM
in its original CRS, data type and nodata, so the pipeline reprojects it itself),
``tracks/``, ``truth/``, ``layers/``, ``inventory.gpkg`` (a polygon inventory of part of the
simulated slides) and ``config.yaml`` (a slidemap configuration of the study). The same
scenario file gives byte-identical files (``config.yaml`` holds the output folder's path).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import yaml
from pyproj import CRS, Transformer
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from slidemap.errors import ConfigError, InputDataError
from slidemap.io import atomic_path, write_cog, write_gpkg
from slidemap.simulate.core import simulate
from slidemap.simulate.fields import component_rng
from slidemap.simulate.params import SimulationParams, TrackSpec
from slidemap.simulate.result import Simulation
from slidemap.simulate.writers import GENERIC_COLUMNS, write_simulation

__all__ = [
    "ROLES",
    "Scenario",
    "DemCrop",
    "load_scenario",
    "read_dem_window",
    "warp_to_grid",
    "scenario_inputs",
    "polygon_inventory",
    "scenario_config",
    "make_scenario",
]

#: Roles of a scenario: ``development`` scenarios may be looked at while choosing defaults,
#: ``held_out`` ones never are.
ROLES = ("development", "held_out")

_MISSING = object()


# ---------------------------------------------------------------------------------------
# Checking the YAML


class _Bad(Exception):
    """A value is wrong: ``problem`` and ``fix`` in words."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


def _number(lo: float = -np.inf, hi: float = np.inf, *, integer: bool = False) -> Callable:
    """Checker of a number (an integer when ``integer``) in ``[lo, hi]``."""

    def check(v: Any) -> float | int:
        kind = "an integer" if integer else "a number"
        ok_type = isinstance(v, int) if integer else isinstance(v, int | float)
        if isinstance(v, bool) or not ok_type or not np.isfinite(v):
            raise _Bad(f"{v!r} is not {kind}.", f"give {kind} between {lo:g} and {hi:g}.")
        if not lo <= v <= hi:
            raise _Bad(f"{v!r} is outside [{lo:g}, {hi:g}].", f"give {kind} in that range.")
        return int(v) if integer else float(v)

    return check


def _range(lo: float = -np.inf, hi: float = np.inf) -> Callable:
    """Checker of a ``[low, high]`` pair of numbers with ``lo <= low <= high <= hi``."""

    def check(v: Any) -> tuple[float, float]:
        if not isinstance(v, list | tuple) or len(v) != 2:
            raise _Bad(f"{v!r} is not a pair.", "give [low, high].")
        a, b = (_number(lo, hi)(x) for x in v)
        if a > b:
            raise _Bad(f"{v!r} has low > high.", "give [low, high] with low <= high.")
        return (a, b)

    return check


def _choice(*options: str) -> Callable:
    """Checker of one of ``options``."""

    def check(v: Any) -> str:
        if v not in options:
            raise _Bad(f"{v!r} is not allowed.", f"use one of {', '.join(options)}.")
        return v

    return check


def _text(v: Any) -> str:
    """Checker of a non-empty one-line string."""
    if not isinstance(v, str) or not v.strip() or "\n" in v.strip():
        raise _Bad(f"{v!r} is not a non-empty one-line text.", "give one line of text.")
    return v.strip()


def _name(v: Any) -> str:
    """Checker of a name of letters, digits and underscores (a folder and study name)."""
    if not isinstance(v, str) or not v or not v.replace("_", "").isalnum() or not v[0].isalpha():
        raise _Bad(f"{v!r} is not a valid name.", "use letters, digits and _ (a letter first).")
    return v


def _crs(v: Any) -> str:
    """Checker of a projected CRS in metres."""
    try:
        crs = CRS.from_user_input(v)
    except Exception:  # pyproj raises CRSError with a long message
        raise _Bad(f"{v!r} is not a CRS pyproj understands.", "use e.g. 'EPSG:32612'.") from None
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in ("metre", "meter"):
        raise _Bad(f"{v!r} is not projected in metres.", "use the UTM zone of the area.")
    return str(v)


def _window(v: Any) -> tuple[float, float, float, float] | None:
    """Checker of null or ``[west, south, east, north]``."""
    if v is None:
        return None
    if not isinstance(v, list | tuple) or len(v) != 4:
        raise _Bad(f"{v!r} is not [west, south, east, north].", "give 4 numbers or null.")
    w, s, e, n = (_number()(x) for x in v)
    if not (w < e and s < n):
        raise _Bad(f"{v!r} is empty (west >= east or south >= north).", "fix the order.")
    return (w, s, e, n)


def _date(v: Any) -> str:
    """Checker of an ISO date (YAML may have parsed it already)."""
    from datetime import date

    try:
        return date.fromisoformat(str(v)).isoformat()
    except ValueError:
        raise _Bad(f"{v!r} is not an ISO date.", "write it as YYYY-MM-DD.") from None


def _shares(v: Any) -> tuple[float, float, float]:
    """Checker of the behaviour shares (linear, accelerating, step), summing to 1."""
    if not isinstance(v, Mapping) or set(v) != {"linear", "accelerating", "step"}:
        raise _Bad(f"{v!r} is not a mapping of linear, accelerating, step.", "give all three.")
    out = tuple(_number(0.0, 1.0)(v[k]) for k in ("linear", "accelerating", "step"))
    if abs(sum(out) - 1.0) > 1e-6:
        raise _Bad(f"the shares sum to {sum(out):g}.", "make them sum to 1.")
    return out  # type: ignore[return-value]


#: The scenario schema: key -> (checker, default) or a nested mapping; ``_MISSING`` marks a
#: required key.
_TRACK_SCHEMA: dict[str, Any] = {
    "name": (_name, _MISSING),
    "orbit": (_choice("ascending", "descending"), _MISSING),
    "relative_orbit": (_number(1, 175, integer=True), _MISSING),
    "heading_deg": (_number(-360, 360), _MISSING),
    "incidence_deg": (_number(15, 60), _MISSING),
    "layout": (_choice("egms", "generic"), _MISSING),
    "first_date": (_date, _MISSING),
    "n_dates": (_number(10, 400, integer=True), 61),
    "batches": (_number(1, 10, integer=True), 1),
    "batch_overlap_m": (_number(0, 5000), 300.0),
    "incidence_gradient_deg_per_km": (_number(0, 1), 0.068),
    "look": (_choice("right", "left"), "right"),
}

_SCHEMA: dict[str, Any] = {
    "name": (_name, _MISSING),
    "role": (_choice(*ROLES), _MISSING),
    "description": (_text, _MISSING),
    "seed": (_number(0, 2**63 - 1, integer=True), _MISSING),
    "terrain": {
        "dem": (_text, _MISSING),
        "window": (_window, None),
        "crs": (_crs, _MISSING),
        "cell_size_m": (_number(1, 500), _MISSING),
    },
    "slides": {
        "sites": (_choice("inventory", "random"), _MISSING),
        "inventory": (_text, None),
        "inventory_label_column": (_text, "lslpts"),
        "inventory_label_value": (_number(integer=True), 1),
        "count": (_number(0, 10000, integer=True), None),
        "fraction": (_number(0, 1), None),
        "min_site_slope_deg": (_number(0, 80), 10.0),
        "length_median_m": (_number(10, 5000), _MISSING),
        "length_sigma_ln": (_number(0, 3), _MISSING),
        "length_range_m": (_range(10, 5000), _MISSING),
        "width_ratio_range": (_range(0.05, 1), (0.5, 0.75)),
        "v_down_median_mm_yr": (_number(0, 10000), _MISSING),
        "v_down_sigma_ln": (_number(0, 3), _MISSING),
        "v_down_range_mm_yr": (_range(0, 10000), _MISSING),
        "behaviour_shares": (_shares, (0.5, 0.25, 0.25)),
        "north_south_share": (_number(0, 1), 0.0),
        "north_south_tolerance_deg": (_number(0, 90), 25.0),
    },
    "points": {
        "density_per_km2": (_number(1, 100000), _MISSING),
        "forest_share": (_number(0, 0.95), _MISSING),
    },
    "atmosphere": {
        "model": (_choice("gaussian", "powerlaw"), "powerlaw"),
        "sd_range_mm": (_range(0, 100), (1.0, 5.0)),
        "sd_mm": (_number(0, 100), 2.5),
        "beta": (_number(0.1, 6), 8.0 / 3.0),
        "stratified_sd_mm_per_km": (_number(0, 100), 3.0),
        "ramp_mm_yr_per_km": (_number(0, 100), 0.0),
    },
    "unwrapping": {"error_share": (_number(0, 1), 0.0)},
    "decoys": {
        "subsidence": {
            "count": (_number(0, 1000, integer=True), 0),
            "depth_range_m": (_range(1, 10000), (60.0, 120.0)),
            "rate_range_mm_yr": (_range(-10000, 0), (-30.0, -12.0)),
            "max_slope_deg": (_number(0, 90), 15.0),
        },
        "thermal": {
            "count": (_number(0, 1000, integer=True), 0),
            "radius_range_m": (_range(1, 5000), (80.0, 250.0)),
            "amplitude_range_mm": (_range(0, 1000), (3.0, 10.0)),
            "density_per_km2": (_number(0, 100000), 1500.0),
            "max_slope_deg": (_number(0, 90), 10.0),
            "peak_doy": (_number(1, 366), 200.0),
        },
        "embankment": {
            "count": (_number(0, 1000, integer=True), 0),
            "length_range_m": (_range(10, 100000), (400.0, 1200.0)),
            "rate_range_mm_yr": (_range(0, 10000), (5.0, 15.0)),
            "density_per_km2": (_number(0, 100000), 2000.0),
        },
        "min_distance_m": (_number(0, 100000), 150.0),
    },
    "tracks": ([_TRACK_SCHEMA], _MISSING),
    "detectability": {
        "threshold_mm_yr": (_number(0, 10000), 10.0),
        "min_points": (_number(1, 100000, integer=True), 6),
    },
    "inventory_output": {"share": (_number(0, 1), 0.6)},
}


def _fail(path: Path, key: str, problem: str, fix: str) -> ConfigError:
    """Build the error of one key of a scenario file."""
    return ConfigError(f"scenario file {path}: key '{key}': {problem} Fix: {fix}")


def _check(path: Path, data: Any, schema: Mapping, prefix: str = "") -> dict:
    """Check ``data`` against ``schema`` (unknown keys, required keys, values, defaults)."""
    where = prefix.rstrip(".") or "<top level>"
    if not isinstance(data, Mapping):
        raise _fail(path, where, f"{data!r} is not a mapping.", "write 'key: value' lines.")
    for key in data:
        if key not in schema:
            import difflib

            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise _fail(
                path,
                f"{prefix}{key}",
                "unknown key.",
                f"{hint}allowed keys here: {', '.join(schema)}.",
            )
    out: dict = {}
    for key, spec in schema.items():
        full = f"{prefix}{key}"
        if isinstance(spec, Mapping):
            out[key] = _check(path, data.get(key) or {}, spec, full + ".")
            continue
        checker, default = spec
        if key not in data:
            if default is _MISSING:
                raise _fail(path, full, "required key is missing.", "add it (see the README).")
            out[key] = default
            continue
        value = data[key]
        if isinstance(checker, list):  # a list of mappings
            if not isinstance(value, list) or not value:
                raise _fail(path, full, f"{value!r} is not a list.", "give a list of mappings.")
            out[key] = [
                _check(path, item, checker[0], f"{full}.{i}.") for i, item in enumerate(value)
            ]
            continue
        if value is None and default is None:
            out[key] = None
            continue
        try:
            out[key] = checker(value)
        except _Bad as bad:
            raise _fail(path, full, bad.problem, bad.fix) from None
    return out


@dataclass(frozen=True)
class Scenario:
    """A checked scenario file.

    Attributes
    ----------
    path
        The scenario file.
    name, role, description, seed
        As in the file (``role``: ``development`` or ``held_out``).
    dem_path
        The DEM (absolute; relative paths in the file are relative to the file's folder).
    window
        ``(west, south, east, north)`` crop in the DEM's own CRS units, or None.
    crs
        Working CRS of the simulation (projected, metres).
    cell_size_m
        Cell size (m) of the working grid.
    inventory_path
        Landslide points CSV (``x``, ``y`` in the DEM's CRS, label column) for
        ``inventory`` sites, else None.
    inventory_label_column, inventory_label_value
        Rows whose label column equals the value are landslide points.
    inventory_share
        Share of the simulated slides whose footprints make the written polygon inventory.
    params
        The simulation parameters.
    raw
        The checked file content with every default filled in.
    """

    path: Path
    name: str
    role: str
    description: str
    seed: int
    dem_path: Path
    window: tuple[float, float, float, float] | None
    crs: str
    cell_size_m: float
    inventory_path: Path | None
    inventory_label_column: str
    inventory_label_value: int
    inventory_share: float
    params: SimulationParams
    raw: dict


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read and check a scenario file and map it onto :class:`SimulationParams`.

    Parameters
    ----------
    path
        The YAML file (keys in ``resources/scenarios/README.md``).

    Returns
    -------
    Scenario
        The scenario; relative paths are resolved against the file's folder.

    Raises
    ------
    ConfigError
        For an unreadable file, an unknown or missing key or a bad value, naming the file,
        the key (dotted, e.g. ``slides.count``) and the fix.
    InputDataError
        If the DEM or the inventory the file names does not exist.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"scenario file {path}: cannot be read ({exc}).") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"scenario file {path}: is not valid YAML ({exc}).") from None
    c = _check(path, data, _SCHEMA)
    base = path.resolve().parent
    sl = c["slides"]
    if sl["sites"] == "inventory" and not sl["inventory"]:
        raise _fail(path, "slides.inventory", "inventory sites need a points CSV.", "add it.")
    if sl["sites"] == "random" and sl["inventory"]:
        raise _fail(path, "slides.inventory", "random sites use no inventory.", "remove the key.")
    if sl["sites"] == "random" and sl["count"] is None:
        raise _fail(path, "slides.count", "random sites need a count.", "add slides.count.")
    if sl["sites"] == "random" and sl["fraction"] is not None:
        raise _fail(path, "slides.fraction", "only for inventory sites.", "use slides.count.")
    if sl["sites"] == "inventory" and (sl["count"] is None) == (sl["fraction"] is None):
        raise _fail(
            path,
            "slides.count",
            "inventory sites need exactly one of count and fraction.",
            "give slides.count (footprints) or slides.fraction (share of points covered).",
        )
    names = [t["name"] for t in c["tracks"]]
    if len(set(names)) != len(names):
        raise _fail(path, "tracks", f"track names repeat: {names}.", "give unique names.")
    for i, t in enumerate(c["tracks"]):
        if t["layout"] == "generic" and t["batches"] != 1:
            raise _fail(
                path, f"tracks.{i}.batches", "a generic track is one file.", "set batches: 1."
            )
    dem_path = (base / c["terrain"]["dem"]).resolve()
    if not dem_path.is_file():
        raise InputDataError(path, f"the DEM {dem_path} does not exist.", "fix terrain.dem.")
    inv = None
    if sl["inventory"]:
        inv = (base / sl["inventory"]).resolve()
        if not inv.is_file():
            raise InputDataError(
                path, f"the inventory {inv} does not exist.", "fix slides.inventory."
            )
    atm, dec = c["atmosphere"], c["decoys"]
    tracks = tuple(
        TrackSpec(
            name=t["name"],
            orbit=t["orbit"],
            relative_orbit=t["relative_orbit"],
            heading_deg=t["heading_deg"],
            incidence_deg=t["incidence_deg"],
            layout=t["layout"],
            first_date=t["first_date"],
            n_dates=t["n_dates"],
            incidence_gradient_deg_per_km=t["incidence_gradient_deg_per_km"],
            look=t["look"],
            batches=t["batches"],
            batch_overlap_m=t["batch_overlap_m"],
        )
        for t in c["tracks"]
    )
    params = SimulationParams(
        seed=c["seed"],
        tracks=tracks,
        density_per_km2=c["points"]["density_per_km2"],
        slide_fraction=sl["fraction"] if sl["fraction"] is not None else 0.5,
        slide_length_median_m=sl["length_median_m"],
        slide_length_sigma_ln=sl["length_sigma_ln"],
        slide_length_range_m=sl["length_range_m"],
        slide_width_ratio_range=sl["width_ratio_range"],
        v_down_median_mm_yr=sl["v_down_median_mm_yr"],
        v_down_sigma_ln=sl["v_down_sigma_ln"],
        v_down_range_mm_yr=sl["v_down_range_mm_yr"],
        behaviour_probabilities=sl["behaviour_shares"],
        n_subsidence=dec["subsidence"]["count"],
        subsidence_depth_range_m=dec["subsidence"]["depth_range_m"],
        subsidence_rate_range_mm_yr=dec["subsidence"]["rate_range_mm_yr"],
        subsidence_max_slope_deg=dec["subsidence"]["max_slope_deg"],
        aps_sd_mm=atm["sd_mm"],
        aps_stratified_sd_mm_per_km=atm["stratified_sd_mm_per_km"],
        coherence_patch_share=c["points"]["forest_share"],
        slide_sites=sl["sites"],
        n_slides=sl["count"] or 0,
        slide_site_min_slope_deg=sl["min_site_slope_deg"],
        slide_north_south_share=sl["north_south_share"],
        slide_north_south_tolerance_deg=sl["north_south_tolerance_deg"],
        aps_model=atm["model"],
        aps_beta=atm["beta"],
        aps_sd_range_mm=atm["sd_range_mm"],
        ramp_mm_yr_per_km=atm["ramp_mm_yr_per_km"],
        unwrap_error_share=c["unwrapping"]["error_share"],
        n_thermal=dec["thermal"]["count"],
        thermal_radius_range_m=dec["thermal"]["radius_range_m"],
        thermal_max_slope_deg=dec["thermal"]["max_slope_deg"],
        thermal_density_per_km2=dec["thermal"]["density_per_km2"],
        thermal_amplitude_range_mm=dec["thermal"]["amplitude_range_mm"],
        thermal_peak_doy=dec["thermal"]["peak_doy"],
        n_embankment=dec["embankment"]["count"],
        embankment_length_range_m=dec["embankment"]["length_range_m"],
        embankment_density_per_km2=dec["embankment"]["density_per_km2"],
        embankment_rate_range_mm_yr=dec["embankment"]["rate_range_mm_yr"],
        decoy_min_distance_m=dec["min_distance_m"],
        detect_threshold_mm_yr=c["detectability"]["threshold_mm_yr"],
        detect_min_points=c["detectability"]["min_points"],
    )
    return Scenario(
        path=path,
        name=c["name"],
        role=c["role"],
        description=c["description"],
        seed=c["seed"],
        dem_path=dem_path,
        window=c["terrain"]["window"],
        crs=c["terrain"]["crs"],
        cell_size_m=c["terrain"]["cell_size_m"],
        inventory_path=inv,
        inventory_label_column=sl["inventory_label_column"],
        inventory_label_value=sl["inventory_label_value"],
        inventory_share=c["inventory_output"]["share"],
        params=params,
        raw=c,
    )


# ---------------------------------------------------------------------------------------
# Terrain


@dataclass
class DemCrop:
    """A window of a DEM in its original form.

    Attributes
    ----------
    data
        The cells, in the file's data type.
    transform
        Affine transform of the window (the file's CRS units).
    crs
        The file's CRS.
    nodata
        The file's nodata value (None if it declares none).
    """

    data: np.ndarray
    transform: Affine
    crs: CRS
    nodata: float | None

    def elevation_m(self) -> np.ndarray:
        """Elevation as float64 with NaN on nodata (m)."""
        z = self.data.astype(float)
        if self.nodata is not None and np.isfinite(self.nodata):
            z[self.data == self.nodata] = np.nan
        return z

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in the file's CRS units."""
        t, (h, w) = self.transform, self.data.shape
        return (t.c, t.f + h * t.e, t.c + w * t.a, t.f)


def read_dem_window(
    path: str | os.PathLike, window: tuple[float, float, float, float] | None
) -> DemCrop:
    """Read a DEM, cropped to the whole cells nearest a window, unchanged otherwise.

    Parameters
    ----------
    path
        The DEM (north-up GeoTIFF).
    window
        ``(west, south, east, north)`` in the DEM's CRS units (degrees for a geographic
        DEM), or None for the whole file.

    Returns
    -------
    DemCrop
        The cells, transform, CRS and nodata of the window.

    Raises
    ------
    InputDataError
        If the window does not lie inside the DEM.
    """
    with rasterio.open(path) as src:
        if window is None:
            win = Window(0, 0, src.width, src.height)
        else:
            b = src.bounds
            w, s, e, n = window
            if w < b.left or e > b.right or s < b.bottom or n > b.top:
                raise InputDataError(
                    path,
                    f"the window {list(window)} is not inside the DEM's bounds "
                    f"{[b.left, b.bottom, b.right, b.top]}.",
                    "give terrain.window inside the DEM (in its own CRS).",
                )
            win = from_bounds(w, s, e, n, src.transform).round_offsets().round_lengths()
        data = src.read(1, window=win)
        return DemCrop(data, src.window_transform(win), CRS.from_user_input(src.crs), src.nodata)


def warp_to_grid(crop: DemCrop, crs: str, cell_m: float) -> tuple[np.ndarray, Affine]:
    """Bilinear reprojection of a DEM window onto a north-up grid of square cells.

    The grid covers the window's bounding box in ``crs`` with edges on multiples of
    ``cell_m``; nodata and cells outside the window become NaN. A window already in
    ``crs`` with cells of ``cell_m`` is returned as it is (float64, NaN nodata).

    Parameters
    ----------
    crop
        The DEM window.
    crs
        Target CRS (projected, metres).
    cell_m
        Target cell size (m).

    Returns
    -------
    tuple
        ``(elevation_m, transform)``: float64 with NaN nodata, and its transform.
    """
    target = CRS.from_user_input(crs)
    t = crop.transform
    same_grid = (
        crop.crs == target and np.isclose(t.a, cell_m) and np.isclose(-t.e, cell_m) and t.b == 0
    )
    if same_grid:
        return crop.elevation_m(), t
    west, south, east, north = transform_bounds(crop.crs, target, *crop.bounds, densify_pts=51)
    west, south = np.floor(west / cell_m) * cell_m, np.floor(south / cell_m) * cell_m
    east, north = np.ceil(east / cell_m) * cell_m, np.ceil(north / cell_m) * cell_m
    width, height = int(round((east - west) / cell_m)), int(round((north - south) / cell_m))
    dst_t = Affine(cell_m, 0.0, west, 0.0, -cell_m, north)
    out = np.full((height, width), np.nan)
    reproject(
        source=crop.elevation_m(),
        destination=out,
        src_transform=t,
        src_crs=crop.crs,
        src_nodata=np.nan,
        dst_transform=dst_t,
        dst_crs=target,
        dst_nodata=np.nan,
        resampling=Resampling.bilinear,
    )
    return out, dst_t


def scenario_inputs(scenario: Scenario) -> tuple[DemCrop, np.ndarray, Affine, CRS, np.ndarray]:
    """Read the terrain and landslide points a scenario's simulation runs on.

    Parameters
    ----------
    scenario
        The scenario.

    Returns
    -------
    tuple
        ``(crop, dem_m, transform, crs, points_xy)``: the DEM window in its original form,
        the working-grid elevation (m, NaN nodata) and its transform and CRS, and the
        ``(n, 2)`` landslide points in the working CRS (m; empty for random sites).

    Raises
    ------
    InputDataError
        If the inventory CSV lacks its columns or the window holds no elevation.
    """
    crop = read_dem_window(scenario.dem_path, scenario.window)
    dem, transform = warp_to_grid(crop, scenario.crs, scenario.cell_size_m)
    if not np.isfinite(dem).any():
        raise InputDataError(scenario.path, "the DEM window holds no elevation.", "move it.")
    crs = CRS.from_user_input(scenario.crs)
    xy = np.empty((0, 2))
    if scenario.inventory_path is not None:
        table = pd.read_csv(scenario.inventory_path)
        col = scenario.inventory_label_column
        for name in ("x", "y", col):
            if name not in table.columns:
                raise InputDataError(
                    scenario.inventory_path,
                    "the inventory has no such column.",
                    "give x, y (in the DEM's CRS) and slides.inventory_label_column.",
                    column=name,
                )
        pts = table.loc[table[col] == scenario.inventory_label_value, ["x", "y"]]
        xy = pts.to_numpy(float)
        if crop.crs != crs:
            to_work = Transformer.from_crs(crop.crs, crs, always_xy=True)
            xy = np.column_stack(to_work.transform(xy[:, 0], xy[:, 1]))
    return crop, dem, transform, crs, xy


# ---------------------------------------------------------------------------------------
# Outputs


def polygon_inventory(sim: Simulation, share: float, seed: int) -> tuple[gpd.GeoDataFrame, Any]:
    """Map a polygon inventory: the footprints of a seeded random share of the slides.

    Parameters
    ----------
    sim
        The simulation.
    share
        Share of the slides mapped (rounded to a count).
    seed
        Seed (stream ``inventory``).

    Returns
    -------
    tuple
        ``(inventory, mapped)``: a GeoDataFrame with ``inventory_id``, ``kind``
        (``landslide``) and the footprint polygons (working CRS, m), and a boolean array
        marking the mapped slides.
    """
    n = len(sim.slides)
    k = int(round(share * n))
    rng = component_rng(seed, "inventory")
    mapped = np.zeros(n, dtype=bool)
    mapped[rng.choice(n, size=k, replace=False)] = True
    geoms = list(sim.slides.geometry[mapped])
    inv = gpd.GeoDataFrame(
        {"inventory_id": np.arange(1, k + 1, dtype=np.int64), "kind": ["landslide"] * k},
        geometry=geoms,
        crs=sim.scene.crs,
    )
    return inv, mapped


def scenario_config(scenario: Scenario, out_dir: str | os.PathLike) -> dict:
    """Build the slidemap configuration of a scenario's study folder.

    Paths are absolute (the folder resolved), so Snakemake can run in the repository root
    with ``--configfile <folder>/config.yaml``. Keys not set take the defaults of
    ``config/README.md``.

    Parameters
    ----------
    scenario
        The scenario.
    out_dir
        The study folder :func:`make_scenario` writes.

    Returns
    -------
    dict
        The configuration.
    """
    out = Path(out_dir).resolve()
    tracks: dict[str, dict] = {}
    for spec in scenario.params.tracks:
        entry: dict[str, Any] = {
            "path": str(out / "tracks" / spec.name),
            "format": spec.layout,
            "orbit": spec.orbit,
        }
        if spec.layout == "generic":
            entry["heading_deg"] = float(spec.heading_deg)
            entry["incidence_deg"] = float(spec.incidence_deg)
            entry["look"] = spec.look
            names = {src: col for col, src, _fmt in GENERIC_COLUMNS}
            entry["columns"] = {
                "id": names["pid"],
                "lon": names["longitude"],
                "lat": names["latitude"],
                "velocity": names["mean_velocity"],
                "velocity_std": names["mean_velocity_std"],
                "coherence": names["temporal_coherence"],
                "height": names["height"],
            }
        tracks[spec.name] = entry
    layers = out / "layers"
    return {
        "study_area": {
            "name": scenario.name,
            "crs": scenario.crs,
            "resolution_m": float(scenario.cell_size_m),
        },
        "dem": {"path": str(out / "dem.tif")},
        "insar": {"tracks": tracks},
        "inventory": {"path": str(out / "inventory.gpkg")},
        "layers": {
            "faults": str(layers / "faults.gpkg"),
            "roads": str(layers / "roads.gpkg"),
            "lithology": {
                "path": str(layers / "lithology.tif"),
                "codes": str(layers / "lithology_codes.csv"),
                "hardness": True,
            },
            "landuse": {
                "path": str(layers / "landuse.tif"),
                "codes": str(layers / "landuse_codes.csv"),
            },
        },
        "hotspots": {
            "reference": str(out / "truth" / "moving_slopes.gpkg"),
            "reference_query": "detectable",
            "reference_other_moving": [str(out / "truth" / "other_moving.gpkg")],
        },
    }


def _repo_relative(path: Path) -> str:
    """``path`` relative to the repository root when inside it, else its file name."""
    root = Path(__file__).resolve().parents[3]
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return Path(path).name


def make_scenario(
    scenario: Scenario | str | os.PathLike, out_dir: str | os.PathLike
) -> tuple[Simulation, list[Path]]:
    """Simulate a scenario and write its study folder.

    Writes ``dem.tif`` (the DEM window in its original CRS, data type and nodata),
    ``tracks/<track>/*.csv``, ``truth/moving_slopes.gpkg`` (with an ``in_inventory``
    column), ``truth/other_sources.gpkg``, ``truth/other_moving.gpkg``,
    ``truth/simulation.json`` (with the scenario's name and role), ``layers/``,
    ``inventory.gpkg`` (layer ``inventory``: polygons of a seeded ``inventory_share`` of the
    slides, ``kind = landslide``) and ``config.yaml``.

    Parameters
    ----------
    scenario
        A :class:`Scenario` or the path of its file.
    out_dir
        The study folder (created if needed).

    Returns
    -------
    tuple
        The :class:`~slidemap.simulate.core.Simulation` and the sorted files written.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    crop, dem, transform, crs, xy = scenario_inputs(scenario)
    sim = simulate(dem, transform, crs, xy, scenario.params)
    inventory, mapped = polygon_inventory(sim, scenario.inventory_share, scenario.seed)
    sim.slides["in_inventory"] = mapped
    extra = {
        "scenario": {
            "name": scenario.name,
            "role": scenario.role,
            "description": scenario.description,
            "file": _repo_relative(scenario.path),
            "dem": _repo_relative(scenario.dem_path),
            "window": list(scenario.window) if scenario.window else None,
            "working_crs": scenario.crs,
            "cell_size_m": scenario.cell_size_m,
            "grid_shape": list(dem.shape),
            "area_km2": round(float(np.isfinite(dem).sum()) * transform.a**2 / 1e6, 3),
            "inventory_polygons": int(mapped.sum()),
        }
    }
    command = f"python scripts/make_scenario.py {_repo_relative(scenario.path)} --out <folder>"
    written = write_simulation(sim, out, command=command, summary_extra=extra, other_moving=True)
    write_cog(
        crop.data,
        out / "dem.tif",
        crs=crop.crs.to_wkt(),
        transform=crop.transform,
        nodata=crop.nodata,
        dtype=crop.data.dtype.name,
        tags={"description": f"DEM window of scenario {scenario.name} (original CRS)"},
    )
    write_gpkg(inventory, out / "inventory.gpkg", "inventory")
    config = scenario_config(scenario, out)
    header = (
        f"# slidemap study of scenario {scenario.name} ({scenario.role}); simulated data,\n"
        f"# see truth/simulation.json. Written by\n# {command}\n"
    )
    with atomic_path(out / "config.yaml") as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(header + yaml.safe_dump(config, sort_keys=False))
    written += [out / "dem.tif", out / "inventory.gpkg", out / "config.yaml"]
    return sim, sorted(written)
