"""Study grid, categorical and extra layers, planned factor names, the chunked COG writer."""

from __future__ import annotations

import json

import dask.array as da
import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from factor_layers import DEMO_DEM, make_layers
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject
from scipy import ndimage

from slidemap.errors import ConfigError, InputDataError
from slidemap.factors import planned_factors
from slidemap.factors.categorical import (
    read_code_table,
    write_categorical_factor,
    write_extra_factor,
    write_hardness_factor,
)
from slidemap.factors.studygrid import build_study_grid
from slidemap.io import read_json
from slidemap.raster import Grid, write_cog


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    return make_layers(tmp_path_factory.mktemp("layers"))


@pytest.fixture(scope="module")
def grid_dem(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grid")
    build_study_grid(DEMO_DEM, folder / "dem.tif", folder / "grid.json", chunk_size=128)
    return folder / "dem.tif"


def read(path):
    with rasterio.open(path) as src:
        return src.read(1), src.profile, src.tags()


# --- study grid ------------------------------------------------------------------------


def test_grid_of_a_projected_dem_is_the_dem_itself(grid_dem):
    ours, profile, _ = read(grid_dem)
    with rasterio.open(DEMO_DEM) as src:
        np.testing.assert_array_equal(ours, src.read(1))
        assert profile["transform"] == src.transform and profile["crs"] == src.crs
    info = read_json(grid_dem.parent / "grid.json")
    for key in ("crs_wkt", "epsg", "transform", "width", "height", "resolution_m"):
        assert key in info
    assert info["epsg"] == 32717 and info["resolution_m"] == 10.0
    assert info["valid_cells"] == int(np.isfinite(ours).sum())
    with rasterio.open(grid_dem) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_upsampled_grid_is_bilinear_and_chunk_independent(tmp_path):
    outs = []
    for chunk in (64, 4096):
        folder = tmp_path / str(chunk)
        build_study_grid(
            DEMO_DEM, folder / "dem.tif", folder / "g.json", resolution_m=5.0, chunk_size=chunk
        )
        outs.append(read(folder / "dem.tif")[0])
    np.testing.assert_array_equal(outs[0], outs[1])
    grid = Grid.from_raster(tmp_path / "64" / "dem.tif")
    with rasterio.open(DEMO_DEM) as src:
        dem, t = src.read(1).astype(np.float64), src.transform
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    x = grid.transform.c + (cols + 0.5) * 5.0
    y = grid.transform.f - (rows + 0.5) * 5.0
    src_col, src_row = ~t @ (x, y)
    ref = ndimage.map_coordinates(dem, [src_row - 0.5, src_col - 0.5], order=1, cval=np.nan)
    inner = np.isfinite(ref) & (src_row > 1) & (src_col > 1)
    inner &= (src_row < dem.shape[0] - 1) & (src_col < dem.shape[1] - 1)
    np.testing.assert_allclose(outs[0][inner], ref[inner], atol=1e-3)


def test_geographic_dem_goes_to_its_utm_zone(tmp_path):
    with rasterio.open(DEMO_DEM) as src:
        dem = src.read(1)[:100, :100]
    path = tmp_path / "geo.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=100,
        height=100,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(-79.09, -3.97, 1 / 3600, 1 / 3600),
        nodata=-9999,
    ) as dst:
        dst.write(np.nan_to_num(dem, nan=-9999), 1)
    grid = build_study_grid(path, tmp_path / "dem.tif", tmp_path / "g.json", chunk_size=64)
    assert grid.crs.to_epsg() == 32717
    assert 30.0 < grid.resolution_m < 31.5  # one arc second at 4 degrees south
    arr = read(tmp_path / "dem.tif")[0]
    assert np.nanmin(arr) >= np.nanmin(dem) - 1e-3 and np.nanmax(arr) <= np.nanmax(dem) + 1e-3


def test_boundary_masks_cells_outside_it(tmp_path):
    with rasterio.open(DEMO_DEM) as src:
        b, crs = src.bounds, src.crs
    circle = shapely.Point((b.left + b.right) / 2 + 3.3, (b.bottom + b.top) / 2).buffer(800)
    gpd.GeoDataFrame(geometry=[circle], crs=crs).to_file(tmp_path / "area.gpkg")
    grid = build_study_grid(
        DEMO_DEM, tmp_path / "dem.tif", tmp_path / "g.json", boundary=tmp_path / "area.gpkg"
    )
    assert grid.shape in {(160, 160), (161, 161)}  # the circle's box, snapped outwards
    with rasterio.open(DEMO_DEM) as src:
        offset = ~src.transform @ (grid.transform.c, grid.transform.f)
    np.testing.assert_allclose(offset, np.round(offset), atol=1e-6)  # on the DEM's lattice
    arr = read(tmp_path / "dem.tif")[0]
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    t = grid.transform
    inside = shapely.contains_xy(circle, t.c + (cols + 0.5) * 10, t.f - (rows + 0.5) * 10)
    np.testing.assert_array_equal(np.isfinite(arr), inside)


