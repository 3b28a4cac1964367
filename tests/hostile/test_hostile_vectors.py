"""Hostile vector layers (issue 17, item 3): invalid geometries repaired, empty/null/wrong-type
features and features outside the study area counted by reason and warned about; an empty
layer or a layer whose CRS is wrong is an error naming the file and the config key.

Expectations are independent: shapely's own validity and areas, and counts of the features
written into each spoiled file.
"""

from __future__ import annotations

import json
import logging

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from slidemap.errors import InputDataError
from slidemap.factors.categorical import categorical_on_grid
from slidemap.factors.distance import write_distance_factor
from slidemap.factors.studygrid import build_study_grid
from slidemap.inputs import read_vector
from slidemap.raster import Grid
from slidemap.samples import read_inventory

UTM = "EPSG:32717"
X0, Y0 = 700_000.0, 9_560_000.0
BOX = shapely.box(X0, Y0 - 400.0, X0 + 500.0, Y0)  # the DEM's extent (40 x 50 cells of 10 m)

BOWTIE = shapely.Polygon(
    [(X0 + 100, Y0 - 100), (X0 + 200, Y0 - 200), (X0 + 200, Y0 - 100), (X0 + 100, Y0 - 200)]
)
SQUARE = shapely.box(X0 + 300, Y0 - 300, X0 + 350, Y0 - 250)


def write_dem(path, values):
    """Write a float32 DEM (10 m cells, north-west corner X0, Y0) in the working CRS."""
    values = np.asarray(values, dtype="float32")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=values.shape[1],
        height=values.shape[0],
        count=1,
        dtype="float32",
        crs=UTM,
        transform=from_origin(X0, Y0, 10.0, 10.0),
    ) as dst:
        dst.write(values, 1)
    return path


@pytest.fixture
def dem(tmp_path):
    """A clean study grid DEM (10 m, 40 x 50 cells)."""
    r, c = np.mgrid[0:40, 0:50]
    src = tmp_path / "src.tif"
    write_dem(src, (1000.0 + 3 * r + c).astype("float32"))
    out = tmp_path / "dem.tif"
    build_study_grid(src, out, tmp_path / "grid.json", chunk_size=32)
    return out


def save(path, geoms, crs=UTM, **cols):
    gpd.GeoDataFrame(cols, geometry=list(geoms), crs=crs).to_file(path)
    return path


def test_self_intersecting_inventory_polygon_is_repaired_and_counted(tmp_path, caplog):
    assert not BOWTIE.is_valid
    path = save(tmp_path / "inv.gpkg", [BOWTIE, SQUARE])
    with caplog.at_level(logging.WARNING, logger="slidemap.inputs"):
        inv = read_inventory(path, working_crs=UTM)
    assert inv.geometry.is_valid.all()
    # the bow tie's two triangles: 2 x (100 x 50 / 2)
    assert inv.geometry.area.sum() == pytest.approx(5000.0 + SQUARE.area)
    assert inv.attrs["read_counts"]["repaired"] == 1
    assert inv.attrs["read_counts"]["kept"] == 2
    assert "1 invalid geometries repaired" in caplog.text and "inventory.path" in caplog.text


def test_empty_and_null_inventory_geometries_are_counted_not_silently_dropped(tmp_path, caplog):
    path = save(tmp_path / "inv.gpkg", [SQUARE, shapely.Polygon(), None, BOWTIE.buffer(0)])
    with caplog.at_level(logging.WARNING, logger="slidemap.inputs"):
        inv = read_inventory(path, working_crs=UTM)
    counts = inv.attrs["read_counts"]
    assert counts["read"] == 4 and counts["empty_or_null"] == 2 and counts["kept"] == 2
    assert sorted(inv["inv_row"].unique().tolist()) == [0, 3]  # positions in the file
    assert "2 empty or null geometries dropped" in caplog.text


