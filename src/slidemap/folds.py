"""Train/test split and cross-validation folds: spatial (k-means or square blocks) and random.

Spatial folds reduce the optimism that spatial autocorrelation gives random folds (seed 004,
"spatial partition validation"):

- ``kmeans``: k-means clustering of the sample coordinates into k clusters, one fold each,
  as ``spcv_coords`` of mlr3spatiotempcv (Brenning 2012). The clusters are the Voronoi cells
  of their centres, so the folds are spatially disjoint (their convex hulls do not overlap).
- ``blocks``: the plane is cut into square blocks of ``block_size_m``; whole blocks are
  assigned to folds (largest block first, to the fold holding fewest samples, after a seeded
  shuffle), so no block is shared by two folds.

Random folds are stratified by label (scikit-learn ``StratifiedKFold``). The optional fixed
test split (70/30 in seeds 002 and 004) is either random stratified or spatially blocked.
Every function takes an explicit seed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from slidemap.errors import ConfigError

__all__ = [
    "kmeans_folds",
    "block_ids",
    "block_folds",
    "random_folds",
    "holdout_split",
    "fold_summary",
    "assign_splits",
    "MIN_PER_CLASS",
    "without_splits",
    "assign_splits_or_skip",
]

log = logging.getLogger(__name__)


def kmeans_folds(x_m: np.ndarray, y_m: np.ndarray, k: int, *, seed: int) -> np.ndarray:
    """Spatial folds by k-means clustering of coordinates (mlr3spatiotempcv ``spcv_coords``).

    Parameters
    ----------
    x_m, y_m
        Sample coordinates in metres (projected CRS), shape (n,).
    k
        Number of folds.
    seed
        Random seed of the k-means initialisation.

    Returns
    -------
    numpy.ndarray
        int64 fold of each sample, 0 … k-1, numbered by the cluster centres from west to
        east (ties south to north) so the numbering does not depend on the initialisation.
    """
    from sklearn.cluster import KMeans

    xy = np.column_stack([x_m, y_m]).astype(np.float64)
    _check_k(len(xy), k)
    xy -= xy.mean(axis=0)  # centred: UTM northings of ~1e7 m cost k-means precision
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(xy)
    order = np.lexsort((km.cluster_centers_[:, 1], km.cluster_centers_[:, 0]))
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return rank[km.labels_]


def block_ids(
    x_m: np.ndarray, y_m: np.ndarray, block_size_m: float, origin: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Id of the square block holding each point.

    Parameters
    ----------
    x_m, y_m
        Coordinates in metres.
    block_size_m
        Block edge in metres.
    origin
        Corner of the block lattice in metres.

    Returns
    -------
    numpy.ndarray
        int64 block id (equal ids = same block).
    """
    if block_size_m <= 0:
        raise ValueError(f"block_size_m must be positive, got {block_size_m}")
    bx = np.floor((np.asarray(x_m, dtype=np.float64) - origin[0]) / block_size_m).astype(np.int64)
    by = np.floor((np.asarray(y_m, dtype=np.float64) - origin[1]) / block_size_m).astype(np.int64)
    # dense ids from the (bx, by) pairs
    _, ids = np.unique(np.column_stack([bx, by]), axis=0, return_inverse=True)
    return ids.ravel().astype(np.int64)


