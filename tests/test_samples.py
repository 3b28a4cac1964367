"""Pixel and PLC samples on seeded synthetic rasters: values, exclusions, buffer, labels."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from numpy.testing import assert_allclose, assert_array_equal
from samples_synth import (
    CELL,
    CRS,
    X0,
    Y0,
    make_candidates,
    make_factors,
    make_inventory,
    valid_cells,
)

from slidemap.errors import ConfigError, InputDataError
from slidemap.samples import (
    FactorSet,
    feature_columns,
    pixel_samples,
    plc_samples,
    read_inventory,
    write_samples,
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    arrays = make_factors(root / "factors")
    inv_df, expected = make_inventory(root / "inventory.csv", arrays)
    cands = make_candidates(root / "candidates.gpkg")
    fs = FactorSet.open(root / "factors" / "factors.json")
    inv = read_inventory(
        root / "inventory.csv", working_crs=CRS, crs=CRS, label_column="lslpts", label_value=1
    )
    return {
        "root": root,
        "arrays": arrays,
        "inv_df": inv_df,
        "expected": expected,
        "cands": cands,
        "fs": fs,
        "inv": inv,
    }


def values_by_coordinates(fs, x, y):
    """Reference: rasterio's own point sampling by coordinates (nodata -> NaN)."""
    out = np.empty((len(x), len(fs.names)))
    for f, p in enumerate(fs.paths):
        with rasterio.open(p) as src:
            v = np.array([s[0] for s in src.sample(zip(x, y, strict=True))], dtype=np.float64)
            if src.nodata is not None and not np.isnan(src.nodata):
                v[v == src.nodata] = np.nan
        out[:, f] = v
    return out


def test_factor_set_reads_catalog(study):
    fs = study["fs"]
    assert fs.names == ["elevation", "slope", "twi", "dist_roads", "lithology"]
    assert fs.categorical == ["lithology"] and fs.cell_size_m == CELL
    rows = np.array([0, 5, 119, 50, -1, 120])
    cols = np.array([0, 7, 99, 50, 3, 3])
    v = fs.read_cells(rows, cols)
    assert_allclose(v[:4, 0], study["arrays"]["elevation"][rows[:4], cols[:4]])
    assert np.isnan(v[4:]).all()


def test_factor_set_rejects_other_grid(study, tmp_path):
    from slidemap.io import read_json, write_json
    from slidemap.raster import write_cog

    cat = read_json(study["root"] / "factors" / "factors.json")
    odd = tmp_path / "odd.tif"
    write_cog(
        np.zeros((5, 5), np.float32),
        odd,
        crs=CRS,
        transform=rasterio.transform.from_origin(X0, Y0, 20, 20),
        nodata=np.nan,
    )
    cat["factors"].append({"name": "odd", "kind": "continuous", "path": str(odd)})
    write_json(cat, tmp_path / "factors.json")
    with pytest.raises(InputDataError, match="not on the grid"):
        FactorSet.open(tmp_path / "factors.json")


def test_pixel_samples_values_exclusions_and_no_nodata(study):
    fs, inv = study["fs"], study["inv"]
    samples, summary = pixel_samples(
        fs, inv, negatives="random", negative_ratio=1.5, buffer_m=30.0, seed=4
    )
    # counted exclusions of the deliberately bad inventory points
    assert summary["excluded"]["inventory"] == study["expected"]
    n_pos = 40
    assert (samples["label"] == 1).sum() == n_pos
    assert (samples["label"] == 0).sum() == round(1.5 * n_pos)
    feats = feature_columns(samples)
    assert feats == fs.names
    vals = samples[feats].to_numpy()
    assert np.isfinite(vals).all()  # never a nodata cell
    # values equal the rasters read by coordinates (an independent path through rasterio)
    ref = values_by_coordinates(fs, samples["x_m"].to_numpy(), samples["y_m"].to_numpy())
    assert_allclose(vals, ref)
    # one sample per cell, all cells inside the grid and valid
    flat = samples["row"] * fs.width + samples["col"]
    assert flat.is_unique
    assert valid_cells(study["arrays"])[samples["row"], samples["col"]].all()
    assert samples["unit_id"].tolist() == list(range(len(samples)))
    assert set(samples["source"]) == {"inventory", "negative"}
    # positives sit in the cell of their inventory point
    pos = samples[samples["label"] == 1]
    inv_pos = study["inv_df"].iloc[:n_pos]
    r, c = fs.cells_of(inv_pos["x"].to_numpy(), inv_pos["y"].to_numpy())
    assert set(zip(r, c, strict=True)) == set(zip(pos["row"], pos["col"], strict=True))


