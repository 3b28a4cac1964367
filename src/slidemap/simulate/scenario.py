"""Scenario files: a YAML description of a simulated study area -> simulation parameters.

A scenario (``resources/scenarios/<name>.yaml``, every key documented in
``resources/scenarios/README.md``) names a real DEM (optionally cropped to a window in the
DEM's own CRS), the working CRS and cell size of the simulation, and every number of the
simulated deformation, noise, decoys and tracks. :func:`load_scenario` reads and checks it
against the schema of :mod:`~slidemap.simulate.scenario_schema` (an unknown key or a bad
value is a :class:`~slidemap.errors.ConfigError` naming the file, the key and the fix) and
maps it onto :class:`~slidemap.simulate.params.SimulationParams`.
:func:`~slidemap.simulate.study.make_scenario` simulates a scenario and writes its study
folder (the DEM window is read by :mod:`~slidemap.simulate.demcrop`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from slidemap.errors import ConfigError, InputDataError
from slidemap.simulate.params import SimulationParams, TrackSpec
from slidemap.simulate.scenario_schema import _SCHEMA, ROLES, _check, _fail

__all__ = [
    "ROLES",
    "Scenario",
    "load_scenario",
]


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
