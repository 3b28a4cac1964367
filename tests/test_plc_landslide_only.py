"""Landslide-only inventories: PLC negatives from the rule-based pre-classification, and a
skipped (not failing) PLC classifier when the labelled candidates cannot train it.

The candidates are 4 x 4-cell boxes on the seeded synthetic rasters of samples_synth; the
expected labels follow from how each box is placed against the inventory polygons and from
its ``precls``, not from the code under test.
"""

from __future__ import annotations

import json
import logging

import geopandas as gpd
import joblib
import numpy as np
import pandas as pd
import pytest
import shapely
from rasterio import open as rasterio_open
from samples_synth import CELL, CRS, X0, Y0, make_factors

from slidemap.config import validate_config
from slidemap.discretize import make_bins
from slidemap.errors import ConfigError
from slidemap.folds import MIN_PER_CLASS, assign_splits_or_skip
from slidemap.io import write_json
from slidemap.models.plc import RuleModel, run_plc
from slidemap.models.presets import resolve_params
from slidemap.samples import (
    FactorSet,
    make_plc_samples,
    pixel_samples,
    plc_samples,
    read_inventory,
    write_samples,
)
from slidemap.selection import make_selection, plot_correlation, plot_importance


def box(row: int, col: int, size: int = 4) -> shapely.Polygon:
    """The polygon covering cells row..row+size-1, col..col+size-1."""
    return shapely.box(
        X0 + col * CELL, Y0 - (row + size) * CELL, X0 + (col + size) * CELL, Y0 - row * CELL
    )


#: cand_id -> (row, col, precls); the comment gives the expected label and its source.
SMALL = {
    1: (30, 30, "landslide"),  # inventory polygon covers it: 1 inventory
    2: (30, 50, "vertical"),  # inventory polygon covers half of it: 1 inventory (rule ignored)
    3: (50, 30, "flat_ground"),  # unmatched, rejected: 0 rule
    4: (50, 50, "seasonal"),  # unmatched, rejected: 0 rule
    5: (70, 30, "landslide"),  # unmatched, kept by the rules: -1 none
    6: (70, 50, "upslope"),  # an inventory slide touches it by a 1 m strip (< 10 %): 0 rule
    7: (90, 30, "landslide"),  # -1 none
    8: (12, 12, "vertical"),  # inside the elevation hole: excluded (no valid cell)
}
EXPECTED = {
    1: (1, "inventory"),
    2: (1, "inventory"),
    3: (0, "rule"),
    4: (0, "rule"),
    5: (-1, "none"),
    6: (0, "rule"),
    7: (-1, "none"),
}


def candidates(spec: dict, *, with_precls: bool = True) -> gpd.GeoDataFrame:
    ids = sorted(spec)
    rng = np.random.default_rng(5)
    gdf = gpd.GeoDataFrame(
        {
            "cand_id": np.array(ids, dtype=np.int64),
            "mean_abs_v_mm_yr": rng.uniform(10, 30, len(ids)),
            "max_abs_v_mm_yr": rng.uniform(30, 60, len(ids)),
            "p_uncorrelated": rng.uniform(0, 0.3, len(ids)),
            "p_linear": rng.uniform(0.3, 0.6, len(ids)),
            "p_nonlinear": rng.uniform(0, 0.3, len(ids)),
            "v_slope_mm_yr": rng.uniform(5, 40, len(ids)),
        },
        geometry=[box(spec[i][0], spec[i][1]) for i in ids],
        crs=CRS,
    )
    if with_precls:
        gdf["precls"] = [spec[i][2] for i in ids]
        gdf["precls_landslide"] = (gdf["precls"] == "landslide").astype(np.int64)
    return gdf


def small_inventory() -> list[shapely.Polygon]:
    """Landslide polygons only: over candidates 1 and 2, and a 1 m strip on candidate 6."""
    c2 = box(30, 50)
    b6 = box(70, 50).bounds
    return [
        box(30, 30).buffer(-5.0),
        shapely.box(c2.bounds[0], c2.bounds[1], c2.centroid.x, c2.bounds[3]),
        shapely.box(b6[0], b6[1] - 100.0, b6[2], b6[1] + 1.0),
    ]


@pytest.fixture(scope="module")
def study(tmp_path_factory, schema):
    root = tmp_path_factory.mktemp("plc_only")
    make_factors(root / "factors")
    gpd.GeoDataFrame(geometry=small_inventory(), crs=CRS).to_file(root / "slides.gpkg")
    cfg = validate_config({"dem": {"path": "x"}}, schema)
    return {
        "root": root,
        "fs": FactorSet.open(root / "factors" / "factors.json"),
        "inv": read_inventory(root / "slides.gpkg", working_crs=CRS),
        "cfg": cfg,
    }


