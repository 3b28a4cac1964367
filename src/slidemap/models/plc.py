"""The potential-landslide classifier step (rule ``train_plc``): train it, or keep the rules.

When the PLC samples can train a classifier, :func:`run_plc` cross-validates it, fits the
final model and classifies every candidate (``source = "classifier"`` in
``hotspots/candidates_classified.parquet``), exactly as the susceptibility models are
trained.

When they cannot (the samples stage found fewer than :data:`slidemap.folds.MIN_PER_CLASS`
labelled candidates of a class, e.g. a landslide-only inventory whose candidates the
rule-based pre-classification rarely rejects, or folds that cannot be made; see
``classifier_skipped`` in ``samples/plc_summary.json``), the step is **skipped** instead of
stopping the workflow: a WARNING names the reason and the fix, every candidate keeps its
rule-based class (``predicted = precls_landslide``, ``probability`` NaN, ``source =
"rule"``), and every declared output is still written:

- ``metrics.json``: ``skipped`` (the reason), ``fix``, the label counts; no metrics;
- ``roc.csv``: the header only; ``cv_predictions.parquet``: no rows, the usual columns;
- ``config.json``: the configured algorithm and parameters, ``skipped`` and ``model: rule``;
- ``model.joblib``: a :class:`RuleModel`, a stand-in that "predicts" the rule-based class
  of candidates (it is not a :class:`~slidemap.models.base.ModelBundle`: nothing maps with
  the PLC model).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from slidemap.io import atomic_path, read_json, write_json

if TYPE_CHECKING:
    from slidemap.models.base import ModelBundle
    from slidemap.models.data import SampleSet

__all__ = [
    "classify_candidates",
    "RuleModel",
    "skip_reason",
    "rule_classification",
    "write_skipped_outputs",
    "run_plc",
    "CLASSIFIED_COLUMNS",
]

log = logging.getLogger(__name__)

#: Columns of ``hotspots/candidates_classified.parquet``, in order.
CLASSIFIED_COLUMNS = ["cand_id", "label", "probability", "predicted", "source"]


@dataclass
class RuleModel:
    """``models/plc/model.joblib`` of a skipped PLC classifier: the rule-based class.

    It stands in for the classifier that could not be trained and records why; its
    :meth:`predict` returns the rule-based class of candidates (``precls_landslide``).

    Attributes
    ----------
    reason
        Why the classifier was skipped.
    fix
        What trains it.
    column
        The candidate column holding the rule-based class (1 landslide, 0 rejected).
    kind
        Always ``"rule"``.
    """

    reason: str
    fix: str
    column: str = "precls_landslide"
    kind: str = "rule"

    def predict(self, candidates: pd.DataFrame) -> np.ndarray:
        """Rule-based class of candidates.

        Parameters
        ----------
        candidates
            Candidates (``candidates.gpkg`` or PLC samples) with the rule column.

        Returns
        -------
        numpy.ndarray
            int8: 1 potential landslide, 0 rejected; 1 where the column or its value is
            missing (nothing is rejected without a rule).
        """
        if self.column not in candidates.columns:
            return np.ones(len(candidates), dtype=np.int8)
        v = pd.to_numeric(candidates[self.column], errors="coerce").to_numpy(np.float64)
        return np.where(np.isnan(v), 1, v != 0).astype(np.int8)

    def save(self, path: str | os.PathLike) -> None:
        """Write the model to one file (joblib pickle), atomically.

        Parameters
        ----------
        path
            Output file, conventionally ``model.joblib``.
        """
        import joblib

        with atomic_path(path) as tmp:
            joblib.dump(self, tmp, compress=3)


def skip_reason(
    summary: Mapping[str, Any] | None, labels: np.ndarray, split: np.ndarray
) -> dict[str, str] | None:
    """Why the PLC classifier is not trained, or None when it can be.

    Parameters
    ----------
    summary
        ``samples/plc_summary.json`` (its ``classifier_skipped``: None or ``{"reason",
        "fix"}``), or None.
    labels
        Labels of the PLC samples (1, 0, -1).
    split
        Their ``split`` (train, test, predict).

    Returns
    -------
    dict or None
        ``{"reason", "fix"}``: from the samples stage, or, for samples written without that
        decision, when the training rows do not hold both classes.
    """
    skipped = (summary or {}).get("classifier_skipped")
    if skipped:
        if isinstance(skipped, Mapping):
            return {"reason": str(skipped["reason"]), "fix": str(skipped.get("fix", ""))}
        return {"reason": str(skipped), "fix": ""}
    train = np.asarray(split) == "train"
    classes = np.unique(np.asarray(labels)[train & np.isin(labels, (0, 1))])
    if classes.size < 2:
        return {
            "reason": (
                f"the training split of the PLC samples holds class(es) {classes.tolist()} "
                "only; the candidates keep their rule-based class (precls_landslide)"
            ),
            "fix": "rerun rule plc_samples (it says what the labels lack)",
        }
    return None


def rule_classification(samples: pd.DataFrame, model: RuleModel | None = None) -> pd.DataFrame:
    """``candidates_classified`` of a skipped classifier: every candidate's rule-based class.

    Parameters
    ----------
    samples
        The PLC samples (``unit_id`` = ``cand_id``, ``label``, ``precls_landslide``).
    model
        The rule (default: ``precls_landslide``).

    Returns
    -------
    pandas.DataFrame
        :data:`CLASSIFIED_COLUMNS`: ``probability`` NaN, ``predicted`` the rule's class,
        ``source`` ``rule``; sorted by ``cand_id``.
    """
    model = model or RuleModel(reason="", fix="")
    if model.column not in samples.columns:
        log.warning(
            "the PLC samples have no %s column (samples of an older run): every candidate "
            "counts as a potential landslide",
            model.column,
        )
    df = pd.DataFrame(
        {
            "cand_id": samples["unit_id"].to_numpy(),
            "label": pd.to_numeric(samples["label"]).to_numpy().astype(np.int8),
            "probability": np.full(len(samples), np.nan),
            "predicted": model.predict(samples),
            "source": pd.Series(["rule"] * len(samples), dtype="string"),
        }
    )
    return df.sort_values("cand_id", kind="stable").reset_index(drop=True)


def write_skipped_outputs(
    outdir: str | os.PathLike,
    model: RuleModel,
    *,
    algorithm: str,
    params: Mapping[str, Any],
    seed: int,
    threshold: float,
    schemes: Sequence[str],
    labels: np.ndarray,
    summary: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the five model files of a skipped PLC classifier (see the module docstring).

    Parameters
    ----------
    outdir
        ``results/<study>/models/plc/``.
    model
        The rule model (reason and fix).
    algorithm, params, seed, threshold, schemes
        The configured classifier (recorded in ``config.json``).
    labels
        Labels of the PLC samples (counted in ``metrics.json``).
    summary
        The PLC samples summary (label sources, minimum per class), or None.

    Returns
    -------
    dict
        Output name -> path.
    """
    from slidemap.folds import MIN_PER_CLASS
    from slidemap.models.evaluate import _empty_predictions

    out = Path(outdir)
    summary = summary or {}
    labels = np.asarray(labels)
    paths = {
        "model": out / "model.joblib",
        "metrics": out / "metrics.json",
        "roc": out / "roc.csv",
        "config": out / "config.json",
        "predictions": out / "cv_predictions.parquet",
    }
    model.save(paths["model"])
    metrics = {
        "model": algorithm,
        "unit": "plc",
        "skipped": model.reason,
        "fix": model.fix,
        "classified_by": "rule",
        "min_per_class": summary.get("min_per_class", MIN_PER_CLASS),
        "labels": {str(k): int((labels == k).sum()) for k in (1, 0, -1)},
        "label_sources": dict(summary.get("label_sources", {})),
        "negatives": summary.get("negatives"),
    }
    write_json(metrics, paths["metrics"])
    config = {
        "algorithm": algorithm,
        "unit": "plc",
        "params": dict(params),
        "seed": seed,
        "threshold": threshold,
        "cv_schemes": list(schemes),
        "skipped": model.reason,
        "model": f"rule: predicted = {model.column} (slidemap.models.plc.RuleModel)",
    }
    write_json(config, paths["config"])
    with atomic_path(paths["roc"]) as tmp:
        pd.DataFrame(columns=["scheme", "fpr", "tpr", "threshold"]).to_csv(tmp, index=False)
    with atomic_path(paths["predictions"]) as tmp:
        _empty_predictions().to_parquet(tmp, index=False)
    return paths


