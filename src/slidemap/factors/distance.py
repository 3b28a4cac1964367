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

Memory: :func:`distance_to_features` holds the padded grid (feature mask 1 B, squared
distances float64 8 B, float32 result 4 B: **about 13 bytes per cell**);
:func:`distance_blocks`, which ``write_distance_factor`` (rule ``distance_factor``) uses,
streams the same two passes through a scratch file on disk (8 B per padded cell) and holds
a strip of 512 columns or a block of 512 rows at a time (~25 B × 512 × the grid's longer
side), with the same result cell for cell.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from typing import Any

import numba
import numpy as np

__all__ = [
    "PAD_CELLS",
    "BYTES_PER_CELL",
    "edt",
    "read_layer",
    "distance_to_features",
    "distance_blocks",
    "write_distance_factor",
]

#: Cells added on every side of the grid when rasterising a layer.
PAD_CELLS = 128
#: Memory of the in-memory distance transform (:func:`distance_to_features`), bytes per
#: (padded) grid cell.
BYTES_PER_CELL = 13
#: Columns per strip / rows per block of the streamed transform (:func:`distance_blocks`).
STRIP_CELLS = 512


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
def _edt_cols(mask, dy, sq):  # pragma: no cover - numba
    """Pass 1: squared distance along each column of ``mask`` into ``sq`` (float64)."""
    rows, cols = mask.shape
    f = np.empty(rows, dtype=np.float64)
    d = np.empty(rows, dtype=np.float64)
    v = np.empty(rows, dtype=np.int64)
    zz = np.empty(rows + 1, dtype=np.float64)
    for c in range(cols):
        for r in range(rows):
            f[r] = 0.0 if mask[r, c] else np.inf
        _edt_1d(f, rows, dy * dy, d, v, zz)
        for r in range(rows):
            sq[r, c] = d[r]


@numba.njit(nogil=True, cache=True)
def _edt_rows(sq, dx, out):  # pragma: no cover - numba
    """Pass 2: along each row of the column pass ``sq``; the distances (float32) into ``out``."""
    rows, cols = sq.shape
    f = np.empty(cols, dtype=np.float64)
    d = np.empty(cols, dtype=np.float64)
    v = np.empty(cols, dtype=np.int64)
    zz = np.empty(cols + 1, dtype=np.float64)
    for r in range(rows):
        for c in range(cols):
            f[c] = sq[r, c]
        _edt_1d(f, cols, dx * dx, d, v, zz)
        for c in range(cols):
            out[r, c] = np.float32(math.sqrt(d[c]))


@numba.njit(nogil=True, cache=True)
def _edt_2d(mask, dy, dx, out):  # pragma: no cover - numba
    sq = np.empty(mask.shape, dtype=np.float64)
    _edt_cols(mask, dy, sq)
    _edt_rows(sq, dx, out)


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