def test_rule_negatives_from_a_landslide_only_polygon_inventory(study, caplog):
    assert not (~study["inv"]["landslide"]).any()  # the inventory maps landslides only
    cands = candidates(SMALL)
    attrs = ["p_nonlinear", "precls_landslide"]  # the rule's column is never a feature
    with caplog.at_level(logging.WARNING):
        s, summary = plc_samples(study["fs"], cands, study["inv"], attributes=attrs)
    got = {
        int(r.unit_id): (int(r.label), str(r.label_source))
        for r in s[["unit_id", "label", "label_source"]].itertuples()
    }
    assert got == EXPECTED
    assert summary["label_sources"] == {"inventory": 2, "rule": 3, "unmatched": 0, "none": 2}
    assert summary["rule_negatives"] == 3 and summary["negatives_source"] == "rule"
    assert "negatives from the rule-based pre-classification" in summary["negatives"]
    assert summary["excluded"]["nodata"] == 1
    assert "precls_landslide" not in summary["features"] and "p_nonlinear" in summary["features"]
    assert "rule-based pre-classification is not a PLC feature" in caplog.text
    # the rule's columns travel with the samples as metadata
    by_id = s.set_index("unit_id")
    assert by_id.loc[3, "precls"] == "flat_ground" and by_id.loc[3, "precls_landslide"] == 0
    assert by_id.loc[2, "precls_landslide"] == 0 and by_id.loc[2, "label"] == 1


def test_inventory_non_landslides_keep_the_old_labels(study):
    """With mapped non-landslides the rules label nothing (only label_source is new)."""
    inv = study["inv"]
    stable = gpd.GeoDataFrame(
        {"landslide": [False], "inv_row": [99]}, geometry=[box(50, 30)], crs=CRS
    )
    inv2 = pd.concat([inv, stable], ignore_index=True)
    s, summary = plc_samples(study["fs"], candidates(SMALL), inv2)
    got = dict(zip(s["unit_id"], zip(s["label"], s["label_source"], strict=True), strict=True))
    assert got[3] == (0, "inventory")
    assert got[4] == (-1, "none") and got[6] == (-1, "none")
    assert got[1] == (1, "inventory") and got[2] == (1, "inventory")
    assert summary["negatives_source"] == "inventory" and summary["rule_negatives"] == 0
    # sampling.plc_unmatched: negative still makes every unmatched candidate a negative
    s0, _ = plc_samples(study["fs"], candidates(SMALL), inv, unmatched="negative")
    un = s0[~s0["unit_id"].isin([1, 2])]
    assert (un["label"] == 0).all() and (un["label_source"] == "unmatched").all()


def test_candidates_without_precls_reject_nothing(study, caplog):
    with caplog.at_level(logging.WARNING):
        s, summary = plc_samples(study["fs"], candidates(SMALL, with_precls=False), study["inv"])
    assert "no rule-based pre-classification" in caplog.text
    assert set(s.loc[s["label"] != 1, "label"]) == {-1}
    assert (s["precls_landslide"] == 1).all() and s["precls"].isna().all()
    assert not summary["precls_available"] and summary["rule_negatives"] == 0


def test_assign_splits_or_skip_reports_instead_of_raising():
    rng = np.random.default_rng(0)
    n = 40
    frame = pd.DataFrame(
        {"x_m": rng.uniform(0, 5000, n), "y_m": rng.uniform(0, 5000, n), "label": -1}
    )
    kw = dict(
        test_split_method="random",
        test_fraction=0.3,
        folds=5,
        spatial_folds="kmeans",
        block_size_m=1000.0,
        seed=1,
    )
    frame.loc[:19, "label"] = 1
    frame.loc[20:21, "label"] = 0  # 2 negatives < MIN_PER_CLASS
    out, reason = assign_splits_or_skip(frame, **kw)
    assert f"at least {MIN_PER_CLASS} of each class" in reason
    assert (out["split"] == "predict").all() and (out[["fold", "fold_random"]] == -1).all().all()
    frame.loc[20:25, "label"] = 0  # 6 negatives: the 70 % training rows hold 4 < 5 folds
    out, reason = assign_splits_or_skip(frame, **kw)
    assert "validation.folds" in reason and (out["split"] == "predict").all()
    frame.loc[20:35, "label"] = 0  # 16 negatives: splits as assign_splits does
    out, reason = assign_splits_or_skip(frame, **kw)
    assert reason is None and set(out.loc[frame["label"] >= 0, "split"]) == {"train", "test"}


