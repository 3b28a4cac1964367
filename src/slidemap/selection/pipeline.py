"""Factor selection of one samples unit from its files and the config sections.

:func:`make_selection` reads a unit's samples and summary and runs
:func:`slidemap.selection.steps.select_factors` with the ``selection`` and ``discretize``
config sections. When the samples stage skipped the unit's classifier (``classifier_skipped``
in its summary: the PLC unit with too few labelled candidates), there are no training rows:
every factor is kept unselected (:func:`skipped_selection`) and the figures say why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from os import PathLike

import pandas as pd

from slidemap.selection.steps import select_factors

__all__ = ["make_selection", "skipped_selection"]

log = logging.getLogger("slidemap.selection")  # the package logger, as before the split


def skipped_selection(
    factors: Sequence[str], categorical: Sequence[str], reason: str
) -> tuple[dict, dict]:
    """Keep every factor, unselected, for a unit whose classifier is skipped.

    Parameters
    ----------
    factors
        Candidate factor columns, in output order.
    categorical
        The candidates that are categorical codes.
    reason
        Why the classifier is skipped (from the samples summary).

    Returns
    -------
    selected : dict
        ``{"factors": [...], "categorical": [...]}``: every factor.
    report : dict
        As :func:`select_factors`'s, with ``skipped`` (the reason), no statistics (None),
        ``n_train`` 0 and an empty Pearson matrix.
    """
    cat = [f for f in factors if f in set(categorical)]
    note = "kept without selection: the classifier is skipped (no training rows)"
    rep = {
        f: {
            "kind": "categorical" if f in cat else "continuous",
            "pearson_max_abs_r": None,
            "pearson_partner": None,
            "vif": None,
            "tol": None,
            "vif_selected": None,
            "tol_selected": None,
            "igr": None,
            "n_bins": None,
            "rf_importance": None,
            "rf_importance_std": None,
            "selected": True,
            "dropped": False,
            "step": None,
            "reason": note,
        }
        for f in factors
    }
    selected = {"factors": list(factors), "categorical": cat}
    report = {
        "skipped": reason,
        "factors": rep,
        "selected": selected,
        "pearson": {"factors": [], "matrix": []},
        "n_train": 0,
        "n_train_positives": 0,
        "settings": {},
    }
    log.warning("no factor selection: %s", reason)
    return selected, report


def make_selection(
    samples: str | PathLike,
    summary: str | PathLike,
    *,
    selection: Mapping,
    discretize: Mapping,
    n_jobs: int = 1,
) -> tuple[dict, dict]:
    """Run :func:`select_factors` on a samples file with the config sections.

    Parameters
    ----------
    samples
        ``pixels.parquet`` or ``plc.parquet``.
    summary
        The matching ``*_summary.json`` (``features`` and ``categorical`` lists).
    selection, discretize
        The config sections of the same names (defaults filled).
    n_jobs
        Parallel jobs of the random forest.

    Returns
    -------
    selected, report : dict
        See :func:`select_factors`.
    """
    from slidemap.io import read_json

    info = read_json(summary)
    skipped = info.get("classifier_skipped")
    if skipped:
        reason = skipped["reason"] if isinstance(skipped, Mapping) else str(skipped)
        return skipped_selection(info["features"], info["categorical"], reason)
    frame = pd.read_parquet(samples)
    return select_factors(
        frame,
        info["features"],
        info["categorical"],
        pearson_threshold=selection["pearson_threshold"],
        vif_threshold=selection["vif_threshold"],
        min_igr=selection["min_igr"],
        min_importance=selection["min_importance"],
        keep=selection["keep"],
        drop=selection["drop"],
        max_intervals=discretize["max_intervals"],
        min_intervals=discretize["min_intervals"],
        significance=discretize["significance"],
        rf_trees=selection["rf_trees"],
        rf_repeats=selection["rf_repeats"],
        seed=selection["seed"],
        n_jobs=n_jobs,
    )
