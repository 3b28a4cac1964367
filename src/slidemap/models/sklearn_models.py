"""Logistic regression, random forest (scikit-learn) and XGBoost estimators.

Each class wraps one library model behind :class:`~slidemap.models.base.Estimator`. Class
weighting: ``class_weight: balanced`` weights each class by ``n / (2 n_class)`` (the
scikit-learn definition); for XGBoost it sets ``scale_pos_weight = n_negative / n_positive``.
A number for ``class_weight`` is the weight of the positive class relative to the negative
one.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from slidemap.models.base import Estimator

__all__ = [
    "LogisticModel",
    "RandomForestModel",
    "XGBoostModel",
    "sklearn_class_weight",
    "positive_weight",
    "inner_split",
]

log = logging.getLogger(__name__)


def positive_weight(y: np.ndarray, class_weight: Any) -> float:
    """Weight of a positive sample relative to a negative one.

    Parameters
    ----------
    y
        0/1 labels.
    class_weight
        None (1.0), ``"balanced"`` (n_negative / n_positive) or a positive number.

    Returns
    -------
    float
        The ratio; 1.0 when a class is absent.
    """
    if class_weight is None:
        return 1.0
    if class_weight == "balanced":
        n_pos = int(np.sum(y == 1))
        n_neg = int(np.sum(y == 0))
        return n_neg / n_pos if n_pos and n_neg else 1.0
    return float(class_weight)


def sklearn_class_weight(class_weight: Any) -> Any:
    """Translate the config's ``class_weight`` into scikit-learn's argument.

    Parameters
    ----------
    class_weight
        None, ``"balanced"`` or the positive-class weight (a number).

    Returns
    -------
    None, str or dict
        What scikit-learn's ``class_weight`` accepts.
    """
    if class_weight is None or class_weight == "balanced":
        return class_weight
    return {0: 1.0, 1: float(class_weight)}


def inner_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified random split of training rows into fit and early-stopping rows.

    Parameters
    ----------
    y
        0/1 labels of the training rows.
    fraction
        Share of rows held out for early stopping (0-1).
    seed
        Random seed.

    Returns
    -------
    tuple of numpy.ndarray
        Indices of the fit rows and of the validation rows. Each class keeps at least one
        row on the fit side; a class of one row goes to the fit side only.
    """
    rng = np.random.default_rng(seed)
    fit_idx, val_idx = [], []
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        n_val = round(fraction * idx.size)
        n_val = min(n_val, idx.size - 1) if idx.size > 1 else 0
        val_idx.append(idx[:n_val])
        fit_idx.append(idx[n_val:])
    return np.sort(np.concatenate(fit_idx)), np.sort(np.concatenate(val_idx))


def _leaf_size(value: float) -> int | float:
    """``min_samples_leaf``: a count (>= 1) or a fraction (< 1) of the training rows."""
    value = float(value)
    return value if value < 1 else int(value)


class LogisticModel(Estimator):
    """L2-regularised logistic regression on standardised, one-hot encoded factors.

    Parameters (``params``): ``C`` (inverse regularisation strength), ``max_iter``,
    ``class_weight``.
    """

    standardize = True
    onehot = True

    def fit(
        self,
        Z: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        threads: int = 1,
        log_dir: str | os.PathLike | None = None,
        name: str = "fit",
    ) -> LogisticModel:
        """Fit the logistic regression (see :meth:`Estimator.fit`)."""
        from sklearn.linear_model import LogisticRegression

        p = self.params
        self.model = LogisticRegression(
            C=float(p.get("C", 1.0)),
            max_iter=int(p.get("max_iter", 1000)),
            class_weight=sklearn_class_weight(p.get("class_weight")),
            random_state=seed,
        )
        self.model.fit(Z, y)
        return self

    def predict_proba(self, Z: np.ndarray) -> np.ndarray:
        """P(landslide) of each row."""
        return self.model.predict_proba(Z)[:, 1]


