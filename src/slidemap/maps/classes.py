"""Susceptibility classes: natural breaks (Fisher–Jenks), equal interval or quantiles, 5 classes.

Seed 004 (section 4.3) classifies the landslide susceptibility index into five classes, very
low … very high, by natural breaks (Jenks). Fisher–Jenks is O(n²) in the number of values, so
for a large map the breaks are fitted on a seeded uniform random sample of the valid cells
(ArcGIS does the same with 10 000 values); :func:`sample_raster` draws it block by block.

Breaks are upper class bounds, as in mapclassify: a value ``v`` is in class ``i`` (1-based)
when ``breaks[i-2] < v <= breaks[i-1]``; values above the last break (possible when the breaks
come from a sample) fall into the top class, values below the first into class 1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import rasterio

from slidemap.errors import InputDataError
from slidemap.io import atomic_path
from slidemap.raster import Grid, iter_windows, read_window, write_cog

__all__ = [
    "CLASS_LABELS",
    "CLASS_COLORS",
    "METHODS",
    "compute_breaks",
    "natural_breaks",
    "equal_interval_breaks",
    "quantile_breaks",
    "classify",
    "sample_raster",
    "raster_breaks",
    "classify_raster",
    "class_table",
    "qml_style",
    "write_qml",
]

#: Names of the five susceptibility classes, class 1 first.
CLASS_LABELS = ("very low", "low", "moderate", "high", "very high")
#: RGBA colours of the classes, green -> red (ColorBrewer RdYlGn, 5 classes, reversed).
CLASS_COLORS = (
    (26, 150, 65, 255),
    (166, 217, 106, 255),
    (255, 255, 191, 255),
    (253, 174, 97, 255),
    (215, 25, 28, 255),
)
#: Classification methods (``mapping.classes.method``).
METHODS = ("natural_breaks", "equal_interval", "quantile")


def _valid(values: np.ndarray) -> np.ndarray:
    """Finite values of an array, flattened, as float64."""
    v = np.asarray(values, dtype=np.float64).ravel()
    return v[np.isfinite(v)]


def _check_distinct(values: np.ndarray, n_classes: int, where: str | None) -> None:
    """Raise when there are fewer distinct values than classes."""
    n_unique = np.unique(values).size
    if n_unique < n_classes:
        raise InputDataError(
            where,
            f"the susceptibility map has {n_unique} distinct value(s); {n_classes} classes "
            "need at least as many.",
            "check the model (a constant map means it learnt nothing) or use fewer classes.",
        )


def natural_breaks(values: np.ndarray, n_classes: int = 5) -> np.ndarray:
    """Fisher–Jenks natural breaks (optimal 1-D classification minimising within-class variance).

    Parameters
    ----------
    values
        Susceptibility values (probability, 0–1); NaN ignored. Pass a sample for large maps.
    n_classes
        Number of classes.

    Returns
    -------
    numpy.ndarray
        ``n_classes`` upper class bounds, ascending; the last is the maximum value.
    """
    import mapclassify  # slow to import (numba): only where needed

    v = _valid(values)
    _check_distinct(v, n_classes, None)
    return np.asarray(mapclassify.FisherJenks(v, k=n_classes).bins, dtype=np.float64)


def equal_interval_breaks(vmin: float, vmax: float, n_classes: int = 5) -> np.ndarray:
    """Equal-interval breaks between a minimum and a maximum.

    Parameters
    ----------
    vmin, vmax
        Range of the susceptibility values (probability).
    n_classes
        Number of classes.

    Returns
    -------
    numpy.ndarray
        ``n_classes`` upper bounds ``vmin + i·(vmax − vmin)/n_classes``, i = 1 … n_classes.
    """
    if not vmax > vmin:
        raise InputDataError(
            None,
            f"the susceptibility map is constant ({vmin}); it cannot be classified.",
            "check the model and its inputs.",
        )
    return vmin + (vmax - vmin) * np.arange(1, n_classes + 1) / n_classes


def quantile_breaks(values: np.ndarray, n_classes: int = 5) -> np.ndarray:
    """Quantile breaks: each class holds about the same number of values.

    Parameters
    ----------
    values
        Susceptibility values (probability); NaN ignored.
    n_classes
        Number of classes.

    Returns
    -------
    numpy.ndarray
        The ``i/n_classes`` quantiles (linear interpolation), i = 1 … n_classes.
    """
    v = _valid(values)
    _check_distinct(v, n_classes, None)
    return np.quantile(v, np.arange(1, n_classes + 1) / n_classes)


def compute_breaks(
    values: np.ndarray,
    method: str,
    n_classes: int = 5,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """Class breaks of a set of values by one of :data:`METHODS`.

    Parameters
    ----------
    values
        Susceptibility values (or a sample of them); NaN ignored.
    method
        ``natural_breaks``, ``equal_interval`` or ``quantile``.
    n_classes
        Number of classes.
    vmin, vmax
        Exact range of the whole map (equal interval; also the last break of the sampled
        methods), default the range of ``values``.

    Returns
    -------
    numpy.ndarray
        ``n_classes`` ascending upper bounds.
    """
    v = _valid(values)
    vmin = float(v.min()) if vmin is None else vmin
    vmax = float(v.max()) if vmax is None else vmax
    if method == "natural_breaks":
        breaks = natural_breaks(v, n_classes)
    elif method == "equal_interval":
        breaks = equal_interval_breaks(vmin, vmax, n_classes)
    elif method == "quantile":
        breaks = quantile_breaks(v, n_classes)
    else:
        raise ValueError(f"unknown classification method {method!r}; use one of {METHODS}")
    breaks = np.asarray(breaks, dtype=np.float64)
    breaks[-1] = max(breaks[-1], vmax)
    return breaks


def classify(values: np.ndarray, breaks: Sequence[float]) -> np.ndarray:
    """Class codes 1 … n of values given upper class bounds; 0 where the value is NaN.

    Parameters
    ----------
    values
        Susceptibility values (probability).
    breaks
        Ascending upper class bounds (``n`` of them).

    Returns
    -------
    numpy.ndarray
        uint8 array of the shape of ``values``: ``1 + #(inner breaks < v)``, 0 on NaN.
    """
    v = np.asarray(values)
    inner = np.asarray(breaks, dtype=np.float64)[:-1]
    cls = (np.searchsorted(inner, v, side="left") + 1).astype(np.uint8)
    cls[~np.isfinite(v)] = 0
    return cls


def sample_raster(
    path: str | os.PathLike, sample_size: int, seed: int, block: int = 1024
) -> tuple[np.ndarray, dict]:
    """Draw a seeded uniform random sample of the valid cells of a raster, block by block.

    Parameters
    ----------
    path
        A single-band raster (NaN or its nodata value = invalid).
    sample_size
        Number of cells to draw (all valid cells when there are fewer).
    seed
        Seed of the random generator.
    block
        Block edge in cells (memory ~ block² × 4 bytes).

    Returns
    -------
    sample : numpy.ndarray
        float64 values of the sampled cells (in raster order).
    stats : dict
        ``n_valid``, ``min``, ``max`` of the whole raster (exact).
    """
    grid = Grid.from_raster(path)
    counts = []
    vmin, vmax = np.inf, -np.inf
    with rasterio.open(path) as src:
        windows = list(iter_windows(grid.height, grid.width, block))
        for win in windows:
            data = read_window(src, win)
            ok = np.isfinite(data)
            counts.append(int(ok.sum()))
            if counts[-1]:
                vmin = min(vmin, float(data[ok].min()))
                vmax = max(vmax, float(data[ok].max()))
        n_valid = int(sum(counts))
        if n_valid == 0:
            raise InputDataError(
                path, "the raster has no valid cell.", "check the model and the factor rasters."
            )
        rng = np.random.default_rng(seed)
        if sample_size >= n_valid:
            chosen = np.arange(n_valid)
        else:
            chosen = np.sort(rng.choice(n_valid, size=sample_size, replace=False))
        offsets = np.cumsum([0, *counts])
        parts = []
        for k, win in enumerate(windows):
            lo, hi = np.searchsorted(chosen, [offsets[k], offsets[k + 1]])
            if hi == lo:
                continue
            data = read_window(src, win)
            vals = data[np.isfinite(data)]
            parts.append(vals[chosen[lo:hi] - offsets[k]].astype(np.float64))
    sample = np.concatenate(parts)
    return sample, {"n_valid": n_valid, "min": vmin, "max": vmax}


def raster_breaks(
    path: str | os.PathLike,
    method: str,
    *,
    n_classes: int = 5,
    sample_size: int = 20000,
    seed: int = 0,
) -> dict:
    """Class breaks of a susceptibility raster.

    Parameters
    ----------
    path
        The susceptibility COG.
    method
        One of :data:`METHODS`.
    n_classes
        Number of classes.
    sample_size
        Cells drawn for natural breaks and quantiles (exact when the map has fewer valid
        cells); equal interval uses the exact range.
    seed
        Seed of the sample.

    Returns
    -------
    dict
        ``method``, ``breaks`` (upper bounds), ``min``, ``max``, ``n_valid``, ``n_sampled``,
        ``seed``, ``labels``, ``colors``.
    """
    sample, stats = sample_raster(path, sample_size, seed)
    try:
        breaks = compute_breaks(sample, method, n_classes, vmin=stats["min"], vmax=stats["max"])
    except InputDataError as exc:
        raise InputDataError(path, exc.problem, exc.fix) from None
    return {
        "method": method,
        "breaks": breaks.tolist(),
        "min": stats["min"],
        "max": stats["max"],
        "n_valid": stats["n_valid"],
        "n_sampled": int(sample.size),
        "seed": seed,
        "labels": list(_labels(n_classes)),
        "colors": [list(c) for c in _colors(n_classes)],
    }


def _labels(n_classes: int) -> tuple[str, ...]:
    """Class names: the five of seed 004, or ``class 1`` … for another count."""
    return CLASS_LABELS if n_classes == 5 else tuple(f"class {i}" for i in range(1, n_classes + 1))


def _colors(n_classes: int) -> tuple[tuple[int, int, int, int], ...]:
    """Green -> red colours for ``n_classes`` classes."""
    if n_classes == 5:
        return CLASS_COLORS
    import matplotlib

    cmap = matplotlib.colormaps["RdYlGn_r"]
    return tuple(
        tuple(int(round(255 * c)) for c in cmap(i / max(n_classes - 1, 1)))
        for i in range(n_classes)
    )


def classify_raster(
    susceptibility_path: str | os.PathLike,
    out_path: str | os.PathLike,
    breaks: Sequence[float],
    block: int = 1024,
) -> np.ndarray:
    """Write the class raster (uint8 1 … n, nodata 0, colour table) of a susceptibility raster.

    Parameters
    ----------
    susceptibility_path
        The susceptibility COG.
    out_path
        Output ``classes.tif`` (COG on the same grid).
    breaks
        Ascending upper class bounds.
    block
        Block edge in cells.

    Returns
    -------
    numpy.ndarray
        Number of cells per class, index 0 = class 1.
    """
    n = len(breaks)
    grid = Grid.from_raster(susceptibility_path)
    counts = np.zeros(n + 1, dtype=np.int64)

    def blocks():
        with rasterio.open(susceptibility_path) as src:
            for win in iter_windows(grid.height, grid.width, block):
                cls = classify(read_window(src, win), breaks)
                counts[:] += np.bincount(cls.ravel(), minlength=n + 1)
                yield win, cls

    colormap = {0: (0, 0, 0, 0)}
    colormap.update({i + 1: tuple(c) for i, c in enumerate(_colors(n))})
    write_cog(
        blocks(),
        out_path,
        grid=grid,
        dtype="uint8",
        nodata=0,
        band_names=["susceptibility_class"],
        tags={
            "classes": ";".join(f"{i + 1}={lab}" for i, lab in enumerate(_labels(n))),
            "breaks": ",".join(f"{b:.6g}" for b in breaks),
        },
        colormap=colormap,
    )
    return counts[1:]


def class_table(counts: Sequence[int], breaks: Sequence[float], vmin: float, cell_area_m2: float):
    """Area of each susceptibility class.

    Parameters
    ----------
    counts
        Cells per class (class 1 first).
    breaks
        Upper class bounds.
    vmin
        Minimum susceptibility (lower bound of class 1).
    cell_area_m2
        Area of one cell in m².

    Returns
    -------
    pandas.DataFrame
        ``class``, ``label``, ``lower``, ``upper``, ``n_cells``, ``area_km2``,
        ``area_share`` (fraction of the mapped area, 0–1).
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = counts.size
    total = counts.sum()
    return pd.DataFrame(
        {
            "class": np.arange(1, n + 1),
            "label": list(_labels(n)),
            "lower": np.r_[vmin, np.asarray(breaks[:-1], dtype=float)],
            "upper": np.asarray(breaks, dtype=float),
            "n_cells": counts,
            "area_km2": counts * cell_area_m2 / 1e6,
            "area_share": counts / total if total else np.zeros(n),
        }
    )