def run_plc(
    *,
    samples: str | os.PathLike,
    selected: str | os.PathLike,
    summary: str | os.PathLike | None,
    bins: str | os.PathLike | None,
    outdir: str | os.PathLike,
    classified: str | os.PathLike,
    algorithm: str,
    params: Mapping[str, Any],
    seed: int,
    threads: int,
    threshold: float,
    classify_threshold: float,
    schemes: Sequence[str],
    log_dir: str | os.PathLike | None = None,
) -> str:
    """Train the PLC classifier and classify the candidates, or skip it and keep the rules.

    Parameters
    ----------
    samples, selected, summary, bins
        ``samples/plc.parquet``, ``selection/plc/selected.json``,
        ``samples/plc_summary.json`` (or None) and ``discretize/plc/bins.json`` (or None).
    outdir
        ``results/<study>/models/plc/`` (the five model files).
    classified
        ``hotspots/candidates_classified.parquet``.
    algorithm, params
        The classifier and its resolved hyper-parameters.
    seed, threads, threshold, schemes, log_dir
        As for :func:`slidemap.models.evaluate.train_and_evaluate`.
    classify_threshold
        Probability at or above which a candidate is a potential landslide.

    Returns
    -------
    str
        ``"classifier"`` or ``"rule"`` (what classified the candidates).
    """
    from slidemap.models.data import load_vector_samples, read_bins
    from slidemap.models.evaluate import train_and_evaluate, write_training_outputs

    logger = logging.getLogger("slidemap")
    info = read_json(summary) if summary is not None else None
    if log_dir is not None:
        shutil.rmtree(log_dir, ignore_errors=True)
    table = pd.read_parquet(samples)
    skipped = skip_reason(info, table["label"].to_numpy(), table["split"].astype(str).to_numpy())
    if skipped is not None:
        model = RuleModel(reason=skipped["reason"], fix=skipped["fix"])
        logger.warning(
            "potential-landslide classifier skipped: %s.%s",
            model.reason,
            f" Fix: {model.fix}." if model.fix else "",
        )
        write_skipped_outputs(
            outdir,
            model,
            algorithm=algorithm,
            params=params,
            seed=seed,
            threshold=threshold,
            schemes=schemes,
            labels=table["label"].to_numpy(),
            summary=info,
        )
        result = rule_classification(table, model)
        source = "rule"
    else:
        data = load_vector_samples(samples, selected)
        training = train_and_evaluate(
            algorithm,
            params,
            data,
            read_bins(bins) if bins is not None else None,
            schemes=schemes,
            seed=seed,
            threads=threads,
            threshold=threshold,
            log_dir=log_dir,
            unit="plc",
        )
        write_training_outputs(training, outdir)
        result = classify_candidates(training.bundle, data, classify_threshold)
        source = "classifier"
    unlabelled = result["label"] == -1
    logger.info(
        "%d candidates classified by the %s; %d of the %d unlabelled ones are potential landslides",
        len(result),
        "classifier" if source == "classifier" else "rule-based pre-classification",
        int((result.loc[unlabelled, "predicted"] == 1).sum()),
        int(unlabelled.sum()),
    )
    with atomic_path(classified) as tmp:
        result[CLASSIFIED_COLUMNS].to_parquet(tmp, index=False)
    return source


