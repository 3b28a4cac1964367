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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform, transform_bounds
from rasterio.windows import Window

from slidemap.errors import InputDataError

__all__ = [
    "Grid",
    "RasterOnGrid",
    "define_grid",
    "build_study_grid",
    "lazy_on_grid",
    "open_grid_raster",
    "mask_like_dem",
]


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS, affine transform (north-up, square cells in metres) and shape.

    Parameters
    ----------
    crs
        The working CRS (projected, metres).
    transform
        Affine transform of the grid (cell size in metres).
    width, height
        Number of columns and rows (cells).
    """

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) in cells."""
        return (self.height, self.width)

    @property
    def resolution_m(self) -> float:
        """Cell size in metres (cells are square)."""
        return float(abs(self.transform.a))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in metres of the working CRS."""
        west, north = self.transform.c, self.transform.f
        east = west + self.width * self.transform.a
        south = north + self.height * self.transform.e
        return (west, south, east, north)

    def to_json(self) -> dict[str, Any]:
        """Return the ``grid.json`` keys (crs_wkt, epsg, transform, width, height, resolution_m)."""
        t = self.transform
        return {
            "crs_wkt": self.crs.to_wkt(),
            "epsg": self.crs.to_epsg(),
            "transform": [t.a, t.b, t.c, t.d, t.e, t.f],
            "width": int(self.width),
            "height": int(self.height),
            "resolution_m": self.resolution_m,
            "bounds": list(self.bounds),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Grid:
        """Rebuild a grid from :meth:`to_json` output (or a ``grid.json`` file's content)."""
        return cls(
            crs=CRS.from_wkt(obj["crs_wkt"]),
            transform=Affine(*obj["transform"]),
            width=int(obj["width"]),
            height=int(obj["height"]),
        )

    @classmethod
    def from_raster(cls, path: str | os.PathLike) -> Grid:
        """Read the grid of a raster file (e.g. ``grid/dem.tif``)."""
        with rasterio.open(path) as src:
            return cls(crs=src.crs, transform=src.transform, width=src.width, height=src.height)

    def same_as(self, other: Grid, *, tol: float = 1e-9) -> bool:
        """Tell whether both grids have the same CRS, shape and transform (to ``tol`` metres)."""
        return (
            self.crs == other.crs
            and self.shape == other.shape
            and all(
                abs(a - b) <= tol
                for a, b in zip(self.transform[:6], other.transform[:6], strict=True)
            )
        )


def _square_resolution(transform: Affine) -> float | None:
    """Return the cell size of a north-up transform with square cells, else None."""
    if transform.b != 0 or transform.d != 0 or transform.e >= 0:
        return None
    a, e = abs(transform.a), abs(transform.e)
    return a if math.isclose(a, e, rel_tol=1e-9) else None


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
        src_res = _square_resolution(src.transform)
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


class RasterOnGrid:
    """Array-like view of a raster (band 1) on a study grid, read window by window.

    Used with :func:`dask.array.from_array`; each read opens the file (thread safe). When
    the source already lies on the grid's lattice (same CRS, cell size and alignment) the
    window is read directly (values copied exactly); otherwise it is warped with GDAL
    (``resampling``; error threshold 1e-12 pixel, so every cell is computed exactly and the result
    does not depend on the window; the resampling scale, which GDAL would otherwise estimate
    per window, is fixed from the cell sizes).

    Parameters
    ----------
    path
        Source raster.
    grid
        Target grid.
    resampling
        ``"bilinear"`` (continuous) or ``"nearest"`` (class codes).
    dtype
        Output data type.
    nodata_out
        Value of cells that are nodata in the source or outside it (NaN for float).
    src_nodata
        Source nodata to use when the file declares none.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        grid: Grid,
        *,
        resampling: str = "bilinear",
        dtype: str = "float32",
        nodata_out: float | int = np.nan,
        src_nodata: float | None = None,
    ) -> None:
        self.path = str(path)
        self.grid = grid
        self.resampling = Resampling[resampling]
        self.dtype = np.dtype(dtype)
        self.nodata_out = nodata_out
        self.shape = grid.shape
        self.ndim = 2
        with rasterio.open(self.path) as src:
            if src.crs is None:
                raise InputDataError(
                    self.path,
                    "the raster has no coordinate reference system.",
                    "assign one (gdal_edit.py -a_srs EPSG:xxxx) or save it with a CRS.",
                )
            self.src_nodata = src.nodata if src.nodata is not None else src_nodata
            self.src_dtype = np.dtype(src.dtypes[0])
            self.offset = self._lattice_offset(src)
            self.scale = self._warp_scale(src)

    def _warp_scale(self, src: Any) -> str:
        """Return GDAL's XSCALE/YSCALE: grid cells per source cell (fixed for every window).

        GDAL otherwise estimates this ratio per processing window, so a downsampled result
        would depend on the chunking.
        """
        if src.crs == self.grid.crs:
            src_size = float(np.sqrt(abs(src.transform.a * src.transform.e)))
        else:
            t, _, _ = calculate_default_transform(
                src.crs, self.grid.crs, src.width, src.height, *src.bounds
            )
            src_size = float(np.sqrt(abs(t.a * t.e)))
        return repr(src_size / self.grid.resolution_m)

    def _lattice_offset(self, src: Any) -> tuple[int, int] | None:
        """(row, col) of the grid's origin in the source when both share a lattice, else None."""
        res = _square_resolution(src.transform)
        if src.crs != self.grid.crs or res is None:
            return None
        if not math.isclose(res, self.grid.resolution_m, rel_tol=1e-9):
            return None
        col, row = ~src.transform @ (self.grid.transform.c, self.grid.transform.f)
        if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
            return None
        return int(round(row)), int(round(col))

    def read(self, window: Window) -> np.ndarray:
        """Read one window of the grid (rows, cols) as ``dtype`` with ``nodata_out``."""
        with rasterio.open(self.path) as src:
            if self.offset is not None:
                src_window = Window(
                    window.col_off + self.offset[1],
                    window.row_off + self.offset[0],
                    window.width,
                    window.height,
                )
                fill = self.src_nodata if self.src_nodata is not None else 0
                data = src.read(1, window=src_window, boundless=True, fill_value=fill)
                valid = ~np.isnan(data) if data.dtype.kind == "f" else np.ones(data.shape, bool)
                if self.src_nodata is not None and not np.isnan(self.src_nodata):
                    valid &= data != self.src_nodata
                # cells outside the source are nodata
                rows = np.arange(window.row_off, window.row_off + window.height) + self.offset[0]
                cols = np.arange(window.col_off, window.col_off + window.width) + self.offset[1]
                inside = ((rows >= 0) & (rows < src.height))[:, None] & (
                    (cols >= 0) & (cols < src.width)
                )[None, :]
                valid &= inside
            else:
                # warp into float64 with NaN nodata: exact for class codes too
                with WarpedVRT(
                    src,
                    crs=self.grid.crs,
                    transform=self.grid.transform,
                    width=self.grid.width,
                    height=self.grid.height,
                    resampling=self.resampling,
                    src_nodata=self.src_nodata,
                    nodata=np.nan,
                    dtype="float64",
                    tolerance=1e-12,  # rasterio 1.4 rejects 0 (no transformer)
                    XSCALE=self.scale,
                    YSCALE=self.scale,
                ) as vrt:
                    data = vrt.read(1, window=window)
                valid = ~np.isnan(data)
        out = np.full(data.shape, self.nodata_out, dtype=self.dtype)
        out[valid] = data[valid]
        return out

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows, cols = key
        r0, r1, _ = rows.indices(self.shape[0])
        c0, c1, _ = cols.indices(self.shape[1])
        return self.read(Window(c0, r0, c1 - c0, r1 - r0))


def lazy_on_grid(
    path: str | os.PathLike,
    grid: Grid,
    *,
    chunk_size: int,
    resampling: str = "bilinear",
    dtype: str = "float32",
    nodata_out: float | int = np.nan,
    src_nodata: float | None = None,
) -> Any:
    """Return a dask array of a raster brought onto ``grid`` (see :class:`RasterOnGrid`).

    Parameters
    ----------
    path
        Source raster.
    grid
        Target grid.
    chunk_size
        Chunk edge in cells.
    resampling
        ``"bilinear"`` or ``"nearest"``.
    dtype
        Output data type.
    nodata_out
        Output nodata value.
    src_nodata
        Source nodata when the file declares none.

    Returns
    -------
    dask.array.Array
        Shape ``grid.shape``.
    """
    import dask.array as da

    reader = RasterOnGrid(
        path,
        grid,
        resampling=resampling,
        dtype=dtype,
        nodata_out=nodata_out,
        src_nodata=src_nodata,
    )
    return da.from_array(
        reader,
        chunks=(chunk_size, chunk_size),
        lock=False,
        asarray=False,
        fancy=False,
        meta=np.empty((0, 0), dtype=dtype),
        name="on-grid-" + _token(path, grid, resampling, dtype, nodata_out, src_nodata),
    )


def _token(*parts: Any) -> str:
    """Return a deterministic dask name for a source file (path, size, mtime) on a grid."""
    import hashlib
    import json

    path = Path(parts[0])
    stat = path.stat()
    text = json.dumps(
        [
            str(path.resolve()),
            stat.st_size,
            stat.st_mtime_ns,
            parts[1].to_json(),
            *map(str, parts[2:]),
        ]
    )
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def open_grid_raster(path: str | os.PathLike, chunk_size: int) -> Any:
    """Open a raster that is already on the study grid (a factor, the grid DEM) lazily.

    Parameters
    ----------
    path
        A raster on the study grid.
    chunk_size
        Chunk edge in cells.

    Returns
    -------
    dask.array.Array
        Band 1 with its own dtype; float nodata values are returned as NaN.
    """
    grid = Grid.from_raster(path)
    with rasterio.open(path) as src:
        dtype = src.dtypes[0]
        nodata = src.nodata
    if np.dtype(dtype).kind == "f":
        return lazy_on_grid(path, grid, chunk_size=chunk_size, dtype=dtype, nodata_out=np.nan)
    return lazy_on_grid(
        path,
        grid,
        chunk_size=chunk_size,
        resampling="nearest",
        dtype=dtype,
        nodata_out=0 if nodata is None else nodata,
    )


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
    from slidemap.io import write_cog_chunked, write_json

    # read every cell once: a corrupt file fails here, undeclared sentinels become nodata
    scan = scan_elevation(dem_path, "dem.path", nodata=dem_nodata)
    src_nodata = scan.nodata if scan.declared != "file" else None
    grid, area = define_grid(dem_path, crs=crs, resolution_m=resolution_m, boundary=boundary)
    dem = lazy_on_grid(
        dem_path, grid, chunk_size=chunk_size, resampling="bilinear", src_nodata=src_nodata
    )
    resampled = RasterOnGrid(dem_path, grid, src_nodata=src_nodata).offset is None
    if area is not None:
        dem = da.map_blocks(_mask_outside, dem, area=area, grid=grid, dtype="float32")
    tags = {
        "factor": "elevation",
        "unit": "m",
        "source": Path(dem_path).name,
        "resampling": "bilinear" if resampled else "none (DEM grid)",
    }
    write_cog_chunked(
        dem,
        out_dem,
        crs=grid.crs,
        transform=grid.transform,
        nodata=np.nan,
        dtype="float32",
        tags=tags,
        threads=threads,
        compress=compress,
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

    arr = open_grid_raster(path, chunk_size)
    with (
        dask.config.set(scheduler="threads", num_workers=max(1, threads)),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks
        valid, zmin, zmax = dask.compute(da.isfinite(arr).sum(), da.nanmin(arr), da.nanmax(arr))
    if int(valid) == 0:
        return 0, None, None
    return int(valid), float(zmin), float(zmax)
