"""The factor catalog ``factors/factors.json``: what each factor raster is, and a grid check.

Each factor COG carries its description in its GDAL metadata (tags ``factor``, ``kind``,
``unit``, ``method``, ``source`` and, for categorical factors, ``codes``), written by the
rule that made it. The catalog collects them and checks that every raster has exactly the
study grid (CRS, transform, shape) and the contract's nodata (NaN for float32, 0 for class
codes); a mismatch is a bug and stops the run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import rasterio

__all__ = ["check_on_grid", "catalog_entry", "write_catalog"]


def check_on_grid(path: str | os.PathLike, grid: Any) -> None:
    """Raise if a raster is not exactly on the study grid or has the wrong nodata.

    Parameters
    ----------
    path
        A factor raster.
    grid
        The study grid (:class:`slidemap.raster.Grid`).

    Raises
    ------
    RuntimeError
        Naming the raster and what differs.
    """
    from slidemap.raster import Grid

    other = Grid.from_raster(path)
    if not grid.same_as(other):
        raise RuntimeError(
            f"{path} is not on the study grid: {other.shape} {tuple(other.transform)[:6]} "
            f"vs {grid.shape} {tuple(grid.transform)[:6]}"
        )
    with rasterio.open(path) as src:
        dtype, nodata = np.dtype(src.dtypes[0]), src.nodata
    if dtype.kind == "f":
        ok = dtype == np.float32 and nodata is not None and math.isnan(nodata)
    else:
        ok = dtype.kind in "iu" and nodata == 0
    if not ok:
        raise RuntimeError(f"{path}: dtype {dtype} with nodata {nodata} breaks the contract")


def catalog_entry(name: str, path: str | os.PathLike) -> dict[str, Any]:
    """Describe one factor raster from its tags (and approximate statistics from overviews).

    Parameters
    ----------
    name
        Factor name (file stem).
    path
        The factor COG.

    Returns
    -------
    dict
        ``name``, ``kind``, ``unit``, ``method``, ``source``, ``path``, ``dtype``, ``nodata``,
        ``approx_min``, ``approx_max`` (from the overviews), ``codes`` for categorical factors and
        ``memory_bytes_per_cell`` where the rule states its memory bound.
    """
    # GDAL_PAM_ENABLED=NO: the statistics are not saved to a .aux.xml sidecar in results/
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path) as src:
        tags = src.tags()
        dtype = src.dtypes[0]
        try:
            stats = src.stats(indexes=1, approx=True)[0]
            vmin, vmax = float(stats.min), float(stats.max)
        except Exception:  # an all-nodata raster has no statistics
            vmin = vmax = None
    kind = tags.get("kind", "continuous")
    entry: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "unit": tags.get("unit", ""),
        "method": tags.get("method", ""),
        "source": tags.get("source", ""),
        "path": str(path),
        "dtype": dtype,
        "nodata": "NaN" if kind == "continuous" else 0,
        "approx_min": vmin,
        "approx_max": vmax,
    }
    if kind == "categorical":
        entry["codes"] = {str(k): v for k, v in json.loads(tags.get("codes", "{}")).items()}
    if "memory_bytes_per_cell" in tags:
        entry["memory_bytes_per_cell"] = int(tags["memory_bytes_per_cell"])
    return entry


def write_catalog(
    factor_paths: Mapping[str, str | os.PathLike],
    grid_json: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    streams_path: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Check every factor against the study grid and write ``factors.json``.

    Parameters
    ----------
    factor_paths
        Factor name -> COG path, in the order of
        :func:`slidemap.factors.planned_factors`.
    grid_json
        ``grid/grid.json``.
    out_path
        Output ``factors/factors.json``.
    streams_path
        The derived stream network (listed in the catalog), or None.

    Returns
    -------
    dict
        The catalog written.
    """
    from slidemap.io import read_json, write_json
    from slidemap.raster import Grid

    grid_info = read_json(grid_json)
    grid = Grid.from_json(grid_info)
    entries = []
    for name, path in factor_paths.items():
        check_on_grid(path, grid)
        entries.append(catalog_entry(name, path))
    catalog = {
        "factors": entries,
        "grid": {k: grid_info[k] for k in ("epsg", "transform", "width", "height", "resolution_m")},
        "nodata": {"continuous": "NaN (float32)", "categorical": "0 (uint8/int16 codes >= 1)"},
        "streams": str(streams_path) if streams_path else None,
    }
    write_json(catalog, out_path)
    return catalog
