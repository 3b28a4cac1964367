"""Illustrative demo layers derived from the DEM: roads, faults, lithology, land use.

None of these is real geology or land cover: they are plausible stand-ins so that every
factor of the pipeline has an input. Roads follow the valley floors (least-cost paths that
hug low ground with gentle grades), faults follow the Andean NNE structural trend, the
lithology is a set of NNE-striking bands with colluvium and alluvium on top, and the land
use follows elevation, slope, the roads and the low-coherence (forest) patches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from rasterio.transform import Affine
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from slidemap.raster import horn_gradient
from slidemap.simulate.fields import gaussian_random_field, sample_grid
from slidemap.simulate.terrain import fill_nan_nearest, smooth_dem

__all__ = [
    "LITHOLOGY_CODES",
    "LANDUSE_CODES",
    "least_cost_path",
    "make_roads",
    "make_faults",
    "make_lithology",
    "make_landuse",
]

#: Lithology codes: (code, name, hardness class of seed 002).
LITHOLOGY_CODES = (
    (1, "gneiss and granite", "hard"),
    (2, "quartzite and metasandstone", "sub-hard"),
    (3, "phyllite and slate", "sub-soft"),
    (4, "mica schist", "sub-soft"),
    (5, "colluvium", "soft"),
    (6, "alluvium", "soft"),
)

#: Land-use codes: (code, name).
LANDUSE_CODES = (
    (1, "montane forest"),
    (2, "shrubland"),
    (3, "pasture"),
    (4, "paramo grassland"),
    (5, "bare rock and scree"),
    (6, "built-up and roads"),
)

_FOREST, _SHRUB, _PASTURE, _PARAMO, _BARE, _BUILT = 1, 2, 3, 4, 5, 6


def _grid_graph(cost_fn, z: np.ndarray, cell_m: float) -> coo_matrix:
    """Undirected 8-neighbour graph of the valid cells with edge weights from ``cost_fn``."""
    valid = np.isfinite(z)
    n = z.size
    ids = np.arange(n).reshape(z.shape)
    rows, cols, weights = [], [], []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        h, w = z.shape
        r0, r1 = slice(0, h - dr), slice(dr, h)
        c0, c1 = slice(max(0, -dc), w - max(0, dc)), slice(max(0, dc), w - max(0, -dc))
        a, b = ids[r0, c0], ids[r1, c1]
        ok = valid[r0, c0] & valid[r1, c1]
        dist = cell_m * np.hypot(dr, dc)
        w = cost_fn(z.flat[a[ok]], z.flat[b[ok]], dist)
        rows.append(a[ok])
        cols.append(b[ok])
        weights.append(w)
    return coo_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    ).tocsr()


def least_cost_path(graph, sources: np.ndarray, target: int) -> np.ndarray:
    """Cell ids of the cheapest path from any of ``sources`` to ``target``.

    Parameters
    ----------
    graph
        Sparse (upper-triangular) weight matrix of an undirected graph.
    sources
        Start cell ids (flat indices).
    target
        End cell id.

    Returns
    -------
    numpy.ndarray
        Flat cell ids from a source to ``target``.

    Raises
    ------
    ValueError
        If ``target`` cannot be reached.
    """
    dist, pred, _src = dijkstra(
        graph,
        directed=False,
        indices=np.atleast_1d(sources),
        min_only=True,
        return_predecessors=True,
    )
    if not np.isfinite(dist[target]):
        raise ValueError("the road target cannot be reached from its start")
    path = [target]
    while pred[path[-1]] >= 0:
        path.append(pred[path[-1]])
    return np.array(path[::-1])


def _path_line(ids: np.ndarray, shape: tuple[int, int], transform: Affine) -> shapely.LineString:
    """LineString through cell centres, simplified to 5 m and rounded to 1 cm."""
    r, c = np.unravel_index(ids, shape)
    x = transform.c + (c + 0.5) * transform.a
    y = transform.f - (r + 0.5) * transform.a
    line = shapely.LineString(np.column_stack([x, y])).simplify(5.0)
    return shapely.set_precision(line, 0.01)


def _boundary_cells(valid: np.ndarray) -> np.ndarray:
    """Return the valid cells that touch nodata or the grid edge."""
    padded = np.pad(valid, 1, constant_values=False)
    inner = ndimage.binary_erosion(padded, structure=np.ones((3, 3)))[1:-1, 1:-1]
    return valid & ~inner


def make_roads(dem: np.ndarray, transform: Affine, max_grade: float = 0.08) -> pd.DataFrame:
    """Lay a main road along the lowest valley and a branch road up to a ridge-top flat.

    The main road joins the lowest cell on the DEM's boundary to the lowest boundary cell
    at least half the DEM's smaller side away, by the least-cost path whose edge cost is
    ``length (1 + (grade / max_grade)**2 + 20 h)``, ``h`` the elevation above the DEM's
    minimum as a share of the relief (so it follows the valley floor). The branch road
    climbs from the main road to the gentlest cell of the central upper half of the area
    with the grade cost only (so it takes gentle ground and switchbacks).

    Parameters
    ----------
    dem
        Elevation (m), NaN nodata.
    transform
        Affine transform (square cells, m).
    max_grade
        Grade (m/m) at which the grade cost doubles the length.

    Returns
    -------
    pandas.DataFrame
        ``road_id``, ``name``, ``road_class``, ``geometry`` (LineString, m).
    """
    cell = transform.a
    valid = np.isfinite(dem)
    z_lo, z_hi = np.nanmin(dem), np.nanmax(dem)

    def main_cost(za, zb, dist):
        grade = np.abs(zb - za) / dist
        h = ((za + zb) / 2.0 - z_lo) / (z_hi - z_lo)
        return dist * (1.0 + (grade / max_grade) ** 2 + 20.0 * h)

    def branch_cost(za, zb, dist):
        grade = np.abs(zb - za) / dist
        return dist * (1.0 + (grade / max_grade) ** 2)

    boundary = np.flatnonzero(_boundary_cells(valid))
    start = boundary[np.argmin(dem.flat[boundary])]
    sr, sc = np.unravel_index(start, dem.shape)
    br, bc = np.unravel_index(boundary, dem.shape)
    far = np.hypot(br - sr, bc - sc) >= 0.5 * min(dem.shape)
    end = boundary[far][np.argmin(dem.flat[boundary[far]])]
    main = least_cost_path(_grid_graph(main_cost, dem, cell), np.array([start]), int(end))

    zs = smooth_dem(dem, 3.0)
    gx, gy = horn_gradient(zs, cell)
    slope = np.hypot(gx, gy)
    rr, cc = np.mgrid[0 : dem.shape[0], 0 : dem.shape[1]]
    central = (
        (np.abs(rr - dem.shape[0] / 2) < dem.shape[0] / 4)
        & (np.abs(cc - dem.shape[1] / 2) < dem.shape[1] / 4)
        & (dem > np.nanmedian(dem))
        & np.isfinite(slope)
    )
    target = int(np.flatnonzero(central)[np.argmin(slope[central])])
    branch = least_cost_path(_grid_graph(branch_cost, dem, cell), main, target)
    return pd.DataFrame(
        {
            "road_id": [1, 2],
            "name": ["valley road (illustrative)", "access road (illustrative)"],
            "road_class": ["primary", "secondary"],
            "geometry": [
                _path_line(main, dem.shape, transform),
                _path_line(branch, dem.shape, transform),
            ],
        }
    )


def make_faults(
    rng: np.random.Generator, bounds: tuple[float, float, float, float]
) -> pd.DataFrame:
    """Two gently sinuous fault traces crossing the area: one NNE (Andean), one WNW.

    Parameters
    ----------
    rng
        Random generator.
    bounds
        ``(west, south, east, north)`` of the area (m).

    Returns
    -------
    pandas.DataFrame
        ``fault_id``, ``name``, ``kind``, ``strike_deg``, ``geometry`` (LineString, m).
    """
    west, south, east, north = bounds
    box = shapely.box(*bounds)
    diag = np.hypot(east - west, north - south)
    rows = []
    for fid, (strike_mean, strike_sd, name) in enumerate(
        ((20.0, 8.0, "F1 NNE fault (illustrative)"), (115.0, 10.0, "F2 WNW fault (illustrative)")),
        start=1,
    ):
        strike = float(strike_mean + strike_sd * rng.standard_normal())
        x0 = west + (east - west) * float(rng.uniform(0.3, 0.7))
        y0 = south + (north - south) * float(rng.uniform(0.3, 0.7))
        amp = float(rng.uniform(20.0, 60.0))
        wavelength = float(rng.uniform(1200.0, 2500.0))
        phase = float(rng.uniform(0.0, 2 * np.pi))
        s = np.linspace(-diag, diag, 200)
        off = amp * np.sin(2 * np.pi * s / wavelength + phase)
        a = np.deg2rad(strike)
        x = x0 + s * np.sin(a) + off * np.cos(a)
        y = y0 + s * np.cos(a) - off * np.sin(a)
        line = shapely.intersection(shapely.LineString(np.column_stack([x, y])), box)
        rows.append(
            {
                "fault_id": fid,
                "name": name,
                "kind": "inferred fault, illustrative (not mapped)",
                "strike_deg": round(strike % 180.0, 1),
                "geometry": shapely.set_precision(line, 0.01),
            }
        )
    return pd.DataFrame(rows)


def make_lithology(
    rng: np.random.Generator, dem: np.ndarray, transform: Affine, cell_m: float = 30.0
) -> tuple[np.ndarray, Affine]:
    """Lithology codes on a coarser grid (default 30 m) covering the DEM.

    Bedrock units (codes 1-4) form bands striking N20E with wavy contacts (band widths
    500-1100 m); colluvium (5) covers concave footslopes of moderate slope, alluvium (6)
    the valley floors (within 20 m of the lowest ground in a 500 m window, gentle slope).

    Parameters
    ----------
    rng
        Random generator.
    dem
        Elevation (m), NaN nodata.
    transform
        Affine transform of ``dem``.
    cell_m
        Cell size of the output grid (m).

    Returns
    -------
    tuple
        ``(codes, transform)``: uint8 codes (0 = nodata where the DEM has none) and the
        grid's transform (same origin as the DEM).
    """
    width_m = dem.shape[1] * transform.a
    height_m = dem.shape[0] * transform.a
    nx, ny = int(np.ceil(width_m / cell_m)), int(np.ceil(height_m / cell_m))
    out_t = Affine(cell_m, 0.0, transform.c, 0.0, -cell_m, transform.f)
    yy, xx = np.mgrid[0:ny, 0:nx]
    x = transform.c + (xx + 0.5) * cell_m
    y = transform.f - (yy + 0.5) * cell_m
    rows_f = (transform.f - y) / transform.a - 0.5
    cols_f = (x - transform.c) / transform.a - 0.5
    filled = fill_nan_nearest(dem)
    z = sample_grid(filled, rows_f.ravel(), cols_f.ravel()).reshape(ny, nx)
    ri = np.clip(np.round(rows_f).astype(int), 0, dem.shape[0] - 1)
    ci = np.clip(np.round(cols_f).astype(int), 0, dem.shape[1] - 1)
    nodata = ~np.isfinite(dem[ri, ci])

    strike = np.deg2rad(20.0)
    xc, yc = x.mean(), y.mean()
    wavy = 150.0 * gaussian_random_field(rng, (ny, nx), 300.0 / cell_m)
    u = (x - xc) * np.cos(strike) - (y - yc) * np.sin(strike) + wavy
    edges = [u.min() - 1.0]
    units = []
    last = -1
    while edges[-1] < u.max():
        edges.append(edges[-1] + float(rng.uniform(500.0, 1100.0)))
        choice = [k for k in (1, 2, 3, 4) if k != last]
        last = int(rng.choice(choice))
        units.append(last)
    band = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, len(units) - 1)
    codes = np.asarray(units)[band].astype(np.uint8)

    zs = ndimage.gaussian_filter(z, 1.5, mode="nearest")
    gx, gy = np.gradient(zs, cell_m)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    lap = ndimage.laplace(zs) / cell_m**2
    low = z - ndimage.minimum_filter(z, size=int(round(500.0 / cell_m)) | 1, mode="nearest")
    colluvium = (lap > 0.004) & (slope > 12.0) & (slope < 32.0)
    alluvium = (low < 20.0) & (slope < 20.0)
    codes[colluvium] = 5
    codes[alluvium] = 6
    codes[nodata] = 0
    return codes, out_t


def make_landuse(
    dem: np.ndarray, transform: Affine, patches: np.ndarray, roads: pd.DataFrame
) -> np.ndarray:
    """Land-use codes on the DEM grid.

    In order of precedence: built-up and roads (within 15 m of a road), bare rock and scree
    (slope >= 50 degrees), montane forest (the low-coherence patches), paramo grassland
    (above 2900 m), pasture (within 250 m of a road on slopes < 30 degrees), shrubland.

    Parameters
    ----------
    dem
        Elevation (m), NaN nodata.
    transform
        Affine transform of ``dem``.
    patches
        Boolean forest (low-coherence) patches on the DEM grid.
    roads
        Road lines (:func:`make_roads`).

    Returns
    -------
    numpy.ndarray
        uint8 codes, 0 where the DEM has no data.
    """
    from rasterio import features

    cell = transform.a
    gx, gy = horn_gradient(dem, cell)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    road_mask = features.rasterize(
        [(g, 1) for g in roads.geometry],
        out_shape=dem.shape,
        transform=transform,
        all_touched=True,
        dtype="uint8",
    ).astype(bool)
    dist = ndimage.distance_transform_edt(~road_mask) * cell
    codes = np.full(dem.shape, _SHRUB, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        codes[(dist <= 250.0) & (slope < 30.0)] = _PASTURE
        codes[dem >= 2900.0] = _PARAMO
        codes[patches] = _FOREST
        codes[slope >= 50.0] = _BARE
    codes[dist <= 15.0] = _BUILT
    codes[~np.isfinite(dem)] = 0
    return codes
