"""Map prediction and SHAP with the real model bundles of every algorithm (models stage).

Skipped where ``slidemap.models`` has no bundles yet (before the stages are merged).
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from maps_standins import CATEGORICAL, FACTORS, factor_stack, make_factors, make_samples, patches_at
from numpy.testing import assert_allclose

from slidemap.explain import explain_bundle
from slidemap.maps.predict import (
    TileLayout,
    estimate_grid_shape,
    mosaic_tiles,
    predict_tile,
    tile_counts,
)

ALGORITHMS = ["logistic", "rf", "xgboost", "cnn1d", "cnn2d", "rnn"]
QUICK = {
    "logistic": {},
    "rf": {"n_estimators": 30, "max_depth": 6},
    "xgboost": {"n_estimators": 30, "max_depth": 3},
    "cnn1d": {"max_epochs": 3, "patience": None},
    "cnn2d": {"max_epochs": 3, "patience": None},
    "rnn": {"max_epochs": 3, "patience": None},
}
PATCH = 5


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("factors")
    arrays = make_factors(folder, height=41, width=47, seed=3)
    samples = make_samples(arrays, n=160, seed=2)
    stack = factor_stack(arrays)
    # a learnable label: steep, wet cells slide
    z = stack[1, samples["row"], samples["col"]] / 10 - stack[2, samples["row"], samples["col"]] / 4
    samples["label"] = (z > np.median(z)).astype(int)
    return folder, arrays, samples, stack


def _bundle(algorithm, stack, samples):
    from slidemap.models.base import FactorPreprocessor, ModelBundle
    from slidemap.models.registry import estimator_class

    cls = estimator_class(algorithm)
    rows, cols = samples["row"].to_numpy(), samples["col"].to_numpy()
    centre = stack[:, rows, cols].T
    X = patches_at(stack, rows, cols, PATCH) if cls.input_kind == "patch" else centre
    pre = FactorPreprocessor(
        FACTORS, CATEGORICAL, standardize=cls.standardize, onehot=cls.onehot
    ).fit(centre)
    est = cls(QUICK[algorithm]).fit(pre.transform(X), samples["label"].to_numpy(), seed=0)
    patch = PATCH if cls.input_kind == "patch" else None
    return ModelBundle(algorithm, pre, est, patch_size=patch), X


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_real_bundle_map_at_samples_equals_predict_proba(study, tmp_path, algorithm):
    folder, _, samples, stack = study
    bundle, X = _bundle(algorithm, stack, samples)
    bundle.save(tmp_path / "model.joblib")
    bundle = type(bundle).load(tmp_path / "model.joblib")
    bundle.set_threads(2)  # the map job's threads: factors read and trees walked in parallel
    h, w = estimate_grid_shape(folder / "dem.tif")
    n_rows, n_cols = tile_counts(h, w, 16)
    layout = TileLayout(h, w, n_rows, n_cols)
    tiles = []
    for tid in layout.tile_ids:
        tiles.append(tmp_path / f"{tid}.tif")
        predict_tile(bundle, folder, folder / "dem.tif", n_rows, n_cols, tid, tiles[-1])
    mosaic_tiles(tiles, folder / "dem.tif", n_rows, n_cols, tmp_path / "s.tif")
    with rasterio.open(tmp_path / "s.tif") as src:
        xy = zip(samples["x_m"], samples["y_m"], strict=True)
        got = np.array([v[0] for v in src.sample(xy)])
    want = bundle.predict_proba(X)
    assert np.isfinite(want).all()
    # the map is float32, predict_proba float64
    assert_allclose(got, want, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize(
    ("algorithm", "method"),
    [("rf", "tree_path_dependent"), ("xgboost", "tree_interventional"), ("cnn2d", "gradient"),
     ("rnn", "gradient"), ("logistic", "kernel")],
)  # fmt: skip
def test_real_bundle_shap_dispatch_and_local_accuracy(study, algorithm, method):
    _, _, samples, stack = study
    bundle, X = _bundle(algorithm, stack, samples)
    res = explain_bundle(bundle, X[:20], X[100:130], seed=0, kernel_nsamples=300)
    assert res.method == method
    assert res.values.shape == (20, len(FACTORS))
    if method.startswith("tree"):
        assert_allclose(res.base_value + res.values.sum(1), res.prediction, atol=1e-4)
    else:  # sampling explainers: additivity only approximately
        err = np.abs(res.base_value + res.values.sum(1) - res.prediction)
        assert err.mean() < 0.05
