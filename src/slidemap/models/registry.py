"""The model registry: the estimator class of each algorithm, and fitting one model bundle."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from slidemap.models.base import Estimator, FactorPreprocessor, ModelBundle
from slidemap.models.data import SampleSet
from slidemap.models.presets import ALGORITHMS

__all__ = ["estimator_class", "fit_bundle"]

log = logging.getLogger(__name__)


def estimator_class(algorithm: str) -> type[Estimator]:
    """Return the estimator class of an algorithm (torch is imported only when needed).

    Parameters
    ----------
    algorithm
        One of ``logistic``, ``rf``, ``xgboost``, ``cnn1d``, ``cnn2d``, ``rnn``.

    Returns
    -------
    type
        The :class:`~slidemap.models.base.Estimator` subclass.
    """
    if algorithm in ("logistic", "rf", "xgboost"):
        from slidemap.models import sklearn_models as sk

        return {
            "logistic": sk.LogisticModel,
            "rf": sk.RandomForestModel,
            "xgboost": sk.XGBoostModel,
        }[algorithm]
    if algorithm in ("cnn1d", "cnn2d", "rnn"):
        from slidemap.models import torch_models as tm

        return {"cnn1d": tm.CNN1DModel, "cnn2d": tm.CNN2DModel, "rnn": tm.RNNModel}[algorithm]
    raise ValueError(f"unknown algorithm {algorithm!r}; use one of {ALGORITHMS}")


def fit_bundle(
    algorithm: str,
    params: Mapping[str, Any],
    samples: SampleSet,
    bins: Mapping[str, Sequence[float]] | None,
    *,
    seed: int,
    threads: int = 1,
    log_dir: str | os.PathLike | None = None,
    name: str = "final",
) -> ModelBundle:
    """Fit preprocessing and model on labelled, valid samples.

    Parameters
    ----------
    algorithm
        Algorithm key.
    params
        Resolved hyper-parameters (``discretize`` selects whether ``bins`` are used).
    samples
        Training samples (labels 0/1, every sample cell valid).
    bins
        ChiMerge cut points fitted on exactly these rows' folds, or None.
    seed
        Random seed.
    threads
        CPU threads.
    log_dir
        Folder of per-epoch CSV logs for torch models.
    name
        Name of the fit in the logs.

    Returns
    -------
    ModelBundle
        The fitted bundle.
    """
    cls = estimator_class(algorithm)
    if cls.input_kind != samples.kind:
        raise ValueError(f"{algorithm} needs {cls.input_kind} samples, got {samples.kind}")
    pre = FactorPreprocessor(
        samples.factors,
        samples.categorical,
        bins=dict(bins) if (bins is not None and params.get("discretize")) else None,
        standardize=cls.standardize,
        onehot=cls.onehot,
    ).fit(samples.centre())
    Z = pre.transform(samples.X)
    y = samples.label.astype(np.int64)
    est = cls(params).fit(Z, y, seed=seed, threads=threads, log_dir=log_dir, name=name)
    patch = int(samples.X.shape[-1]) if samples.kind == "patch" else None
    return ModelBundle(algorithm, pre, est, patch_size=patch, params=params)
