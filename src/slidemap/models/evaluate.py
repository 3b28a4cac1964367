"""Training and spatial and random k-fold cross-validation of one algorithm.

For one algorithm, :func:`train_and_evaluate`

1. keeps the labelled training rows (``split == "train"``, label 0/1) whose sample cell
   has data in every factor (the others are counted, not used);
2. runs k-fold CV for each scheme: ``spatial`` uses the ``fold`` column (spatially
   disjoint folds), ``random`` the ``fold_random`` column. For each fold the preprocessing
   (ChiMerge bins fitted without that fold, means/standard deviations, categorical codes)
   and the model are fitted on the other folds only, then the held-out fold is predicted;
3. computes accuracy, precision, recall, F1, Cohen's kappa (at ``threshold``) and ROC AUC
   per fold, their mean and sample standard deviation (ddof = 1) over folds, and the ROC
   curve and AUC of all out-of-fold predictions pooled;
4. fits the final model on all training rows (bins ``"all"``) and scores the test split.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slidemap.errors import InputDataError
from slidemap.io import atomic_path, write_json
from slidemap.models.base import FactorPreprocessor, ModelBundle
from slidemap.models.data import SampleSet, fold_bins
from slidemap.models.metrics import classification_metrics, roc_points, summarize_folds
from slidemap.models.presets import PATCH_ALGORITHMS
from slidemap.models.registry import fit_bundle

__all__ = [
    "cross_validate",
    "TrainingResult",
    "train_and_evaluate",
    "write_training_outputs",
]

log = logging.getLogger(__name__)


def _labelled_valid(samples: SampleSet, split: str) -> tuple[np.ndarray, int]:
    """Mask of labelled rows of ``split`` with data in every factor; count of invalid ones."""
    pre = FactorPreprocessor(samples.factors, samples.categorical)
    valid = pre.valid_mask(samples.centre())
    labelled = (samples.split == split) & np.isin(samples.label, (0, 1))
    return labelled & valid, int((labelled & ~valid).sum())


def cross_validate(
    algorithm: str,
    params: Mapping[str, Any],
    train: SampleSet,
    scheme: str,
    bins: Mapping[str, Any] | None,
    *,
    seed: int,
    threads: int = 1,
    threshold: float = 0.5,
    log_dir: str | os.PathLike | None = None,
) -> tuple[list[dict], pd.DataFrame]:
    """k-fold cross-validation of one algorithm with one fold scheme.

    Parameters
    ----------
    algorithm
        Algorithm key.
    params
        Resolved hyper-parameters.
    train
        Labelled, valid training samples.
    scheme
        ``"spatial"`` or ``"random"`` (selects the fold column and the per-fold bins).
    bins
        The whole ``bins.json`` (per-fold cut points are taken from it), or None.
    seed, threads, threshold, log_dir
        As in :func:`train_and_evaluate`.

    Returns
    -------
    tuple
        Per-fold metric dicts (with ``fold``, ``n_train``; ``skipped`` with the reason when
        the fold could not be fitted) and the out-of-fold predictions (``unit_id``,
        ``scheme``, ``fold``, ``label``, ``probability``).
    """
    fold = train.folds[scheme]
    results, preds = [], []
    for k in sorted(int(f) for f in np.unique(fold) if f >= 0):
        held = fold == k
        fit = ~held
        entry: dict[str, Any] = {"fold": k, "n_train": int(fit.sum())}
        if np.unique(train.label[fit]).size < 2:
            entry["skipped"] = "the other folds hold only one class"
            log.warning("%s %s CV fold %d skipped: %s", algorithm, scheme, k, entry["skipped"])
            results.append(entry)
            continue
        t0 = time.perf_counter()
        bundle = fit_bundle(
            algorithm,
            params,
            train.subset(fit),
            fold_bins(bins, scheme, k),
            seed=seed,
            threads=threads,
            log_dir=log_dir,
            name=f"{scheme}_fold{k}",
        )
        p = bundle.predict_proba(train.X[held])
        entry.update(classification_metrics(train.label[held], p, threshold))
        entry.update({f"model_{key}": v for key, v in bundle.estimator.info.items()})
        results.append(entry)
        log.info(
            "%s %s fold %d: AUC %.3f, F1 %.3f (%d held out, %.1f s)",
            algorithm, scheme, k, entry["auc"], entry["f1"], int(held.sum()),
            time.perf_counter() - t0,
        )  # fmt: skip
        preds.append(
            pd.DataFrame(
                {
                    "unit_id": train.unit_id[held],
                    "scheme": scheme,
                    "fold": k,
                    "label": train.label[held].astype(np.int8),
                    "probability": p,
                }
            )
        )
    table = pd.concat(preds, ignore_index=True) if preds else _empty_predictions()
    return results, table


def _empty_predictions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_id": pd.Series([], dtype=object),
            "scheme": pd.Series([], dtype=str),
            "fold": pd.Series([], dtype=int),
            "label": pd.Series([], dtype=np.int8),
            "probability": pd.Series([], dtype=float),
        }
    )


@dataclass
class TrainingResult:
    """Everything :func:`train_and_evaluate` produces for one algorithm."""

    bundle: ModelBundle
    metrics: dict[str, Any]
    roc: pd.DataFrame
    predictions: pd.DataFrame
    config: dict[str, Any] = field(default_factory=dict)


def train_and_evaluate(
    algorithm: str,
    params: Mapping[str, Any],
    samples: SampleSet,
    bins: Mapping[str, Any] | None = None,
    *,
    schemes: Sequence[str] = ("spatial", "random"),
    seed: int = 42,
    threads: int = 1,
    threshold: float = 0.5,
    log_dir: str | os.PathLike | None = None,
    unit: str = "pixels",
) -> TrainingResult:
    """Cross-validate one algorithm, fit the final model and score the test split.

    Parameters
    ----------
    algorithm
        Algorithm key.
    params
        Resolved hyper-parameters (:func:`~slidemap.models.presets.resolve_params`).
    samples
        All samples of the unit (train and test split; unlabelled rows are ignored).
    bins
        The unit's ``bins.json`` (:func:`~slidemap.models.data.read_bins`), needed when
        ``params["discretize"]`` is true.
    schemes
        CV schemes to run (``spatial``, ``random``).
    seed
        Random seed of every fit.
    threads
        CPU threads.
    threshold
        Probability threshold of the threshold metrics.
    log_dir
        Folder for per-epoch CSV logs of torch models.
    unit
        ``pixels`` or ``plc`` (recorded in the metrics).

    Returns
    -------
    TrainingResult
        Final bundle, metrics (``cv.<scheme>.folds/mean/std/pooled_auc``, ``test``),
        ROC points (``scheme``, ``fpr``, ``tpr``, ``threshold``), predictions and the
        configuration actually used.
    """
    if params.get("discretize") and bins is None:
        raise InputDataError(
            None,
            f"{algorithm} is configured with discretize: true but no bins.json was given.",
            "run the chimerge rule first, or set discretize: false.",
        )
    use_bins = bins if params.get("discretize") else None
    train_mask, n_bad_train = _labelled_valid(samples, "train")
    test_mask, n_bad_test = _labelled_valid(samples, "test")
    if n_bad_train or n_bad_test:
        log.warning(
            "%d training and %d test samples have nodata in a factor and are not used",
            n_bad_train, n_bad_test,
        )  # fmt: skip
    train = samples.subset(train_mask)
    if np.unique(train.label).size < 2:
        raise InputDataError(
            samples.source,
            f"the training split holds {train.n} labelled samples of one class only "
            f"({np.unique(train.label).tolist()}); a classifier needs both.",
            "check the inventory and the sampling settings (negatives, buffer, ratio).",
            column="label",
        )
    metrics: dict[str, Any] = {
        "model": algorithm,
        "unit": unit,
        "threshold": threshold,
        "n_train": train.n,
        "n_train_positive": int(train.label.sum()),
        "n_test": int(test_mask.sum()),
        "n_test_positive": int(samples.label[test_mask].sum()),
        "n_nodata_excluded": {"train": n_bad_train, "test": n_bad_test},
        "cv": {},
    }
    rocs, preds = [], []
    for scheme in schemes:
        t0 = time.perf_counter()
        folds, oof = cross_validate(
            algorithm, params, train, scheme, use_bins,
            seed=seed, threads=threads, threshold=threshold, log_dir=log_dir,
        )  # fmt: skip
        summary = summarize_folds(folds)
        pooled = (
            classification_metrics(oof["label"], oof["probability"], threshold)["auc"]
            if len(oof)
            else math.nan
        )
        metrics["cv"][scheme] = {"folds": folds, **summary, "pooled_auc": pooled}
        log.info(
            "%s %s CV: AUC %.3f ± %.3f over %d folds (%.1f s)",
            algorithm, scheme, summary["mean"]["auc"], summary["std"]["auc"],
            summary["n_folds"]["auc"], time.perf_counter() - t0,
        )  # fmt: skip
        if len(oof) and oof["label"].nunique() == 2:
            rocs.append(roc_points(oof["label"], oof["probability"]).assign(scheme=scheme))
        preds.append(oof)
    t0 = time.perf_counter()
    bundle = fit_bundle(
        algorithm,
        params,
        train,
        fold_bins(use_bins, None, None),
        seed=seed,
        threads=threads,
        log_dir=log_dir,
        name="final",
    )
    log.info(
        "%s final model fitted on %d samples (%.1f s)", algorithm, train.n, time.perf_counter() - t0
    )
    metrics["final"] = dict(bundle.estimator.info)
    metrics["test"] = None
    if test_mask.any():
        test = samples.subset(test_mask)
        p = bundle.predict_proba(test.X)
        metrics["test"] = classification_metrics(test.label, p, threshold)
        log.info("%s test split: AUC %.3f", algorithm, metrics["test"]["auc"])
        if np.unique(test.label).size == 2:
            rocs.append(roc_points(test.label, p).assign(scheme="test"))
        preds.append(
            pd.DataFrame(
                {
                    "unit_id": test.unit_id,
                    "scheme": "test",
                    "fold": -1,
                    "label": test.label.astype(np.int8),
                    "probability": p,
                }
            )
        )
    roc = (
        pd.concat(rocs, ignore_index=True)[["scheme", "fpr", "tpr", "threshold"]]
        if rocs
        else pd.DataFrame(columns=["scheme", "fpr", "tpr", "threshold"])
    )
    predictions = (
        pd.concat([p for p in preds if len(p)], ignore_index=True)
        if any(len(p) for p in preds)
        else _empty_predictions()
    )
    config = {
        "algorithm": algorithm,
        "unit": unit,
        "params": dict(params),
        "seed": seed,
        "threshold": threshold,
        "cv_schemes": list(schemes),
        "input": "patches" if algorithm in PATCH_ALGORITHMS else "vectors",
        "patch_size": bundle.patch_size,
        "preprocessing": bundle.preprocessor.describe(),
        "versions": _versions(algorithm),
    }
    return TrainingResult(bundle, metrics, roc, predictions, config)


def _versions(algorithm: str) -> dict[str, str]:
    """Versions of the libraries an algorithm depends on."""
    import sklearn

    import slidemap

    out = {
        "slidemap": getattr(slidemap, "__version__", "unknown"),
        "scikit-learn": sklearn.__version__,
    }
    if algorithm == "xgboost":
        import xgboost

        out["xgboost"] = xgboost.__version__
    if algorithm in ("cnn1d", "cnn2d", "rnn"):
        import pytorch_lightning
        import torch

        out["torch"] = torch.__version__
        out["pytorch-lightning"] = pytorch_lightning.__version__
    return out


def _finite(obj: Any) -> Any:
    """Replace non-finite floats by None, recursively (JSON has no NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_training_outputs(result: TrainingResult, outdir: str | os.PathLike) -> dict[str, Path]:
    """Write model.joblib, metrics.json, roc.csv, config.json and cv_predictions.parquet.

    Parameters
    ----------
    result
        The training result.
    outdir
        ``results/<study>/models/<model>/``.

    Returns
    -------
    dict
        Output name -> path.
    """
    out = Path(outdir)
    paths = {
        "model": out / "model.joblib",
        "metrics": out / "metrics.json",
        "roc": out / "roc.csv",
        "config": out / "config.json",
        "predictions": out / "cv_predictions.parquet",
    }
    result.bundle.save(paths["model"])
    write_json(_finite(result.metrics), paths["metrics"])
    write_json(_finite(result.config), paths["config"])
    with atomic_path(paths["roc"]) as tmp:
        result.roc.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(paths["predictions"]) as tmp:
        result.predictions.to_parquet(tmp, index=False)
    return paths