def block_folds(
    x_m: np.ndarray, y_m: np.ndarray, k: int, *, block_size_m: float, seed: int
) -> np.ndarray:
    """Spatial folds made of whole square blocks, balanced by sample count.

    Parameters
    ----------
    x_m, y_m
        Sample coordinates in metres.
    k
        Number of folds.
    block_size_m
        Block edge in metres.
    seed
        Seed of the shuffle that orders equal-sized blocks.

    Returns
    -------
    numpy.ndarray
        int64 fold of each sample, 0 … k-1; all samples of a block share one fold.

    Raises
    ------
    ConfigError
        If the samples fall into fewer than k blocks.
    """
    _check_k(len(np.asarray(x_m)), k)
    ids = block_ids(x_m, y_m, block_size_m, origin=(float(np.min(x_m)), float(np.min(y_m))))
    sizes = np.bincount(ids)
    n_blocks = sizes.size
    if n_blocks < k:
        raise ConfigError(
            f"config key 'validation.block_size_m': blocks of {block_size_m} m hold the samples "
            f"in only {n_blocks} block(s), fewer than validation.folds = {k}. Use smaller "
            "blocks, fewer folds, or validation.spatial_folds: kmeans."
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_blocks)
    order = perm[np.argsort(-sizes[perm], kind="stable")]
    load = np.zeros(k, dtype=np.int64)
    fold_of_block = np.empty(n_blocks, dtype=np.int64)
    for b in order:
        f = int(np.argmin(load))
        fold_of_block[b] = f
        load[f] += sizes[b]
    return fold_of_block[ids]


