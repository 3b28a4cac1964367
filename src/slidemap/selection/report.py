"""The figures of a factor selection: Pearson heat map, RF importance and IGR bar charts.

:func:`plot_correlation` writes ``correlation.png`` and :func:`plot_importance`
``importance.png`` from the report of :func:`slidemap.selection.steps.select_factors`; for
a unit without selection (:func:`slidemap.selection.pipeline.skipped_selection`) both write
a figure that says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike

import numpy as np

__all__ = ["plot_correlation", "plot_importance"]


def plot_correlation(report: Mapping, path: str | PathLike) -> None:
    """Heat map of the Pearson matrix of the continuous candidates (dropped ones marked).

    Parameters
    ----------
    report
        From :func:`select_factors`.
    path
        Output PNG.
    """
    plt = _pyplot()
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
    _save(fig, path)


def plot_importance(report: Mapping, path: str | PathLike) -> None:
    """Bar charts of RF permutation importance and IGR per factor (dropped ones grey).

    Parameters
    ----------
    report
        From :func:`select_factors`.
    path
        Output PNG.
    """
    plt = _pyplot()
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
    _save(fig, path)


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

    plt = _pyplot()
    text = textwrap.fill(f"No factor selection: {report['skipped']}", 80)
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, wrap=True)
    _save(fig, path)


def _pyplot():
    """Return ``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | PathLike) -> None:
    """Write a figure as a 120-dpi PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    from slidemap.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