@pytest.mark.parametrize("buffer_m", [0.0, 25.0, 120.0])
def test_random_negatives_respect_buffer(study, buffer_m):
    fs, inv = study["fs"], study["inv"]
    samples, _ = pixel_samples(fs, inv, negative_ratio=2.0, buffer_m=buffer_m, seed=11)
    neg = samples[samples["source"] == "negative"]
    assert len(neg) == 80
    positives = inv.geometry[inv["landslide"]].to_numpy()
    pts = shapely.points(neg["x_m"].to_numpy(), neg["y_m"].to_numpy())
    # brute force: every negative-positive distance
    d = shapely.distance(pts[:, None], positives[None, :])
    assert d.min() > buffer_m
    if buffer_m > 100:
        # the buffer is binding: unrestricted draws would have come closer
        free, _ = pixel_samples(fs, inv, negative_ratio=2.0, buffer_m=0.0, seed=11)
        fneg = free[free["source"] == "negative"]
        fp = shapely.points(fneg["x_m"].to_numpy(), fneg["y_m"].to_numpy())
        assert shapely.distance(fp[:, None], positives[None, :]).min() < buffer_m


def test_negatives_are_seeded(study):
    fs, inv = study["fs"], study["inv"]
    a, _ = pixel_samples(fs, inv, seed=5)
    b, _ = pixel_samples(fs, inv, seed=5)
    c, _ = pixel_samples(fs, inv, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a[["row", "col"]].equals(c[["row", "col"]])


def test_inventory_negatives(study):
    fs, inv = study["fs"], study["inv"]
    s, summary = pixel_samples(fs, inv, negatives="inventory", negative_ratio=None)
    assert (s["source"] == "inventory_negative").sum() == 80
    s2, summary2 = pixel_samples(fs, inv, negatives="inventory", negative_ratio=1.0, seed=3)
    assert (s2["source"] == "inventory_negative").sum() == 40
    assert summary2["excluded"]["inventory_negative"]["subsampled_out"] == 40
    s3, _ = pixel_samples(fs, inv, negatives="both", negative_ratio=2.5, seed=3)
    assert (s3["source"] == "inventory_negative").sum() == 80
    assert (s3["source"] == "negative").sum() == 20
    with pytest.raises(ConfigError, match="negative_ratio"):
        pixel_samples(fs, inv, negatives="random", negative_ratio=None)


def test_impossible_negative_count_is_a_config_error(study):
    with pytest.raises(ConfigError, match="buffer_m"):
        pixel_samples(study["fs"], study["inv"], negative_ratio=2.0, buffer_m=5000.0)


def test_polygon_positives_pixels_and_point(study, tmp_path):
    fs = study["fs"]
    poly = shapely.Point(X0 + 405.0, Y0 - 605.0).buffer(42.0)
    tiny = shapely.box(X0 + 801, Y0 - 301, X0 + 803, Y0 - 299)  # smaller than a cell
    gdf = gpd.GeoDataFrame({"kind": [1, 1]}, geometry=[poly, tiny], crs=CRS)
    gdf.to_file(tmp_path / "inv.gpkg")
    inv = read_inventory(tmp_path / "inv.gpkg", working_crs=CRS)
    s, _ = pixel_samples(fs, inv, polygon_positives="pixels", buffer_m=0.0)
    pos = s[s["label"] == 1]
    # reference: every cell centre inside the disc, by shapely
    rr, cc = np.mgrid[0 : fs.height, 0 : fs.width]
    xc, yc = X0 + (cc + 0.5) * CELL, Y0 - (rr + 0.5) * CELL
    inside = shapely.contains_xy(poly, xc, yc)
    expected = set(zip(rr[inside], cc[inside], strict=True)) | {(30, 80)}
    assert set(zip(pos["row"], pos["col"], strict=True)) == expected
    s2, _ = pixel_samples(fs, inv, polygon_positives="point", buffer_m=0.0)
    assert (s2["label"] == 1).sum() == 2


def test_inventory_reader_errors(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("x,y\n1,2\n3,abc\n")
    with pytest.raises(InputDataError, match="line 3"):
        read_inventory(p, working_crs=CRS)
    p.write_text("east,north\n1,2\n")
    with pytest.raises(InputDataError, match="column 'x'"):
        read_inventory(p, working_crs=CRS)
    p.write_text("x,y,ls\n1,2,TRUE\n3,4,FALSE\n")
    inv = read_inventory(p, working_crs=CRS, label_column="ls", label_value=True)
    assert inv["landslide"].tolist() == [True, False]
    lines = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 1)])], crs=CRS)
    lines.to_file(tmp_path / "l.gpkg")
    with pytest.raises(InputDataError, match="LineString"):
        read_inventory(tmp_path / "l.gpkg", working_crs=CRS)


