"""SHAP explanations of the susceptibility models (seed 004, section 5.2).

Shapley values attribute each prediction to the factors: ``f(x) = base_value + Σ_j φ_j``.
Values are in **probability units** (the model's P(landslide)) except for XGBoost, whose
values are in log-odds (``ShapResult.output`` says which). The explainer depends on the model:

- random forest: ``shap.TreeExplainer`` on the fitted forest, tree-path-dependent (a
  forest's raw output is already the probability);
- XGBoost: ``shap.TreeExplainer`` on the log-odds margin with interventional perturbation
  over a seeded background sample (exact interventional Shapley values). Its
  ``model_output="probability"`` mode is not used: with shap 0.51 and xgboost 3.2 it
  disagrees with brute-force Shapley values of the probability (by up to 0.05, measured);
- torch models (CNN-1D/2D, RNN): ``shap.GradientExplainer`` (expected gradients) on the
  network followed by the sigmoid, with the background sample as reference;
- anything else (the logistic baseline, or a model the above cannot open):
  ``shap.KernelExplainer`` on ``bundle.predict_proba`` over a small background, with each
  factor a player: a coalition takes the whole factor (its k × k channel for a patch model)
  from the explained sample and the rest from a background sample.

Attributions of model channels that belong to one factor (one-hot indicator channels of a
categorical factor, the k × k cells of a patch) are summed, which SHAP's additivity allows,
so every result has one value per factor.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio

from slidemap.errors import InputDataError
from slidemap.io import atomic_path
from slidemap.raster import read_window

__all__ = [
    "ShapResult",
    "explain_bundle",
    "sample_inputs",
    "mean_abs_table",
    "shap_frame",
    "factor_values",
    "plot_summary",
    "plot_dependence",
    "shap_rasters",
]

log = logging.getLogger(__name__)


@dataclass
class ShapResult:
    """SHAP values of a set of samples, one column per factor.

    Attributes
    ----------
    values
        (n, F) SHAP values, in the units of ``output``.
    base_value
        Expected model output over the background.
    prediction
        (n,) model output for the explained samples (``base_value + values.sum(1)``).
    factors
        Factor names (columns of ``values``).
    method
        Explainer used (``tree_path_dependent``, ``tree_interventional``, ``gradient``,
        ``kernel``).
    output
        ``probability`` or ``log-odds``.
    """

    values: np.ndarray
    base_value: float
    prediction: np.ndarray
    factors: list[str]
    method: str
    output: str = "probability"


# --------------------------------------------------------------------------- inputs


def _patches(paths: Sequence[str | os.PathLike], rows, cols, k: int) -> np.ndarray:
    """Raw k × k patches [n, F, k, k] around cells, NaN beyond the grid and on nodata."""
    from rasterio.windows import Window

    h = k // 2
    out = np.empty((len(rows), len(paths), k, k), dtype=np.float32)
    for j, p in enumerate(paths):
        with rasterio.open(p) as src:
            for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
                out[i, j] = read_window(src, Window(int(c), int(r), 1, 1), halo=h)
    return out


def sample_inputs(
    bundle: Any,
    samples: pd.DataFrame,
    factor_dir: str | os.PathLike,
    *,
    n_explain: int,
    n_background: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Draw the explained samples and the background sample, seeded, as model inputs.

    Parameters
    ----------
    bundle
        The model bundle (``factors``; ``patch_size`` for a patch model).
    samples
        Pixel samples (``unit_id``, ``row``, ``col``, ``label``, ``split``, factor columns).
    factor_dir
        Folder of the factor rasters (patches are cut from them for a patch model).
    n_explain
        Samples to explain (drawn from every labelled sample).
    n_background
        Background samples (drawn from the training rows).
    seed
        Seed of both draws.

    Returns
    -------
    X, background : numpy.ndarray
        Raw inputs ``[n, F]`` (or ``[n, F, k, k]``) of the explained and background samples.
    rows : pandas.DataFrame
        The explained samples' rows of ``samples`` (in the order of ``X``).
    """
    factors = list(bundle.factors)
    missing = [f for f in factors if f not in samples.columns]
    if missing:
        raise InputDataError(
            None,
            f"the samples have no column for factor(s) {missing} the model uses.",
            "rerun the pixel_samples rule with the current factor set.",
        )
    rng = np.random.default_rng(seed)
    labelled = samples[samples["label"].isin([0, 1])]
    pred_ok = np.isfinite(labelled[factors].to_numpy(dtype=np.float64)).all(axis=1)
    for f in getattr(bundle, "categorical", []) or []:
        pred_ok &= labelled[f].to_numpy(dtype=np.float64) != 0
    labelled = labelled[pred_ok]
    train = labelled[labelled["split"] == "train"] if "split" in labelled else labelled
    if len(labelled) == 0 or len(train) == 0:
        raise InputDataError(
            None, "no valid labelled sample to explain.", "check the samples stage output."
        )
    pick = np.sort(rng.choice(len(labelled), min(n_explain, len(labelled)), replace=False))
    bpick = np.sort(rng.choice(len(train), min(n_background, len(train)), replace=False))
    rows = labelled.iloc[pick].reset_index(drop=True)
    bg = train.iloc[bpick].reset_index(drop=True)
    k = getattr(bundle, "patch_size", None)
    if k:
        paths = [Path(factor_dir) / f"{f}.tif" for f in factors]
        X = _patches(paths, rows["row"].to_numpy(), rows["col"].to_numpy(), int(k))
        B = _patches(paths, bg["row"].to_numpy(), bg["col"].to_numpy(), int(k))
    else:
        X = rows[factors].to_numpy(dtype=np.float32)
        B = bg[factors].to_numpy(dtype=np.float32)
    return X, B, rows


