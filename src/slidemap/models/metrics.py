"""Classification metrics, ROC points and their summary over CV folds."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["METRICS", "classification_metrics", "roc_points", "summarize_folds"]

log = logging.getLogger(__name__)


#: Metrics reported per fold (accuracy ... kappa at the threshold; auc threshold-free).
METRICS = ("accuracy", "precision", "recall", "f1", "kappa", "auc")


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, precision, recall, F1, Cohen's kappa and ROC AUC of probabilities.

    Parameters
    ----------
    y
        0/1 labels.
    p
        Predicted P(landslide).
    threshold
        Probability at or above which a sample is called a landslide.

    Returns
    -------
    dict
        The metrics plus ``n`` and ``n_positive``; ``auc`` is NaN when only one class is
        present, precision is 0 when nothing is called a landslide.
    """
    from sklearn import metrics as skm

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    pred = (p >= threshold).astype(int)
    out = {
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "accuracy": float(skm.accuracy_score(y, pred)) if y.size else math.nan,
        "precision": float(skm.precision_score(y, pred, zero_division=0)),
        "recall": float(skm.recall_score(y, pred, zero_division=0)),
        "f1": float(skm.f1_score(y, pred, zero_division=0)),
        "kappa": math.nan,
        "auc": math.nan,
    }
    if np.unique(y).size == 2:
        out["auc"] = float(skm.roc_auc_score(y, p))
    if np.unique(np.concatenate([y, pred])).size == 2:
        out["kappa"] = float(skm.cohen_kappa_score(y, pred))
    elif y.size:
        out["kappa"] = 1.0 if np.array_equal(y, pred) else 0.0
    return out


def roc_points(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """ROC curve points.

    Parameters
    ----------
    y
        0/1 labels (both classes present).
    p
        Predicted probabilities.

    Returns
    -------
    pandas.DataFrame
        ``fpr``, ``tpr``, ``threshold`` (the first threshold is +inf), from scikit-learn's
        ``roc_curve`` with intermediate collinear points dropped.
    """
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(np.asarray(y, dtype=int), np.asarray(p, dtype=float))
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})


def summarize_folds(folds: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (ddof = 1) of each metric over folds.

    Parameters
    ----------
    folds
        Per-fold metric dicts (skipped folds have ``skipped`` set and are ignored).

    Returns
    -------
    dict
        ``{"mean": {metric: value}, "std": {...}, "n_folds": {...}}``; a metric undefined
        in a fold (AUC of a one-class fold) is left out of that metric's statistics.
    """
    rows = [f for f in folds if not f.get("skipped")]
    mean, std, count = {}, {}, {}
    for m in METRICS:
        vals = np.array([r[m] for r in rows if r.get(m) is not None and np.isfinite(r[m])])
        count[m] = int(vals.size)
        mean[m] = float(vals.mean()) if vals.size else math.nan
        std[m] = float(vals.std(ddof=1)) if vals.size > 1 else math.nan
    return {"mean": mean, "std": std, "n_folds": count}
