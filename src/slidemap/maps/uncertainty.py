"""Per-pixel disagreement between susceptibility maps (of different models or CV folds).

The literature reviews (seeds 001 and 003) name uncertainty as an open need of susceptibility
mapping; a user should see where models disagree. For every cell mapped by all models this
writes the standard deviation (population, ddof = 0) and the range (max − min) of the
susceptibility across the maps, block by block.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import rasterio

from slidemap.raster import Grid, check_same_grid, iter_windows, read_window, write_cog

__all__ = ["UNCERTAINTY_BANDS", "spread", "uncertainty_raster"]

#: Bands of ``uncertainty.tif``.
UNCERTAINTY_BANDS = ("std", "range", "mean")


def spread(stack: np.ndarray) -> np.ndarray:
    """Compute std, range and mean across the first axis; NaN where any map is NaN.

    Parameters
    ----------
    stack
        (n_maps, rows, cols) susceptibility values (probability).

    Returns
    -------
    numpy.ndarray
        float32 (3, rows, cols): std (ddof = 0), max − min, mean.
    """
    stack = np.asarray(stack, dtype=np.float64)
    bad = np.isnan(stack).any(axis=0)
    out = np.stack([stack.std(axis=0), stack.max(axis=0) - stack.min(axis=0), stack.mean(axis=0)])
    out[:, bad] = np.nan
    return out.astype(np.float32)


def uncertainty_raster(
    map_paths: Sequence[str | os.PathLike],
    out_path: str | os.PathLike,
    *,
    names: Sequence[str] | None = None,
    block: int = 1024,
) -> dict:
    """Write the spread of several susceptibility maps as a 3-band COG (std, range, mean).

    Parameters
    ----------
    map_paths
        Susceptibility COGs on one grid (at least two).
    out_path
        Output ``uncertainty.tif`` (float32, NaN nodata).
    names
        Names of the maps (e.g. the models), stored as metadata.
    block
        Block edge in cells.

    Returns
    -------
    dict
        ``models``, ``valid_cells``, ``std_mean``, ``std_max``, ``range_mean``.
    """
    if len(map_paths) < 2:
        raise ValueError("the spread needs at least two maps")
    grid = Grid.from_raster(map_paths[0])
    check_same_grid(map_paths[1:], grid)
    acc = {"n": 0, "std_sum": 0.0, "std_max": 0.0, "range_sum": 0.0}

    def blocks():
        srcs = [rasterio.open(p) for p in map_paths]
        try:
            for win in iter_windows(grid.height, grid.width, block):
                out = spread(np.stack([read_window(s, win) for s in srcs]))
                ok = np.isfinite(out[0])
                if ok.any():
                    acc["n"] += int(ok.sum())
                    acc["std_sum"] += float(out[0][ok].sum(dtype=np.float64))
                    acc["std_max"] = max(acc["std_max"], float(out[0][ok].max()))
                    acc["range_sum"] += float(out[1][ok].sum(dtype=np.float64))
                yield win, out
        finally:
            for s in srcs:
                s.close()

    names = list(names) if names else [os.fspath(p) for p in map_paths]
    write_cog(
        blocks(),
        out_path,
        grid=grid,
        dtype="float32",
        nodata=np.nan,
        count=len(UNCERTAINTY_BANDS),
        band_names=list(UNCERTAINTY_BANDS),
        tags={"models": ",".join(names), "unit": "probability (0-1)", "std_ddof": "0"},
    )
    n = acc["n"]
    return {
        "models": names,
        "valid_cells": n,
        "std_mean": acc["std_sum"] / n if n else None,
        "std_max": acc["std_max"] if n else None,
        "range_mean": acc["range_sum"] / n if n else None,
    }