class RandomForestModel(Estimator):
    """Random forest (CART trees, Gini) on raw (or ChiMerge-binned) values.

    Parameters (``params``): ``n_estimators``, ``max_depth`` (None = grow fully),
    ``min_samples_leaf`` (a count, or a fraction of the training rows when below 1),
    ``max_features``, ``criterion``, ``class_weight``.
    """

    standardize = False
    onehot = False

    def fit(
        self,
        Z: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        threads: int = 1,
        log_dir: str | os.PathLike | None = None,
        name: str = "fit",
    ) -> RandomForestModel:
        """Fit the forest (see :meth:`Estimator.fit`)."""
        from sklearn.ensemble import RandomForestClassifier

        p = self.params
        max_features = p.get("max_features", "sqrt")
        if isinstance(max_features, float) and max_features.is_integer() and max_features > 1:
            max_features = int(max_features)
        self.model = RandomForestClassifier(
            n_estimators=int(p.get("n_estimators", 100)),
            max_depth=None if p.get("max_depth") is None else int(p["max_depth"]),
            min_samples_leaf=_leaf_size(p.get("min_samples_leaf", 0.03)),
            max_features=max_features,
            criterion=p.get("criterion", "gini"),
            class_weight=sklearn_class_weight(p.get("class_weight")),
            n_jobs=threads,
            random_state=seed,
        )
        self.model.fit(Z, y)
        # scikit-learn sums the trees of a multi-threaded prediction in whatever order the
        # threads finish (last-bit differences between runs); predict single-threaded per
        # chunk of rows instead and spread the chunks over threads.
        self.model.set_params(n_jobs=1)
        self.threads = max(1, int(threads))
        return self

    def predict_proba(self, Z: np.ndarray) -> np.ndarray:
        """P(landslide): the mean of the trees' class-1 leaf frequencies (bitwise reproducible)."""
        threads = getattr(self, "threads", 1)
        if threads == 1 or Z.shape[0] < 4096:
            return self.model.predict_proba(Z)[:, 1]
        from concurrent.futures import ThreadPoolExecutor

        chunks = np.array_split(Z, threads * 4)
        with ThreadPoolExecutor(threads) as pool:  # tree traversal releases the GIL
            parts = list(pool.map(lambda z: self.model.predict_proba(z)[:, 1], chunks))
        return np.concatenate(parts)

    def set_threads(self, threads: int) -> None:
        """Set the threads used for prediction."""
        self.threads = max(1, int(threads))


class XGBoostModel(Estimator):
    """Gradient-boosted trees (XGBoost ``hist``) with early stopping on an inner split.

    The training rows are split (stratified, seeded) into fit rows and
    ``validation_fraction`` early-stopping rows; boosting stops after
    ``early_stopping_rounds`` rounds without a better validation log-loss. With
    ``refit: true`` the model is then refitted on all training rows with the best number of
    rounds, so no training row is wasted.

    Parameters (``params``): ``n_estimators`` (upper bound of rounds), ``learning_rate``,
    ``max_depth``, ``subsample``, ``colsample_bytree``, ``min_child_weight``,
    ``reg_lambda``, ``early_stopping_rounds``, ``validation_fraction``, ``refit``,
    ``class_weight``, ``device`` (cpu | cuda | auto).
    """

    standardize = False
    onehot = False

    def _make(self, n_estimators: int, spw: float, seed: int, threads: int, early: int | None):
        import xgboost as xgb

        p = self.params
        device = p.get("device", "cpu")
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        return xgb.XGBClassifier(
            tree_method="hist",
            device=device,
            n_estimators=n_estimators,
            learning_rate=float(p.get("learning_rate", 0.05)),
            max_depth=int(p.get("max_depth", 2)),
            subsample=float(p.get("subsample", 0.8)),
            colsample_bytree=float(p.get("colsample_bytree", 0.8)),
            min_child_weight=float(p.get("min_child_weight", 1.0)),
            reg_lambda=float(p.get("reg_lambda", 1.0)),
            scale_pos_weight=spw,
            eval_metric="logloss",
            early_stopping_rounds=early,
            n_jobs=threads,
            random_state=seed,
        )

    def fit(
        self,
        Z: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        threads: int = 1,
        log_dir: str | os.PathLike | None = None,
        name: str = "fit",
    ) -> XGBoostModel:
        """Fit with early stopping, then optionally refit on all rows (see class doc)."""
        p = self.params
        spw = positive_weight(y, p.get("class_weight"))
        # OpenMP threads only slow small problems down (and stall badly on shared cores)
        fit_threads = 1 if Z.size < 4_000_000 else threads
        n_max = int(p.get("n_estimators", 500))
        early = p.get("early_stopping_rounds", 30)
        frac = float(p.get("validation_fraction", 0.2))
        fit_idx, val_idx = inner_split(y, frac, seed)
        can_stop = early is not None and val_idx.size > 0 and np.unique(y[val_idx]).size == 2
        if can_stop:
            m = self._make(n_max, spw, seed, fit_threads, int(early))
            m.fit(Z[fit_idx], y[fit_idx], eval_set=[(Z[val_idx], y[val_idx])], verbose=False)
            best = int(m.best_iteration) + 1
            log.info("%s: early stopping chose %d of at most %d rounds", name, best, n_max)
            if p.get("refit", True):
                m = self._make(best, spw, seed, fit_threads, None)
                m.fit(Z, y, verbose=False)
            self.info = {"n_rounds": best}
        else:
            m = self._make(n_max, spw, seed, fit_threads, None)
            m.fit(Z, y, verbose=False)
            self.info = {"n_rounds": n_max}
        m.set_params(n_jobs=threads)  # for whole-map prediction
        if m.get_params().get("device") != "cpu":
            m.set_params(device="cpu")  # predict on the CPU wherever the bundle is loaded
        self.model = m
        return self

    def predict_proba(self, Z: np.ndarray) -> np.ndarray:
        """P(landslide) of each row."""
        return self.model.predict_proba(Z)[:, 1]

    def set_threads(self, threads: int) -> None:
        """Set XGBoost's ``n_jobs`` for prediction."""
        self.model.set_params(n_jobs=threads)