def test_lines_among_inventory_polygons_are_counted_as_wrong_type(tmp_path, caplog):
    line = shapely.LineString([(X0 + 10, Y0 - 10), (X0 + 90, Y0 - 90)])
    path = save(tmp_path / "inv.gpkg", [SQUARE, line, BOWTIE.buffer(0)])
    with caplog.at_level(logging.WARNING, logger="slidemap.inputs"):
        inv = read_inventory(path, working_crs=UTM)
    assert inv.attrs["read_counts"]["wrong_type"] == 1
    assert set(inv.geom_type) == {"Polygon"}
    assert "LineString" in caplog.text


def test_inventory_with_zero_features_names_the_file_and_key(tmp_path):
    path = save(tmp_path / "inv.gpkg", [SQUARE]).parent / "empty.gpkg"
    gpd.GeoDataFrame(geometry=[], crs=UTM).to_file(path)
    with pytest.raises(InputDataError) as info:
        read_inventory(path, working_crs=UTM)
    text = str(info.value)
    assert str(path) in text and "no features" in text and "inventory.path" in text
    assert "<input>" not in text


@pytest.mark.parametrize(
    ("content", "said", "line"),
    [
        (b"", "empty", None),
        (b"  \n\n", "empty", None),
        (b"x,y,lslpts\n", "header line but no rows", 2),
        (b"x,y,lslpts\n700100,9559900,1,\xe9\n", "not valid UTF-8", None),
        (b"x,y,lslpts\n700100,9559900,1\n700200,9559800,0,7,8\n", "not a readable CSV", None),
    ],
    ids=["empty", "blank-lines", "header-only", "latin-1", "ragged"],
)
def test_unreadable_or_empty_inventory_csv_names_the_file_and_key(tmp_path, content, said, line):
    path = tmp_path / "inventory.csv"
    path.write_bytes(content)
    with pytest.raises(InputDataError) as info:
        read_inventory(path, working_crs=UTM, label_column="lslpts")
    text = str(info.value)
    assert str(path) in text and said in text and "inventory.path" in text
    assert info.value.row == line


def test_inventory_of_only_empty_geometries_is_an_error_with_the_counts(tmp_path):
    path = save(tmp_path / "inv.gpkg", [shapely.Polygon(), None])
    with pytest.raises(InputDataError, match="no usable geometry.*2 empty or null"):
        read_inventory(path, working_crs=UTM)


def test_roads_with_a_wrong_crs_is_an_error_naming_file_and_key(tmp_path, dem):
    # metres labelled as degrees: not finite once reprojected to UTM
    road = shapely.LineString([(X0, Y0 - 50), (X0 + 400, Y0 - 350)])
    path = save(tmp_path / "roads.gpkg", [road], crs="EPSG:4326")
    with pytest.raises(InputDataError) as info:
        write_distance_factor(
            path, dem, tmp_path / "dist_roads.tif", name="dist_roads", key="layers.roads"
        )
    text = str(info.value)
    assert str(path) in text and "layers.roads" in text and "not finite" in text
    assert "ogr2ogr -a_srs" in text
    assert not (tmp_path / "dist_roads.tif").exists()


def test_distance_layer_counts_features_outside_and_repairs_invalid(tmp_path, dem, caplog):
    far = shapely.LineString([(X0 + 5000, Y0 - 50), (X0 + 5100, Y0 - 50)])
    inside = shapely.LineString([(X0, Y0 - 205), (X0 + 500, Y0 - 205)])
    path = save(tmp_path / "faults.gpkg", [inside, far, None, BOWTIE])
    out = tmp_path / "dist_faults.tif"
    with caplog.at_level(logging.WARNING, logger="slidemap.inputs"):
        write_distance_factor(path, dem, out, name="dist_faults", key="layers.faults")
    with rasterio.open(out) as src:
        counts = json.loads(src.tags()["features"])
        dist = src.read(1)
    assert counts == {
        "read": 4,
        "repaired": 1,
        "empty_or_null": 1,
        "wrong_type": 0,
        "outside_study_area": 1,
        "kept": 3,
    }
    # the repaired bow tie still sets distances: 0 on its cells
    assert np.nanmin(dist[10:20, 10:20]) == 0.0
    assert "1 features outside the study area" in caplog.text


