"""Terrain factors against gdaldem, analytic surfaces and brute force; chunked == in memory.

The reference rasters in tests/data/gdaldem/ were made with GDAL 3.6.2 by
tests/data/gdaldem/make_reference.sh, i.e. on a 128 x 128 crop of the demo (Ecuador) DEM
that contains its NaN corner:

    gdal_translate -q -srcwin 255 287 128 128 -co COMPRESS=DEFLATE -co PREDICTOR=3 \\
        resources/demo/dem.tif tests/data/gdaldem/dem_crop.tif
    gdaldem slope dem_crop.tif slope.tif -co COMPRESS=DEFLATE -co PREDICTOR=3 -q
    gdaldem aspect dem_crop.tif aspect.tif -co COMPRESS=DEFLATE -co PREDICTOR=3 -q
    gdaldem TRI dem_crop.tif tri.tif -alg Riley -co COMPRESS=DEFLATE -co PREDICTOR=3 -q
    gdaldem TPI dem_crop.tif tpi.tif -co COMPRESS=DEFLATE -co PREDICTOR=3 -q
    gdaldem roughness dem_crop.tif roughness.tif -co COMPRESS=DEFLATE -co PREDICTOR=3 -q

gdaldem writes -9999 as nodata (also for flat aspect, where slidemap writes -1).
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import rasterio

from slidemap.errors import ConfigError
from slidemap.factors import TERRAIN_FACTORS
from slidemap.factors.terrain import terrain_dask, terrain_numpy, tpi_offsets

GDALDEM = ["slope", "aspect", "tri", "tpi", "roughness"]


@pytest.fixture(scope="module")
def crop(root):
    with rasterio.open(root / "tests" / "data" / "gdaldem" / "dem_crop.tif") as src:
        return src.read(1), src.transform


@pytest.mark.parametrize("name", GDALDEM)
def test_matches_gdaldem_on_ecuador_dem(name, crop, root):
    dem, t = crop
    ours = terrain_numpy(dem, ewres=t.a, nsres=t.e, names=[name])[name]
    with rasterio.open(root / "tests" / "data" / "gdaldem" / f"{name}.tif") as src:
        ref = src.read(1).astype(np.float64)
        nodata = src.nodata
    ref_nodata = ref == nodata
    if name == "aspect":
        flat = ours == -1
        assert not (flat & ~ref_nodata).any()  # our flats are gdaldem's -9999 cells
        ref_nodata &= ~flat
        ref[flat] = -1
    # same nodata cells (edges and windows touching the NaN corner)
    np.testing.assert_array_equal(np.isnan(ours), ref_nodata)
    assert np.isnan(ours).sum() > 4 * 127  # the edges and the NaN corner
    valid = ~ref_nodata
    diff = np.abs(ours[valid].astype(np.float64) - ref[valid])
    if name == "aspect":
        diff = np.minimum(diff, 360.0 - diff)
    assert diff.max() <= 1e-3


def test_plane_slope_and_aspect_analytic():
    rows, cols = np.mgrid[0:20, 0:30]
    x, y = cols * 10.0, -rows * 10.0  # metres, y north
    # z falls towards the east-south-east: gradient (-0.3, +0.1) -> faces azimuth atan2(0.3, -0.1)
    z = (500 - 0.3 * x + 0.1 * y).astype(np.float32)
    out = terrain_numpy(z, ewres=10.0, nsres=-10.0, names=["slope", "aspect", "tri"])
    inner = (slice(1, -1), slice(1, -1))
    expected_slope = np.degrees(np.arctan(np.hypot(0.3, 0.1)))
    np.testing.assert_allclose(out["slope"][inner], expected_slope, atol=1e-4)
    expected_aspect = np.degrees(np.arctan2(0.3, -0.1))  # clockwise from north, downslope
    np.testing.assert_allclose(out["aspect"][inner], expected_aspect, atol=1e-3)
    # Riley TRI of a plane: sqrt(sum of squared neighbour differences)
    d = [10 * (-0.3 * dc + 0.1 * -dr) for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
    np.testing.assert_allclose(out["tri"][inner], np.sqrt(np.sum(np.square(d))), rtol=1e-4)


def test_flat_cells_are_flagged_minus_one():
    z = np.full((6, 7), 100.0, dtype=np.float32)
    out = terrain_numpy(
        z, ewres=10.0, nsres=-10.0, names=["aspect", "northness", "eastness", "plan_curvature"]
    )
    inner = (slice(1, -1), slice(1, -1))
    assert (out["aspect"][inner] == -1).all()
    assert (out["northness"][inner] == 0).all() and (out["eastness"][inner] == 0).all()
    assert (out["plan_curvature"][inner] == 0).all()


def test_curvatures_of_a_quadric_surface():
    """z = a x^2 + b y^2 + c xy + d x + e y: ZT is exact for quadrics."""
    a, b, c, d, e = 0.002, -0.001, 0.0015, 0.3, -0.2
    L = 10.0
    rows, cols = np.mgrid[0:25, 0:31]
    x, y = (cols - 15) * L, (12 - rows) * L
    z = a * x**2 + b * y**2 + c * x * y + d * x + e * y + 1000.0
    out = terrain_numpy(
        z.astype(np.float64), ewres=L, nsres=-L, names=["plan_curvature", "profile_curvature"]
    )
    p, q = 2 * a * x + c * y + d, 2 * b * y + c * x + e  # dz/dx, dz/dy
    r, s, t = 2 * a, c, 2 * b
    g2 = p**2 + q**2
    profile = (p**2 * r + 2 * p * q * s + q**2 * t) / g2  # second derivative along the gradient
    plan = -(q**2 * r - 2 * p * q * s + p**2 * t) / g2  # minus it along the contour
    inner = (slice(1, -1), slice(1, -1))
    # float32 elevations around 1000 m limit the precision of second differences
    np.testing.assert_allclose(out["profile_curvature"][inner], profile[inner], atol=2e-5)
    np.testing.assert_allclose(out["plan_curvature"][inner], plan[inner], atol=2e-5)


def test_curvature_signs_on_a_dome_follow_arcgis():
    rows, cols = np.mgrid[0:21, 0:21]
    z = (1000 - 0.01 * ((rows - 10.0) ** 2 + (cols - 10.0) ** 2) * 100).astype(np.float32)
    out = terrain_numpy(z, ewres=10.0, nsres=-10.0, names=["plan_curvature", "profile_curvature"])
    ring = ((rows - 10) ** 2 + (cols - 10) ** 2 > 4) & (rows % 20 != 0) & (cols % 20 != 0)
    assert (out["profile_curvature"][ring] < 0).all()  # upwardly convex -> negative
    assert (out["plan_curvature"][ring] > 0).all()  # sidewardly convex -> positive


def test_tpi_radius_matches_brute_force():
    rng = np.random.default_rng(3)
    z = rng.normal(1000, 20, (30, 28)).astype(np.float32)
    z[5, 7] = np.nan
    out = terrain_numpy(
        z, ewres=10.0, nsres=-10.0, names=["tpi"], tpi_radius_m=35.0, tpi_inner_radius_m=12.0
    )["tpi"]
    ref = np.full(z.shape, np.nan)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            vals = []
            ok = True
            for di in range(-4, 5):
                for dj in range(-4, 5):
                    dist = 10.0 * np.hypot(di, dj)
                    if not (12.0 < dist <= 35.0):
                        continue
                    ii, jj = i + di, j + dj
                    if not (0 <= ii < z.shape[0] and 0 <= jj < z.shape[1]) or np.isnan(z[ii, jj]):
                        ok = False
                        break
                    vals.append(float(z[ii, jj]))
                if not ok:
                    break
            if ok and not np.isnan(z[i, j]):
                ref[i, j] = float(z[i, j]) - np.mean(vals)
    np.testing.assert_allclose(out, ref, atol=1e-4)
    assert np.isnan(out).sum() == np.isnan(ref).sum() > 0


def test_tpi_radius_errors():
    with pytest.raises(ConfigError, match="factors.tpi.inner_radius_m"):
        tpi_offsets(10.0, 30.0, 30.0)
    with pytest.raises(ConfigError, match="factors.tpi.radius_m"):
        tpi_offsets(10.0, 5.0)
    assert len(tpi_offsets(10.0, None)) == 0


@pytest.mark.parametrize(
    ("shape", "chunks", "radius"),
    [((415, 383), 64, None), ((101, 77), 10, None), ((120, 131), 40, 55.0), ((65, 70), 64, 30.0)],
)
def test_chunked_equals_in_memory_for_every_factor(shape, chunks, radius, root):
    with rasterio.open(root / "resources" / "demo" / "dem.tif") as src:
        dem = src.read(1)[-shape[0] :, -shape[1] :].copy()  # includes the NaN corner
    dem[10:13, 20:22] = np.nan
    kwargs = dict(ewres=10.0, nsres=-10.0, names=TERRAIN_FACTORS, tpi_radius_m=radius)
    ref = terrain_numpy(dem, **kwargs)
    lazy = terrain_dask(da.from_array(dem, chunks=chunks), **kwargs)
    computed = da.compute(*lazy.values(), scheduler="threads", num_workers=2)
    for name, arr in zip(lazy, computed, strict=True):
        np.testing.assert_array_equal(arr, ref[name], err_msg=name)  # bit for bit, NaN == NaN


def test_nan_spreads_to_its_window_only():
    z = np.arange(100, dtype=np.float32).reshape(10, 10) * 0.7
    z[5, 5] = np.nan
    out = terrain_numpy(z, ewres=10.0, nsres=-10.0, names=["slope", "elevation"])
    nan = np.isnan(out["slope"])
    expected = np.zeros_like(nan)
    expected[0, :] = expected[-1, :] = expected[:, 0] = expected[:, -1] = True
    expected[4:7, 4:7] = True
    np.testing.assert_array_equal(nan, expected)
    assert np.isnan(out["elevation"]).sum() == 1