# --------------------------------------------------------------------------- explainers


def _channel_groups(bundle: Any, n_channels: int) -> np.ndarray:
    """Factor index of every model channel (``lithology=3`` belongs to ``lithology``)."""
    factors = list(bundle.factors)
    names = list(getattr(bundle, "feature_names", []) or [])
    if len(names) != n_channels:
        if n_channels != len(factors):
            raise ValueError(f"cannot map {n_channels} model channels to {len(factors)} factors")
        return np.arange(len(factors))
    index = {f: i for i, f in enumerate(factors)}
    return np.array([index[n.split("=", 1)[0]] for n in names])


def _to_factors(values: np.ndarray, groups: np.ndarray, n_factors: int) -> np.ndarray:
    """Sum channel attributions [n, C, ...] into factor attributions [n, F]."""
    v = values.reshape(values.shape[0], values.shape[1], -1).sum(axis=2)
    out = np.zeros((v.shape[0], n_factors))
    np.add.at(out.T, groups, v.T)
    return out


def _torch_module(estimator: Any) -> Any:
    """Return the first ``torch.nn.Module`` among an estimator's attributes, or None."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    for value in vars(estimator).values():
        if isinstance(value, torch.nn.Module):
            return value
    return None


def _tree_kind(model: Any) -> str | None:
    """``"forest"`` for a scikit-learn forest, ``"xgboost"`` for XGBoost, else None."""
    name = type(model).__name__
    if name in ("RandomForestClassifier", "ExtraTreesClassifier"):
        return "forest"
    if name == "XGBClassifier":
        return "xgboost"
    return None


def _positive_class(values: Any, expected: Any) -> tuple[np.ndarray, float]:
    """SHAP values and base value of the positive class (classifiers may give both)."""
    v = np.asarray(values)
    e = np.atleast_1d(np.asarray(expected, dtype=np.float64))
    if isinstance(values, list):
        v = np.stack(values, axis=-1)
    if v.ndim == 3:
        return v[..., -1], float(e[-1])
    return v, float(e[-1])


def _explain_tree(bundle, model, kind, X, B):
    import shap

    Z, Zb = bundle.transform(X), bundle.transform(B)
    if kind == "forest":
        explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
        method = "tree_path_dependent"
    else:
        explainer = shap.TreeExplainer(
            model, data=Zb, model_output="raw", feature_perturbation="interventional"
        )
        method = "tree_interventional"
    values, base = _positive_class(
        explainer.shap_values(Z, check_additivity=False), explainer.expected_value
    )
    return values, base, method


def _explain_gradient(bundle, module, X, B, seed, nsamples):
    import shap
    import torch

    Z = torch.as_tensor(np.asarray(bundle.transform(X), dtype=np.float32))
    Zb = torch.as_tensor(np.asarray(bundle.transform(B), dtype=np.float32))
    module = module.eval()
    est_p = np.asarray(bundle.estimator.predict_proba(Z[:8].numpy()), dtype=np.float64)
    with torch.no_grad():
        raw = module(Z[:8]).reshape(8, -1)[:, -1].double().numpy()
    # the network may end in logits or in probabilities: use what the estimator reports
    logits = np.allclose(1 / (1 + np.exp(-raw)), est_p, atol=1e-4)
    if not logits and not np.allclose(raw, est_p, atol=1e-4):
        raise ValueError("cannot match the network's output to the estimator's predict_proba")

    class _Prob(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            out = self.net(x).reshape(x.shape[0], -1)[:, -1:]
            return torch.sigmoid(out) if logits else out

    wrapped = _Prob(module).eval()
    torch.manual_seed(seed)
    explainer = shap.GradientExplainer(wrapped, Zb)
    values = explainer.shap_values(Z, nsamples=int(nsamples), rseed=seed)
    values = np.asarray(values[0] if isinstance(values, list) else values)
    if values.ndim == Z.ndim + 1:
        values = values[..., -1]
    with torch.no_grad():
        base = float(wrapped(Zb).mean())
    return values, base, "gradient"


def _explain_kernel(bundle, X, B, nsamples, seed):
    import shap

    n, nb, F = X.shape[0], B.shape[0], X.shape[1]
    pool = np.concatenate([X, B]).astype(np.float32)
    cols = np.arange(F)

    def f(idx: np.ndarray) -> np.ndarray:
        return bundle.predict_proba(pool[idx.astype(np.int64), cols])

    data = np.tile(np.arange(n, n + nb, dtype=np.float64)[:, None], (1, F))
    explainer = shap.KernelExplainer(f, data)
    rows = np.tile(np.arange(n, dtype=np.float64)[:, None], (1, F))
    np.random.seed(seed)  # noqa: NPY002 (KernelExplainer draws from the global generator)
    values = explainer.shap_values(rows, nsamples=nsamples, l1_reg=False, silent=True)
    values, base = _positive_class(values, explainer.expected_value)
    return values, base, "kernel"


def explain_bundle(
    bundle: Any,
    X: np.ndarray,
    background: np.ndarray,
    *,
    seed: int = 0,
    method: str = "auto",
    kernel_nsamples: int | str = "auto",
    kernel_background: int = 50,
    gradient_nsamples: int = 200,
) -> ShapResult:
    """Compute per-factor SHAP values (probability units) of a model bundle.

    Parameters
    ----------
    bundle
        A model bundle (``factors``, ``predict_proba``; ``estimator``, ``transform`` and
        ``feature_names`` open the faster model-specific explainers).
    X
        Raw inputs to explain, ``[n, F]`` or ``[n, F, k, k]``.
    background
        Raw background inputs (same layout), e.g. 100 seeded training samples.
    seed
        Seed of every random choice of the explainers.
    method
        ``auto`` (see the module doc), ``tree``, ``gradient`` or ``kernel``.
    kernel_nsamples
        Coalitions per sample of the kernel explainer (``auto`` = 2F + 2048, every
        coalition when F ≤ 11).
    kernel_background
        At most this many background samples (the first ones) for the kernel explainer,
        whose cost grows with coalitions × background size.
    gradient_nsamples
        Draws (background sample and interpolation point) per explained sample of the
        expected-gradients explainer (torch models); cost linear in it.

    Returns
    -------
    ShapResult
        One SHAP value per sample and factor, the base value and the predictions.
    """
    factors = list(bundle.factors)
    X = np.asarray(X, dtype=np.float32)
    background = np.asarray(background, dtype=np.float32)
    estimator = getattr(bundle, "estimator", None)
    model = getattr(estimator, "model", None)
    kind = _tree_kind(model) if model is not None else None
    module = _torch_module(estimator) if estimator is not None else None
    has_transform = callable(getattr(bundle, "transform", None))
    if method == "auto":
        if kind and has_transform:
            method = "tree"
        elif module is not None and has_transform:
            method = "gradient"
        else:
            method = "kernel"
    if method == "tree":
        values, base, used = _explain_tree(bundle, model, kind, X, background)
    elif method == "gradient":
        values, base, used = _explain_gradient(
            bundle, module, X, background, seed, gradient_nsamples
        )
    elif method == "kernel":
        values, base, used = _explain_kernel(
            bundle, X, background[:kernel_background], kernel_nsamples, seed
        )
    else:
        raise ValueError(f"unknown SHAP method {method!r}")
    if used != "kernel":
        values = _to_factors(values, _channel_groups(bundle, values.shape[1]), len(factors))
    pred = np.asarray(bundle.predict_proba(X), dtype=np.float64)
    output = "probability"
    if used == "tree_interventional":
        output = "log-odds"
        with np.errstate(divide="ignore"):
            pred = np.log(pred) - np.log1p(-pred)
    return ShapResult(
        np.asarray(values, dtype=np.float64), float(base), pred, factors, used, output
    )


# --------------------------------------------------------------------------- outputs


def mean_abs_table(result: ShapResult) -> pd.DataFrame:
    """Global importance: mean |SHAP| per factor, most important first.

    Parameters
    ----------
    result
        SHAP values.

    Returns
    -------
    pandas.DataFrame
        ``rank`` (1 = most important), ``factor``, ``mean_abs_shap``, ``mean_shap`` (in
        the units of ``output``), ``method``, ``output``.
    """
    mean_abs = np.abs(result.values).mean(axis=0)
    df = pd.DataFrame(
        {
            "factor": result.factors,
            "mean_abs_shap": mean_abs,
            "mean_shap": result.values.mean(axis=0),
        }
    )
    df = df.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    df["method"] = result.method
    df["output"] = result.output
    return df


def shap_frame(result: ShapResult, rows: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
    """One row per explained sample: ids, prediction, SHAP values and factor values.

    Parameters
    ----------
    result
        SHAP values.
    rows
        The explained samples (``unit_id``, ``label``, ``split`` are copied when present).
    values
        Raw factor values ``[n, F]``.

    Returns
    -------
    pandas.DataFrame
        ``unit_id``, ``label``, ``split``, ``prediction``, ``base_value``, ``output``, then
        ``shap_<factor>`` and ``value_<factor>`` for each factor.
    """
    out = rows[[c for c in ("unit_id", "label", "split") if c in rows.columns]].copy()
    out = out.reset_index(drop=True)
    out["prediction"] = result.prediction
    out["base_value"] = result.base_value
    out["output"] = result.output
    for j, f in enumerate(result.factors):
        out[f"shap_{f}"] = result.values[:, j]
    for j, f in enumerate(result.factors):
        out[f"value_{f}"] = values[:, j]
    return out


def factor_values(X: np.ndarray) -> np.ndarray:
    """Raw factor value of each sample (the centre cell of a patch), ``[n, F]``.

    Parameters
    ----------
    X
        Raw inputs ``[n, F]`` or ``[n, F, k, k]``.

    Returns
    -------
    numpy.ndarray
        float64 ``[n, F]``.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 4:
        h = X.shape[-1] // 2
        X = X[:, :, h, h]
    return X