def test_dem_nodata_override_and_errors(tmp_path):
    z = np.full((20, 20), 500.0, dtype=np.float32)
    z[0, :] = -9999
    path = tmp_path / "nodecl.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=20,
        height=20,
        count=1,
        dtype="float32",
        crs="EPSG:32717",
        transform=from_origin(0, 10000, 10, 10),
    ) as dst:
        dst.write(z, 1)
    build_study_grid(path, tmp_path / "a.tif", tmp_path / "a.json", dem_nodata=-9999)
    assert np.isnan(read(tmp_path / "a.tif")[0][0]).all()
    nocrs = tmp_path / "nocrs.tif"
    with rasterio.open(
        nocrs,
        "w",
        driver="GTiff",
        width=20,
        height=20,
        count=1,
        dtype="float32",
        transform=from_origin(0, 10000, 10, 10),
    ) as dst:
        dst.write(z, 1)
    with pytest.raises(InputDataError, match="no coordinate reference system"):
        build_study_grid(nocrs, tmp_path / "b.tif", tmp_path / "b.json")
    allnd = tmp_path / "allnd.tif"
    with rasterio.open(path) as src:
        profile = src.profile
    with rasterio.open(allnd, "w", **profile) as dst:
        dst.write(np.full((20, 20), -9999, dtype=np.float32), 1)
    with pytest.raises(InputDataError, match="no valid elevation"):
        build_study_grid(allnd, tmp_path / "c.tif", tmp_path / "c.json", dem_nodata=-9999)
    assert not (tmp_path / "c.tif").exists()


# --- categorical and extra layers --------------------------------------------------------


def test_categorical_raster_is_nearest_neighbour(tmp_path, layers, grid_dem):
    codes = write_categorical_factor(
        layers["lithology"],
        grid_dem,
        tmp_path / "lith.tif",
        name="lithology",
        codes_path=layers["lithology_codes"],
        chunk_size=100,
        threads=2,
    )
    assert codes == {
        1: "granite",
        2: "gneiss",
        3: "sandstone",
        4: "mudstone",
        5: "quaternary sediments",
    }
    ours, profile, tags = read(tmp_path / "lith.tif")
    assert profile["dtype"] == "uint8" and profile["nodata"] == 0
    assert json.loads(tags["codes"])["5"] == "quaternary sediments"
    dem = read(grid_dem)[0]
    with rasterio.open(layers["lithology"]) as src:
        lith, lt = src.read(1), src.transform
    g = Grid.from_raster(grid_dem)
    rows, cols = np.mgrid[0 : g.height, 0 : g.width]
    sc, sr = ~lt @ (g.transform.c + (cols + 0.5) * 10, g.transform.f - (rows + 0.5) * 10)
    ref = lith[np.floor(sr).astype(int), np.floor(sc).astype(int)].astype(int)
    ref[np.isnan(dem)] = 0
    np.testing.assert_array_equal(ours, ref)


def test_categorical_polygons_cell_centre_in_polygon(tmp_path, layers, grid_dem):
    write_categorical_factor(
        layers["landuse"],
        grid_dem,
        tmp_path / "lu.tif",
        name="landuse",
        attribute="lu",
        codes_path=layers["landuse_codes"],
        chunk_size=64,
    )
    ours = read(tmp_path / "lu.tif")[0]
    dem = read(grid_dem)[0]
    g = Grid.from_raster(grid_dem)
    polys = gpd.read_file(layers["landuse"])
    rows, cols = np.mgrid[0 : g.height, 0 : g.width]
    x, y = g.transform.c + (cols + 0.5) * 10, g.transform.f - (rows + 0.5) * 10
    ref = np.zeros(g.shape, dtype=int)
    for code, poly in zip(polys["lu"], polys.geometry, strict=True):
        ref[shapely.contains_xy(poly, x, y)] = code
    ref[np.isnan(dem)] = 0
    np.testing.assert_array_equal(ours, ref)
    with pytest.raises(ConfigError, match="layers.landuse.attribute"):
        write_categorical_factor(layers["landuse"], grid_dem, tmp_path / "x.tif", name="landuse")


