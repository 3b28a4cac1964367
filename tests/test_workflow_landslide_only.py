"""The whole default demo DAG on a landslide-only polygon inventory runs to the end.

The most common inventory in practice maps landslide polygons only (no field-checked
non-landslides). The demo's configuration (config/config.yaml, with the fast-training
overlay of tests/test_workflow.py) runs with its inventory replaced by 15 m discs around the
demo's landslide points (lslpts = 1; the RBSF scars are small), written at test time, and
the pixel negatives back at their default (random cells, ratio 1: the demo's
`negatives: inventory` needs mapped non-landslides). The PLC classifier then gets its
negatives from the rule-based pre-classification of the candidates; with the few the demo's
rules reject it is skipped with a reason and the candidates keep their rule-based class, but
either way every final output must exist.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import RESULTS, make_workdir, snakemake

pytestmark = pytest.mark.workflow

MODELS = ("logistic", "rf", "xgboost", "cnn1d", "cnn2d", "rnn")


@pytest.fixture(scope="module")
def run(tmp_path_factory, root):
    """A finished run of the demo DAG with a landslide-only polygon inventory."""
    wd = make_workdir(tmp_path_factory.mktemp("landslide_only"), root)
    points = pd.read_csv(wd / "resources" / "demo" / "landslide_points.csv")
    slides = points[points["lslpts"] == 1]
    discs = gpd.GeoSeries(gpd.points_from_xy(slides["x"], slides["y"]), crs="EPSG:32717")
    gpd.GeoDataFrame(
        {"name": [f"slide {i}" for i in range(len(slides))]}, geometry=discs.buffer(15.0)
    ).to_file(wd / "resources" / "demo" / "landslide_polygons.gpkg")
    cfg_path = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    cfg["inventory"] = {"path": "resources/demo/landslide_polygons.gpkg"}
    sampling = cfg.get("sampling") or {}
    for key in ("negatives", "negative_ratio"):
        sampling.pop(key, None)
    cfg["sampling"] = sampling
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    snakemake(wd, "--cores", "2")  # asserts exit status 0
    return wd


def test_default_dag_runs_to_the_end(run):
    res = run / RESULTS
    # the inputs of the final report, and the report's interactive map itself
    assert (res / "report" / "model_comparison.csv").exists()
    assert (res / "report" / "roc.png").exists()
    assert (res / "report" / "interactive_map.html").stat().st_size > 0
    assert (res / "maps" / "potential_landslides.gpkg").exists()
    assert (res / "maps" / "best_model.json").exists()
    assert (res / "report" / "hillshade.tif").exists()
    assert (res / "maps" / "uncertainty.tif").exists()
    for model in MODELS:
        assert (res / "maps" / model / "classes.tif").exists(), model
        assert (res / "report" / "maps" / f"{model}_classes.png").exists(), model
    out = snakemake(run, "-n", "--cores", "2")
    assert "Nothing to be done" in out, out[-3000:]


def test_pixel_samples_use_random_negatives(run):
    summary = json.loads((run / RESULTS / "samples" / "pixels_summary.json").read_text())
    assert summary["inventory_non_landslides"] == 0
    assert summary["by_source"]["negative"] == summary["positives"] > 175


def test_plc_negatives_and_classifier_outcome(run):
    res = run / RESULTS
    summary = json.loads((res / "samples" / "plc_summary.json").read_text())
    assert summary["negatives_source"] == "rule"
    assert summary["labels"].get("0", 0) == summary["label_sources"]["rule"]
    samples = pd.read_parquet(res / "samples" / "plc.parquet")
    assert set(samples.loc[samples["label"] == 0, "label_source"]) <= {"rule"}
    table = pd.read_parquet(res / "hotspots" / "candidates_classified.parquet")
    assert list(table.columns) == ["cand_id", "label", "probability", "predicted", "source"]
    metrics = json.loads((res / "models" / "plc" / "metrics.json").read_text())
    cands = gpd.read_file(res / "hotspots" / "candidates.gpkg", layer="candidates")
    if "skipped" in metrics:
        assert metrics["skipped"] == summary["classifier_skipped"]["reason"]
        assert metrics["fix"]
        assert (table["source"] == "rule").all() and table["probability"].isna().all()
        if "precls_landslide" in cands.columns:
            rule = cands.set_index("cand_id").loc[table["cand_id"], "precls_landslide"]
            np.testing.assert_array_equal(table["predicted"], rule.to_numpy())
        else:  # candidates of a hot-spot stage without the pre-classification
            assert (table["predicted"] == 1).all()
        log = (res / "logs" / "train_plc" / "train_plc.log").read_text()
        assert "WARNING" in log and "classifier skipped" in log and "Fix:" in log
    else:
        assert summary["classifier_skipped"] is None and "cv" in metrics
        assert (table["source"] == "classifier").all()
    potential = gpd.read_file(res / "maps" / "potential_landslides.gpkg")
    assert set(potential["plc_source"]) <= {"rule", "classifier", "none"}


def test_snakemake_report_shows_the_plc_classifier(run, tmp_path):
    import zipfile

    snakemake(run, "--report", str(tmp_path / "report.zip"))
    archive = zipfile.ZipFile(tmp_path / "report.zip")
    names = archive.namelist()
    page = archive.read(next(n for n in names if n.endswith("report.html"))).decode("utf-8")
    assert f"{RESULTS}/models/plc/metrics.json" in page  # with its caption
    # the report embeds the PLC metrics: "skipped" and the reason when it was skipped
    embedded = [json.loads(archive.read(n)) for n in names if n.endswith("/metrics.json")]
    assert json.loads((run / RESULTS / "models" / "plc" / "metrics.json").read_text()) in embedded
