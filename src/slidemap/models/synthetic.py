"""Seeded synthetic study areas for the model tests and benchmarks.

:func:`make_study` builds smooth random factor rasters (continuous fields plus one
categorical layer), a known susceptibility function of them (with a neighbourhood term, so
that patch models have something to find), samples positives and negatives from it, and
assigns a 70/30 train/test split, spatial block folds and random stratified folds.
:func:`write_inputs` writes the same files the samples stage writes (``pixels.parquet``,
``selected.json``, ``bins.json``, ``patches.npz``, ``index.parquet``), so the training rules
can run without the earlier stages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from slidemap.io import atomic_path, write_json

__all__ = [
    "SyntheticStudy",
    "make_study",
    "extract_patches",
    "quantile_bins",
    "make_bins",
    "write_inputs",
]


@dataclass
class SyntheticStudy:
    """A synthetic study: rasters, samples and patches.

    Attributes
    ----------
    stack
        float32 ``[F, H, W]`` raw factor rasters (NaN nodata; categorical codes 1..4, 0
        nodata).
    factors, categorical
        Factor names and the categorical ones.
    samples
        One row per sample: ``unit_id``, ``unit``, ``label``, ``x_m``, ``y_m``, ``row``,
        ``col``, ``split``, ``fold``, ``fold_random``, ``source`` and one column per factor.
    patches
        float32 ``[n, F, k, k]`` patches centred on the samples (NaN outside the raster).
    susceptibility
        The true latent susceptibility ``[H, W]``.
    """

    stack: np.ndarray
    factors: list[str]
    categorical: list[str]
    samples: pd.DataFrame
    patches: np.ndarray
    susceptibility: np.ndarray


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    return (f - f.mean()) / f.std()


def extract_patches(stack: np.ndarray, rows: np.ndarray, cols: np.ndarray, k: int) -> np.ndarray:
    """Cut k x k patches centred on cells, NaN outside the raster.

    Parameters
    ----------
    stack
        ``[F, H, W]`` rasters.
    rows, cols
        Centre cells (0-based row and column indices).
    k
        Patch edge in cells (odd).

    Returns
    -------
    numpy.ndarray
        float32 ``[n, F, k, k]``.
    """
    h = k // 2
    padded = np.pad(stack.astype(np.float32), ((0, 0), (h, h), (h, h)), constant_values=np.nan)
    win = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))
    return np.ascontiguousarray(win[:, rows, cols].transpose(1, 0, 2, 3))


def quantile_bins(values: np.ndarray, n_bins: int = 6) -> list[float]:
    """Cut points at equal-count quantiles (a stand-in for ChiMerge in tests).

    Parameters
    ----------
    values
        Sample values (NaN ignored).
    n_bins
        Number of intervals.

    Returns
    -------
    list of float
        Ascending, unique cut points.
    """
    v = values[np.isfinite(values)]
    qs = np.quantile(v, np.linspace(0, 1, n_bins + 1)[1:-1])
    return [float(q) for q in np.unique(qs)]


def make_bins(study: SyntheticStudy, n_bins: int = 6) -> dict:
    """Quantile cut points in the layout of ``bins.json`` (all training rows and per fold).

    Parameters
    ----------
    study
        The synthetic study.
    n_bins
        Intervals per factor.

    Returns
    -------
    dict
        ``{"all": {factor: cuts}, "spatial": {"<k>": {...}}, "random": {"<k>": {...}}}``.
    """
    df = study.samples
    train = df["split"] == "train"
    cont = [f for f in study.factors if f not in study.categorical]

    def fit(rows: pd.Series) -> dict:
        return {f: quantile_bins(df.loc[rows, f].to_numpy(), n_bins) for f in cont}

    bins: dict = {"all": fit(train)}
    for scheme, col in (("spatial", "fold"), ("random", "fold_random")):
        folds = sorted(int(k) for k in df.loc[train, col].unique())
        bins[scheme] = {str(k): fit(train & (df[col] != k)) for k in folds}
    return bins


def make_study(
    *,
    size: int = 96,
    n_continuous: int = 4,
    n_samples: int = 400,
    positive_share: float = 0.5,
    k: int = 9,
    n_folds: int = 4,
    noise: float = 0.3,
    nodata_holes: bool = True,
    seed: int = 0,
) -> SyntheticStudy:
    """Make a learnable synthetic susceptibility problem.

    Parameters
    ----------
    size
        Raster edge in cells (square, 10 m cells).
    n_continuous
        Continuous factors (at least 3); one categorical factor ``lith`` is added.
    n_samples
        Samples drawn (positives + negatives).
    positive_share
        Share of positives among the samples.
    k
        Patch edge in cells.
    n_folds
        Folds of the spatial (column blocks) and the random (stratified) scheme.
    noise
        Standard deviation of the noise added to the latent susceptibility before
        thresholding (0 = labels are a deterministic function of the factors).
    nodata_holes
        Put a few NaN holes into the first factor (samples are never drawn on them).
    seed
        Random seed.

    Returns
    -------
    SyntheticStudy
        The study. The latent susceptibility is
        ``1.6 f0 - f1**2 + 1.2 [f2 > 0.3] + 1.0 [lith == 2] + 1.2 mean_5x5(f0)``.
    """
    from scipy.ndimage import uniform_filter

    rng = np.random.default_rng(seed)
    shape = (size, size)
    cont = [_smooth_field(rng, shape, 2.0 + i) for i in range(n_continuous)]
    lith_field = _smooth_field(rng, shape, 6.0)
    lith = np.digitize(lith_field, [-0.7, 0.0, 0.7]).astype(np.float32) + 1  # codes 1..4
    f0 = cont[0]
    neigh = uniform_filter(f0, 5, mode="nearest")
    latent = 1.6 * f0 - cont[1] ** 2 + 1.2 * (cont[2] > 0.3) + 1.0 * (lith == 2) + 1.2 * neigh
    stack = np.stack([*cont, lith]).astype(np.float32)
    factors = [f"f{i}" for i in range(n_continuous)] + ["lith"]
    valid = np.ones(shape, bool)
    if nodata_holes:
        for _ in range(3):
            r, c = rng.integers(0, size, 2)
            stack[0, max(r - 2, 0) : r + 3, max(c - 2, 0) : c + 3] = np.nan
        stack[-1, 0, :5] = 0  # categorical nodata code
        valid = np.isfinite(stack[0]) & (stack[-1] != 0)
    score = latent + noise * rng.standard_normal(shape)
    cut = np.quantile(score[valid], 0.8)
    is_pos = (score >= cut) & valid
    is_neg = (score < cut) & valid
    n_pos = int(round(n_samples * positive_share))
    pos = rng.choice(np.flatnonzero(is_pos), n_pos, replace=False)
    neg = rng.choice(np.flatnonzero(is_neg), n_samples - n_pos, replace=False)
    cells = np.concatenate([pos, neg])
    label = np.concatenate([np.ones(n_pos, int), np.zeros(n_samples - n_pos, int)])
    order = rng.permutation(cells.size)
    cells, label = cells[order], label[order]
    rows, cols = np.unravel_index(cells, shape)
    split = np.where(rng.random(cells.size) < 0.3, "test", "train")
    fold = np.full(cells.size, -1)
    fold_random = np.full(cells.size, -1)
    train = split == "train"
    fold[train] = np.minimum(cols[train] * n_folds // size, n_folds - 1)
    for cls in (0, 1):
        idx = np.flatnonzero(train & (label == cls))
        fold_random[idx] = rng.permutation(idx.size) % n_folds
    df = pd.DataFrame(
        {
            "unit_id": np.arange(cells.size, dtype=np.int64),
            "unit": "pixel",
            "label": label.astype(np.int8),
            "x_m": 500000.0 + 10.0 * cols + 5.0,
            "y_m": 9000000.0 - 10.0 * rows - 5.0,
            "row": rows.astype(np.int64),
            "col": cols.astype(np.int64),
            "split": split,
            "fold": fold.astype(np.int64),
            "fold_random": fold_random.astype(np.int64),
            "source": np.where(label == 1, "inventory", "negative"),
        }
    )
    for i, f in enumerate(factors):
        df[f] = stack[i, rows, cols].astype(np.float64)
    patches = extract_patches(stack, rows, cols, k)
    return SyntheticStudy(stack, factors, ["lith"], df, patches, latent.astype(np.float32))


def write_inputs(study: SyntheticStudy, results: str | os.PathLike, unit: str = "pixels") -> None:
    """Write the samples-stage files of a synthetic study under ``results``.

    Parameters
    ----------
    study
        The synthetic study.
    results
        ``results/<study>`` folder.
    unit
        ``pixels`` or ``plc`` (for plc, rows whose ``split`` is test become unlabelled
        candidates with label -1, and ``unit_id`` is used as ``cand_id``). Writes
        ``samples/<unit>.parquet``, ``samples/<unit>_summary.json``,
        ``selection/<unit>/selected.json``, ``discretize/<unit>/bins.json`` and, for pixels,
        the patches.
    """
    import geopandas as gpd

    root = Path(results)
    df = study.samples.copy()
    if unit == "plc":
        df["unit"] = "plc"
        df.loc[df["split"] == "test", "label"] = -1
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["x_m"], df["y_m"]), crs="EPSG:32717")
    with atomic_path(root / "samples" / f"{unit}.parquet") as tmp:
        gdf.to_parquet(tmp, index=False)
    write_json(
        {"factors": study.factors, "categorical": study.categorical},
        root / "selection" / unit / "selected.json",
    )
    # the samples summary (rule train_plc reads whether the PLC classifier can be trained)
    write_json(
        {
            "features": study.factors,
            "categorical": study.categorical,
            "labels": {str(k): int((df["label"] == k).sum()) for k in (-1, 0, 1)},
            "classifier_skipped": None,
        },
        root / "samples" / f"{unit}_summary.json",
    )
    write_json(make_bins(study), root / "discretize" / unit / "bins.json")
    if unit != "pixels":
        return
    with atomic_path(root / "tiles" / "patches.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                patches=study.patches,
                mask=np.isfinite(study.patches).all(axis=1),
                unit_id=df["unit_id"].to_numpy(),
                factors=np.array(study.factors),
            )
    index = df[["unit_id", "row", "col", "label", "split", "fold", "fold_random"]]
    with atomic_path(root / "tiles" / "index.parquet") as tmp:
        index.to_parquet(tmp, index=False)