def test_unknown_codes_are_input_errors(tmp_path, layers, grid_dem):
    table = tmp_path / "codes.csv"
    table.write_text("code,name\n1,granite\n2,gneiss\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"codes \[3, 4, 5\].*not in the code table"):
        write_categorical_factor(
            layers["lithology"], grid_dem, tmp_path / "l.tif", name="lithology", codes_path=table
        )
    zeros = tmp_path / "zeros.tif"
    with rasterio.open(layers["lithology"]) as src:
        profile = src.profile
        data = src.read(1)
    profile.update(nodata=None)
    with rasterio.open(zeros, "w", **profile) as dst:
        dst.write(np.where(data == 3, 0, data), 1)
    with pytest.raises(InputDataError, match="not class codes"):
        write_categorical_factor(zeros, grid_dem, tmp_path / "z.tif", name="lithology")


def test_code_table_errors_name_row_and_column(tmp_path):
    cases = {
        "code,label\n1,a\n": "column 'name'",
        "code,name\n1,a\n1,b\n": "line 3, column 'code'",
        "code,name\n0,a\n": "line 2, column 'code'",
        "code,name,hardness\n1,a,hard\n2,b,rock\n": "line 3, column 'hardness'",
    }
    for i, (text, where) in enumerate(cases.items()):
        path = tmp_path / f"t{i}.csv"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InputDataError, match=where):
            read_code_table(path, key="layers.lithology.codes")
    path = tmp_path / "nohard.csv"
    path.write_text("code,name,hardness\n1,a,hard\n2,b,\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="line 3, column 'hardness'"):
        read_code_table(path, key="layers.lithology.codes", need_hardness=True)


def test_hardness_groups_lithology(tmp_path, layers, grid_dem):
    write_categorical_factor(
        layers["lithology"],
        grid_dem,
        tmp_path / "lith.tif",
        name="lithology",
        codes_path=layers["lithology_codes"],
    )
    write_hardness_factor(tmp_path / "lith.tif", layers["lithology_codes"], tmp_path / "h.tif")
    lith = read(tmp_path / "lith.tif")[0]
    hard, profile, tags = read(tmp_path / "h.tif")
    expected = np.array([0, 1, 1, 2, 3, 4])[lith]  # granite, gneiss hard; ...; sediments soft
    np.testing.assert_array_equal(hard, expected)
    assert json.loads(tags["codes"]) == {"1": "hard", "2": "sub-hard", "3": "sub-soft", "4": "soft"}


def test_extra_layer_is_bilinear_like_gdal(tmp_path, layers, grid_dem):
    write_extra_factor(layers["rain"], grid_dem, tmp_path / "rain.tif", name="rain", chunk_size=50)
    ours, profile, tags = read(tmp_path / "rain.tif")
    assert tags["unit"] == "mm/yr" and profile["dtype"] == "float32"
    g = Grid.from_raster(grid_dem)
    ref = np.full(g.shape, np.nan, dtype=np.float32)
    with rasterio.open(layers["rain"]) as src:
        reproject(
            rasterio.band(src, 1),
            ref,
            dst_transform=g.transform,
            dst_crs=g.crs,
            resampling=Resampling.bilinear,
            dst_nodata=np.nan,
        )
    dem = read(grid_dem)[0]
    valid = np.isfinite(dem) & np.isfinite(ref)
    np.testing.assert_allclose(ours[valid], ref[valid], rtol=1e-4)
    assert np.isnan(ours[np.isnan(dem)]).all()


# --- factor names ---------------------------------------------------------------------------


def test_planned_factors():
    cfg = {
        "layers": {
            "faults": "f.gpkg",
            "lithology": {"path": "l.tif", "codes": "c.csv", "hardness": True},
            "landuse": {"path": None},
            "extra": {"rain": "r.tif", "ndvi": "n.tif"},
        },
        "factors": {"terrain": ["slope", "elevation"]},
    }
    assert planned_factors(cfg) == [
        "elevation",
        "slope",
        "sca",
        "twi",
        "spi",
        "dist_faults",
        "dist_rivers",
        "lithology",
        "hardness",
        "ndvi",
        "rain",
    ]
    assert "roughness" in planned_factors({})
    with pytest.raises(ConfigError, match="layers.extra.slope"):
        planned_factors({"layers": {"extra": {"slope": "s.tif"}}})
    with pytest.raises(ConfigError, match="layers.lithology.codes"):
        planned_factors({"layers": {"lithology": {"path": "l.tif", "hardness": True}}})
    with pytest.raises(ConfigError, match="factors.terrain"):
        planned_factors({"factors": {"terrain": ["slop"]}})


# --- chunked COG writer -------------------------------------------------------------------


@pytest.mark.parametrize("compress", ["deflate", "zstd"])
def test_chunked_cog_writer_streams_blocks_and_writes_a_cog(tmp_path, compress):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(700, 530)).astype(np.float32)
    data[:5] = np.nan
    path = tmp_path / "x.tif"
    write_cog(
        da.from_array(data, chunks=(200, 150)),
        path,
        crs="EPSG:32717",
        transform=from_origin(0, 0, 10, 10),
        nodata=np.nan,
        tags={"unit": "m"},
        threads=2,
        compress=compress,
    )
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(src.read(1), data)
        assert src.tags()["unit"] == "m" and src.overviews(1)
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.compression.name.lower() == compress
    assert [p.name for p in tmp_path.iterdir()] == ["x.tif"]  # no temporary file left