def random_folds(labels: np.ndarray, k: int, *, seed: int) -> np.ndarray:
    """Random folds stratified by label.

    Parameters
    ----------
    labels
        Class labels, shape (n,).
    k
        Number of folds.
    seed
        Shuffle seed.

    Returns
    -------
    numpy.ndarray
        int64 fold of each sample, 0 … k-1.
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    _check_k(len(y), k)
    n_min = int(np.bincount(pd.factorize(y)[0]).min())
    if n_min < k:
        raise ConfigError(
            f"config key 'validation.folds': the rarest class has only {n_min} training "
            f"sample(s), fewer than the {k} folds. Use fewer folds or more samples."
        )
    out = np.empty(len(y), dtype=np.int64)
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for f, (_, idx) in enumerate(skf.split(np.zeros(len(y)), y)):
        out[idx] = f
    return out


def holdout_split(
    x_m: np.ndarray,
    y_m: np.ndarray,
    labels: np.ndarray,
    *,
    method: str,
    fraction: float,
    block_size_m: float,
    seed: int,
) -> np.ndarray:
    """Choose the fixed test rows (e.g. the 30 % of the 70/30 split of seeds 002 and 004).

    Parameters
    ----------
    x_m, y_m
        Sample coordinates in metres.
    labels
        Class labels.
    method
        ``"random"`` (stratified by label), ``"spatial"`` (whole square blocks of
        ``block_size_m``, picked in a seeded random order until the test set holds about
        ``fraction`` of the samples) or ``"none"`` (no test rows).
    fraction
        Target fraction of test rows, 0 < fraction < 1.
    block_size_m
        Block edge in metres (``spatial`` only).
    seed
        Random seed.

    Returns
    -------
    numpy.ndarray
        bool, True for a test row.

    Raises
    ------
    ConfigError
        If the test or the training rows would miss a class.
    """
    y = np.asarray(labels)
    n = len(y)
    if method == "none":
        return np.zeros(n, dtype=bool)
    if not 0.0 < fraction < 1.0:
        raise ConfigError(
            f"config key 'validation.test_fraction': {fraction} must lie strictly between 0 and 1."
        )
    if method == "random":
        from sklearn.model_selection import train_test_split

        idx = np.arange(n)
        try:
            _, test_idx = train_test_split(idx, test_size=fraction, random_state=seed, stratify=y)
        except ValueError as exc:
            raise ConfigError(
                f"config key 'validation.test_fraction': a stratified {fraction:.0%} test split "
                f"of {n} samples is impossible ({exc}). Use more samples or test_split: none."
            ) from None
        out = np.zeros(n, dtype=bool)
        out[test_idx] = True
        return out
    if method != "spatial":
        raise ConfigError(
            f"config key 'validation.test_split': unknown method {method!r} "
            "(use random, spatial or none)."
        )
    ids = block_ids(x_m, y_m, block_size_m, origin=(float(np.min(x_m)), float(np.min(y_m))))
    sizes = np.bincount(ids)
    target = fraction * n
    rng = np.random.default_rng(seed)
    in_test = np.zeros(sizes.size, dtype=bool)
    total = 0
    for b in rng.permutation(sizes.size):
        if total >= target:
            break
        # take the block if that brings the test size closer to the target
        if abs(total + sizes[b] - target) <= abs(total - target) or total == 0:
            in_test[b] = True
            total += sizes[b]
    out = in_test[ids]
    for name, rows in (("test", out), ("training", ~out)):
        if np.unique(y[rows]).size < np.unique(y).size:
            raise ConfigError(
                f"config key 'validation.block_size_m': the spatial test split leaves the "
                f"{name} rows without every class. Use smaller blocks, another seed, or "
                "validation.test_split: random."
            )
    return out


def assign_splits(
    frame: pd.DataFrame,
    *,
    test_split_method: str,
    test_fraction: float,
    folds: int,
    spatial_folds: str,
    block_size_m: float,
    seed: int,
    label: str = "label",
) -> pd.DataFrame:
    """Add ``split``, ``fold`` and ``fold_random`` columns to samples.

    Rows whose label is not 0/1 (unlabelled PLC, -1) get ``split = "predict"`` and fold -1.

    Parameters
    ----------
    frame
        Samples with ``x_m``, ``y_m`` (metres) and the label column.
    test_split_method
        ``"random"``, ``"spatial"`` or ``"none"`` (see :func:`holdout_split`).
    test_fraction
        Fraction of labelled rows held out as the fixed test set.
    folds
        Number of cross-validation folds k.
    spatial_folds
        ``"kmeans"`` or ``"blocks"``.
    block_size_m
        Block edge in metres for ``blocks`` folds and the spatial test split.
    seed
        Seed of every random choice (test split, k-means, block order, random folds).
    label
        Label column.

    Returns
    -------
    pandas.DataFrame
        A copy with ``split`` (train|test|predict), ``fold`` (spatial, 0 … k-1 on training
        rows, -1 elsewhere) and ``fold_random`` (stratified random, same convention).
    """
    out = frame.copy()
    y_all = out[label].to_numpy()
    labelled = np.isin(y_all, [0, 1])
    split = np.full(len(out), "predict", dtype=object)
    fold = np.full(len(out), -1, dtype=np.int64)
    fold_r = np.full(len(out), -1, dtype=np.int64)
    idx = np.flatnonzero(labelled)
    if idx.size:
        x = out["x_m"].to_numpy()[idx]
        y = out["y_m"].to_numpy()[idx]
        lab = y_all[idx]
        if np.unique(lab).size < 2:
            raise ConfigError(
                f"the samples hold only class {int(lab[0])}: a classifier needs landslides (1) "
                "and non-landslides (0). Check the inventory and the sampling settings."
            )
        is_test = holdout_split(
            x,
            y,
            lab,
            method=test_split_method,
            fraction=test_fraction,
            block_size_m=block_size_m,
            seed=seed,
        )
        split[idx] = np.where(is_test, "test", "train")
        tr = idx[~is_test]
        xt, yt, lt = out["x_m"].to_numpy()[tr], out["y_m"].to_numpy()[tr], y_all[tr]
        if spatial_folds == "kmeans":
            fold[tr] = kmeans_folds(xt, yt, folds, seed=seed)
        elif spatial_folds == "blocks":
            fold[tr] = block_folds(xt, yt, folds, block_size_m=block_size_m, seed=seed)
        else:
            raise ConfigError(
                f"config key 'validation.spatial_folds': unknown method {spatial_folds!r} "
                "(use kmeans or blocks)."
            )
        fold_r[tr] = random_folds(lt, folds, seed=seed)
        for f in range(folds):
            held = lt[fold[tr] == f]
            if np.unique(held).size < 2:
                log.warning(
                    "spatial fold %d holds only class(es) %s (%d rows); its AUC is undefined",
                    f,
                    sorted(set(held.tolist())),
                    held.size,
                )
    out["split"] = pd.Series(split, index=out.index, dtype="string")
    out["fold"] = fold
    out["fold_random"] = fold_r
    return out


#: Least labelled samples of each class (1 and 0) a classifier of the PLC unit is trained on.
#: Fewer, and the potential-landslide classifier is skipped (the candidates keep their
#: rule-based class): a forest fitted and cross-validated on 2 or 3 examples of a class says
#: nothing. The cross-validation may need more (``validation.folds`` per class after the
#: ``validation.test_fraction`` hold-out); :func:`assign_splits_or_skip` reports that too.
MIN_PER_CLASS = 5


def without_splits(frame: pd.DataFrame) -> pd.DataFrame:
    """Mark every sample as outside training and testing (``split = "predict"``, folds -1).

    The samples of a classifier that is skipped: labels are kept (they are observations),
    but no row is a training or test row, so factor selection, ChiMerge and training see
    none.

    Parameters
    ----------
    frame
        Samples.

    Returns
    -------
    pandas.DataFrame
        A copy with ``split`` = ``predict``, ``fold`` = ``fold_random`` = -1.
    """
    out = frame.copy()
    out["split"] = pd.Series(["predict"] * len(out), index=out.index, dtype="string")
    out["fold"] = np.full(len(out), -1, dtype=np.int64)
    out["fold_random"] = np.full(len(out), -1, dtype=np.int64)
    return out


def assign_splits_or_skip(
    frame: pd.DataFrame,
    *,
    min_per_class: int = MIN_PER_CLASS,
    label: str = "label",
    **kwargs,
) -> tuple[pd.DataFrame, str | None]:
    """:func:`assign_splits`, or no splits with the reason when a classifier cannot be trained.

    For units whose classifier is optional (the PLC unit): instead of raising, too few
    labelled samples of a class, or folds that cannot be made, give samples without
    training rows (:func:`without_splits`) and the reason.

    Parameters
    ----------
    frame
        Samples with ``x_m``, ``y_m`` and the label column (1, 0; -1 unlabelled).
    min_per_class
        Least labelled samples of each class (:data:`MIN_PER_CLASS`).
    label
        Label column.
    **kwargs
        The settings of :func:`assign_splits` (``test_split_method``, ``test_fraction``,
        ``folds``, ``spatial_folds``, ``block_size_m``, ``seed``).

    Returns
    -------
    frame : pandas.DataFrame
        With ``split``, ``fold`` and ``fold_random``.
    reason : str or None
        None when the splits were made; else why not (one sentence, no fix).
    """
    y = frame[label].to_numpy()
    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    if min(n0, n1) < min_per_class:
        reason = (
            f"the samples hold {n1} labelled landslide(s) (1) and {n0} labelled "
            f"non-landslide(s) (0): a classifier needs at least {min_per_class} of each class"
        )
        return without_splits(frame), reason
    try:
        return assign_splits(frame, label=label, **kwargs), None
    except ConfigError as exc:
        reason = (
            f"the {n1} landslide(s) and {n0} non-landslide(s) cannot be split into "
            f"a test set and cross-validation folds ({exc})"
        )
        return without_splits(frame), reason


def _check_k(n: int, k: int) -> None:
    """Refuse fewer samples than folds, or fewer than two folds."""
    if k < 2:
        raise ConfigError(f"config key 'validation.folds': {k} < 2; use at least 2 folds.")
    if n < k:
        raise ConfigError(
            f"config key 'validation.folds': only {n} training samples for {k} folds. "
            "Use fewer folds or more samples."
        )


def fold_summary(frame: pd.DataFrame, columns: Sequence[str] = ("fold", "fold_random")) -> dict:
    """Count rows and positives per split and per fold (for the samples summary).

    Parameters
    ----------
    frame
        Samples with ``split``, ``label`` and the fold columns.
    columns
        Fold columns to summarise.

    Returns
    -------
    dict
        ``{"split": {name: {"rows", "positives"}}, "<column>": {fold: {"rows", "positives"}}}``.
    """
    out: dict = {"split": {}}
    for name, g in frame.groupby("split", sort=True):
        out["split"][str(name)] = {"rows": len(g), "positives": int((g["label"] == 1).sum())}
    for col in columns:
        tr = frame[frame[col] >= 0]
        out[col] = {
            str(int(k)): {"rows": len(g), "positives": int((g["label"] == 1).sum())}
            for k, g in tr.groupby(col, sort=True)
        }
    return out
