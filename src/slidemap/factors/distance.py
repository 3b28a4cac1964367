"""Distance factors: Euclidean distance (m) from each cell centre to the nearest feature of a layer.

Method (as ArcGIS *Euclidean Distance* and ``gdal_proximity``): the layer is reprojected to
the working CRS and rasterised onto the study grid, padded by ``PAD_CELLS`` cells on every
side, marking every cell a feature touches (``all_touched``; polygons are filled, so
distance is 0 inside them); then an **exact Euclidean distance transform** (Felzenszwalb &
Huttenlocher 2012, separable, linear in cells) gives, for every cell centre, the distance
to the nearest marked cell centre.

Error bound: a feature passes within half a cell diagonal of the centre of every cell it
touches, so the result differs from the exact distance between the cell centre and the
geometry by at most ``L * sqrt(2) / 2`` (7.1 m on a 10 m grid), and cells touched by a
feature read 0.

Features outside the padded grid: a cell whose distance exceeds its distance to the padded
grid's border might be nearer to a feature lying farther out; for those cells the exact
distance to such features is computed with GEOS and the smaller value kept, so features
outside the grid are never ignored.

Memory bound: the padded grid is held in memory: feature mask (1 B), squared distances
float64 (8 B) and the float32 result (4 B), **about 13 bytes per cell**.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numba
import numpy as np

__all__ = [
    "PAD_CELLS",
    "BYTES_PER_CELL",
    "edt",
    "read_layer",
    "distance_to_features",
    "write_distance_factor",
]

#: Cells added on every side of the grid when rasterising a layer.
PAD_CELLS = 128
#: Memory of the distance transform, bytes per (padded) grid cell.
BYTES_PER_CELL = 13


@numba.njit(nogil=True, cache=True)
def _edt_1d(f, n, s2, d, v, zz):  # pragma: no cover - numba
    """Squared distance transform of one line (lower envelope of parabolas)."""
    inf = np.inf
    first = -1
    for q in range(n):
        if f[q] < inf:
            first = q
            break
    if first < 0:
        for q in range(n):
            d[q] = inf
        return
    k = 0
    v[0] = first
    zz[0] = -inf
    zz[1] = inf
    for q in range(first + 1, n):
        if f[q] == inf:
            continue
        p = v[k]
        s = ((f[q] + s2 * q * q) - (f[p] + s2 * p * p)) / (2.0 * s2 * (q - p))
        while s <= zz[k]:
            k -= 1
            p = v[k]
            s = ((f[q] + s2 * q * q) - (f[p] + s2 * p * p)) / (2.0 * s2 * (q - p))
        k += 1
        v[k] = q
        zz[k] = s
        zz[k + 1] = inf
    k = 0
    for q in range(n):
        while zz[k + 1] < q:
            k += 1
        p = v[k]
        d[q] = s2 * (q - p) * (q - p) + f[p]


@numba.njit(nogil=True, cache=True)
def _edt_2d(mask, dy, dx, out):  # pragma: no cover - numba
    rows, cols = mask.shape
    n = max(rows, cols)
    f = np.empty(n, dtype=np.float64)
    d = np.empty(n, dtype=np.float64)
    v = np.empty(n, dtype=np.int64)
    zz = np.empty(n + 1, dtype=np.float64)
    sq = np.empty((rows, cols), dtype=np.float64)
    for c in range(cols):
        for r in range(rows):
            f[r] = 0.0 if mask[r, c] else np.inf
        _edt_1d(f, rows, dy * dy, d, v, zz)
        for r in range(rows):
            sq[r, c] = d[r]
    for r in range(rows):
        for c in range(cols):
            f[c] = sq[r, c]
        _edt_1d(f, cols, dx * dx, d, v, zz)
        for c in range(cols):
            out[r, c] = np.float32(math.sqrt(d[c]))


def edt(mask: np.ndarray, *, dy: float = 1.0, dx: float = 1.0) -> np.ndarray:
    """Compute the exact Euclidean distance from every cell centre to the nearest True cell.

    Parameters
    ----------
    mask
        2-D boolean array, True at feature cells.
    dy, dx
        Cell size along rows and columns (m).

    Returns
    -------
    numpy.ndarray
        float32 distances (m); ``inf`` everywhere when ``mask`` has no True cell.
    """
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    out = np.empty(mask.shape, dtype=np.float32)
    _edt_2d(mask, float(abs(dy)), float(abs(dx)), out)
    return out


def read_layer(path: str | os.PathLike, crs: Any, *, key: str, study_area: Any = None) -> Any:
    """Read a vector layer in ``crs`` (via :func:`slidemap.inputs.read_vector`).

    Parameters
    ----------
    path
        Any OGR vector file (first layer).
    crs
        The working CRS.
    key
        The config key that names the file (for error messages).
    study_area
        Shapely geometry in ``crs`` to count features outside it (kept), or None.

    Returns
    -------
    geopandas.GeoSeries
        The usable geometries in ``crs`` (invalid ones repaired), indexed by their 0-based
        position in the file; ``attrs["read_counts"]`` holds
        :class:`slidemap.inputs.VectorCounts` as a dict.

    Raises
    ------
    InputDataError
        If the file cannot be read, has no CRS, no feature, no usable geometry, or
        coordinates that are not finite after reprojection.
    """
    from slidemap.inputs import read_vector

    gdf, counts = read_vector(path, key, crs, study_area=study_area, what="layer")
    geoms = gdf.geometry
    geoms.attrs["read_counts"] = counts.to_json()
    return geoms


def distance_to_features(geoms: Any, grid: Any, *, pad_cells: int = PAD_CELLS) -> np.ndarray:
    """Distance (m) from each cell centre of ``grid`` to the nearest geometry.

    Parameters
    ----------
    geoms
        Geometries (GeoSeries or sequence of shapely geometries) in the grid's CRS.
    grid
        The study grid (:class:`slidemap.raster.Grid`).
    pad_cells
        Cells added around the grid when rasterising.

    Returns
    -------
    numpy.ndarray
        float32 distances in metres, shape ``grid.shape`` (see the module docstring for
        the error bound).
    """
    import shapely
    from affine import Affine
    from rasterio.features import rasterize

    geoms = [g for g in np.asarray(geoms, dtype=object) if g is not None and not g.is_empty]
    t = grid.transform
    rows, cols = grid.shape
    p = int(pad_cells)
    padded_t = t @ Affine.translation(-p, -p)
    shape = (rows + 2 * p, cols + 2 * p)
    mask = rasterize(
        ((g, 1) for g in geoms),
        out_shape=shape,
        transform=padded_t,
        fill=0,
        all_touched=True,
        dtype="uint8",
    ).astype(bool)
    dist = edt(mask, dy=t.e, dx=t.a)[p : p + rows, p : p + cols]
    del mask
    # cells that might be nearer to a feature beyond the padded grid
    r = np.arange(rows)
    c = np.arange(cols)
    to_border_r = np.minimum(r, rows - 1 - r)[:, None] * abs(t.e)
    to_border_c = np.minimum(c, cols - 1 - c)[None, :] * abs(t.a)
    border = np.minimum(to_border_r, to_border_c) + (p + 0.5) * min(abs(t.a), abs(t.e))
    cand = dist > border
    if cand.any():
        west, north = padded_t.c, padded_t.f
        box = shapely.box(west, north + shape[0] * t.e, west + shape[1] * t.a, north)
        outside = [g for g in geoms if not shapely.within(g, box)]
        if outside:
            rr, cc = np.nonzero(cand)
            xs = t.c + (cc + 0.5) * t.a
            ys = t.f + (rr + 0.5) * t.e
            tree = shapely.STRtree(outside)
            _, exact = tree.query_nearest(
                shapely.points(xs, ys), return_distance=True, all_matches=False
            )
            dist[rr, cc] = np.minimum(dist[rr, cc], exact.astype(np.float32))
    return dist


def write_distance_factor(
    layer_path: str | os.PathLike,
    dem_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    name: str,
    key: str,
    source: str | None = None,
    chunk_size: int = 1024,
    threads: int = 1,
    compress: str = "deflate",
) -> None:
    """Write ``dist_<layer>.tif``: distance (m) to the layer's features, NaN where the DEM is.

    Parameters
    ----------
    layer_path
        Vector layer (any CRS; reprojected).
    dem_path
        The grid DEM (defines the grid and the nodata cells).
    out_path
        Output COG.
    name
        Factor name (``dist_faults`` ...).
    key
        Config key naming the layer (for error messages and the catalog).
    source
        Text for the catalog's ``source`` (default the file name).
    chunk_size
        Chunk edge (cells) of the output blocks.
    threads
        Threads for writing.
    compress
        COG compression, ``"deflate"`` or ``"zstd"`` (``factors.compress``).
    """
    import dask.array as da
    import shapely

    from slidemap.factors.studygrid import mask_like_dem
    from slidemap.raster import Grid, open_on_grid, write_cog

    grid = Grid.from_raster(dem_path)
    geoms = read_layer(layer_path, grid.crs, key=key, study_area=shapely.box(*grid.bounds))
    dist = distance_to_features(geoms, grid)
    data = mask_like_dem(
        da.from_array(dist, chunks=(chunk_size, chunk_size)),
        open_on_grid(dem_path, chunk_size=chunk_size).data,
        np.nan,
    )
    bound = grid.resolution_m * math.sqrt(2) / 2
    tags = {
        "factor": name,
        "kind": "continuous",
        "unit": "m",
        "method": "exact Euclidean distance transform of the all-touched rasterised layer "
        f"(error <= half a cell diagonal = {bound:.2f} m)",
        "source": source or os.path.basename(str(layer_path)),
        "memory_bytes_per_cell": str(BYTES_PER_CELL),
        "features": json.dumps(geoms.attrs["read_counts"]),
    }
    write_cog(
        data,
        out_path,
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