def workflow_files(study, tmp_path, spec, inventory=None, *, validation=None):
    """Run the samples stage's functions as the rules do; return the file paths."""
    cfg = study["cfg"]
    cands = candidates(spec)
    cands.to_file(tmp_path / "candidates.gpkg", layer="candidates", driver="GPKG")
    fs = study["fs"]
    samples, summary = make_plc_samples(
        study["root"] / "factors" / "factors.json",
        dict(zip(fs.names, fs.paths, strict=True)),
        tmp_path / "candidates.gpkg",
        inventory or study["root"] / "slides.gpkg",
        inventory=cfg["inventory"],
        sampling=cfg["sampling"],
        validation={**cfg["validation"], **(validation or {})},
    )
    paths = {
        "samples": tmp_path / "plc.parquet",
        "summary": tmp_path / "plc_summary.json",
        "selected": tmp_path / "selected.json",
        "bins": tmp_path / "bins.json",
    }
    write_samples(samples, summary, paths["samples"], paths["summary"])
    selected, report = make_selection(
        paths["samples"],
        paths["summary"],
        selection={**cfg["selection"], "rf_trees": 20, "rf_repeats": 2},
        discretize=cfg["discretize"],
    )
    plot_correlation(report, tmp_path / "correlation.png")
    plot_importance(report, tmp_path / "importance.png")
    write_json(selected, paths["selected"])
    write_json(make_bins(paths["samples"], paths["selected"], cfg["discretize"]), paths["bins"])
    return cands, summary, report, paths


def run_classifier(study, paths, tmp_path):
    cfg = study["cfg"]
    params = resolve_params("rf", {**cfg["models"]["rf"], "preset": "seed002"}, key="models.plc")
    return run_plc(
        **paths,
        outdir=tmp_path / "models" / "plc",
        classified=tmp_path / "candidates_classified.parquet",
        algorithm="rf",
        params=params,
        seed=1,
        threads=1,
        threshold=0.5,
        classify_threshold=0.5,
        schemes=["spatial", "random"],
        log_dir=None,
    )


def test_too_few_negatives_skip_the_classifier_and_keep_the_rule(study, tmp_path, caplog):
    cands, summary, report, paths = workflow_files(study, tmp_path, SMALL)
    skipped = summary["classifier_skipped"]
    assert "rejected only 3 candidate(s)" in skipped["reason"]
    assert f"at least {MIN_PER_CLASS} of each class" in skipped["reason"]
    assert "inventory.label_column" in skipped["fix"]
    samples = pd.read_parquet(paths["samples"])
    assert (samples["split"] == "predict").all() and (samples["fold"] == -1).all()
    assert report["skipped"] == skipped["reason"]
    assert json.loads(paths["selected"].read_text())["factors"] == summary["features"]
    assert (tmp_path / "importance.png").stat().st_size > 0
    with caplog.at_level(logging.WARNING, logger="slidemap"):
        assert run_classifier(study, paths, tmp_path) == "rule"
    assert "potential-landslide classifier skipped" in caplog.text and "Fix:" in caplog.text
    out = tmp_path / "models" / "plc"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["skipped"] == skipped["reason"] and "cv" not in metrics
    assert metrics["labels"] == {"1": 2, "0": 3, "-1": 2}
    assert (out / "roc.csv").read_text().strip() == "scheme,fpr,tpr,threshold"
    preds = pd.read_parquet(out / "cv_predictions.parquet")
    assert len(preds) == 0
    assert list(preds.columns) == ["unit_id", "scheme", "fold", "label", "probability"]
    assert json.loads((out / "config.json").read_text())["skipped"] == skipped["reason"]
    model = joblib.load(out / "model.joblib")
    assert isinstance(model, RuleModel) and model.reason == skipped["reason"]
    table = pd.read_parquet(tmp_path / "candidates_classified.parquet")
    assert list(table.columns) == ["cand_id", "label", "probability", "predicted", "source"]
    # every candidate with valid cells, its rule-based class from the candidates file itself
    expected = cands.set_index("cand_id").loc[sorted(EXPECTED), "precls_landslide"]
    assert table["cand_id"].tolist() == sorted(EXPECTED)
    np.testing.assert_array_equal(table["predicted"], expected.to_numpy())
    assert table["probability"].isna().all() and (table["source"] == "rule").all()
    assert table.set_index("cand_id")["label"].to_dict() == {k: v[0] for k, v in EXPECTED.items()}