def _savefig(fig, path: str | os.PathLike) -> None:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)


def plot_summary(
    result: ShapResult, values: np.ndarray, path: str | os.PathLike, title: str = ""
) -> None:
    """Beeswarm summary plot of the SHAP values (PNG), factors by mean |SHAP|.

    Parameters
    ----------
    result
        SHAP values.
    values
        Raw factor values ``[n, F]`` of the same samples (colour of the dots).
    path
        Output PNG.
    title
        Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    np.random.seed(0)  # noqa: NPY002 (shap shuffles the dot order with the global generator)
    shap.summary_plot(
        result.values,
        features=values,
        feature_names=result.factors,
        show=False,
        plot_size=(7.5, 0.45 * len(result.factors) + 1.8),
        max_display=len(result.factors),
    )
    fig = plt.gcf()
    unit = "P(landslide)" if result.output == "probability" else "log-odds of a landslide"
    fig.axes[0].set_xlabel(f"SHAP value (impact on {unit})")
    if title:
        fig.axes[0].set_title(title)
    _savefig(fig, path)


def plot_dependence(
    result: ShapResult,
    values: np.ndarray,
    factors: Sequence[str],
    path: str | os.PathLike,
    title: str = "",
) -> None:
    """SHAP dependence plots (factor value vs its SHAP value) of some factors, one panel each.

    Parameters
    ----------
    result
        SHAP values.
    values
        Raw factor values ``[n, F]`` of the same samples.
    factors
        The factors to plot (e.g. the top 4 by mean |SHAP|).
    path
        Output PNG.
    title
        Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    n = len(factors)
    ncols = min(n, 2)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 4.0 * nrows), squeeze=False)
    np.random.seed(0)  # noqa: NPY002 (shap shuffles the dot order with the global generator)
    for ax, factor in zip(axes.ravel(), factors, strict=False):
        j = result.factors.index(factor)
        shap.dependence_plot(
            j,
            result.values,
            values,
            feature_names=result.factors,
            interaction_index="auto" if len(result.factors) > 1 else None,
            ax=ax,
            show=False,
        )
        ax.axhline(0, color="grey", lw=0.6, ls="--")
        ax.set_ylabel(f"SHAP value of {factor}")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _savefig(fig, path)