def qml_style(breaks: Sequence[float], vmin: float) -> str:
    """QGIS layer style (.qml) of ``classes.tif``: a paletted renderer with the class colours.

    Parameters
    ----------
    breaks
        Upper class bounds (for the legend labels).
    vmin
        Minimum susceptibility.

    Returns
    -------
    str
        The QML document.
    """
    n = len(breaks)
    lowers = [vmin, *breaks[:-1]]
    entries = []
    for i, (label, color) in enumerate(zip(_labels(n), _colors(n), strict=True), start=1):
        hex_color = "#{:02x}{:02x}{:02x}".format(*color[:3])
        text = f"{i} {label} ({lowers[i - 1]:.3f} - {breaks[i - 1]:.3f})"
        entries.append(
            f'          <paletteEntry value="{i}" color="{hex_color}" alpha="255" label="{text}"/>'
        )
    palette = "\n".join(entries)
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.28.0" styleCategories="AllStyleCategories">
  <pipe>
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <colorPalette>
{palette}
      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def write_qml(path: str | os.PathLike, breaks: Sequence[float], vmin: float) -> None:
    """Write :func:`qml_style` to a file, atomically.

    Parameters
    ----------
    path
        Output ``.qml`` (QGIS loads ``classes.qml`` beside ``classes.tif`` automatically).
    breaks
        Upper class bounds.
    vmin
        Minimum susceptibility.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(qml_style(breaks, vmin), encoding="utf-8")
