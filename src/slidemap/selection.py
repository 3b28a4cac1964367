"""Factor selection on the training rows: Pearson, VIF/TOL, information-gain ratio, RF importance.

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

When the samples stage skipped a unit's classifier (``classifier_skipped`` in its summary:
the PLC unit with too few labelled candidates), there are no training rows: every factor is
kept unselected (:func:`skipped_selection`) and the figures say why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from os import PathLike

import numpy as np
import pandas as pd

from slidemap.discretize import apply_bins, fit_chimerge
from slidemap.errors import ConfigError

__all__ = [
    "entropy_bits",
    "information_gain_ratio",
    "pearson_matrix",
    "vif",
    "rf_permutation_importance",
    "select_factors",
    "plot_correlation",
    "plot_importance",
    "make_selection",
    "skipped_selection",
]

log = logging.getLogger(__name__)


def entropy_bits(counts: np.ndarray | Sequence[int]) -> float:
    """Shannon entropy in bits of a frequency vector (zero counts contribute nothing).

    Parameters
    ----------
    counts
        Non-negative counts.

    Returns
    -------
    float
        ``-Σ p log2 p`` with ``p = counts / Σ counts`` (0 for an empty vector).
    """
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total <= 0:
        return 0.0
    p = c[c > 0] / total
    return float(-(p * np.log2(p)).sum())


def information_gain_ratio(groups: np.ndarray, labels: np.ndarray) -> float:
    """Information-gain ratio of a discrete attribute (seed 002, Eqs. 8–11).

    ``Info(D) = -Σ_i p_i log2 p_i`` over the classes; ``Info(D, A) = Σ_j |D_j|/|D|
    Info(D_j)`` over the attribute's values; ``SplitInfo(D, A) = -Σ_j |D_j|/|D| log2
    (|D_j|/|D|)``; ``IGR = (Info(D) - Info(D, A)) / SplitInfo(D, A)``.

    Parameters
    ----------
    groups
        Discrete attribute value of each sample (bin number or category code), shape (n,).
    labels
        Class labels, shape (n,).

    Returns
    -------
    float
        IGR (dimensionless, 0 … 1); 0 when the attribute has a single value.
    """
    g = np.asarray(groups)
    y = np.asarray(labels)
    if g.shape != y.shape:
        raise ValueError("groups and labels differ in length")
    if g.size == 0:
        return 0.0
    _, gi = np.unique(g, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    table = np.zeros((gi.max() + 1, yi.max() + 1), dtype=np.int64)
    np.add.at(table, (gi.ravel(), yi.ravel()), 1)
    n = table.sum()
    info_d = entropy_bits(table.sum(axis=0))
    sizes = table.sum(axis=1)
    info_da = float(sum(s / n * entropy_bits(row) for s, row in zip(sizes, table, strict=True)))
    split = entropy_bits(sizes)
    if split <= 0:
        return 0.0
    return (info_d - info_da) / split


def pearson_matrix(x: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix of the columns of ``x`` (seed 002, Eq. 7).

    Parameters
    ----------
    x
        (n, p) values.

    Returns
    -------
    numpy.ndarray
        (p, p) correlation coefficients in [-1, 1].
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[1] == 1:
        return np.ones((1, 1))
    return np.corrcoef(x, rowvar=False)


def vif(x: np.ndarray) -> np.ndarray:
    """Variance inflation factor of each column.

    ``VIF_j = 1 / (1 - R_j²)`` with R_j² of the ordinary least-squares regression (with
    intercept) of column j on all other columns (seed 004).

    Parameters
    ----------
    x
        (n, p) values.

    Returns
    -------
    numpy.ndarray
        (p,) VIF ≥ 1 (dimensionless); inf for a column that the others reproduce exactly.
        TOL = 1 / VIF.
    """
    x = np.asarray(x, dtype=np.float64)
    n, p = x.shape
    if p == 1:
        return np.ones(1)
    z = (x - x.mean(axis=0)) / x.std(axis=0)  # VIF is scale-free; this conditions lstsq
    out = np.empty(p)
    ones = np.ones((n, 1))
    for j in range(p):
        a = np.hstack([ones, np.delete(z, j, axis=1)])
        coef, *_ = np.linalg.lstsq(a, z[:, j], rcond=None)
        resid = z[:, j] - a @ coef
        ss_res = float(resid @ resid)
        ss_tot = float(n)  # z has unit variance
        out[j] = np.inf if ss_res <= ss_tot * 1e-12 else ss_tot / ss_res
    return out


def rf_permutation_importance(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_trees: int = 100,
    n_repeats: int = 10,
    holdout: float = 0.3,
    seed: int = 42,
    n_jobs: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Random-forest permutation importance (drop of ROC AUC on held-out rows).

    Parameters
    ----------
    x
        (n, p) raw factor values of the training rows.
    y
        (n,) labels 0/1.
    n_trees
        Trees of the forest.
    n_repeats
        Permutations per factor.
    holdout
        Fraction of the rows (stratified) the importance is measured on; the forest is
        fitted on the others.
    seed
        Seed of the split, the forest and the permutations.
    n_jobs
        Parallel jobs of the forest and the permutations.

    Returns
    -------
    mean, std : numpy.ndarray
        (p,) mean and standard deviation of the AUC drop over the repeats.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import train_test_split

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    try:
        x_fit, x_val, y_fit, y_val = train_test_split(
            x, y, test_size=holdout, stratify=y, random_state=seed
        )
    except ValueError:  # too few rows to hold any out: measure on the fitting rows
        log.warning("too few training rows for a hold-out; RF importance on the fitting rows")
        x_fit = x_val = x
        y_fit = y_val = y
    rf = RandomForestClassifier(n_estimators=n_trees, random_state=seed, n_jobs=n_jobs)
    rf.fit(x_fit, y_fit)
    res = permutation_importance(
        rf,
        x_val,
        y_val,
        scoring="roc_auc",
        n_repeats=n_repeats,
        random_state=seed,
        n_jobs=n_jobs,
    )
    return res.importances_mean, res.importances_std


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


def plot_correlation(report: Mapping, path: str | PathLike) -> None:
    """Heat map of the Pearson matrix of the continuous candidates (dropped ones marked).

    Parameters
    ----------
    report
        From :func:`select_factors`.
    path
        Output PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from slidemap.io import atomic_path

    if report.get("skipped"):
        _message_figure(report, path, "Pearson correlation")
        return
    names = report["pearson"]["factors"]
    mat = np.asarray(report["pearson"]["matrix"], dtype=np.float64).reshape(len(names), len(names))
    size = max(4.0, 0.45 * len(names) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-1, vmax=1)
    labels = [n + (" ✗" if report["factors"][n]["dropped"] else "") for n in names]
    ax.set_xticks(range(len(names)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(names)), labels, fontsize=8)
    if len(names) <= 20:
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(
                    j,
                    i,
                    f"{mat[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if abs(mat[i, j]) > 0.6 else "black",
                )
    thr = report["settings"]["pearson_threshold"]
    ax.set_title(f"Pearson r on training rows (|r| > {thr} pruned; ✗ = dropped)", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8, label="r")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def plot_importance(report: Mapping, path: str | PathLike) -> None:
    """Bar charts of RF permutation importance and IGR per factor (dropped ones grey).

    Parameters
    ----------
    report
        From :func:`select_factors`.
    path
        Output PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from slidemap.io import atomic_path

    if report.get("skipped"):
        _message_figure(report, path, "Factor importance")
        return
    rep = report["factors"]
    names = sorted(
        rep,
        key=lambda f: rep[f]["rf_importance"] if rep[f]["rf_importance"] is not None else -np.inf,
    )
    h = max(3.0, 0.3 * len(names) + 1.5)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, h), sharey=True)
    y = np.arange(len(names))
    colours = ["0.7" if rep[f]["dropped"] else "tab:blue" for f in names]
    imp = [rep[f]["rf_importance"] or 0.0 for f in names]
    err = [rep[f]["rf_importance_std"] or 0.0 for f in names]
    a1.barh(y, imp, xerr=err, color=colours)
    a1.set_yticks(y, names, fontsize=8)
    a1.set_xlabel("RF permutation importance (drop of ROC AUC)")
    a2.barh(y, [rep[f]["igr"] or 0.0 for f in names], color=colours)
    a2.set_xlabel("information-gain ratio")
    fig.suptitle("Factor importance on training rows (grey = dropped)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def _message_figure(report: Mapping, path: str | PathLike, title: str) -> None:
    """Write a figure that says why there is no selection (a skipped classifier).

    Parameters
    ----------
    report
        From :func:`skipped_selection` (``skipped`` holds the reason).
    path
        Output PNG.
    title
        Figure title.
    """
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from slidemap.io import atomic_path

    text = textwrap.fill(f"No factor selection: {report['skipped']}", 80)
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, wrap=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


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
