"""The statistics of factor selection: entropy, IGR, Pearson, VIF/TOL, RF importance.

Pure functions on arrays of the training rows: :func:`information_gain_ratio` (seed 002,
Eqs. 8–11, in bits via :func:`entropy_bits`), :func:`pearson_matrix` (seed 002, Eq. 7),
:func:`vif` (seeds 000/004; TOL = 1 / VIF) and :func:`rf_permutation_importance` (seed 004,
drop of ROC AUC on held-out rows). :mod:`slidemap.selection.steps` combines them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

__all__ = [
    "entropy_bits",
    "information_gain_ratio",
    "pearson_matrix",
    "vif",
    "rf_permutation_importance",
]

log = logging.getLogger("slidemap.selection")  # the package logger, as before the split


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
