"""k × k neighbourhood patches of the factor rasters around each sample (seed 004: 9 × 9 × C).

Patches are read window by window from the factor COGs (never whole rasters): samples are
grouped by the block of the grid they fall in, each block is read once with a halo of
``k // 2`` cells, and every patch of the group is cut from it. Cells outside the raster or on
nodata are NaN; ``mask`` marks the cells where every factor is valid. Values stay raw (the
factor's unit); :func:`patch_stats` gives the per-factor mean and standard deviation over the
training rows so that a model normalises with training statistics only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from numpy.lib.stride_tricks import sliding_window_view
from rasterio.windows import Window

from slidemap.io import atomic_path, write_json
from slidemap.raster import read_window

__all__ = [
    "extract_patches",
    "patch_stats",
    "write_tiles",
    "make_tiles",
]

log = logging.getLogger(__name__)

#: Edge (cells) of the grid blocks that samples are grouped by when patches are read.
BLOCK_CELLS = 256


def extract_patches(
    paths: Sequence[str | PathLike],
    rows: np.ndarray,
    cols: np.ndarray,
    size: int,
    *,
    block_cells: int = BLOCK_CELLS,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``size × size`` patches of every factor centred on each sample cell.

    Parameters
    ----------
    paths
        Factor rasters (one band each, all on the same grid), in the output channel order.
    rows, cols
        Centre cell of each sample (0-based row and column of the grid), shape (n,).
    size
        Patch edge k in cells (odd).
    block_cells
        Edge of the grid blocks samples are grouped by; each block plus a halo of
        ``size // 2`` cells is read once per factor.

    Returns
    -------
    patches : numpy.ndarray
        float32 (n, F, k, k) raw factor values; NaN outside the raster or on nodata.
    mask : numpy.ndarray
        bool (n, k, k): True where every factor is valid.
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"patch size must be a positive odd number of cells, got {size}")
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    n, nf, half = rows.size, len(paths), size // 2
    # every patch of every factor is written below (read_window pads with NaN), so no fill
    patches = np.empty((n, nf, size, size), dtype=np.float32)
    if n == 0:
        return patches, np.zeros((0, size, size), dtype=bool)
    srcs = [rasterio.open(p) for p in paths]
    try:
        shapes = {(s.height, s.width) for s in srcs}
        if len(shapes) > 1:
            raise ValueError(f"factor rasters differ in shape: {sorted(shapes)}")
        br = np.floor_divide(rows, block_cells)
        bc = np.floor_divide(cols, block_cells)
        order = np.lexsort((bc, br))
        key = br[order] * (1 << 32) + bc[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ends = np.r_[starts[1:], n]
        for s, e in zip(starts, ends, strict=True):
            idx = order[s:e]
            r, c = rows[idx], cols[idx]
            # the window covering this group's patches (tight: at most one block plus halo)
            row0, col0 = int(r.min()) - half, int(c.min()) - half
            h = int(r.max()) - int(r.min()) + size
            w = int(c.max()) - int(c.min()) + size
            for f, src in enumerate(srcs):
                win = read_window(src, Window(col0, row0, w, h))
                view = sliding_window_view(win, (size, size))
                patches[idx, f] = view[r - int(r.min()), c - int(c.min())]
    finally:
        for src in srcs:
            src.close()
    mask = np.all(np.isfinite(patches), axis=1)
    return patches, mask


def patch_stats(
    patches: np.ndarray, train: np.ndarray, factors: Sequence[str]
) -> dict[str, object]:
    """Per-factor mean and standard deviation over every valid cell of the training patches.

    Parameters
    ----------
    patches
        float32 (n, F, k, k) raw values (NaN = invalid).
    train
        bool (n,): the training rows.
    factors
        Factor names, length F.

    Returns
    -------
    dict
        ``{"factors": [...], "mean": {factor: m}, "std": {factor: s}, "n_rows": n_train,
        "computed_over": ...}`` in each factor's unit (population std, ddof = 0; NaN ignored).
    """
    sel = patches[np.asarray(train, dtype=bool)]
    mean: dict[str, float | None] = {}
    std: dict[str, float | None] = {}
    for f, name in enumerate(factors):
        v = sel[:, f].astype(np.float64).ravel()
        v = v[np.isfinite(v)]
        mean[name] = float(v.mean()) if v.size else None
        std[name] = float(v.std()) if v.size else None
    return {
        "factors": list(factors),
        "mean": mean,
        "std": std,
        "n_rows": int(sel.shape[0]),
        "computed_over": "every valid cell of the patches of the training rows (split == train)",
    }


def write_tiles(
    patches: np.ndarray,
    mask: np.ndarray,
    index: pd.DataFrame,
    factors: Sequence[str],
    stats: dict,
    *,
    patches_path: str | PathLike,
    index_path: str | PathLike,
    stats_path: str | PathLike,
) -> None:
    """Write ``patches.npz`` (compressed), ``index.parquet`` and ``stats.json`` atomically.

    Parameters
    ----------
    patches
        float32 (n, F, k, k).
    mask
        bool (n, k, k).
    index
        One row per patch, in the same order: ``unit_id``, ``row``, ``col``, ``label``,
        ``split``, ``fold``, ``fold_random``.
    factors
        Channel names, length F.
    stats
        From :func:`patch_stats`.
    patches_path, index_path, stats_path
        Output files.
    """
    unit_id = index["unit_id"].to_numpy()
    if unit_id.dtype == object:
        unit_id = unit_id.astype(str)
    with atomic_path(patches_path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                patches=patches.astype(np.float32, copy=False),
                mask=mask.astype(bool, copy=False),
                unit_id=unit_id,
                factors=np.asarray(list(factors), dtype=str),
            )
    with atomic_path(index_path) as tmp:
        index.reset_index(drop=True).to_parquet(tmp, index=False)
    write_json(stats, Path(stats_path))


def make_tiles(
    samples: str | PathLike,
    selected: str | PathLike,
    factor_paths: dict[str, str | PathLike],
    size: int,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, list[str], dict]:
    """Patches of the selected factors around every pixel sample.

    Parameters
    ----------
    samples
        ``pixels.parquet``.
    selected
        ``selection/pixels/selected.json``; its factor order is the channel order.
    factor_paths
        Factor name -> COG path.
    size
        Patch edge k in cells.

    Returns
    -------
    patches, mask, index, factors, stats
        See :func:`extract_patches`, :func:`patch_stats`; ``index`` holds ``unit_id``,
        ``row``, ``col``, ``label``, ``split``, ``fold``, ``fold_random`` in patch order.
    """
    from slidemap.io import read_json

    factors = list(read_json(selected)["factors"])
    missing = [f for f in factors if f not in factor_paths]
    if missing:
        raise ValueError(f"selected factors without a raster: {missing}")
    cols = ["unit_id", "row", "col", "label", "split", "fold", "fold_random"]
    index = pd.read_parquet(samples, columns=cols)
    patches, mask = extract_patches(
        [factor_paths[f] for f in factors], index["row"].to_numpy(), index["col"].to_numpy(), size
    )
    centre = size // 2
    bad = ~mask[:, centre, centre]
    if bad.any():  # cannot happen for pixels.parquet (samples are on valid cells)
        raise ValueError(f"{int(bad.sum())} sample centre(s) on nodata; rebuild pixels.parquet")
    stats = patch_stats(patches, (index["split"] == "train").to_numpy(), factors)
    log.info("%d patches of %d x %d x %d", len(index), size, size, len(factors))
    return patches, mask, index, factors, stats
