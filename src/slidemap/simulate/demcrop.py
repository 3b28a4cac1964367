"""A DEM window in its original form, and its bilinear warp onto the simulation's grid.

:func:`read_dem_window` crops a DEM to the whole cells nearest a window given in the DEM's
own CRS and keeps its data type and nodata (a scenario's study folder holds it as it is);
:func:`warp_to_grid` reprojects the window onto the north-up, square-cell working grid the
simulation runs on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import rasterio
from pyproj import CRS
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from slidemap.errors import InputDataError

__all__ = ["DemCrop", "read_dem_window", "warp_to_grid"]


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