def test_inventory_reprojection(tmp_path):
    from pyproj import Transformer

    t = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = t.transform(X0 + 500, Y0 - 500)
    p = tmp_path / "ll.csv"
    pd.DataFrame({"lon": [lon], "lat": [lat]}).to_csv(p, index=False)
    inv = read_inventory(p, working_crs=CRS, crs="EPSG:4326", x_column="lon", y_column="lat")
    assert_allclose([inv.geometry.x[0], inv.geometry.y[0]], [X0 + 500, Y0 - 500], atol=1e-3)


def test_plc_samples_zonal_statistics_and_labels(study):
    fs, cands, arrays = study["fs"], study["cands"], study["arrays"]
    # inventory: a landslide point in candidate 1, a landslide polygon overlapping cand 2 by
    # 50 % of its area, a non-landslide point in cand 3, a large landslide touching cand 4
    c = cands.set_index("cand_id").geometry
    land_poly = c[2].intersection(shapely.box(*c[2].bounds[:2], c[2].centroid.x, c[2].bounds[3]))
    b4 = c[4].bounds  # a landslide south of candidate 4 that overlaps it by a 1 m strip
    sliver = shapely.box(b4[0], b4[1] - 200.0, b4[2], b4[1] + 1.0)
    inv = gpd.GeoDataFrame(
        {"landslide": [True, True, False, True]},
        geometry=[c[1].representative_point(), land_poly, c[3].representative_point(), sliver],
        crs=CRS,
    )
    s, summary = plc_samples(fs, cands, inv, min_overlap=0.1)
    s = s.set_index("unit_id")
    assert s.loc[1, "label"] == 1 and s.loc[2, "label"] == 1 and s.loc[3, "label"] == 0
    assert s.loc[4, "label"] == -1  # overlap below 10 % of the smaller polygon
    assert (s.drop(index=[1, 2, 3])["label"] == -1).all()
    s0, _ = plc_samples(fs, cands, inv, unmatched="negative")
    assert (s0.set_index("unit_id").drop(index=[1, 2])["label"] == 0).all()
    # zonal statistics against a brute-force reference over cell centres inside the polygon
    rr, cc = np.mgrid[0 : fs.height, 0 : fs.width]
    xc, yc = X0 + (cc + 0.5) * CELL, Y0 - (rr + 0.5) * CELL
    for cid, g in c.items():
        if cid not in s.index:
            continue
        m = shapely.contains_xy(g, xc, yc)
        assert s.loc[cid, "n_cells"] == m.sum()
        for name in ("elevation", "slope", "twi", "dist_roads"):
            v = arrays[name][m].astype(np.float64)
            v = v[np.isfinite(v)]
            assert s.loc[cid, f"{name}_mean"] == pytest.approx(v.mean(), rel=1e-9)
            assert s.loc[cid, f"{name}_std"] == pytest.approx(v.std(), rel=1e-6, abs=1e-9)
        codes = arrays["lithology"][m]
        codes = codes[codes != 0]
        vals, counts = np.unique(codes, return_counts=True)
        assert s.loc[cid, "lithology_majority"] == vals[np.argmax(counts)]
        assert g.contains(shapely.Point(s.loc[cid, "x_m"], s.loc[cid, "y_m"]))
    assert summary["categorical"] == ["lithology_majority"]
    assert "p_nonlinear" in summary["features"] and "area_m2" not in summary["features"]
    assert_array_equal(s["p_nonlinear"], cands.set_index("cand_id").loc[s.index, "p_nonlinear"])