def test_boundary_with_a_self_intersection_is_repaired(tmp_path, caplog):
    r, c = np.mgrid[0:40, 0:50]
    src = tmp_path / "src.tif"
    write_dem(src, (1000.0 + r + c).astype("float32"))
    path = save(tmp_path / "boundary.gpkg", [BOWTIE])
    with caplog.at_level(logging.WARNING, logger="slidemap.inputs"):
        grid = build_study_grid(src, tmp_path / "d.tif", tmp_path / "g.json", boundary=path)
    assert grid.width == 10 and grid.height == 10
    with rasterio.open(tmp_path / "d.tif") as ds:
        valid = np.isfinite(ds.read(1)).sum()
    # cell centres inside the two triangles (10 x 10 cells, the diagonals excluded/included)
    assert 40 <= valid <= 60
    assert "study_area.boundary" in caplog.text


def test_boundary_layer_with_zero_features_is_an_error(tmp_path):
    src = tmp_path / "src.tif"
    write_dem(src, np.full((5, 5), 100.0, "float32"))
    path = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame(geometry=[], crs=UTM).to_file(path)
    with pytest.raises(InputDataError, match="no features.*study_area.boundary"):
        build_study_grid(src, tmp_path / "d.tif", tmp_path / "g.json", boundary=path)


def test_lithology_polygons_with_an_invalid_one_are_rasterised_repaired(tmp_path, dem):
    path = save(tmp_path / "litho.gpkg", [BOWTIE, SQUARE], code=[3, 5])
    grid = Grid.from_raster(dem)
    codes = np.asarray(
        categorical_on_grid(path, grid, key="layers.lithology", attribute="code", chunk_size=32)
    )
    assert set(np.unique(codes[np.isfinite(codes)]).tolist()) == {3.0, 5.0}
    # independent reference: shapely's cell-centre-in-polygon test on the repaired bow tie
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    x = grid.transform.c + (cols + 0.5) * grid.transform.a
    y = grid.transform.f + (rows + 0.5) * grid.transform.e
    # (centres on the triangles' edges may go either way: GDAL's rasteriser takes some)
    repaired = shapely.make_valid(BOWTIE)
    inside = shapely.contains_xy(repaired, x, y)
    touching = shapely.intersects_xy(repaired, x, y)
    assert inside.sum() == 40
    assert np.all(inside <= (codes == 3.0)) and np.all((codes == 3.0) <= touching)


def test_unreadable_vector_is_an_error_naming_file_and_key(tmp_path):
    path = tmp_path / "roads.gpkg"
    path.write_bytes(b"not a geopackage")
    with pytest.raises(InputDataError) as info:
        read_vector(path, "layers.roads", UTM)
    assert str(path) in str(info.value) and "layers.roads" in str(info.value)


def test_layer_in_the_working_crs_written_differently_is_not_reprojected(tmp_path, monkeypatch):
    """A layer whose CRS equals the grid's but is spelt otherwise (EPSG code in the file, WKT
    from the raster) keeps its coordinates bit for bit and never goes through PROJ (an
    identity reprojection copied every vertex twice: 5.2 GB for a national stream network).
    """
    rng = np.random.default_rng(3)
    xy = np.column_stack([X0 + rng.uniform(0, 500, 300), Y0 - rng.uniform(0, 400, 300)])
    lines = [shapely.LineString(xy[i : i + 3]) for i in range(0, 300, 3)]
    path = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame(geometry=lines, crs=UTM).to_file(path)
    wkt = rasterio.crs.CRS.from_string(UTM).to_wkt()  # what Grid.from_raster gives
    assert not gpd.GeoSeries(crs=UTM).crs.is_exact_same(wkt)  # geopandas would reproject

    def no_reprojection(self, *args, **kwargs):
        raise AssertionError("to_crs called for an equivalent CRS")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_crs", no_reprojection)
    gdf, counts = read_vector(path, "layers.roads", wkt)
    assert counts.kept == 100
    assert gdf.crs == gpd.GeoSeries(crs=UTM).crs
    np.testing.assert_array_equal(shapely.get_coordinates(gdf.geometry.to_numpy()), xy)


