"""Map-level validation: frequency ratio per class, success-rate and prediction-rate curves.

**Frequency ratio** (seed 004, section 4.4, table 5): for each susceptibility class,
``FR = (landslide cells in the class / all landslide cells) / (cells in the class / all
cells)``. FR > 1 means the class holds more landslides than its area share; a good map has
FR rising from very low to very high.

**Rate curves**: rank the cells from the most to the least susceptible and plot the
cumulative fraction of landslide cells against the cumulative fraction of the mapped area.
With the training landslides this is the success-rate curve (goodness of fit), with the
test landslides the prediction-rate curve (predictive power). The area under the curve
equals P(s(landslide cell) > s(random cell)) + ½·P(tie); 0.5 is a random map.

The curves are computed from histograms of the susceptibility on :data:`RATE_BINS` equal bins
of [0, 1] (block by block, so memory does not grow with the map); cells in one bin count as
tied, so the AUC is exact for the susceptibility rounded to 1/RATE_BINS.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import rasterio

from slidemap.raster import Grid, iter_windows, read_window

__all__ = [
    "RATE_BINS",
    "susceptibility_bins",
    "raster_histogram",
    "rate_curve",
    "curve_auc",
    "rate_curves_table",
    "frequency_ratio_table",
    "plot_rate_curves",
    "landslide_cells",
    "validate_map",
]

#: Number of equal susceptibility bins of [0, 1] the rate curves are computed on.
RATE_BINS = 65536


def susceptibility_bins(values: np.ndarray, n_bins: int = RATE_BINS) -> np.ndarray:
    """Bin index of susceptibility values on ``n_bins`` equal bins of [0, 1].

    Parameters
    ----------
    values
        Finite susceptibility values (probability, 0–1).
    n_bins
        Number of bins.

    Returns
    -------
    numpy.ndarray
        int64 ``min(floor(v · n_bins), n_bins − 1)``.
    """
    v = np.asarray(values, dtype=np.float64)
    return np.clip(np.floor(v * n_bins), 0, n_bins - 1).astype(np.int64)


def raster_histogram(
    path: str | os.PathLike, n_bins: int = RATE_BINS, block: int = 1024
) -> np.ndarray:
    """Count the valid cells of a susceptibility raster in each susceptibility bin.

    Parameters
    ----------
    path
        Susceptibility COG (probability 0–1, NaN nodata).
    n_bins
        Number of equal bins of [0, 1].
    block
        Block edge in cells.

    Returns
    -------
    numpy.ndarray
        int64 counts, length ``n_bins``.
    """
    grid = Grid.from_raster(path)
    hist = np.zeros(n_bins, dtype=np.int64)
    with rasterio.open(path) as src:
        for win in iter_windows(grid.height, grid.width, block):
            data = read_window(src, win)
            data = data[np.isfinite(data)]
            hist += np.bincount(susceptibility_bins(data, n_bins), minlength=n_bins)
    return hist


def rate_curve(cell_hist: np.ndarray, landslide_hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Success- or prediction-rate curve from two susceptibility histograms.

    Parameters
    ----------
    cell_hist
        Cells of the map per susceptibility bin.
    landslide_hist
        Landslide cells per susceptibility bin (same bins).

    Returns
    -------
    area_fraction, landslide_fraction : numpy.ndarray
        Cumulative fractions (0–1) from the most susceptible bin down, starting at (0, 0)
        and ending at (1, 1); one point per non-empty bin.
    """
    cell_hist = np.asarray(cell_hist, dtype=np.float64)[::-1]
    ls_hist = np.asarray(landslide_hist, dtype=np.float64)[::-1]
    keep = (cell_hist > 0) | (ls_hist > 0)
    c = np.cumsum(cell_hist[keep])
    s = np.cumsum(ls_hist[keep])
    x = np.r_[0.0, c / c[-1]] if c.size and c[-1] > 0 else np.array([0.0, 1.0])
    y = np.r_[0.0, s / s[-1]] if s.size and s[-1] > 0 else np.full(x.shape, np.nan)
    return x, y