def classify_candidates(
    bundle: ModelBundle, samples: SampleSet, threshold: float = 0.5
) -> pd.DataFrame:
    """Probability and class of every potential-landslide candidate.

    Parameters
    ----------
    bundle
        The PLC classifier.
    samples
        All PLC samples (labelled and unlabelled, ``unit_id`` = ``cand_id``).
    threshold
        Probability at or above which a candidate is called a potential landslide.

    Returns
    -------
    pandas.DataFrame
        ``cand_id``, ``label`` (observed: 1, 0, or -1 unlabelled), ``probability``,
        ``predicted`` (1 potential landslide, 0 not; -1 and probability NaN where a factor
        is nodata), ``source`` (``classifier``; ``rule`` rows come from
        :func:`slidemap.models.plc.rule_classification`), sorted by ``cand_id``.
    """
    p = bundle.predict_proba(samples.X)
    predicted = np.where(np.isnan(p), -1, p >= threshold).astype(np.int8)
    df = pd.DataFrame(
        {
            "cand_id": samples.unit_id,
            "label": samples.label.astype(np.int8),
            "probability": p,
            "predicted": predicted,
            "source": pd.Series(["classifier"] * len(p), dtype="string"),
        }
    )
    return df.sort_values("cand_id", kind="stable").reset_index(drop=True)
