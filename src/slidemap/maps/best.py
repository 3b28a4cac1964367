"""Choice of the best susceptibility model (its map feeds the potential-landslide map).

The chosen model's map is also the one of the interactive map and of the SHAP rasters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from slidemap.errors import ConfigError

__all__ = ["model_scores", "choose_best_model"]


def _get(d: Mapping, *keys: str) -> Any:
    """Nested lookup; None when any level is missing."""
    for k in keys:
        if not isinstance(d, Mapping) or k not in d:
            return None
        d = d[k]
    return d


def model_scores(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Read the AUCs the choice uses from one model's ``metrics.json``.

    Parameters
    ----------
    metrics
        Content of ``models/<model>/metrics.json`` (``cv.spatial.mean.auc``,
        ``test.auc``).

    Returns
    -------
    dict
        ``spatial_cv_auc`` and ``test_auc`` (None when absent or not finite).
    """

    def finite(v):
        return float(v) if isinstance(v, int | float) and math.isfinite(v) else None

    return {
        "spatial_cv_auc": finite(_get(metrics, "cv", "spatial", "mean", "auc")),
        "test_auc": finite(_get(metrics, "test", "auc")),
    }


def choose_best_model(metrics: Mapping[str, Mapping[str, Any]], choice: str | None = None) -> dict:
    """Pick the model whose map represents the study.

    Parameters
    ----------
    metrics
        Model name -> its ``metrics.json`` content.
    choice
        ``mapping.best_model``: a model name, or None to pick the highest spatial-CV AUC
        (the test AUC when no model has a spatial-CV AUC; ties go to the first name).

    Returns
    -------
    dict
        ``model``, ``by`` (``config``, ``spatial_cv_auc`` or ``test_auc``), ``scores``
        (name -> AUCs).

    Raises
    ------
    ConfigError
        If ``choice`` names a model that was not trained.
    """
    scores = {name: model_scores(m) for name, m in sorted(metrics.items())}
    if not scores:
        raise ConfigError("no susceptibility model is enabled; enable one under `models`.")
    if choice is not None:
        if choice not in scores:
            raise ConfigError(
                f"config key 'mapping.best_model': {choice!r} is not a trained model "
                f"(trained: {', '.join(scores)})."
            )
        return {"model": choice, "by": "config", "scores": scores}
    for key in ("spatial_cv_auc", "test_auc"):
        ranked = [(s[key], name) for name, s in scores.items() if s[key] is not None]
        if ranked:
            best = max(ranked, key=lambda t: t[0])  # first name wins ties (sorted order)
            return {"model": best[1], "by": key, "scores": scores}
    return {"model": next(iter(scores)), "by": "first (no AUC recorded)", "scores": scores}
