"""The study grid: working CRS, cell size and extent that every factor raster shares.

The grid is defined once from the DEM (rule ``study_grid``) and written as ``grid/dem.tif``
(float32, NaN nodata) plus ``grid/grid.json``. Every other raster (categorical layers, extra
layers, factors) is brought onto exactly this grid: same CRS, transform, shape.

Grid rules
----------
* CRS: ``study_area.crs`` if given, else the DEM's CRS when projected, else the UTM zone of
  the DEM's centre (:func:`slidemap.grid.working_crs`).
* Cell size: ``study_area.resolution_m`` if given, else the DEM's cell size (for a DEM in
  another CRS: the size GDAL suggests for the reprojection, rounded to 0.01 m). Cells are
  square.
* When the DEM already has that CRS and cell size, the grid is the DEM's own grid (cropped to
  the study-area boundary if one is given) and no resampling happens: the elevations are
  copied bit for bit. Otherwise the grid is aligned to multiples of the cell size
  (like ``gdalwarp -tap``) and the DEM is resampled bilinearly, exactly per cell (GDAL warper
  with an error threshold of 1e-12 pixel), so the result does not depend on the chunking.
* With ``study_area.boundary`` the grid covers the boundary's bounding box (within the DEM
  footprint) and cells whose centre lies outside the boundary polygon are nodata.
* Nodata is NaN; the DEM's declared nodata (or ``dem.nodata``) and NaN become NaN.

Everything is read window by window (dask), so a DEM of any size is processed in bounded
memory.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import calculate_default_transform, transform_bounds

from slidemap.errors import InputDataError
from slidemap.raster import Grid, RasterOnGrid, open_on_grid, write_cog
from slidemap.raster.read import square_resolution

__all__ = [
    "define_grid",
    "build_study_grid",
    "mask_like_dem",
]


def define_grid(
    dem_path: str | os.PathLike,
    *,
    crs: str | None = None,
    resolution_m: float | None = None,
    boundary: str | os.PathLike | None = None,
) -> tuple[Grid, Any]:
    """Decide the study grid from the DEM and the ``study_area`` settings.

    Parameters
    ----------
    dem_path
        The DEM (any GDAL raster with a CRS).
    crs
        ``study_area.crs`` (projected, metres) or None.
    resolution_m
        ``study_area.resolution_m`` (cell size in metres) or None for the DEM's.
    boundary
        ``study_area.boundary`` polygon file or None.

    Returns
    -------
    grid : Grid
        The study grid.
    area : shapely geometry or None
        The boundary polygon in the working CRS (cells outside are nodata), or None.
    """
    from slidemap.grid import study_area_polygon, working_crs

    wcrs = CRS.from_user_input(working_crs(dem_path, crs).to_wkt())
    area = study_area_polygon(dem_path, wcrs, boundary) if boundary else None
    with rasterio.open(dem_path) as src:
        src_res = square_resolution(src.transform)
        same_crs = src.crs == wcrs
        if resolution_m is None:
            if same_crs and src_res is not None:
                res = src_res
            elif same_crs:
                res = round(float(np.sqrt(abs(src.transform.a * src.transform.e))), 2)
            else:
                t, _, _ = calculate_default_transform(
                    src.crs, wcrs, src.width, src.height, *src.bounds
                )
                res = round(float(np.sqrt(abs(t.a * t.e))), 2)
        else:
            res = float(resolution_m)
        footprint = transform_bounds(src.crs, wcrs, *src.bounds, densify_pts=21)
        if area is not None:
            ax0, ay0, ax1, ay1 = area.bounds
            footprint = (
                max(footprint[0], ax0),
                max(footprint[1], ay0),
                min(footprint[2], ax1),
                min(footprint[3], ay1),
            )
        if same_crs and src_res is not None and math.isclose(res, src_res, rel_tol=1e-9):
            # the DEM's own grid (a window of it when a boundary crops it): no resampling
            if area is None:
                return Grid(wcrs, src.transform, src.width, src.height), None
            inv = ~src.transform
            c0, r0 = inv @ (footprint[0], footprint[3])
            c1, r1 = inv @ (footprint[2], footprint[1])
            c0, r0 = max(0, math.floor(c0 + 1e-9)), max(0, math.floor(r0 + 1e-9))
            c1 = min(src.width, math.ceil(c1 - 1e-9))
            r1 = min(src.height, math.ceil(r1 - 1e-9))
            transform = src.transform @ Affine.translation(c0, r0)
            return Grid(wcrs, transform, c1 - c0, r1 - r0), area
    west = math.floor(footprint[0] / res) * res
    north = math.ceil(footprint[3] / res) * res
    width = max(1, math.ceil((footprint[2] - west) / res - 1e-9))
    height = max(1, math.ceil((north - footprint[1]) / res - 1e-9))
    return Grid(wcrs, Affine(res, 0.0, west, 0.0, -res, north), width, height), area


def mask_like_dem(data: Any, dem: Any, nodata: float | int) -> Any:
    """Set ``data`` to ``nodata`` wherever the grid DEM is NaN (nodata carried to every factor).

    Parameters
    ----------
    data
        Dask (or numpy) array on the grid.
    dem
        The grid DEM (dask or numpy), NaN where nodata.
    nodata
        Nodata value of ``data``.

    Returns
    -------
    array
        ``data`` with the DEM's nodata cells set to ``nodata`` (same dtype).
    """
    import dask.array as da

    fill = np.asarray(nodata, dtype=data.dtype)
    if isinstance(data, da.Array) or isinstance(dem, da.Array):
        return da.where(da.isnan(dem), fill, data).astype(data.dtype)
    return np.where(np.isnan(dem), fill, data).astype(data.dtype)


def _mask_outside(block: np.ndarray, area: Any, grid: Grid, block_info: Any = None) -> np.ndarray:
    """Set cells whose centre lies outside ``area`` to NaN (one dask block)."""
    from rasterio.features import geometry_mask

    (r0, r1), (c0, c1) = block_info[0]["array-location"]
    transform = grid.transform @ Affine.translation(c0, r0)
    outside = geometry_mask([area], out_shape=(r1 - r0, c1 - c0), transform=transform)
    out = block.copy()
    out[outside] = np.nan
    return out


def build_study_grid(
    dem_path: str | os.PathLike,
    out_dem: str | os.PathLike,
    out_json: str | os.PathLike,
    *,
    crs: str | None = None,
    resolution_m: float | None = None,
    boundary: str | os.PathLike | None = None,
    dem_nodata: float | None = None,
    chunk_size: int = 1024,
    threads: int = 1,
    compress: str = "deflate",
) -> Grid:
    """Write the study grid DEM (COG, float32, NaN nodata) and ``grid.json``.

    Parameters
    ----------
    dem_path
        The input DEM (elevation in metres).
    out_dem
        Output ``grid/dem.tif``.
    out_json
        Output ``grid/grid.json``.
    crs
        ``study_area.crs`` or None.
    resolution_m
        ``study_area.resolution_m`` (m) or None.
    boundary
        ``study_area.boundary`` polygon file or None.
    dem_nodata
        ``dem.nodata``: nodata value when the DEM file declares none.
    chunk_size
        Dask chunk edge in cells.
    threads
        Threads used for reading, resampling and compressing.
    compress
        COG compression, ``"deflate"`` or ``"zstd"`` (``factors.compress``).

    Returns
    -------
    Grid
        The study grid.

    Raises
    ------
    InputDataError
        If the DEM cannot be read to the end, has a rotated geotransform, no CRS, no valid
        elevation inside the study area, or values that are no elevation and cannot be taken
        as its nodata value (see :func:`slidemap.inputs.scan_elevation`; one undeclared
        sentinel such as -9999 is taken as nodata with a WARNING and counted in
        ``grid.json`` under ``source_nodata``).
    """
    import dask.array as da

    from slidemap.inputs import scan_elevation
    from slidemap.io import write_json

    # read every cell once: a corrupt file fails here, undeclared sentinels become nodata
    scan = scan_elevation(dem_path, "dem.path", nodata=dem_nodata)
    src_nodata = scan.nodata if scan.declared != "file" else None
    grid, area = define_grid(dem_path, crs=crs, resolution_m=resolution_m, boundary=boundary)
    dem = open_on_grid(
        dem_path, grid, chunk_size=chunk_size, resampling="bilinear", src_nodata=src_nodata
    ).data
    resampled = RasterOnGrid(dem_path, grid, src_nodata=src_nodata).offset is None
    if area is not None:
        dem = da.map_blocks(_mask_outside, dem, area=area, grid=grid, dtype="float32")
    tags = {
        "factor": "elevation",
        "unit": "m",
        "source": Path(dem_path).name,
        "resampling": "bilinear" if resampled else "none (DEM grid)",
    }
    write_cog(
        dem,
        out_dem,
        grid=grid,
        nodata=np.nan,
        dtype="float32",
        tags=tags,
        resampling="average",
        threads=threads,
        compress=compress,
        level=1,
        predictor=True,
    )
    valid, zmin, zmax = _valid_stats(out_dem, chunk_size, threads)
    if valid == 0:
        Path(out_dem).unlink()
        raise InputDataError(
            dem_path,
            "the DEM has no valid elevation inside the study area.",
            "check the DEM's nodata value (dem.nodata), its CRS and study_area.boundary.",
        )
    info = grid.to_json()
    info.update(
        {
            "nodata": "NaN",
            "valid_cells": valid,
            "elevation_min_m": zmin,
            "elevation_max_m": zmax,
            "source_dem": str(dem_path),
            "source_nodata": scan.to_json(),
            "resampling": tags["resampling"],
            "boundary": str(boundary) if boundary else None,
        }
    )
    write_json(info, out_json)
    return grid


def _valid_stats(path: str | os.PathLike, chunk_size: int, threads: int) -> tuple[int, Any, Any]:
    """Count valid cells and find the minimum and maximum of a grid raster (blockwise)."""
    import dask
    import dask.array as da

    arr = open_on_grid(path, chunk_size=chunk_size).data
    with (
        dask.config.set(scheduler="threads", num_workers=max(1, threads)),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks
        valid, zmin, zmax = dask.compute(da.isfinite(arr).sum(), da.nanmin(arr), da.nanmax(arr))
    if int(valid) == 0:
        return 0, None, None
    return int(valid), float(zmin), float(zmax)
