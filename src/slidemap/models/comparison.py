"""Comparing the trained models: the CV table and the ROC figure of every model."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from slidemap.io import atomic_path
from slidemap.models.metrics import METRICS

__all__ = ["compare_models", "plot_roc"]

log = logging.getLogger(__name__)


def compare_models(metrics: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per model: spatial- and random-CV AUC mean ± std, test AUC, other metrics.

    Parameters
    ----------
    metrics
        Model name -> its ``metrics.json`` content.

    Returns
    -------
    pandas.DataFrame
        Sorted by spatial-CV AUC (best first); ``auc_gap`` is random minus spatial mean
        AUC (the optimism of random CV), ``vs_logistic`` the spatial-CV AUC difference to
        the logistic baseline when it was trained.
    """
    rows = []
    for name, m in metrics.items():
        row: dict[str, Any] = {"model": name}
        for scheme in ("spatial", "random"):
            cv = m.get("cv", {}).get(scheme)
            for metric in METRICS:
                mean = cv["mean"].get(metric) if cv else None
                std = cv["std"].get(metric) if cv else None
                row[f"{scheme}_{metric}_mean"] = math.nan if mean is None else mean
                row[f"{scheme}_{metric}_std"] = math.nan if std is None else std
        test = m.get("test") or {}
        row["test_auc"] = math.nan if test.get("auc") is None else test["auc"]
        row["n_train"] = m.get("n_train")
        row["n_test"] = m.get("n_test")
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["auc_gap"] = df["random_auc_mean"] - df["spatial_auc_mean"]
    base = df.loc[df["model"] == "logistic", "spatial_auc_mean"]
    df["vs_logistic"] = df["spatial_auc_mean"] - (base.iloc[0] if len(base) else math.nan)
    first = ["model", "spatial_auc_mean", "spatial_auc_std", "random_auc_mean", "random_auc_std",
             "auc_gap", "vs_logistic", "test_auc"]  # fmt: skip
    df = df[first + [c for c in df.columns if c not in first]]
    return df.sort_values("spatial_auc_mean", ascending=False, na_position="last").reset_index(
        drop=True
    )


def plot_roc(
    rocs: Mapping[str, pd.DataFrame],
    metrics: Mapping[str, Mapping[str, Any]],
    path: str | os.PathLike,
) -> None:
    """Plot the ROC curves of every model, one panel per scheme (spatial CV, random CV, test).

    Parameters
    ----------
    rocs
        Model name -> its ``roc.csv`` table.
    metrics
        Model name -> its ``metrics.json`` (for the AUC in the legend).
    path
        Output PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {
        "spatial": "spatial CV (out-of-fold)",
        "random": "random CV (out-of-fold)",
        "test": "test split (final model)",
    }
    schemes = [s for s in titles if any((r["scheme"] == s).any() for r in rocs.values())]
    schemes = schemes or ["spatial"]
    fig, axes = plt.subplots(1, len(schemes), figsize=(4.6 * len(schemes), 4.6), squeeze=False)
    for ax, scheme in zip(axes[0], schemes, strict=True):
        for name, roc in rocs.items():
            part = roc[roc["scheme"] == scheme]
            if part.empty:
                continue
            m = metrics.get(name, {})
            if scheme == "test":
                auc = (m.get("test") or {}).get("auc")
                label = f"{name} (AUC {auc:.3f})" if auc is not None else name
            else:
                cv = m.get("cv", {}).get(scheme, {})
                mean, std = cv.get("mean", {}).get("auc"), cv.get("std", {}).get("auc")
                label = name if mean is None else f"{name} (AUC {mean:.3f} ± {std or 0:.3f})"
            ax.plot(part["fpr"], part["tpr"], label=label, lw=1.6)
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", title=titles[scheme])
        ax.set_aspect("equal")
        ax.legend(loc="lower right", fontsize=8)
    axes[0][0].set_ylabel("true positive rate")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    plt.close(fig)