def big_spec() -> tuple[dict, list[shapely.Polygon]]:
    """30 candidates: 12 under inventory slides, 12 rejected by the rules, 6 unlabelled."""
    spec, slides = {}, []
    cid = 1
    for row in (25, 40, 55, 70, 85):
        for col in (25, 35, 45, 55, 65, 75):
            kind = cid % 5
            spec[cid] = (row, col, "vertical" if kind in (2, 3) else "landslide")
            if kind in (0, 1):
                slides.append(box(row, col).buffer(-5.0))
            cid += 1
    return spec, slides


def test_enough_rule_negatives_train_the_classifier(study, tmp_path):
    spec, slides = big_spec()
    gpd.GeoDataFrame(geometry=slides, crs=CRS).to_file(tmp_path / "slides.gpkg")
    _, summary, _, paths = workflow_files(
        study, tmp_path, spec, tmp_path / "slides.gpkg", validation={"folds": 3}
    )
    assert summary["classifier_skipped"] is None
    assert summary["label_sources"] == {"inventory": 12, "rule": 12, "unmatched": 0, "none": 6}
    assert run_classifier(study, paths, tmp_path) == "classifier"
    metrics = json.loads((tmp_path / "models" / "plc" / "metrics.json").read_text())
    assert "skipped" not in metrics and metrics["cv"]["spatial"]["n_folds"]["auc"] >= 1
    table = pd.read_parquet(tmp_path / "candidates_classified.parquet")
    assert len(table) == 30 and (table["source"] == "classifier").all()
    assert table["probability"].between(0, 1).all() and set(table["predicted"]) <= {0, 1}


def test_pixel_samples_of_a_landslide_only_polygon_inventory(study):
    fs, inv = study["fs"], study["inv"]
    s, summary = pixel_samples(fs, inv, negatives="random", negative_ratio=1.0, buffer_m=20.0)
    assert summary["positives"] == summary["negatives"] > 0
    with pytest.raises(ConfigError, match="'sampling.negatives'.*non-landslide.*random"):
        pixel_samples(fs, inv, negatives="inventory", negative_ratio=None)


def test_maps_and_report_take_the_rule_based_classes(study, tmp_path, caplog):
    from slidemap.maps.potential import potential_landslides
    from slidemap.raster import write_cog
    from slidemap.report import interactive_map, plot_map

    cands = candidates(SMALL)
    cands.to_file(tmp_path / "candidates.gpkg", layer="candidates", driver="GPKG")
    ids = sorted(EXPECTED)
    rule = cands.set_index("cand_id").loc[ids, "precls_landslide"].to_numpy()
    pd.DataFrame(
        {
            "cand_id": ids,
            "label": [EXPECTED[i][0] for i in ids],
            "probability": np.nan,
            "predicted": rule.astype(np.int8),
            "source": "rule",
        }
    ).to_parquet(tmp_path / "classified.parquet")
    fs = study["fs"]
    with rasterio_open(fs.paths[fs.names.index("slope")]) as src:
        slope = src.read(1)
    susc = np.clip(slope / 60.0, 0, 1).astype(np.float32)
    write_cog(susc, tmp_path / "susc.tif", crs=CRS, transform=fs.transform, nodata=np.nan)
    classes = np.digitize(susc, [0.2, 0.4, 0.6, 0.8]).astype(np.uint8) + 1
    write_cog(classes, tmp_path / "classes.tif", crs=CRS, transform=fs.transform, nodata=0)
    with caplog.at_level(logging.WARNING):
        gdf = potential_landslides(
            tmp_path / "candidates.gpkg",
            tmp_path / "classified.parquet",
            tmp_path / "susc.tif",
            [0.2, 0.4, 0.6, 0.8, 1.0],
            "rf",
        )
    by_id = gdf.set_index("cand_id")
    assert (by_id.loc[ids, "plc_source"] == "rule").all()
    np.testing.assert_array_equal(by_id.loc[ids, "plc_predicted"], rule)
    assert by_id.loc[8, "plc_source"] == "none" and by_id.loc[8, "plc_predicted"] == -1
    assert "1 of 8 candidates have no PLC classification" in caplog.text  # only cand 8
    plot_map(tmp_path / "classes.tif", tmp_path / "classes.png", kind="classes", candidates=gdf)
    assert (tmp_path / "classes.png").stat().st_size > 0
    interactive_map(
        tmp_path / "map.html", classes_path=tmp_path / "classes.tif", candidates=gdf, basemap=None
    )
    html = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert "rule-based, PLC classifier skipped" in html and "plc_source" in html
