"""Whole-grid prediction of a model, scattered over map tiles and mosaicked into one COG.

The study grid is cut into ``n_rows × n_cols`` tiles. The tile count is fixed when the
workflow is parsed (from the estimated grid size and ``mapping.tile_size``, see
:func:`estimate_grid_shape` and :func:`tile_counts`); each tile job then cuts the real grid
into that many near-equal windows (:class:`TileLayout`), so the DAG never waits for a
checkpoint and every tile job's memory is bounded by the tile size.

A tile job reads its window of every factor with a halo of ``k // 2`` cells for a k × k patch
model (NaN beyond the grid edge, :func:`slidemap.raster.read_stack`), hands the block to
``bundle.predict_grid`` and writes the probabilities of the core window. The mosaic copies the
tiles into ``susceptibility.tif`` block by block.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import rasterio
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from slidemap.errors import InputDataError
from slidemap.raster import Grid, check_same_grid, read_stack, read_window, write_cog

__all__ = [
    "GridModel",
    "TileLayout",
    "tile_counts",
    "estimate_grid_shape",
    "bundle_halo",
    "predict_window",
    "predict_tile",
    "mosaic_tiles",
    "load_bundle",
]

log = logging.getLogger(__name__)

_TILE_RE = re.compile(r"^r(\d+)c(\d+)$")


class GridModel(Protocol):
    """What map prediction needs of a model bundle (see ``slidemap.models.base.ModelBundle``).

    Attributes
    ----------
    factors
        Factor names, in the order of the stack ``predict_grid`` expects.
    """

    factors: Sequence[str]

    def predict_grid(self, stack: np.ndarray) -> np.ndarray:
        """Return P(landslide) [H, W] for a raw float32 stack [F, H + 2h, W + 2h]."""
        ...


@dataclass(frozen=True)
class TileLayout:
    """A grid cut into ``n_rows × n_cols`` near-equal tiles.

    Tile ``r{i}c{j}`` covers rows ``⌊i·H/n_rows⌋ … ⌊(i+1)·H/n_rows⌋ − 1`` and the analogous
    columns, so the tiles partition the grid exactly whatever its size.

    Attributes
    ----------
    height, width
        Grid size in cells.
    n_rows, n_cols
        Number of tile rows and columns.
    """

    height: int
    width: int
    n_rows: int
    n_cols: int

    def __post_init__(self) -> None:
        if not (1 <= self.n_rows <= self.height and 1 <= self.n_cols <= self.width):
            raise ValueError(
                f"cannot cut a {self.height} x {self.width} grid into "
                f"{self.n_rows} x {self.n_cols} tiles"
            )

    @property
    def tile_ids(self) -> list[str]:
        """Every tile id, row-major (``r000c000``, ``r000c001`` …)."""
        return tile_ids(self.n_rows, self.n_cols)

    def window(self, tile_id: str) -> Window:
        """Return the window (cells) of one tile.

        Parameters
        ----------
        tile_id
            ``r{row:03d}c{col:03d}``.

        Returns
        -------
        rasterio.windows.Window
            The tile's core window.
        """
        m = _TILE_RE.match(tile_id)
        if not m:
            raise ValueError(f"bad tile id {tile_id!r}; expected e.g. 'r000c001'")
        i, j = int(m.group(1)), int(m.group(2))
        if not (i < self.n_rows and j < self.n_cols):
            raise ValueError(f"tile {tile_id} outside a {self.n_rows} x {self.n_cols} layout")
        r0, r1 = i * self.height // self.n_rows, (i + 1) * self.height // self.n_rows
        c0, c1 = j * self.width // self.n_cols, (j + 1) * self.width // self.n_cols
        return Window(c0, r0, c1 - c0, r1 - r0)


def tile_ids(n_rows: int, n_cols: int) -> list[str]:
    """Tile ids of an ``n_rows × n_cols`` layout, row-major.

    Parameters
    ----------
    n_rows, n_cols
        Number of tile rows and columns.

    Returns
    -------
    list of str
        ``["r000c000", "r000c001", …]``.
    """
    return [f"r{i:03d}c{j:03d}" for i in range(n_rows) for j in range(n_cols)]


def tile_counts(height: int, width: int, tile_size: int) -> tuple[int, int]:
    """Count the tile rows and columns of a grid for a largest tile edge.

    Parameters
    ----------
    height, width
        Grid size in cells.
    tile_size
        Largest tile edge in cells (``mapping.tile_size``).

    Returns
    -------
    tuple of int
        ``(ceil(height / tile_size), ceil(width / tile_size))``, at least 1 each.
    """
    if tile_size < 1:
        raise ValueError(f"tile_size must be >= 1 cell, got {tile_size}")
    return max(1, math.ceil(height / tile_size)), max(1, math.ceil(width / tile_size))


def estimate_grid_shape(
    dem_path: str | os.PathLike, crs: Any = None, resolution_m: float | None = None
) -> tuple[int, int]:
    """Estimate the study grid's shape from the DEM header, before the grid exists.

    Used when the workflow is parsed, to fix the number of map tiles. The estimate is exact
    when the DEM is already in the working CRS at the working resolution; otherwise it is
    GDAL's default warp size, which is close. The tile windows are computed from the real
    grid at run time, so a small error only changes the tile sizes a little.

    Parameters
    ----------
    dem_path
        The DEM (only its header is read).
    crs
        Working CRS (anything rasterio understands); None = the DEM's CRS.
    resolution_m
        Working cell size in metres; None = the DEM's.

    Returns
    -------
    tuple of int
        ``(height, width)`` in cells.
    """
    from rasterio.warp import calculate_default_transform

    with rasterio.open(dem_path) as src:
        dst_crs = rasterio.crs.CRS.from_user_input(crs) if crs else src.crs
        if dst_crs == src.crs and resolution_m is None:
            return src.height, src.width
        res = resolution_m if resolution_m is not None else None
        _, width, height = calculate_default_transform(
            src.crs, dst_crs, src.width, src.height, *src.bounds, resolution=res
        )
    return int(height), int(width)


def bundle_halo(bundle: Any) -> int:
    """Halo (cells) a bundle's ``predict_grid`` needs: ``k // 2`` for a k × k patch model, else 0.

    Parameters
    ----------
    bundle
        A model bundle. Its ``halo`` attribute is used when present, else ``patch_size``
        (k); a bundle with neither is a per-cell model.

    Returns
    -------
    int
        Halo in cells.
    """
    halo = getattr(bundle, "halo", None)
    if halo is not None:
        return int(halo)
    k = getattr(bundle, "patch_size", None)
    return int(k) // 2 if k else 0


def predict_window(
    bundle: GridModel, factor_paths: Sequence[str | os.PathLike], window: Window
) -> np.ndarray:
    """Predict P(landslide) over one window of the study grid.

    Parameters
    ----------
    bundle
        A model bundle (``predict_grid`` and ``factors``).
    factor_paths
        One raster per entry of ``bundle.factors``, in that order, all on the study grid.
    window
        The core window (cells).

    Returns
    -------
    numpy.ndarray
        float32 (window.height, window.width), values in [0, 1], NaN where any factor of the
        cell is nodata (or where the bundle returns NaN).
    """
    halo = bundle_halo(bundle)
    stack = read_stack(factor_paths, window, halo, threads=getattr(bundle, "threads", 1))
    prob = np.asarray(bundle.predict_grid(stack), dtype=np.float32)
    shape = (int(window.height), int(window.width))
    if prob.shape != shape:
        raise ValueError(
            f"predict_grid returned shape {prob.shape} for a {shape} window with halo {halo}"
        )
    core = stack[:, halo : halo + shape[0], halo : halo + shape[1]]
    prob[np.isnan(core).any(axis=0)] = np.nan
    bad = (prob < 0) | (prob > 1)
    if bad.any():
        raise ValueError(
            f"predict_grid returned {int(bad.sum())} values outside [0, 1] "
            f"(min {np.nanmin(prob):.4g}, max {np.nanmax(prob):.4g})"
        )
    return prob


def _factor_paths(bundle: GridModel, factor_dir: str | os.PathLike) -> list[Path]:
    """Raster path of each factor of the bundle, checking that each exists."""
    paths = [Path(factor_dir) / f"{name}.tif" for name in bundle.factors]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputDataError(
            missing[0],
            f"the model needs factor rasters that do not exist ({', '.join(missing)}).",
            "check that the factor stage produced every factor in selected.json.",
        )
    return paths


def predict_tile(
    bundle: GridModel,
    factor_dir: str | os.PathLike,
    grid_path: str | os.PathLike,
    n_rows: int,
    n_cols: int,
    tile_id: str,
    out_path: str | os.PathLike,
) -> dict:
    """Predict one map tile and write it as a small georeferenced GeoTIFF.

    Parameters
    ----------
    bundle
        A model bundle (``predict_grid`` and ``factors``).
    factor_dir
        Folder of the factor rasters (``<name>.tif``), all on the study grid.
    grid_path
        The study grid raster (``grid/dem.tif``); defines shape, CRS and transform.
    n_rows, n_cols
        The tile layout (fixed when the workflow was parsed).
    tile_id
        The tile to predict (``r000c000``).
    out_path
        Output GeoTIFF of the tile (float32, NaN nodata, the tile's own transform).

    Returns
    -------
    dict
        ``tile``, ``window`` (col_off, row_off, width, height), ``cells``, ``valid_cells``.
    """
    grid = Grid.from_raster(grid_path)
    paths = _factor_paths(bundle, factor_dir)
    check_same_grid(paths, grid)
    layout = TileLayout(grid.height, grid.width, n_rows, n_cols)
    window = layout.window(tile_id)
    prob = predict_window(bundle, paths, window)
    write_cog(
        prob,
        out_path,
        crs=grid.crs,
        transform=window_transform(window, grid.transform),
        nodata=np.nan,
        dtype="float32",
        tags={"tile": tile_id, "window": _window_tag(window)},
        layout="tiff",
    )
    return {
        "tile": tile_id,
        "window": _window_tag(window),
        "cells": int(prob.size),
        "valid_cells": int(np.isfinite(prob).sum()),
    }


def _window_tag(window: Window) -> str:
    """``col_off,row_off,width,height`` of a window, for tags and logs."""
    return ",".join(
        str(int(v)) for v in (window.col_off, window.row_off, window.width, window.height)
    )


def mosaic_tiles(
    tile_paths: Sequence[str | os.PathLike],
    grid_path: str | os.PathLike,
    n_rows: int,
    n_cols: int,
    out_path: str | os.PathLike,
    *,
    tags: dict[str, str] | None = None,
) -> dict:
    """Copy the tiles of one model into the susceptibility COG of the whole study grid.

    Parameters
    ----------
    tile_paths
        Every tile GeoTIFF of the layout; each file's name stem is its tile id.
    grid_path
        The study grid raster.
    n_rows, n_cols
        The tile layout.
    out_path
        Output COG (float32 0–1, NaN nodata, the study grid).
    tags
        Extra metadata for the output (e.g. the model name).

    Returns
    -------
    dict
        ``cells``, ``valid_cells``, ``min``, ``max``, ``mean`` of the map.

    Raises
    ------
    InputDataError
        If a tile is missing, duplicated, or does not sit where the layout puts it.
    """
    grid = Grid.from_raster(grid_path)
    layout = TileLayout(grid.height, grid.width, n_rows, n_cols)
    by_id = {Path(p).stem: Path(p) for p in tile_paths}
    missing = sorted(set(layout.tile_ids) - set(by_id))
    if missing or len(by_id) != len(tile_paths):
        raise InputDataError(
            out_path,
            f"the tiles do not match the {n_rows} x {n_cols} layout (missing: {missing[:5]}).",
            "rerun the predict_tile jobs of this model.",
        )
    stats = {"cells": 0, "valid_cells": 0, "sum": 0.0, "min": np.inf, "max": -np.inf}

    def blocks():
        for tid in layout.tile_ids:
            window = layout.window(tid)
            with rasterio.open(by_id[tid]) as src:
                expected = window_transform(window, grid.transform)
                if (src.height, src.width) != (int(window.height), int(window.width)) or (
                    not src.transform.almost_equals(expected, precision=1e-6)
                ):
                    raise InputDataError(
                        by_id[tid],
                        f"tile {tid} does not cover window {_window_tag(window)} of the grid.",
                        "delete the tiles of this model and rerun predict_tile.",
                    )
                arr = read_window(src, Window(0, 0, src.width, src.height))
            valid = np.isfinite(arr)
            stats["cells"] += arr.size
            stats["valid_cells"] += int(valid.sum())
            if valid.any():
                stats["sum"] += float(arr[valid].sum(dtype=np.float64))
                stats["min"] = min(stats["min"], float(arr[valid].min()))
                stats["max"] = max(stats["max"], float(arr[valid].max()))
            yield window, arr

    write_cog(
        blocks(),
        out_path,
        grid=grid,
        dtype="float32",
        nodata=np.nan,
        band_names=["susceptibility"],
        tags={"unit": "probability (0-1)", **(tags or {})},
    )
    n = stats["valid_cells"]
    return {
        "cells": stats["cells"],
        "valid_cells": n,
        "min": stats["min"] if n else None,
        "max": stats["max"] if n else None,
        "mean": stats["sum"] / n if n else None,
    }


def load_bundle(path: str | os.PathLike) -> Any:
    """Load a trained model bundle (``slidemap.models.base.ModelBundle.load``).

    Parameters
    ----------
    path
        The bundle file written by the models stage.

    Returns
    -------
    ModelBundle
        The bundle (``factors``, ``predict_proba``, ``predict_grid``).
    """
    from slidemap.models.base import ModelBundle

    return ModelBundle.load(path)