def curve_auc(x: np.ndarray, y: np.ndarray) -> float:
    """Area under a curve by the trapezoidal rule.

    Parameters
    ----------
    x, y
        Curve points, ``x`` ascending.

    Returns
    -------
    float
        The area (NaN if ``y`` has NaN).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def rate_curves_table(
    cell_hist: np.ndarray,
    train_hist: np.ndarray,
    test_hist: np.ndarray,
    n_points: int = 101,
) -> tuple[pd.DataFrame, dict]:
    """Success- and prediction-rate curves on a regular area-fraction axis, with their AUC.

    Parameters
    ----------
    cell_hist
        Map cells per susceptibility bin (bins of [0, 1], see :func:`susceptibility_bins`).
    train_hist, test_hist
        Training and test landslide cells per bin.
    n_points
        Number of area fractions 0 … 1 in the table.

    Returns
    -------
    table : pandas.DataFrame
        ``area_fraction`` (0–1), ``success_rate`` and ``prediction_rate`` (cumulative landslide
        fractions, 0–1, linear between the curve's points), ``susceptibility_threshold``
        (susceptibility whose exceedance area is ``area_fraction``).
    auc : dict
        ``success_auc``, ``prediction_auc`` (NaN when there are no landslides of the kind).
    """
    n_bins = len(cell_hist)
    grid = np.linspace(0.0, 1.0, n_points)
    out = {"area_fraction": grid}
    auc = {}
    for name, hist in (("success", train_hist), ("prediction", test_hist)):
        x, y = rate_curve(cell_hist, hist)
        auc[f"{name}_auc"] = curve_auc(x, y)
        out[f"{name}_rate"] = np.interp(grid, x, y) if np.isfinite(y).all() else np.nan
    # exceedance area of each bin's lower edge, from the top bin down
    cum = np.cumsum(np.asarray(cell_hist, dtype=np.float64)[::-1])
    area_at_edge = np.r_[0.0, cum / cum[-1]]  # area with s >= lower edge of bin (top first)
    edges = np.r_[1.0, (np.arange(n_bins)[::-1]) / n_bins]
    idx = np.clip(np.searchsorted(area_at_edge, grid, side="left"), 0, n_bins)
    out["susceptibility_threshold"] = edges[idx]
    return pd.DataFrame(out), auc


def frequency_ratio_table(
    class_counts: Sequence[int],
    landslide_classes: np.ndarray,
    test_landslide_classes: np.ndarray,
    *,
    class_info: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Frequency ratio of each susceptibility class.

    Parameters
    ----------
    class_counts
        Map cells per class (class 1 first).
    landslide_classes
        Class code (1 … n) of every landslide cell of the inventory (all splits); codes 0
        (off the map) are not counted.
    test_landslide_classes
        Class code of every test landslide cell.
    class_info
        Optional :func:`slidemap.maps.classes.class_table` to prepend (``label``, bounds,
        area in km²).

    Returns
    -------
    pandas.DataFrame
        One row per class: ``class``, [class_info columns], ``n_cells``, ``area_share``,
        ``landslide_cells``, ``landslide_share``, ``fr``, ``landslide_cells_test``,
        ``landslide_share_test``, ``fr_test`` (shares are fractions 0–1; FR is NaN for an
        empty class).
    """
    counts = np.asarray(class_counts, dtype=np.int64)
    n = counts.size
    area_share = counts / counts.sum()
    df = pd.DataFrame({"class": np.arange(1, n + 1)})
    if class_info is not None:
        extra = class_info.drop(columns=["n_cells", "area_share"], errors="ignore")
        df = df.merge(extra, on="class", how="left")
    df["n_cells"] = counts
    df["area_share"] = area_share
    for suffix, cls in (("", landslide_classes), ("_test", test_landslide_classes)):
        cls = np.asarray(cls, dtype=np.int64)
        ls = np.bincount(cls[(cls >= 1) & (cls <= n)] - 1, minlength=n)
        total = ls.sum()
        share = ls / total if total else np.full(n, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            fr = np.where(counts > 0, share / np.where(area_share > 0, area_share, 1), np.nan)
        df[f"landslide_cells{suffix}"] = ls
        df[f"landslide_share{suffix}"] = share
        df[f"fr{suffix}"] = fr
    return df


def plot_rate_curves(
    cell_hist: np.ndarray,
    train_hist: np.ndarray,
    test_hist: np.ndarray,
    out_path: str | os.PathLike,
    title: str = "",
) -> None:
    """Plot the success- and prediction-rate curves (PNG), atomically.

    Parameters
    ----------
    cell_hist, train_hist, test_hist
        Histograms as for :func:`rate_curves_table`.
    out_path
        Output PNG.
    title
        Figure title (e.g. the model name).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from slidemap.io import atomic_path

    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=110)
    for name, hist, color in (
        ("success rate (training landslides)", train_hist, "tab:blue"),
        ("prediction rate (test landslides)", test_hist, "tab:red"),
    ):
        x, y = rate_curve(cell_hist, hist)
        if np.isfinite(y).all():
            ax.plot(100 * x, 100 * y, color=color, label=f"{name}, AUC = {curve_auc(x, y):.3f}")
    ax.plot([0, 100], [0, 100], color="grey", ls="--", lw=0.8, label="random map")
    ax.set_xlabel("cumulative area, most susceptible first (%)")
    ax.set_ylabel("cumulative landslide cells (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def landslide_cells(
    samples: pd.DataFrame, grid_transform, *, path: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Select the inventory's landslide cells among the pixel samples, one row per cell.

    Parameters
    ----------
    samples
        Pixel samples (``row``, ``col``, ``x_m``, ``y_m``, ``label``, ``split``; ``source``
        when present: only ``inventory`` positives count, not PLC-derived ones).
    grid_transform
        Affine transform of the study grid (to check ``row``/``col`` against ``x_m``/``y_m``).
    path
        The samples file (for error messages).

    Returns
    -------
    pandas.DataFrame
        ``row``, ``col``, ``split`` of each distinct landslide cell (a cell sampled twice
        counts once; ``train`` wins over ``test``).
    """
    from slidemap.errors import InputDataError

    for col in ("row", "col", "x_m", "y_m", "label", "split"):
        if col not in samples.columns:
            raise InputDataError(
                path,
                f"the column {col!r} is missing.",
                "rerun the pixel_samples rule.",
                column=col,
            )
    pos = samples[samples["label"] == 1]
    if "source" in pos.columns:
        pos = pos[pos["source"].astype(str) == "inventory"]
    if len(pos):
        inv = ~grid_transform
        cx, cy = inv * (pos["x_m"].to_numpy(), pos["y_m"].to_numpy())
        bad = (np.floor(cx) != pos["col"].to_numpy()) | (np.floor(cy) != pos["row"].to_numpy())
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputDataError(
                path,
                f"{int(bad.sum())} sample(s) have row/col that do not match x_m/y_m on the "
                f"study grid (first: unit_id {pos['unit_id'].iloc[i] if 'unit_id' in pos else i}).",
                "rerun the pixel_samples rule on the current study grid.",
                column="row",
            )
    cells = pos[["row", "col", "split"]].astype({"split": str})
    cells = cells.sort_values("split", kind="stable")  # "test" < "train": keep train on ties
    cells = cells.drop_duplicates(["row", "col"], keep="last")
    return cells.sort_values(["row", "col"]).reset_index(drop=True)


def validate_map(
    susceptibility_path: str | os.PathLike,
    breaks: Sequence[float],
    cells: pd.DataFrame,
    *,
    class_info: pd.DataFrame | None = None,
    n_bins: int = RATE_BINS,
) -> tuple[pd.DataFrame, pd.DataFrame, dict, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Frequency ratios, rate curves and their AUC of one susceptibility map.

    Parameters
    ----------
    susceptibility_path
        The susceptibility COG.
    breaks
        Its class breaks (upper bounds).
    cells
        Landslide cells (``row``, ``col``, ``split``), from :func:`landslide_cells`.
    class_info
        Optional class table (labels, bounds) for the FR table.
    n_bins
        Susceptibility bins of the rate curves.

    Returns
    -------
    fr : pandas.DataFrame
        :func:`frequency_ratio_table`.
    curves : pandas.DataFrame
        :func:`rate_curves_table`.
    summary : dict
        AUCs, counts of landslide cells (all, train, test, off the map).
    hists : tuple of numpy.ndarray
        Cell, training and test landslide histograms (for :func:`plot_rate_curves`).
    """
    from slidemap.maps.classes import classify
    from slidemap.raster import values_at

    s = values_at(susceptibility_path, cells["row"].to_numpy(), cells["col"].to_numpy())
    on_map = np.isfinite(s)
    split = cells["split"].to_numpy()
    cls = classify(s, breaks)
    cell_hist = raster_histogram(susceptibility_path, n_bins)
    counts = _class_counts(susceptibility_path, breaks)
    fr = frequency_ratio_table(counts, cls, cls[split == "test"], class_info=class_info)
    train_hist = np.bincount(
        susceptibility_bins(s[on_map & (split == "train")], n_bins), minlength=n_bins
    )
    test_hist = np.bincount(
        susceptibility_bins(s[on_map & (split == "test")], n_bins), minlength=n_bins
    )
    curves, auc = rate_curves_table(cell_hist, train_hist, test_hist)
    summary = {
        **auc,
        "landslide_cells": int(on_map.sum()),
        "landslide_cells_train": int((on_map & (split == "train")).sum()),
        "landslide_cells_test": int((on_map & (split == "test")).sum()),
        "landslide_cells_off_map": int((~on_map).sum()),
        "mapped_cells": int(cell_hist.sum()),
        "fr_increasing": bool(np.all(np.diff(fr["fr"].to_numpy()) > 0)),
    }
    return fr, curves, summary, (cell_hist, train_hist, test_hist)


def _class_counts(
    path: str | os.PathLike, breaks: Sequence[float], block: int = 1024
) -> np.ndarray:
    """Cells of a susceptibility raster in each class (class 1 first)."""
    from slidemap.maps.classes import classify

    n = len(breaks)
    grid = Grid.from_raster(path)
    counts = np.zeros(n + 1, dtype=np.int64)
    with rasterio.open(path) as src:
        for win in iter_windows(grid.height, grid.width, block):
            counts += np.bincount(classify(read_window(src, win), breaks).ravel(), minlength=n + 1)
    return counts[1:]