def test_plc_candidate_without_valid_cells_is_excluded(study):
    fs = study["fs"]
    hole = shapely.box(X0 + 120, Y0 - 180, X0 + 170, Y0 - 130)  # inside the elevation hole
    outside = shapely.box(X0 - 500, Y0 - 500, X0 - 400, Y0 - 400)
    cands = gpd.GeoDataFrame(
        {"cand_id": [7, 8], "p_nonlinear": [0.2, 0.3]}, geometry=[hole, outside], crs=CRS
    )
    s, summary = plc_samples(fs, cands, None, attributes=["p_nonlinear"])
    assert len(s) == 0 and summary["excluded"]["nodata"] == 2


def test_write_samples_column_order(study, tmp_path):
    from slidemap.folds import assign_splits

    s, summary = pixel_samples(study["fs"], study["inv"], seed=1)
    s = assign_splits(
        s,
        test_split_method="random",
        test_fraction=0.3,
        folds=4,
        spatial_folds="kmeans",
        block_size_m=200,
        seed=1,
    )
    write_samples(s, summary, tmp_path / "pixels.parquet", tmp_path / "pixels_summary.json")
    back = gpd.read_parquet(tmp_path / "pixels.parquet")
    assert list(back.columns[:11]) == [
        "unit_id",
        "unit",
        "label",
        "x_m",
        "y_m",
        "row",
        "col",
        "split",
        "fold",
        "fold_random",
        "source",
    ]
    assert back.crs.to_epsg() == 32717
    assert set(back["split"]) == {"train", "test"}


def test_plc_predictions_added_as_positives(study, tmp_path):
    from slidemap.samples import classified_positives

    fs, inv, cands = study["fs"], study["inv"], study["cands"]
    cands.to_file(tmp_path / "candidates.gpkg", layer="candidates", driver="GPKG")
    n = len(cands)
    pred = pd.DataFrame(
        {
            "cand_id": cands["cand_id"],
            "probability": np.linspace(0, 1, n),
            "predicted": (np.arange(n) % 3 == 0).astype(int),
        }
    )
    pred.to_parquet(tmp_path / "classified.parquet")
    plc = classified_positives(tmp_path / "classified.parquet", tmp_path / "candidates.gpkg")
    assert plc["cand_id"].tolist() == cands["cand_id"][::3].tolist()
    s, summary = pixel_samples(fs, inv, plc_positives=plc, buffer_m=20.0, seed=2)
    added = s[s["source"] == "plc"]
    assert (added["label"] == 1).all() and len(added) > 0
    # every added cell centre lies in a predicted candidate; no cell repeats an inventory one
    union = shapely.union_all(plc.geometry.to_numpy())
    assert shapely.contains_xy(union, added["x_m"], added["y_m"]).all()
    assert (s["row"] * fs.width + s["col"]).is_unique
    # random negatives keep the buffer from the added polygons too
    neg = s[s["source"] == "negative"]
    assert len(neg) == (s["label"] == 1).sum()
    assert shapely.distance(union, shapely.points(neg["x_m"], neg["y_m"])).min() > 20.0
    assert summary["plc_candidates_added"] == len(plc)
    pred.loc[0, "cand_id"] = 999
    pred.loc[0, "predicted"] = 1
    pred.to_parquet(tmp_path / "classified.parquet")
    with pytest.raises(InputDataError, match="cand_id"):
        classified_positives(tmp_path / "classified.parquet", tmp_path / "candidates.gpkg")


def test_polygon_inventory_with_labels(study, tmp_path):
    fs = study["fs"]
    land = shapely.box(X0 + 300, Y0 - 400, X0 + 340, Y0 - 360)  # 4 x 4 cells
    stable = shapely.box(X0 + 600, Y0 - 400, X0 + 620, Y0 - 380)  # 2 x 2 cells
    gdf = gpd.GeoDataFrame({"type": ["slide", "stable"]}, geometry=[land, stable], crs=CRS)
    gdf.to_file(tmp_path / "inv.gpkg")
    inv = read_inventory(
        tmp_path / "inv.gpkg", working_crs=CRS, label_column="type", label_value="slide"
    )
    assert inv["landslide"].tolist() == [True, False]
    s, _ = pixel_samples(fs, inv, negatives="inventory", negative_ratio=None)
    assert (s["label"] == 1).sum() == 16 and (s["source"] == "inventory_negative").sum() == 4
