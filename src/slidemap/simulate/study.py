"""Study folders of scenarios: simulate a scenario and write files slidemap can run on.

:func:`make_scenario` reads a scenario's terrain and landslide points
(:func:`scenario_inputs`), simulates it and writes the study folder: ``dem.tif`` (the cropped
DEM in its original CRS, data type and nodata, so the pipeline reprojects it itself),
``tracks/``, ``truth/``, ``layers/``, ``inventory.gpkg`` (a polygon inventory of part of the
simulated slides, :func:`polygon_inventory`) and ``config.yaml`` (a slidemap configuration of
the study, :func:`scenario_config`). The same scenario file gives byte-identical files
(``config.yaml`` holds the output folder's path).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml
from pyproj import CRS, Transformer
from rasterio.transform import Affine

from slidemap.errors import InputDataError
from slidemap.io import atomic_path, write_gpkg
from slidemap.raster import write_cog
from slidemap.simulate.core import simulate
from slidemap.simulate.demcrop import DemCrop, read_dem_window, warp_to_grid
from slidemap.simulate.fields import component_rng
from slidemap.simulate.result import Simulation
from slidemap.simulate.scenario import Scenario, load_scenario
from slidemap.simulate.writers import GENERIC_COLUMNS, write_simulation

__all__ = [
    "scenario_inputs",
    "polygon_inventory",
    "scenario_config",
    "make_scenario",
]


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
        A :class:`~slidemap.simulate.scenario.Scenario` or the path of its file.
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
