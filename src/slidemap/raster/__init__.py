"""slidemap's raster core: one grid type, one lazy reader, one window reader, one writer.

- :class:`Grid` (:mod:`slidemap.raster.grid`): CRS, transform and shape of every raster.
- :mod:`slidemap.raster.read`: :func:`open_on_grid` (an ``xarray.DataArray`` backed by dask,
  with rioxarray's CRS and transform, of a file brought onto a grid), :func:`read_window`
  (one window plus a NaN halo), :func:`read_stack`, :func:`values_at`, :func:`read_decimated`.
- :mod:`slidemap.raster.neighbourhood`: :func:`map_overlap` (kernels on dask chunks with a
  NaN halo), :func:`iter_windows`, :func:`horn_gradient`.
- :mod:`slidemap.raster.write`: :func:`write_cog` / :func:`write_cogs` (numpy, dask, xarray
  or blocks; atomic, reproducible bytes); :func:`write_vrt` (a mosaic of tiles).

Kernels (numba where measured faster) receive numpy blocks from these functions.
"""

from slidemap.raster.grid import Grid, check_same_grid
from slidemap.raster.neighbourhood import horn_gradient, iter_windows, map_overlap
from slidemap.raster.read import (
    RasterOnGrid,
    open_on_grid,
    read_decimated,
    read_stack,
    read_window,
    values_at,
)
from slidemap.raster.write import COG_OPTIONS, Layer, write_cog, write_cogs, write_vrt

__all__ = [
    "Grid",
    "check_same_grid",
    "horn_gradient",
    "iter_windows",
    "map_overlap",
    "RasterOnGrid",
    "open_on_grid",
    "read_decimated",
    "read_stack",
    "read_window",
    "values_at",
    "COG_OPTIONS",
    "Layer",
    "write_cog",
    "write_cogs",
    "write_vrt",
]