def shap_rasters(
    bundle: Any,
    factor_dir: str | os.PathLike,
    grid_path: str | os.PathLike,
    background: np.ndarray,
    factors: Sequence[str],
    out_path: str | os.PathLike,
    *,
    seed: int = 0,
    block: int = 128,
) -> dict:
    """Map the SHAP values of some factors over the whole study grid (one band per factor).

    Expensive (every valid cell is explained); computed block by block.

    Parameters
    ----------
    bundle
        The model bundle.
    factor_dir
        Folder of the factor rasters.
    grid_path
        The study grid raster.
    background
        Raw background inputs (as for :func:`explain_bundle`).
    factors
        The factors to map (e.g. the top 3).
    out_path
        Output COG (float32, probability units, NaN nodata, one band per factor).
    seed
        Seed of the explainer.
    block
        Block edge in cells.

    Returns
    -------
    dict
        ``factors``, ``valid_cells``, ``method``.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    from slidemap.maps.predict import bundle_halo
    from slidemap.raster import Grid, iter_windows, read_stack, write_cog

    grid = Grid.from_raster(grid_path)
    paths = [Path(factor_dir) / f"{f}.tif" for f in bundle.factors]
    cols = [list(bundle.factors).index(f) for f in factors]
    halo = bundle_halo(bundle)
    k = 2 * halo + 1
    info = {"factors": list(factors), "valid_cells": 0, "method": None}

    def blocks():
        for win in iter_windows(grid.height, grid.width, block):
            stack = read_stack(paths, win, halo)
            core = stack[:, halo : halo + int(win.height), halo : halo + int(win.width)]
            valid = np.isfinite(core).all(axis=0)
            for f in getattr(bundle, "categorical", []) or []:
                valid &= core[list(bundle.factors).index(f)] != 0
            out = np.full((len(factors), int(win.height), int(win.width)), np.nan, np.float32)
            if valid.any():
                if halo:
                    view = sliding_window_view(stack, (k, k), axis=(1, 2))  # F, H, W, k, k
                    X = view[:, valid].transpose(1, 0, 2, 3)
                else:
                    X = core[:, valid].T
                res = explain_bundle(bundle, X, background, seed=seed)
                info["method"] = res.method
                out[:, valid] = res.values[:, cols].T
                info["valid_cells"] += int(valid.sum())
            yield win, out

    write_cog(
        blocks(),
        out_path,
        grid=grid,
        dtype="float32",
        nodata=np.nan,
        count=len(factors),
        band_names=[f"shap_{f}" for f in factors],
        tags={"unit": "SHAP value, probability units"},
    )
    return info
