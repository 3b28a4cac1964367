"""Models: preprocessing, metrics, every algorithm on a learnable synthetic problem, the
dense CNN-2D evaluation against per-patch evaluation, persistence and determinism."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from slidemap.errors import ConfigError, InputDataError
from slidemap.models.base import FactorPreprocessor, ModelBundle
from slidemap.models.comparison import compare_models, plot_roc
from slidemap.models.data import SampleSet, load_patch_samples, load_vector_samples
from slidemap.models.evaluate import train_and_evaluate
from slidemap.models.metrics import classification_metrics, roc_points, summarize_folds
from slidemap.models.plc import classify_candidates
from slidemap.models.presets import ALGORITHMS, resolve_params
from slidemap.models.registry import fit_bundle
from slidemap.models.synthetic import extract_patches, make_study, quantile_bins, write_inputs
from slidemap.models.torch_nets import CNN2D, cnn2d_dense_logits

# Small but sufficient settings: every model must still learn the synthetic problem.
FAST = {
    "logistic": {},
    "rf": {"n_estimators": 100, "min_samples_leaf": 2},
    "xgboost": {
        "n_estimators": 200,
        "learning_rate": 0.1,
        "max_depth": 3,
        "early_stopping_rounds": 20,
        "validation_fraction": 0.2,
    },
    "cnn1d": {"max_epochs": 150, "patience": 20, "batch_size": 32, "learning_rate": 3e-3},
    "rnn": {
        "max_epochs": 150,
        "patience": 20,
        "batch_size": 32,
        "learning_rate": 3e-3,
        "bidirectional": True,
    },
    "cnn2d": {"max_epochs": 40, "patience": 8, "batch_size": 32, "learning_rate": 1e-3},
}


def params(alg: str, **extra) -> dict:
    return {
        "class_weight": "balanced",
        "discretize": False,
        "device": "cpu",
        "preset": None,
        **FAST[alg],
        **extra,
    }


def sample_set(study, patch: bool) -> SampleSet:
    df = study.samples
    return SampleSet(
        X=study.patches if patch else df[study.factors].to_numpy(np.float32),
        label=df["label"].to_numpy(np.int8).copy(),
        unit_id=df["unit_id"].to_numpy(),
        split=df["split"].to_numpy(),
        folds={"spatial": df["fold"].to_numpy(), "random": df["fold_random"].to_numpy()},
        factors=study.factors,
        categorical=study.categorical,
    )


@pytest.fixture(scope="module")
def study():
    return make_study(size=72, n_samples=300, seed=0)


@pytest.fixture(scope="module")
def bundles(study):
    """Every algorithm fitted once on the training split."""
    out = {}
    for alg in ALGORITHMS:
        s = sample_set(study, alg == "cnn2d")
        train = s.subset(s.split == "train")
        out[alg] = fit_bundle(alg, params(alg), train, None, seed=1, threads=2)
    return out


# -- preprocessing ---------------------------------------------------------------------------
def test_preprocessor_matches_formulas():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(5, 2, 50), rng.integers(1, 4, 50), rng.uniform(0, 9, 50)])
    X[3, 0] = np.nan
    X[4, 1] = 0  # categorical nodata
    bins = {"a": [4.0, 6.0], "c": [3.0]}
    pre = FactorPreprocessor(["a", "lith", "c"], ["lith"], bins=bins).fit(X)
    Z = pre.transform(X, fill=None)
    assert pre.feature_names == ["a", "lith=1", "lith=2", "lith=3", "c"]
    # brute force: bin index by counting cut points <= v, then z-score over valid rows
    for col, name, cuts in ((0, "a", bins["a"]), (2, "c", bins["c"])):
        idx = np.array([sum(c <= v for c in cuts) if np.isfinite(v) else np.nan for v in X[:, col]])
        ok = np.isfinite(idx)
        expect = (idx - idx[ok].mean()) / idx[ok].std()
        ch = pre.feature_names.index(name)
        np.testing.assert_allclose(Z[ok, ch], expect[ok], rtol=1e-6)
        assert np.isnan(Z[~ok, ch]).all()
    for code in (1, 2, 3):
        ch = pre.feature_names.index(f"lith={code}")
        np.testing.assert_array_equal(Z[X[:, 1] == code, ch], 1)
        np.testing.assert_array_equal(Z[(X[:, 1] != code) & (X[:, 1] != 0), ch], 0)
    np.testing.assert_array_equal(pre.valid_mask(X), np.isfinite(X[:, 0]) & (X[:, 1] != 0))
    # a code never seen in training gives all-zero indicator channels
    Zu = pre.transform(np.array([[5.0, 7.0, 1.0]]))
    assert Zu[0, 1:4].tolist() == [0, 0, 0]
    # filled NaN = 0 = the training mean after standardisation
    assert pre.transform(X)[3, 0] == 0


def test_preprocessor_is_channelwise_on_patches(study):
    s = sample_set(study, True)
    pre = FactorPreprocessor(s.factors, s.categorical).fit(s.centre())
    Zp = pre.transform(s.X, fill=None)
    rows = s.X[:, :, 2, 6]  # any cell of the patches, as [n, F]
    np.testing.assert_array_equal(Zp[:, :, 2, 6], pre.transform(rows, fill=None))


# -- metrics ---------------------------------------------------------------------------------
def test_metrics_against_hand_counts():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 200), 0, 1)
    m = classification_metrics(y, p, threshold=0.5)
    pred = p >= 0.5
    tp, tn = np.sum(pred & (y == 1)), np.sum(~pred & (y == 0))
    fp, fn = np.sum(pred & (y == 0)), np.sum(~pred & (y == 1))
    n = y.size
    assert m["accuracy"] == pytest.approx((tp + tn) / n)
    assert m["precision"] == pytest.approx(tp / (tp + fp))
    assert m["recall"] == pytest.approx(tp / (tp + fn))
    assert m["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    po = (tp + tn) / n
    pe = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / n**2
    assert m["kappa"] == pytest.approx((po - pe) / (1 - pe))
    # AUC = P(score of a positive > score of a negative), ties count one half
    pos, neg = p[y == 1], p[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert m["auc"] == pytest.approx(wins / (pos.size * neg.size))
    roc = roc_points(y, p)
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(m["auc"])


def test_metrics_of_one_class_fold_leave_auc_undefined():
    m = classification_metrics(np.zeros(5, int), np.array([0.1, 0.2, 0.7, 0.3, 0.1]))
    assert math.isnan(m["auc"]) and m["accuracy"] == pytest.approx(0.8)


def test_summarize_folds_uses_sample_std_and_skips_undefined():
    names = ("accuracy", "precision", "recall", "f1", "kappa")
    folds = [
        {"fold": 0, **dict.fromkeys(names, 0.5), "auc": 0.7},
        {"fold": 1, **dict.fromkeys(names, 0.6), "auc": 0.8},
        {"fold": 2, **dict.fromkeys(names, 0.7), "auc": math.nan},
        {"fold": 3, "skipped": "one class"},
    ]
    s = summarize_folds(folds)
    assert s["mean"]["auc"] == pytest.approx(0.75)
    assert s["std"]["auc"] == pytest.approx(np.std([0.7, 0.8], ddof=1))
    assert s["n_folds"]["auc"] == 2 and s["n_folds"]["f1"] == 3
    assert s["std"]["f1"] == pytest.approx(np.std([0.5, 0.6, 0.7], ddof=1))


# -- every model -----------------------------------------------------------------------------
@pytest.mark.parametrize("alg", ALGORITHMS)
def test_model_learns_the_synthetic_problem(alg, study, bundles):
    s = sample_set(study, alg == "cnn2d")
    test = s.subset(s.split == "test")
    p = bundles[alg].predict_proba(test.X)
    assert np.all((p >= 0) & (p <= 1))
    auc = classification_metrics(test.label, p)["auc"]
    assert auc > 0.9, f"{alg}: test AUC {auc:.3f}"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_predict_grid_equals_predict_proba(alg, study, bundles):
    bundle = bundles[alg]
    stack = study.stack
    F, H, W = stack.shape
    h = bundle.halo
    padded = np.pad(stack, ((0, 0), (h, h), (h, h)), constant_values=np.nan)
    grid = bundle.predict_grid(padded, block=20)
    assert grid.shape == (H, W) and grid.dtype == np.float32
    # reference: predict_proba of every cell's row (vector) or patch (cnn2d), edges included
    rows, cols = np.divmod(np.arange(H * W), W)
    if bundle.input_kind == "patch":
        X = extract_patches(stack, rows, cols, bundle.patch_size)
    else:
        X = stack.reshape(F, -1).T
    ref = bundle.predict_proba(X).reshape(H, W)
    np.testing.assert_array_equal(np.isnan(grid), np.isnan(ref))
    assert np.isnan(grid).any()  # the synthetic rasters have nodata holes
    np.testing.assert_allclose(grid, ref, atol=2e-6, equal_nan=True)
    # at the sample locations, against the samples' own rows / patches
    s = sample_set(study, bundle.input_kind == "patch")
    at = grid[study.samples["row"], study.samples["col"]]
    np.testing.assert_allclose(at, bundle.predict_proba(s.X), atol=2e-6)
    # a map tile with its halo cut from the padded raster gives the same values
    tile = bundle.predict_grid(padded[:, 10 : 10 + 30 + 2 * h, 25 : 25 + 20 + 2 * h])
    np.testing.assert_allclose(tile, grid[10:40, 25:45], atol=2e-6, equal_nan=True)


def test_predict_grid_of_a_discretizing_cnn2d(study):
    """ChiMerge bins are applied to every cell of the patches and of the raster block."""
    s = sample_set(study, True)
    train = s.subset(s.split == "train")
    bins = {f: quantile_bins(train.centre()[:, i]) for i, f in enumerate(s.factors) if f != "lith"}
    p = params("cnn2d", discretize=True, max_epochs=5)
    bundle = fit_bundle("cnn2d", p, train, bins, seed=2, threads=2)
    assert bundle.preprocessor.bins == bins
    h = bundle.halo
    padded = np.pad(study.stack, ((0, 0), (h, h), (h, h)), constant_values=np.nan)
    grid = bundle.predict_grid(padded, block=32)
    at = grid[study.samples["row"], study.samples["col"]]
    np.testing.assert_allclose(at, bundle.predict_proba(s.X), atol=2e-6)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_save_load_round_trip(alg, study, bundles, tmp_path):
    bundle = bundles[alg]
    path = tmp_path / "model.joblib"
    bundle.save(path)
    loaded = ModelBundle.load(path)
    s = sample_set(study, alg == "cnn2d")
    np.testing.assert_array_equal(loaded.predict_proba(s.X), bundle.predict_proba(s.X))
    assert loaded.factors == study.factors and loaded.halo == bundle.halo


def test_load_rejects_other_files(tmp_path):
    import joblib

    joblib.dump({"not": "a bundle"}, tmp_path / "x.joblib")
    with pytest.raises(InputDataError, match="model bundle"):
        ModelBundle.load(tmp_path / "x.joblib")


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_tiny_dataset_trains_and_predicts(alg):
    tiny = make_study(size=40, n_samples=30, n_continuous=3, seed=5)
    s = sample_set(tiny, alg == "cnn2d")
    p = {**params(alg), "max_epochs": 3, "n_estimators": 10}
    bundle = fit_bundle(alg, p, s, None, seed=0, threads=1)
    out = bundle.predict_proba(s.X)
    assert out.shape == (30,) and np.all((out >= 0) & (out <= 1))


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_seeded_runs_give_identical_metrics(alg, tmp_path):
    small = make_study(size=48, n_samples=120, n_continuous=3, n_folds=2, seed=7)
    s = sample_set(small, alg == "cnn2d")
    p = {**params(alg), "max_epochs": 6}
    runs = [
        train_and_evaluate(alg, p, s, None, schemes=("spatial",), seed=11, threads=2)
        for _ in range(2)
    ]
    assert runs[0].metrics == runs[1].metrics
    pd.testing.assert_frame_equal(runs[0].predictions, runs[1].predictions)
    assert runs[0].metrics["cv"]["spatial"]["n_folds"]["auc"] == 2
    assert len(runs[0].predictions) == s.n  # out-of-fold train rows + test rows
    # the model files are bitwise identical too (reproducible outputs)
    for i, r in enumerate(runs):
        r.bundle.save(tmp_path / f"{i}.joblib")
    assert (tmp_path / "0.joblib").read_bytes() == (tmp_path / "1.joblib").read_bytes()


# -- CNN-2D architecture and dense evaluation -------------------------------------------------
def _random_net(c: int, k: int, seed: int = 0) -> CNN2D:
    torch.manual_seed(seed)
    net = CNN2D(c, patch_size=k).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        net.bn1.running_mean.normal_()
        net.bn1.running_var.uniform_(0.5, 2.0)
        net.bn1.weight.normal_()
        net.bn1.bias.normal_()
    return net


def test_cnn2d_shapes_and_receptive_field_match_9x9():
    net = _random_net(14, 9)
    x = torch.randn(8, 14, 9, 9, requires_grad=True)
    assert net.features(x).shape == (8, 64 * 2 * 2)  # 9 -> 4 -> 2, as in seed 004
    out = net(x)
    assert out.shape == (8,)
    out.sum().backward()
    # every one of the 81 cells of every channel reaches the output ...
    assert (x.grad.abs().sum(dim=(0, 1)) > 0).all()
    # ... and nothing outside the window does: the dense logits of an 11 x 11 frame (3 x 3
    # windows) do not change at the centre window when the frame's border ring changes
    frame = torch.randn(14, 11, 11)
    changed = frame.clone()
    changed[:, 0, :] = changed[:, -1, :] = changed[:, :, 0] = changed[:, :, -1] = 99.0
    a, b = cnn2d_dense_logits(net, frame), cnn2d_dense_logits(net, changed)
    assert a.shape == (3, 3) and a[1, 1] == b[1, 1] and (a != b).sum() == 8


@pytest.mark.parametrize("k", [5, 7, 9, 11])
def test_dense_logits_equal_per_patch_logits(k):
    net = _random_net(6, k, seed=k)
    frame = torch.randn(6, 23 + k - 1, 17 + k - 1)
    dense = cnn2d_dense_logits(net, frame)
    with torch.no_grad():
        patches = frame.unfold(1, k, 1).unfold(2, k, 1).permute(1, 2, 0, 3, 4)
        ref = net(patches.reshape(-1, 6, k, k)).reshape(23, 17)
    torch.testing.assert_close(dense, ref, atol=1e-5, rtol=1e-5)


def test_cnn2d_training_does_not_depend_on_the_thread_count():
    # 27 x 9 x 9 patches in batches of 128 (the demo's size): two intra-op threads split the
    # sums differently from one, so a model trained with ``threads`` would differ between
    # --cores 1 and --cores 2; training runs on one thread whatever ``threads`` says
    from slidemap.models.torch_models import CNN2DModel

    rng = np.random.default_rng(3)
    Z = rng.standard_normal((300, 27, 9, 9)).astype(np.float32)
    y = (Z[:, 0, 4, 4] + 0.5 * rng.standard_normal(300) > 0.8).astype(np.float32)
    Zt = rng.standard_normal((64, 27, 9, 9)).astype(np.float32)
    runs = []
    for threads in (1, 2):
        model = CNN2DModel({"max_epochs": 3, "patience": None}).fit(Z, y, seed=7, threads=threads)
        weights = b"".join(v.numpy().tobytes() for v in model.net.state_dict().values())
        runs.append((weights, model.predict_proba(Zt).tobytes()))
    assert runs[0] == runs[1]


def test_cnn2d_rejects_even_patches():
    with pytest.raises(ConfigError, match="odd"):
        CNN2D(3, patch_size=8)


# -- discretization, presets, IO --------------------------------------------------------------
def test_cv_uses_per_fold_bins_and_final_model_all_bins(study):
    s = sample_set(study, False)
    train = s.split == "train"
    cont = [f for f in study.factors if f not in study.categorical]
    df = study.samples
    bins = {"all": {f: quantile_bins(df.loc[train, f].to_numpy()) for f in cont}, "spatial": {}}
    result = None
    with pytest.raises(InputDataError, match="spatial CV fold 0"):
        train_and_evaluate(
            "logistic", params("logistic", discretize=True), s, bins, schemes=("spatial",)
        )
    for k in range(4):
        rows = train & (df["fold"] != k)
        bins["spatial"][str(k)] = {f: quantile_bins(df.loc[rows, f].to_numpy()) for f in cont}
    result = train_and_evaluate(
        "logistic", params("logistic", discretize=True), s, bins, schemes=("spatial",)
    )
    assert result.bundle.preprocessor.bins == bins["all"]
    assert result.metrics["cv"]["spatial"]["mean"]["auc"] > 0.85


def test_presets_apply_the_paper_values():
    rf = resolve_params(
        "rf", {"enabled": True, "preset": "seed002", "n_estimators": 500, "max_depth": None}
    )
    assert rf["n_estimators"] == 50 and rf["max_depth"] == 3 and rf["discretize"] is True
    assert "enabled" not in rf and rf["preset"] == "seed002"
    cnn = resolve_params("cnn1d", {"preset": "seed002"})
    assert (cnn["channels"], cnn["kernel_size"], cnn["fc_units"], cnn["max_epochs"]) == (
        14,
        2,
        20,
        500,
    )
    assert resolve_params("cnn2d", {"preset": "seed004"})["conv1_filters"] == 32
    with pytest.raises(ConfigError, match="models.xgboost.preset"):
        resolve_params("xgboost", {"preset": "seed002"})
    with pytest.raises(ConfigError, match="models.plc.preset"):
        resolve_params("rnn", {"preset": "seed004"}, key="models.plc")


def test_sample_files_round_trip(study, tmp_path):
    write_inputs(study, tmp_path, "pixels")
    vec = load_vector_samples(
        tmp_path / "samples/pixels.parquet", tmp_path / "selection/pixels/selected.json"
    )
    np.testing.assert_array_equal(vec.X, study.samples[study.factors].to_numpy(np.float32))
    assert (
        vec.categorical == ["lith"]
        and vec.folds["spatial"].tolist() == study.samples["fold"].tolist()
    )
    pat = load_patch_samples(
        tmp_path / "tiles/patches.npz",
        tmp_path / "tiles/index.parquet",
        tmp_path / "selection/pixels/selected.json",
    )
    np.testing.assert_array_equal(pat.X, study.patches)
    np.testing.assert_array_equal(pat.centre(), vec.X)
    df = pd.read_parquet(tmp_path / "samples/pixels.parquet").drop(columns="f2")
    df.to_parquet(tmp_path / "broken.parquet")
    with pytest.raises(InputDataError, match="column 'f2'"):
        load_vector_samples(
            tmp_path / "broken.parquet", tmp_path / "selection/pixels/selected.json"
        )


def test_one_class_training_split_is_a_clear_error(study):
    s = sample_set(study, False)
    s.label[:] = 0
    with pytest.raises(InputDataError, match="one class"):
        train_and_evaluate("logistic", params("logistic"), s)


# -- comparison and candidates ---------------------------------------------------------------
def test_compare_models_orders_by_spatial_auc(tmp_path):
    def metrics(spatial, random):
        cv = lambda a: {"mean": {"auc": a, "f1": 0.5}, "std": {"auc": 0.01, "f1": 0.1}}  # noqa: E731
        return {
            "cv": {"spatial": cv(spatial), "random": cv(random)},
            "test": {"auc": 0.8},
            "n_train": 10,
            "n_test": 5,
        }

    m = {"logistic": metrics(0.70, 0.75), "rf": metrics(0.78, 0.86), "cnn2d": metrics(0.74, 0.80)}
    table = compare_models(m)
    assert table["model"].tolist() == ["rf", "cnn2d", "logistic"]
    assert table.loc[0, "vs_logistic"] == pytest.approx(0.08)
    assert table.loc[0, "auc_gap"] == pytest.approx(0.08)
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 50), rng.random(50)
    rocs = {name: roc_points(y, p).assign(scheme="spatial") for name in m}
    plot_roc(rocs, m, tmp_path / "roc.png")
    assert (tmp_path / "roc.png").stat().st_size > 1000


def test_classify_candidates_labels_every_candidate(study, bundles):
    s = sample_set(study, False)
    s.label[s.split == "test"] = -1
    table = classify_candidates(bundles["rf"], s, threshold=0.5)
    assert len(table) == s.n and table["cand_id"].is_monotonic_increasing
    assert set(table["predicted"]) <= {0, 1}
    np.testing.assert_array_equal(table["predicted"], (table["probability"] >= 0.5).astype(int))


def test_ecuador_config_is_valid(schema, root):
    import yaml

    from slidemap.config import validate_config

    if "negatives" not in schema["properties"]["sampling"]["properties"]:
        pytest.skip("the samples stage's config keys are not in this branch yet")
    with open(root / "config" / "ecuador.yaml", encoding="utf-8") as fh:
        cfg = validate_config(yaml.safe_load(fh), schema)
    assert cfg["insar"]["tracks"] == {} and cfg["study_area"]["name"] == "ecuador"
    assert all(cfg["models"][m]["enabled"] for m in ALGORITHMS)