def distance_blocks(
    geoms: Any,
    grid: Any,
    *,
    pad_cells: int = PAD_CELLS,
    strip_cells: int = STRIP_CELLS,
    scratch_dir: str | os.PathLike | None = None,
) -> Iterator[tuple[Any, np.ndarray]]:
    """:func:`distance_to_features` in row blocks, without holding the grid.

    The same transform in two streamed passes: the column pass runs over strips of
    ``strip_cells`` columns (each rasterised alone over the padded height) into a float64
    scratch file (8 B per padded cell, on disk, removed at the end), the row pass over blocks of
    ``strip_cells`` rows of that file; features beyond the padded grid are handled block by
    block as in :func:`distance_to_features`. Memory: a strip (~9 B × padded height ×
    ``strip_cells``) or a block (~12 B × padded width × ``strip_cells``). The blocks equal
    ``distance_to_features`` (the tests check it cell for cell).

    Parameters
    ----------
    geoms, grid, pad_cells
        As for :func:`distance_to_features`.
    strip_cells
        Columns per strip of the column pass and rows per block of the row pass.
    scratch_dir
        Folder of the scratch file (default the system's temporary folder); removed when
        the iteration ends or fails.

    Yields
    ------
    tuple
        ``(rasterio.windows.Window, float32 array)``: distances (m) of ``strip_cells`` grid
        rows at a time, top to bottom.
    """
    import tempfile

    import shapely
    from affine import Affine
    from rasterio.features import rasterize
    from rasterio.windows import Window

    geoms = [g for g in np.asarray(geoms, dtype=object) if g is not None and not g.is_empty]
    bounds = shapely.bounds(np.asarray(geoms, dtype=object)) if geoms else np.zeros((0, 4))
    t = grid.transform
    rows, cols = grid.shape
    p = int(pad_cells)
    step = max(1, int(strip_cells))
    padded_t = t @ Affine.translation(-p, -p)
    height, width = rows + 2 * p, cols + 2 * p
    fd, scratch = tempfile.mkstemp(prefix=".edt-", suffix=".f64", dir=scratch_dir)
    os.close(fd)
    strips = [(c0, min(step, width - c0)) for c0 in range(0, width, step)]
    try:
        # pass 1: columns, strip by strip; each strip stored whole (row-major) in turn, so
        # the file is written and read with plain IO (no memory map in the job's RSS)
        with open(scratch, "wb") as f:
            for c0, w in strips:
                strip_t = padded_t @ Affine.translation(c0, 0)
                x0, x1 = sorted((strip_t.c, strip_t.c + w * t.a))
                near = (bounds[:, 2] >= x0 - abs(t.a)) & (bounds[:, 0] <= x1 + abs(t.a))
                mask = np.zeros((height, w), bool)
                if near.any():
                    mask = rasterize(
                        ((geoms[i], 1) for i in np.flatnonzero(near)),
                        out_shape=(height, w),
                        transform=strip_t,
                        fill=0,
                        all_touched=True,
                        dtype="uint8",
                    ).astype(bool)
                part = np.empty((height, w), np.float64)
                _edt_cols(mask, float(abs(t.e)), part)
                part.tofile(f)
        west, north = padded_t.c, padded_t.f
        box = shapely.box(west, north + height * t.e, west + width * t.a, north)
        outside = None
        reach = (p + 0.5) * min(abs(t.a), abs(t.e))  # a feature beyond the pad is this far
        col_border = np.minimum(np.arange(cols), cols - 1 - np.arange(cols)) * abs(t.a) + reach
        offsets = np.cumsum([0] + [height * w * 8 for _, w in strips])
        with open(scratch, "rb") as stored:  # pass 2 reads each strip's rows
            for r0 in range(0, rows, step):  # pass 2: rows, block by block
                h = min(step, rows - r0)
                sq = np.empty((h, width), np.float64)
                for (c0, w), off in zip(strips, offsets, strict=False):
                    stored.seek(int(off) + (p + r0) * w * 8)
                    sq[:, c0 : c0 + w] = np.fromfile(stored, np.float64, h * w).reshape(h, w)
                out = np.empty((h, width), np.float32)
                _edt_rows(sq, float(abs(t.a)), out)
                dist = np.ascontiguousarray(out[:, p : p + cols])
                r = np.arange(r0, r0 + h)
                row_border = np.minimum(r, rows - 1 - r) * abs(t.e) + reach
                # dist > min(row, col) + reach, as two broadcast comparisons (bool blocks, not
                # float64 ones: min(a, b) + c == min(a + c, b + c) in floating point too)
                cand = (dist > row_border[:, None]) | (dist > col_border[None, :])
                if cand.any():
                    if outside is None:
                        outside = [g for g in geoms if not shapely.within(g, box)]
                        tree = shapely.STRtree(outside) if outside else None
                    if outside:
                        rr, cc = np.nonzero(cand)
                        xs = t.c + (cc + 0.5) * t.a
                        ys = t.f + (rr + r0 + 0.5) * t.e
                        _, exact = tree.query_nearest(
                            shapely.points(xs, ys), return_distance=True, all_matches=False
                        )
                        dist[rr, cc] = np.minimum(dist[rr, cc], exact.astype(np.float32))
                yield Window(0, r0, cols, h), dist
    finally:
        os.unlink(scratch)


def write_distance_factor(
    layer_path: str | os.PathLike,
    dem_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    name: str,
    key: str,
    source: str | None = None,
    threads: int = 1,
    compress: str = "deflate",
) -> None:
    """Write ``dist_<layer>.tif``: distance (m) to the layer's features, NaN where the DEM is.

    The transform is streamed (:func:`distance_blocks`): memory ~25 B × the grid's width ×
    512, plus a scratch file of 8 B per padded cell next to ``out_path`` while it runs.

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
    threads
        Threads for writing.
    compress
        COG compression, ``"deflate"`` or ``"zstd"`` (``factors.compress``).
    """
    import rasterio
    import shapely

    from slidemap.factors.studygrid import mask_like_dem
    from slidemap.raster import Grid, read_window, write_cog

    grid = Grid.from_raster(dem_path)
    geoms = read_layer(layer_path, grid.crs, key=key, study_area=shapely.box(*grid.bounds))
    scratch = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(scratch, exist_ok=True)

    def blocks():
        """Yield the distance blocks, NaN where the DEM is (read block by block)."""
        with rasterio.open(dem_path) as dem:
            for window, dist in distance_blocks(geoms, grid, scratch_dir=scratch):
                yield window, mask_like_dem(dist, read_window(dem, window), np.nan)

    bound = grid.resolution_m * math.sqrt(2) / 2
    tags = {
        "factor": name,
        "kind": "continuous",
        "unit": "m",
        "method": "exact Euclidean distance transform of the all-touched rasterised layer "
        f"(error <= half a cell diagonal = {bound:.2f} m)",
        "source": source or os.path.basename(str(layer_path)),
        "features": json.dumps(geoms.attrs["read_counts"]),
    }
    write_cog(
        blocks(),
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
