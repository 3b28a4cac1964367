"""The selection procedure: :func:`select_factors` and the state of its steps (``_Selection``).

The procedure combines the three method papers:

1. factors named in ``selection.drop`` are removed; factors constant on the training rows
   are removed (they carry no information and break VIF);
2. information-gain ratio (IGR, seed 002 Eqs. 8–11) of every factor, on its ChiMerge bins
   (continuous) or its codes (categorical);
3. random-forest permutation importance (seed 004) of every factor: a forest fitted on 70 %
   of the training rows, ROC AUC drop on the other 30 % when a factor is permuted;
4. Pearson pruning (seed 002): for every pair of continuous factors with |r| above the
   threshold (0.7), strongest pair first, the factor with the lower IGR is dropped;
5. factors whose IGR is at or below ``min_igr`` are dropped ("null predictive ability");
6. iterative VIF (seeds 000, 004): while a continuous factor has VIF above the threshold
   (10, i.e. TOL = 1/VIF below 0.1), the one with the lowest RF importance among them is
   dropped and VIF is recomputed.

Factors in ``selection.keep`` are never dropped. Categorical factors enter IGR and RF
importance only (their codes are not ordinal, so Pearson and VIF do not apply).

The statistics come from :mod:`slidemap.selection.measures`. A unit whose classifier the
samples stage skipped has no training rows and no selection: see
:func:`slidemap.selection.pipeline.skipped_selection`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from slidemap.discretize import apply_bins, fit_chimerge
from slidemap.errors import ConfigError
from slidemap.selection.measures import (
    information_gain_ratio,
    pearson_matrix,
    rf_permutation_importance,
    vif,
)

__all__ = ["select_factors"]

log = logging.getLogger("slidemap.selection")  # the package logger, as before the split


def _finite(v: float | None, digits: int = 6) -> float | None:
    """Round a float for the report; None for NaN/inf/None."""
    if v is None or not np.isfinite(v):
        return None
    return round(float(v), digits)


def select_factors(
    frame: pd.DataFrame,
    factors: Sequence[str],
    categorical: Sequence[str] = (),
    *,
    pearson_threshold: float = 0.7,
    vif_threshold: float = 10.0,
    min_igr: float | None = 0.0,
    min_importance: float | None = None,
    keep: Sequence[str] = (),
    drop: Sequence[str] = (),
    max_intervals: int | None = 8,
    min_intervals: int = 2,
    significance: float | None = 0.95,
    rf_trees: int = 100,
    rf_repeats: int = 10,
    seed: int = 42,
    n_jobs: int = 1,
    label: str = "label",
) -> tuple[dict, dict]:
    """Select factors on the training rows (see the module docstring for the steps).

    Parameters
    ----------
    frame
        Samples with ``split`` and the label and factor columns.
    factors
        Candidate factor columns, in output order.
    categorical
        The candidates that are categorical codes.
    pearson_threshold
        |r| above which one factor of a pair is dropped (seed 002: 0.7).
    vif_threshold
        VIF above which factors are dropped iteratively (seeds 000/004: 10, TOL < 0.1).
    min_igr
        Factors with IGR at or below this are dropped; None = no IGR rule.
    min_importance
        Factors with RF permutation importance (AUC drop) at or below this are dropped;
        None = no importance rule.
    keep, drop
        Factors always kept / always dropped.
    max_intervals, min_intervals, significance
        ChiMerge settings for the IGR of continuous factors.
    rf_trees, rf_repeats
        Random forest size and permutation repeats.
    seed
        Seed of the random forest and its hold-out split.
    n_jobs
        Parallel jobs of the random forest.
    label
        Label column.

    Returns
    -------
    selected : dict
        ``{"factors": [...], "categorical": [...]}`` in the order of ``factors``.
    report : dict
        ``{"factors": {name: {...}}, "pearson": {"factors", "matrix"}, "settings": ...,
        "n_train": ...}``; each factor entry holds kind, Pearson max |r| and partner, VIF and
        TOL (among all continuous candidates, and among the selected ones), IGR and its
        number of bins, RF importance (mean, std), ``dropped``, ``reason``.
    """
    factors = list(factors)
    _check_overrides(factors, keep, drop)
    train = frame[(frame["split"] == "train") & frame[label].isin([0, 1])]
    y = train[label].to_numpy(dtype=np.int64)
    if np.unique(y).size < 2:
        raise ConfigError("the training rows hold a single class; factor selection needs both.")
    st = _Selection(train, y, factors, [f for f in factors if f in set(categorical)], set(keep))
    for f in drop:
        st.drop(f, "override", "named in selection.drop")
    st.drop_constants()
    st.score_igr(max_intervals, min_intervals, significance)
    st.score_importance(rf_trees, rf_repeats, seed, n_jobs)
    cont, corr = st.score_collinearity()
    st.prune_pearson(cont, corr, pearson_threshold)
    st.prune_scores(min_igr, min_importance)
    st.prune_vif(vif_threshold)
    selected = st.finish()
    report = {
        "factors": st.rep,
        "selected": selected,
        "pearson": {"factors": cont, "matrix": np.round(corr, 6).tolist()},
        "n_train": len(train),
        "n_train_positives": int((y == 1).sum()),
        "settings": {
            "pearson_threshold": pearson_threshold,
            "vif_threshold": vif_threshold,
            "tol_threshold": 1.0 / vif_threshold,
            "min_igr": min_igr,
            "min_importance": min_importance,
            "keep": sorted(st.keep),
            "drop": list(drop),
            "chimerge": {
                "max_intervals": max_intervals,
                "min_intervals": min_intervals,
                "significance": significance,
            },
            "rf_trees": rf_trees,
            "rf_repeats": rf_repeats,
            "seed": seed,
        },
    }
    return selected, report


def _check_overrides(factors: Sequence[str], keep: Sequence[str], drop: Sequence[str]) -> None:
    """Refuse ``selection.keep`` / ``selection.drop`` names that are no factor, or in both."""
    for key, names in (("keep", keep), ("drop", drop)):
        unknown = sorted(set(names) - set(factors))
        if unknown:
            raise ConfigError(
                f"config key 'selection.{key}': unknown factor(s) {unknown}. "
                f"Factors of this unit: {', '.join(factors)}."
            )
    both = sorted(set(keep) & set(drop))
    if both:
        raise ConfigError(f"config keys 'selection.keep' and 'selection.drop' both name {both}.")


class _Selection:
    """The state of one factor selection: the training rows, the factors still in, the report.

    Each method is one step of :func:`select_factors`, in the order it runs them.
    """

    def __init__(
        self,
        train: pd.DataFrame,
        y: np.ndarray,
        factors: list[str],
        cat: list[str],
        keep: set[str],
    ) -> None:
        self.train, self.y, self.factors, self.cat, self.keep = train, y, factors, cat, keep
        self.alive = list(factors)
        self.rep: dict[str, dict] = {
            f: {
                "kind": "categorical" if f in cat else "continuous",
                "dropped": False,
                "reason": None,
                "step": None,
            }
            for f in factors
        }
        self.imp_mean = dict.fromkeys(factors, np.nan)

    def values(self, names: Sequence[str]) -> np.ndarray:
        """Training values of ``names`` (float64, rows x factors)."""
        return self.train[list(names)].to_numpy(dtype=np.float64)

    def drop(self, f: str, step: str, reason: str) -> None:
        """Take factor ``f`` out, with the step and the reason in the report."""
        self.rep[f].update(dropped=True, step=step, reason=reason)
        self.alive.remove(f)
        log.info("dropped %s (%s): %s", f, step, reason)

    def igr_of(self, f: str) -> float:
        """IGR of ``f`` (-inf when undefined): the Pearson tie-break."""
        return self.rep[f]["igr"] if self.rep[f]["igr"] is not None else -np.inf

    def imp_of(self, f: str) -> float:
        """RF importance of ``f`` (-inf when not computed): the VIF tie-break."""
        v = self.imp_mean[f]
        return v if np.isfinite(v) else -np.inf

    def drop_constants(self) -> None:
        """Drop the factors that are constant on the training rows (unless kept)."""
        for f in list(self.alive):
            if np.nanstd(self.train[f].to_numpy(dtype=np.float64)) == 0 and f not in self.keep:
                self.drop(f, "constant", "constant on the training rows")

    def score_igr(
        self, max_intervals: int | None, min_intervals: int, significance: float | None
    ) -> None:
        """Information-gain ratio (seed 002 Eqs. 8-11) on ChiMerge bins / category codes."""
        for f in self.factors:
            v = self.train[f].to_numpy(dtype=np.float64)
            if f in self.cat:
                groups = v
            else:
                cuts = fit_chimerge(
                    v,
                    self.y,
                    max_intervals=max_intervals,
                    min_intervals=min_intervals,
                    significance=significance,
                )
                groups = apply_bins(v, cuts)
            self.rep[f]["igr"] = _finite(information_gain_ratio(groups, self.y))
            self.rep[f]["n_bins"] = int(np.unique(groups).size)

    def score_importance(self, rf_trees: int, rf_repeats: int, seed: int, n_jobs: int) -> None:
        """RF permutation importance (AUC drop) of every candidate still in."""
        imp_std = dict.fromkeys(self.factors, np.nan)
        if self.alive:
            m, s = rf_permutation_importance(
                self.values(self.alive),
                self.y,
                n_trees=rf_trees,
                n_repeats=rf_repeats,
                seed=seed,
                n_jobs=n_jobs,
            )
            self.imp_mean.update(zip(self.alive, m, strict=True))
            imp_std.update(zip(self.alive, s, strict=True))
        for f in self.factors:
            self.rep[f]["rf_importance"] = _finite(self.imp_mean[f])
            self.rep[f]["rf_importance_std"] = _finite(imp_std[f])

    def score_collinearity(self) -> tuple[list[str], np.ndarray]:
        """Pearson matrix, max |r| partner and VIF/TOL of the continuous candidates."""
        cont = [f for f in self.alive if f not in self.cat]
        corr = pearson_matrix(self.values(cont)) if cont else np.zeros((0, 0))
        for i, f in enumerate(cont):
            r = np.abs(corr[i].copy())
            r[i] = -1.0
            j = int(np.argmax(r)) if len(cont) > 1 else None
            self.rep[f]["pearson_max_abs_r"] = _finite(r[j]) if j is not None else None
            self.rep[f]["pearson_partner"] = cont[j] if j is not None else None
        v0 = vif(self.values(cont)) if cont else np.zeros(0)
        for f, v in zip(cont, v0, strict=True):
            self.rep[f]["vif"] = _finite(v)
            self.rep[f]["tol"] = _finite(1.0 / v) if np.isfinite(v) else 0.0
            if np.isinf(v):
                self.rep[f]["note"] = (
                    "VIF infinite: the other continuous factors reproduce it exactly"
                )
        return cont, corr

    def prune_pearson(self, cont: list[str], corr: np.ndarray, threshold: float) -> None:
        """Strongest correlated pairs first: drop the factor with the lower IGR."""
        pairs = [
            (abs(corr[i, j]), cont[i], cont[j])
            for i in range(len(cont))
            for j in range(i + 1, len(cont))
            if abs(corr[i, j]) > threshold
        ]
        for r, a, b in sorted(pairs, key=lambda t: -t[0]):
            if a not in self.alive or b not in self.alive:
                continue
            # the weaker one: lower IGR, then lower RF importance, then the later one
            weaker_b = (self.igr_of(b), self.imp_of(b)) <= (self.igr_of(a), self.imp_of(a))
            loser, winner = (b, a) if weaker_b else (a, b)
            if loser in self.keep:
                loser, winner = winner, loser
            if loser in self.keep:
                continue
            self.drop(
                loser,
                "pearson",
                f"|r| = {r:.3f} > {threshold} with {winner} and lower IGR "
                f"({_fmt(self.rep[loser]['igr'])} vs {_fmt(self.rep[winner]['igr'])})",
            )

    def prune_scores(self, min_igr: float | None, min_importance: float | None) -> None:
        """Drop factors at or below ``selection.min_igr`` / ``selection.min_importance``."""
        if min_igr is not None:
            for f in list(self.alive):
                if f not in self.keep and self.igr_of(f) <= min_igr:
                    self.drop(
                        f, "igr", f"IGR {_fmt(self.rep[f]['igr'])} <= selection.min_igr = {min_igr}"
                    )
        if min_importance is not None:
            for f in list(self.alive):
                if f not in self.keep and self.imp_of(f) <= min_importance:
                    self.drop(
                        f,
                        "importance",
                        f"RF importance {_fmt(self.rep[f]['rf_importance'])} "
                        f"<= selection.min_importance = {min_importance}",
                    )

    def prune_vif(self, threshold: float) -> None:
        """Drop the least important factor above the VIF threshold, recompute, repeat."""
        while True:
            cont_alive = [f for f in self.alive if f not in self.cat]
            if len(cont_alive) < 2:
                break
            v = vif(self.values(cont_alive))
            over = [
                f
                for f, x in zip(cont_alive, v, strict=True)
                if x > threshold and f not in self.keep
            ]
            if not over:
                break
            loser = min(over, key=lambda f: (self.imp_of(f), self.igr_of(f)))
            vl = float(v[cont_alive.index(loser)])
            self.drop(
                loser,
                "vif",
                f"VIF {_fmt(vl)} > {threshold} (TOL {_fmt(1 / vl)} < {1 / threshold:g})"
                + (" (the other factors reproduce it exactly)" if np.isinf(vl) else "")
                + f" and the lowest RF importance of the {len(over)} factor(s) above it",
            )

    def finish(self) -> dict[str, list[str]]:
        """Complete every factor's report (VIF among the selected ones); return the selection."""
        cont_alive = [f for f in self.alive if f not in self.cat]
        vf = vif(self.values(cont_alive)) if cont_alive else np.zeros(0)
        for f in self.factors:
            entry = self.rep[f]
            for key in ("pearson_max_abs_r", "pearson_partner", "vif", "tol"):
                entry.setdefault(key, None)
            entry["vif_selected"] = None
            entry["tol_selected"] = None
            if f in self.cat:
                entry["note"] = "categorical codes are not ordinal: no Pearson or VIF"
        for f, x in zip(cont_alive, vf, strict=True):
            self.rep[f]["vif_selected"] = _finite(x)
            self.rep[f]["tol_selected"] = _finite(1.0 / x) if np.isfinite(x) else 0.0
        for f in self.alive:
            self.rep[f]["selected"] = True
            if f in self.keep:
                self.rep[f]["reason"] = "kept by selection.keep"
        for f in self.factors:
            self.rep[f].setdefault("selected", False)
        return {
            "factors": list(self.alive),
            "categorical": [f for f in self.alive if f in self.cat],
        }


def _fmt(v: float | None) -> str:
    """Format a number shortly for a reason text ("inf" for perfect collinearity)."""
    if v is None or np.isnan(v):
        return "n/a"
    return "inf" if np.isinf(v) else f"{v:.4g}"
