"""SHAP explanations: exact values of additive models, tree explainers vs exact kernel SHAP."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from slidemap.explain import (
    explain_bundle,
    factor_values,
    mean_abs_table,
    plot_dependence,
    plot_summary,
)


def _g(X):
    """Additive parts g_j(x_j) of the stand-in model (probability units)."""
    x = np.asarray(X, dtype=np.float64)
    return np.stack(
        [
            0.2 / (1 + np.exp(-x[:, 0])),
            0.1 * np.tanh(x[:, 1]) + 0.1,
            0.15 * x[:, 2] ** 2 / (1 + x[:, 2] ** 2),
            0.3 * (x[:, 3] > 0),
        ],
        axis=1,
    )


class AdditiveBundle:
    """P = sum_j g_j(x_j): interventional SHAP is g_j(x_j) - mean over background g_j(b_j)."""

    factors = ["a", "b", "c", "d"]

    def predict_proba(self, X):
        return _g(X).sum(axis=1)


class AdditivePatchBundle:
    """3 x 3 patch model: P = sum_j g_j(mean of the patch of factor j)."""

    factors = ["a", "b", "c", "d"]
    patch_size = 3

    def predict_proba(self, P):
        return _g(np.asarray(P, dtype=np.float64).mean(axis=(2, 3))).sum(axis=1)


def test_kernel_shap_of_additive_model_is_exact():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    B = rng.normal(size=(15, 4))
    res = explain_bundle(AdditiveBundle(), X, B, seed=1)
    assert res.method == "kernel"
    want = _g(X.astype(np.float32)) - _g(B.astype(np.float32)).mean(axis=0)
    assert_allclose(res.values, want, atol=1e-6)
    assert_allclose(res.base_value + res.values.sum(axis=1), res.prediction, atol=1e-6)


def test_kernel_shap_of_patch_model_attributes_whole_factor_channels():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 4, 3, 3)).astype(np.float32)
    B = rng.normal(size=(10, 4, 3, 3)).astype(np.float32)
    res = explain_bundle(AdditivePatchBundle(), X, B, seed=1)
    want = _g(X.astype(np.float64).mean(axis=(2, 3))) - _g(
        B.astype(np.float64).mean(axis=(2, 3))
    ).mean(axis=0)
    assert_allclose(res.values, want, atol=1e-6)
    assert_allclose(factor_values(X), X[:, :, 1, 1])


class _Estimator:
    def __init__(self, model):
        self.model = model

    def predict_proba(self, Z):
        return self.model.predict_proba(Z)[:, 1]


class TreeBundle:
    """A bundle around a fitted sklearn forest / XGBoost model on raw values."""

    def __init__(self, model, factors):
        self.estimator = _Estimator(model)
        self.factors = factors
        self.feature_names = factors

    def transform(self, X):
        return np.asarray(X, dtype=np.float32)

    def predict_proba(self, X):
        return self.estimator.predict_proba(self.transform(X))


def _tree_data(seed=0, n=600):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 + rng.normal(0, 0.5, n) > 0.5).astype(int)
    return X, y


def brute_force_shapley(f, x, background):
    """Exact interventional Shapley values of f at x: v(S) = mean_b f(x_S, b_rest)."""
    F = x.size
    v = {}
    for r in range(F + 1):
        for S in itertools.combinations(range(F), r):
            Z = background.copy()
            Z[:, list(S)] = x[list(S)]
            v[S] = f(Z).mean()
    phi = np.zeros(F)
    for j in range(F):
        for S, val in v.items():
            if j in S:
                continue
            w = math.factorial(len(S)) * math.factorial(F - len(S) - 1) / math.factorial(F)
            phi[j] += w * (v[tuple(sorted((*S, j)))] - val)
    return phi


def test_xgboost_tree_shap_and_kernel_shap_equal_brute_force_shapley():
    import xgboost as xgb

    X, y = _tree_data()
    model = xgb.XGBClassifier(n_estimators=40, max_depth=3, random_state=0, n_jobs=1).fit(X, y)
    bundle = TreeBundle(model, ["a", "b", "c", "d"])
    B = X[100:130]
    tree = explain_bundle(bundle, X[:6], B, seed=0)
    kern = explain_bundle(bundle, X[:6], B, seed=0, method="kernel")
    assert tree.method == "tree_interventional" and tree.output == "log-odds"
    assert kern.output == "probability"
    margin = lambda Z: model.predict(Z, output_margin=True)  # noqa: E731
    for i in range(6):
        assert_allclose(tree.values[i], brute_force_shapley(margin, X[i], B), atol=1e-5)
        want = brute_force_shapley(bundle.predict_proba, X[i], B)
        assert_allclose(kern.values[i], want, atol=1e-6)
    assert_allclose(tree.base_value + tree.values.sum(1), tree.prediction, atol=1e-4)


def test_random_forest_tree_shap_is_locally_accurate_and_ignores_noise():
    from sklearn.ensemble import RandomForestClassifier

    X, y = _tree_data(1)
    model = RandomForestClassifier(60, max_depth=5, random_state=0).fit(X, y)
    res = explain_bundle(TreeBundle(model, ["a", "b", "c", "d"]), X[:40], X[100:150])
    assert res.method == "tree_path_dependent"
    assert_allclose(res.base_value + res.values.sum(1), res.prediction, atol=1e-6)
    table = mean_abs_table(res)
    assert list(table["factor"][:2]) == ["a", "b"]
    assert table["rank"].tolist() == [1, 2, 3, 4]


class LinearNetBundle:
    """A torch 'network' that is linear in one-hot channels (expected gradients are exact)."""

    factors = ["slope", "lithology"]
    categorical = ["lithology"]
    feature_names = ["slope", "lithology=1", "lithology=2", "lithology=3"]

    def __init__(self):
        import torch

        class Est:
            def __init__(self):
                self.net = torch.nn.Linear(4, 1)
                with torch.no_grad():
                    self.net.weight[:] = torch.tensor([[0.01, 0.1, -0.05, 0.2]])
                    self.net.bias[:] = 0.3

            def predict_proba(self, Z):
                with torch.no_grad():
                    return self.net(torch.as_tensor(Z, dtype=torch.float32))[:, 0].double().numpy()

        self.estimator = Est()

    def transform(self, X):
        X = np.asarray(X, dtype=np.float32)
        oh = np.stack([(X[:, 1] == c) for c in (1, 2, 3)], axis=1).astype(np.float32)
        return np.concatenate([X[:, :1] / 10, oh], axis=1)

    def predict_proba(self, X):
        return self.estimator.predict_proba(self.transform(X))


def test_gradient_shap_sums_one_hot_channels_per_factor():
    rng = np.random.default_rng(4)
    X = np.c_[rng.uniform(0, 40, 30), rng.integers(1, 4, 30)].astype(np.float32)
    B = np.c_[rng.uniform(0, 40, 12), rng.integers(1, 4, 12)].astype(np.float32)
    bundle = LinearNetBundle()
    w = np.array([0.01, 0.1, -0.05, 0.2])

    def want(Bg):
        Z, Zb = bundle.transform(X), bundle.transform(Bg)
        contrib = (Z - Zb.mean(axis=0)) * w
        return np.c_[contrib[:, 0], contrib[:, 1:].sum(axis=1)]

    # one reference: expected gradients of a linear network are exact
    res = explain_bundle(bundle, X, B[:1], seed=0)
    assert res.method == "gradient"
    assert_allclose(res.values, want(B[:1]), atol=1e-6)
    # many references: a Monte Carlo mean over sampled references (200 per sample)
    res = explain_bundle(bundle, X, B, seed=0)
    assert np.abs(res.values - want(B)).mean() < 0.02
    # the draws per sample (gradient_nsamples) set the Monte Carlo error, ~ 1 / sqrt of them
    errors = [
        np.abs(explain_bundle(bundle, X, B, seed=0, gradient_nsamples=n).values - want(B)).mean()
        for n in (20, 2000)
    ]
    assert errors[1] < errors[0] / 3, errors


def test_plots_write_pngs(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    res = explain_bundle(AdditiveBundle(), X, X[:8], seed=0)
    plot_summary(res, X, tmp_path / "s.png", title="t")
    plot_dependence(res, X, ["d", "a", "b"], tmp_path / "d.png")
    for name in ("s.png", "d.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_mean_abs_table_orders_by_importance():
    from slidemap.explain import ShapResult

    res = ShapResult(np.array([[0.1, -0.3], [-0.1, 0.2]]), 0.5, np.zeros(2), ["x", "y"], "kernel")
    t = mean_abs_table(res)
    assert t["factor"].tolist() == ["y", "x"]
    assert_allclose(t["mean_abs_shap"], [0.25, 0.1])
    assert isinstance(t, pd.DataFrame)


@pytest.mark.parametrize("n", [1])
def test_kernel_single_sample(n):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(n, 4))
    res = explain_bundle(AdditiveBundle(), X, rng.normal(size=(5, 4)), seed=0)
    assert res.values.shape == (n, 4)


def test_shap_rasters_equal_explain_bundle_per_cell(tmp_path):
    import rasterio
    from maps_standins import FACTORS, PatchMeanBundle, factor_stack, make_factors, patches_at

    from slidemap.explain import shap_rasters

    arrays = make_factors(tmp_path, height=12, width=15, seed=5)
    bundle = PatchMeanBundle()
    stack = factor_stack(arrays)
    rng = np.random.default_rng(0)
    background = patches_at(stack, rng.integers(1, 11, 6), rng.integers(1, 14, 6), 3)
    background = background[np.isfinite(background[:, :, 1, 1]).all(axis=1)]
    shap_rasters(
        bundle, tmp_path, tmp_path / "dem.tif", background, ["slope", "twi"],
        tmp_path / "shap.tif", block=5,
    )  # fmt: skip
    with rasterio.open(tmp_path / "shap.tif") as src:
        got = src.read()
        assert src.descriptions == ("shap_slope", "shap_twi")
    valid = np.isfinite(stack).all(axis=0)
    rows, cols = np.nonzero(valid)
    want = explain_bundle(bundle, patches_at(stack, rows, cols, 3), background).values
    assert_allclose(got[0][valid], want[:, FACTORS.index("slope")], atol=1e-6)
    assert_allclose(got[1][valid], want[:, FACTORS.index("twi")], atol=1e-6)
    assert np.isnan(got[:, ~valid]).all()