def test_layer_in_another_crs_is_still_reprojected(tmp_path):
    """Geographic coordinates are reprojected to the working CRS (pyproj as the reference)."""
    from pyproj import Transformer

    lon, lat = np.array([-78.9, -78.8]), np.array([-3.9, -3.95])
    path = tmp_path / "roads.gpkg"
    line = shapely.LineString(np.column_stack([lon, lat]))
    gpd.GeoDataFrame(geometry=[line], crs="EPSG:4326").to_file(path)
    gdf, _ = read_vector(path, "layers.roads", rasterio.crs.CRS.from_string(UTM).to_wkt())
    x, y = Transformer.from_crs("EPSG:4326", UTM, always_xy=True).transform(lon, lat)
    np.testing.assert_allclose(
        shapely.get_coordinates(gdf.geometry.to_numpy()), np.column_stack([x, y]), atol=1e-6
    )


def test_non_finite_vertex_count_in_batches_equals_the_whole_count():
    """_non_finite_vertices in batches of 7 geometries == one count over all vertices."""
    from slidemap.inputs import _non_finite_vertices

    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 100, (200, 2))
    xy[[4, 50, 51, 199], [0, 1, 0, 1]] = [np.nan, np.inf, -np.inf, np.nan]
    lines = np.array([shapely.LineString(xy[i : i + 4]) for i in range(0, 200, 4)], dtype=object)
    whole = int((~np.isfinite(shapely.get_coordinates(lines)).all(axis=1)).sum())
    assert whole == 4
    assert _non_finite_vertices(lines, batch=7) == (4, 200)


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson"])
def test_layer_read_in_batches_equals_one_read(tmp_path, suffix):
    """A layer read 7 features at a time == geopandas.read_file of the whole file (rows,
    order, index, columns, dtypes, CRS), for a GeoPackage, a shapefile and GeoJSON."""
    from geopandas.testing import assert_geodataframe_equal

    from slidemap.inputs import _read_in_batches

    rng = np.random.default_rng(11)
    n = 30
    lines = [
        shapely.LineString(
            np.column_stack([X0 + rng.uniform(0, 500, 4), Y0 - rng.uniform(0, 400, 4)])
        )
        for _ in range(n)
    ]
    frame = gpd.GeoDataFrame(
        {
            "name": [None if i % 5 == 0 else f"road {i}" for i in range(n)],
            "lanes": np.arange(n, dtype=np.int64),
            "width_m": rng.uniform(3, 12, n),
        },
        geometry=lines,
        crs=UTM,
    )
    path = tmp_path / f"roads{suffix}"
    frame.to_file(path)
    whole = gpd.read_file(path)
    batched = _read_in_batches(path, batch=7)
    assert len(batched) == n
    assert_geodataframe_equal(batched, whole, check_like=False)


def test_read_vector_in_batches_counts_as_one_read(tmp_path, monkeypatch, caplog):
    """read_vector with 4-feature batches: the same kept features, feature numbers and counts
    as with one read (an empty and an invalid geometry in different batches)."""
    import slidemap.inputs as inputs

    geoms = [BOWTIE, SQUARE, shapely.Polygon(), SQUARE.buffer(5), BOWTIE.buffer(0), SQUARE] * 3
    path = tmp_path / "lithology.gpkg"
    gpd.GeoDataFrame({"code": np.arange(len(geoms))}, geometry=geoms, crs=UTM).to_file(path)
    one, one_counts = read_vector(path, "layers.lithology.path", UTM)
    monkeypatch.setattr(inputs, "READ_BATCH_FEATURES", 4)
    calls = []
    real = gpd.read_file
    monkeypatch.setattr(gpd, "read_file", lambda *a, **k: calls.append(k) or real(*a, **k))
    batched, batched_counts = read_vector(path, "layers.lithology.path", UTM)
    assert len(calls) == 5  # 18 features, 4 at a time
    assert batched_counts == one_counts and one_counts.empty_or_null == 3
    assert batched["feature"].tolist() == one["feature"].tolist()
    assert shapely.equals(batched.geometry.to_numpy(), one.geometry.to_numpy()).all()
