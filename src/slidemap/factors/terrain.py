"""Terrain factors from the grid DEM: one fused 3 x 3 (or TPI-radius) kernel, chunked with dask.

Definitions (window cells numbered row by row from the north-west, z0 .. z8, z4 the centre;
``L`` the cell size in metres):

elevation
    The grid DEM (m).
slope
    Degrees, Horn (1981) as ``gdaldem slope`` (and ArcGIS Slope): with
    ``dz/dx = ((z0 + 2 z3 + z6) - (z2 + 2 z5 + z8)) / (8 L)`` and the analogous ``dz/dy``,
    ``slope = atan(sqrt(dz/dx^2 + dz/dy^2))``. The window sums are formed in float32 exactly
    as gdaldem does, so the result matches gdaldem to float32 rounding.
aspect
    Degrees clockwise from north (0 = north-facing, 90 = east-facing), the direction the
    slope faces, Horn (1981) as ``gdaldem aspect`` (azimuth, same arithmetic). **Flat cells**
    (both Horn gradients exactly 0) get the flag value **-1** (as ArcGIS Aspect; gdaldem
    writes its nodata -9999 there). -1 is a valid value, not nodata.
northness, eastness
    ``cos(aspect)`` and ``sin(aspect)`` (dimensionless, -1..1); 0 on flat cells.
plan_curvature, profile_curvature
    Zevenbergen & Thorne (1987) partial quartic, as the ArcGIS Curvature tool but in **1/m**
    (ArcGIS reports 1/(100 m): multiply ours by 100 to compare). With
    ``D = ((z3 + z5)/2 - z4)/L^2``, ``E = ((z1 + z7)/2 - z4)/L^2``,
    ``F = (-z0 + z2 + z6 - z8)/(4 L^2)``, ``G = (z5 - z3)/(2 L)``, ``H = (z1 - z7)/(2 L)``:
    ``profile = 2 (D G^2 + E H^2 + F G H) / (G^2 + H^2)`` (the second derivative of
    elevation along the slope line) and ``plan = -2 (D H^2 + E G^2 - F G H) / (G^2 + H^2)``
    (minus the second derivative along the contour). **Signs as ArcGIS documents them**:
    profile < 0 where the surface is upwardly convex (slope steepening downhill), > 0 where
    upwardly concave; plan > 0 where the surface is sidewardly convex (ridges, diverging
    flow), < 0 where sidewardly concave (hollows, converging flow). On a dome both read
    "convex": profile < 0, plan > 0. Both are 0 where the gradient is exactly 0.
tpi
    Topographic position index (Weiss 2001; seed 002 eq. 3): elevation of the centre minus
    the mean elevation of its neighbourhood (m). Default (``factors.tpi.radius_m`` null): the
    8 neighbours of the 3 x 3 window, exactly as ``gdaldem TPI``. With a radius: every cell
    whose centre lies at a distance d with ``inner_radius_m < d <= radius_m`` (a circle, or
    an annulus when ``inner_radius_m`` > 0), the centre excluded.
tri
    Terrain ruggedness index, Riley et al. (1999) as ``gdaldem TRI -alg Riley`` (the default
    since GDAL 3.3): ``sqrt(sum_i (z_i - z4)^2)`` over the 8 neighbours (m).
roughness
    Largest minus smallest elevation of the 3 x 3 window, as ``gdaldem roughness`` (m).

Nodata and edges: a cell is NaN when any cell of its window (3 x 3, or the TPI neighbourhood)
is NaN or lies outside the grid. This is gdaldem's behaviour without ``-compute_edges``: the
outermost row and column of the grid are NaN.

Chunking: the grid DEM is read in ``chunk_size`` blocks with a halo equal to the kernel radius
(``dask.array.overlap`` padded with NaN at the grid's edge), so every cell sees exactly the
window it would see in memory: the chunked result equals the in-memory result bit for bit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numba
import numpy as np

from slidemap.errors import ConfigError
from slidemap.factors import TERRAIN_FACTORS

__all__ = [
    "TERRAIN_INFO",
    "tpi_offsets",
    "terrain_numpy",
    "terrain_dask",
    "write_terrain_factors",
]

#: Canonical order of the terrain factors (index used by the kernel): that of
#: :data:`slidemap.factors.TERRAIN_FACTORS`.
_ORDER = tuple(TERRAIN_FACTORS)

#: Unit and method of each terrain factor (written to the COG tags and factors.json).
TERRAIN_INFO: dict[str, dict[str, str]] = {
    "elevation": {"unit": "m", "method": "grid DEM"},
    "slope": {"unit": "degree", "method": "Horn 1981 as gdaldem slope / ArcGIS Slope"},
    "aspect": {
        "unit": "degree",
        "method": "Horn 1981 as gdaldem aspect; clockwise from north; flat cells = -1",
    },
    "northness": {"unit": "1", "method": "cos(aspect); 0 on flat cells"},
    "eastness": {"unit": "1", "method": "sin(aspect); 0 on flat cells"},
    "plan_curvature": {
        "unit": "1/m",
        "method": "Zevenbergen-Thorne 1987 as ArcGIS Curvature (plan) / 100; > 0 sidewardly convex",
    },
    "profile_curvature": {
        "unit": "1/m",
        "method": "Zevenbergen-Thorne 1987 as ArcGIS Curvature (profile) / 100; "
        "< 0 upwardly convex",
    },
    "tpi": {"unit": "m", "method": "Weiss 2001 TPI"},
    "tri": {"unit": "m", "method": "Riley et al. 1999 as gdaldem TRI -alg Riley"},
    "roughness": {"unit": "m", "method": "max - min of 3x3 window as gdaldem roughness"},
}


def tpi_offsets(
    cell_size_m: float, radius_m: float | None, inner_radius_m: float = 0.0
) -> np.ndarray:
    """Return the (row, col) offsets of the TPI neighbourhood.

    Parameters
    ----------
    cell_size_m
        Grid cell size (m).
    radius_m
        Outer radius (m); None = the 8 neighbours of the 3 x 3 window (gdaldem TPI).
    inner_radius_m
        Inner radius (m) of an annulus; cells at distance <= inner_radius_m are excluded.

    Returns
    -------
    numpy.ndarray
        int64 array of shape (n, 2); empty (0, 2) for the gdaldem 3 x 3 neighbourhood.

    Raises
    ------
    ConfigError
        If the radii give an empty neighbourhood.
    """
    if radius_m is None:
        return np.zeros((0, 2), dtype=np.int64)
    if inner_radius_m >= radius_m:
        raise ConfigError(
            f"config key 'factors.tpi.inner_radius_m': {inner_radius_m} m must be smaller "
            f"than factors.tpi.radius_m ({radius_m} m)."
        )
    r = int(math.floor(radius_m / cell_size_m + 1e-9))
    dr, dc = np.mgrid[-r : r + 1, -r : r + 1]
    dist = np.hypot(dr, dc) * cell_size_m
    keep = (dist <= radius_m + 1e-9) & (dist > inner_radius_m + 1e-9) & ((dr != 0) | (dc != 0))
    if not keep.any():
        raise ConfigError(
            f"config key 'factors.tpi.radius_m': {radius_m} m holds no neighbour on a "
            f"{cell_size_m} m grid. Use at least the cell size."
        )
    return np.stack([dr[keep], dc[keep]], axis=1).astype(np.int64)


def _halo(offsets: np.ndarray) -> int:
    """Kernel radius in cells: 1 for the 3 x 3 window, more for a large TPI radius."""
    return max(1, int(np.abs(offsets).max())) if len(offsets) else 1


@numba.njit(nogil=True, cache=True)
def _terrain_kernel(z, halo, ewres, nsres, slots, offsets, out):  # pragma: no cover - numba
    """Fill ``out[slot]`` for every wanted factor on the interior of a NaN-padded block."""
    rows = z.shape[0] - 2 * halo
    cols = z.shape[1] - 2 * halo
    deg = 180.0 / math.pi
    rad = math.pi / 180.0
    lx = abs(ewres)
    ly = abs(nsres)
    s_elev, s_slope, s_aspect, s_north, s_east = slots[0], slots[1], slots[2], slots[3], slots[4]
    s_plan, s_prof, s_tpi, s_tri, s_rough = slots[5], slots[6], slots[7], slots[8], slots[9]
    n_off = offsets.shape[0]
    nan = np.float32(np.nan)
    for i in range(rows):
        r = i + halo
        for j in range(cols):
            c = j + halo
            z4 = z[r, c]
            if s_elev >= 0:
                out[s_elev, i, j] = z4
            z0 = z[r - 1, c - 1]
            z1 = z[r - 1, c]
            z2 = z[r - 1, c + 1]
            z3 = z[r, c - 1]
            z5 = z[r, c + 1]
            z6 = z[r + 1, c - 1]
            z7 = z[r + 1, c]
            z8 = z[r + 1, c + 1]
            bad = (
                math.isnan(z0)
                or math.isnan(z1)
                or math.isnan(z2)
                or math.isnan(z3)
                or math.isnan(z4)
                or math.isnan(z5)
                or math.isnan(z6)
                or math.isnan(z7)
                or math.isnan(z8)
            )
            if bad:
                for s in (s_slope, s_aspect, s_north, s_east, s_plan, s_prof, s_tri, s_rough):
                    if s >= 0:
                        out[s, i, j] = nan
                if s_tpi >= 0 and n_off == 0:
                    out[s_tpi, i, j] = nan
            else:
                # window sums in float32, as gdaldem
                west = z0 + z3 + z3 + z6
                east = z2 + z5 + z5 + z8
                north = z0 + z1 + z1 + z2
                south = z6 + z7 + z7 + z8
                if s_slope >= 0:
                    dx = np.float64(west - east) / ewres
                    dy = np.float64(south - north) / nsres
                    key = dx * dx + dy * dy
                    out[s_slope, i, j] = np.float32(math.atan(math.sqrt(key) / 8.0) * deg)
                if s_aspect >= 0 or s_north >= 0 or s_east >= 0:
                    adx = np.float64(east - west)
                    ady = np.float64(south - north)
                    if adx == 0.0 and ady == 0.0:
                        asp = np.float32(-1.0)
                        nth = np.float32(0.0)
                        est = np.float32(0.0)
                    else:
                        asp = np.float32(math.atan2(ady, -adx) / rad)
                        if asp > np.float32(90.0):
                            asp = np.float32(450.0) - asp
                        else:
                            asp = np.float32(90.0) - asp
                        if asp == np.float32(360.0):
                            asp = np.float32(0.0)
                        nth = np.float32(0.0)
                        est = np.float32(0.0)
                        if s_north >= 0:
                            nth = np.float32(math.cos(np.float64(asp) * rad))
                        if s_east >= 0:
                            est = np.float32(math.sin(np.float64(asp) * rad))
                    if s_aspect >= 0:
                        out[s_aspect, i, j] = asp
                    if s_north >= 0:
                        out[s_north, i, j] = nth
                    if s_east >= 0:
                        out[s_east, i, j] = est
                if s_plan >= 0 or s_prof >= 0:
                    f0, f1, f2 = np.float64(z0), np.float64(z1), np.float64(z2)
                    f3, f4, f5 = np.float64(z3), np.float64(z4), np.float64(z5)
                    f6, f7, f8 = np.float64(z6), np.float64(z7), np.float64(z8)
                    cd = ((f3 + f5) / 2.0 - f4) / (lx * lx)
                    ce = ((f1 + f7) / 2.0 - f4) / (ly * ly)
                    cf = (-f0 + f2 + f6 - f8) / (4.0 * lx * ly)
                    cg = (f5 - f3) / (2.0 * lx)
                    ch = (f1 - f7) / (2.0 * ly)
                    p2 = cg * cg + ch * ch
                    if p2 == 0.0:
                        prof = 0.0
                        plan = 0.0
                    else:
                        prof = 2.0 * (cd * cg * cg + ce * ch * ch + cf * cg * ch) / p2
                        plan = -2.0 * (cd * ch * ch + ce * cg * cg - cf * cg * ch) / p2
                    if s_plan >= 0:
                        out[s_plan, i, j] = np.float32(plan)
                    if s_prof >= 0:
                        out[s_prof, i, j] = np.float32(prof)
                if s_tpi >= 0 and n_off == 0:
                    out[s_tpi, i, j] = z4 - (z0 + z1 + z2 + z3 + z5 + z6 + z7 + z8) * np.float32(
                        0.125
                    )
                if s_tri >= 0:
                    acc = 0.0
                    for v in (z0, z1, z2, z3, z5, z6, z7, z8):
                        d = np.float64(v - z4)
                        acc += d * d
                    out[s_tri, i, j] = np.float32(math.sqrt(acc))
                if s_rough >= 0:
                    lo = z0
                    hi = z0
                    for v in (z1, z2, z3, z4, z5, z6, z7, z8):
                        if v > hi:
                            hi = v
                        if v < lo:
                            lo = v
                    out[s_rough, i, j] = hi - lo
            if s_tpi >= 0 and n_off > 0:
                total = 0.0
                ok = not math.isnan(z4)
                for k in range(n_off):
                    v = z[r + offsets[k, 0], c + offsets[k, 1]]
                    if math.isnan(v):
                        ok = False
                        break
                    total += np.float64(v)
                if ok:
                    out[s_tpi, i, j] = np.float32(np.float64(z4) - total / n_off)
                else:
                    out[s_tpi, i, j] = nan


def _slots(names: Sequence[str]) -> np.ndarray:
    """Map the canonical factor order to output slots (-1 = not computed)."""
    unknown = sorted(set(names) - set(_ORDER))
    if unknown:
        raise ConfigError(
            f"config key 'factors.terrain': unknown terrain factor(s) {unknown}. "
            f"Allowed: {', '.join(_ORDER)}."
        )
    slots = np.full(len(_ORDER), -1, dtype=np.int64)
    for k, name in enumerate(names):
        slots[_ORDER.index(name)] = k
    return slots


def _block(
    zpad: np.ndarray,
    *,
    halo: int,
    ewres: float,
    nsres: float,
    names: Sequence[str],
    offsets: np.ndarray,
) -> np.ndarray:
    """Compute the wanted factors on the interior of a NaN-padded block -> (k, rows, cols)."""
    zpad = np.ascontiguousarray(zpad, dtype=np.float32)
    shape = (len(names), zpad.shape[0] - 2 * halo, zpad.shape[1] - 2 * halo)
    out = np.empty(shape, dtype=np.float32)
    _terrain_kernel(zpad, halo, float(ewres), float(nsres), _slots(names), offsets, out)
    return out


def terrain_numpy(
    dem: np.ndarray,
    *,
    ewres: float,
    nsres: float,
    names: Sequence[str] = _ORDER,
    tpi_radius_m: float | None = None,
    tpi_inner_radius_m: float = 0.0,
) -> dict[str, np.ndarray]:
    """Compute terrain factors of an in-memory DEM (the reference for the chunked version).

    Parameters
    ----------
    dem
        Elevation (m), 2-D, NaN = nodata.
    ewres, nsres
        Cell size along x (positive, m) and along y (negative for north-up grids, m): the
        transform's ``a`` and ``e``.
    names
        Factors to compute (see :data:`TERRAIN_INFO`).
    tpi_radius_m, tpi_inner_radius_m
        TPI neighbourhood (see :func:`tpi_offsets`).

    Returns
    -------
    dict
        Factor name -> float32 array of the DEM's shape.
    """
    offsets = tpi_offsets(abs(ewres), tpi_radius_m, tpi_inner_radius_m)
    halo = _halo(offsets)
    zpad = np.pad(np.asarray(dem, dtype=np.float32), halo, constant_values=np.nan)
    stack = _block(zpad, halo=halo, ewres=ewres, nsres=nsres, names=names, offsets=offsets)
    return {name: stack[k] for k, name in enumerate(names)}


def terrain_dask(
    dem: Any,
    *,
    ewres: float,
    nsres: float,
    names: Sequence[str] = _ORDER,
    tpi_radius_m: float | None = None,
    tpi_inner_radius_m: float = 0.0,
) -> dict[str, Any]:
    """Compute terrain factors lazily: one fused kernel per block, halo = kernel radius.

    Parameters
    ----------
    dem
        Elevation (m) as a 2-D dask array, NaN = nodata.
    ewres, nsres
        Cell size along x (m, positive) and y (m, negative for north-up grids).
    names
        Factors to compute.
    tpi_radius_m, tpi_inner_radius_m
        TPI neighbourhood (see :func:`tpi_offsets`).

    Returns
    -------
    dict
        Factor name -> float32 dask array; all share one graph, so computing them together
        (e.g. :func:`slidemap.raster.write_cogs`) runs the kernel once per block.
    """
    from slidemap.raster import map_overlap

    offsets = tpi_offsets(abs(ewres), tpi_radius_m, tpi_inner_radius_m)
    halo = _halo(offsets)
    stack = map_overlap(
        _block,
        dem.astype(np.float32),
        halo,
        dtype=np.float32,
        bands=len(names),
        halo=halo,
        ewres=ewres,
        nsres=nsres,
        names=tuple(names),
        offsets=offsets,
    )
    return {name: stack[k] for k, name in enumerate(names)}


def write_terrain_factors(
    dem_path: str | os.PathLike,
    outputs: Mapping[str, str | os.PathLike],
    *,
    tpi_radius_m: float | None = None,
    tpi_inner_radius_m: float = 0.0,
    chunk_size: int = 1024,
    threads: int = 1,
    compress: str = "deflate",
) -> None:
    """Compute terrain factors from the grid DEM and write one COG per factor.

    Parameters
    ----------
    dem_path
        The grid DEM (``grid/dem.tif``).
    outputs
        Factor name -> output path (the names select the factors).
    tpi_radius_m, tpi_inner_radius_m
        TPI neighbourhood in metres (None = gdaldem's 3 x 3).
    chunk_size
        Dask chunk edge in cells.
    threads
        Threads used (dask scheduler and GDAL compression).
    compress
        COG compression, ``"deflate"`` or ``"zstd"`` (``factors.compress``).
    """
    from slidemap.raster import Grid, Layer, open_on_grid, write_cogs

    grid = Grid.from_raster(dem_path)
    names = list(outputs)
    dem = open_on_grid(dem_path, chunk_size=chunk_size).data
    arrays = terrain_dask(
        dem,
        ewres=grid.transform.a,
        nsres=grid.transform.e,
        names=names,
        tpi_radius_m=tpi_radius_m,
        tpi_inner_radius_m=tpi_inner_radius_m,
    )
    layers = []
    for name in names:
        info = dict(TERRAIN_INFO[name])
        if name == "tpi":
            info["method"] += (
                "; 8 neighbours of the 3x3 window as gdaldem TPI"
                if tpi_radius_m is None
                else f"; neighbours at {tpi_inner_radius_m} m < d <= {tpi_radius_m} m"
            )
        tags = {"factor": name, "kind": "continuous", "source": "grid/dem.tif", **info}
        layers.append(
            Layer(
                arrays[name],
                outputs[name],
                nodata=np.nan,
                dtype="float32",
                tags=tags,
                resampling="average",
            )
        )
    write_cogs(layers, grid=grid, threads=threads, compress=compress, level=1, predictor=True)
