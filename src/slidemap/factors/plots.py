"""Maps of the factors for the report (one PNG per factor, matplotlib Agg).

Large rasters are read through their overviews at about ``max_pixels`` on the long side,
so a plot costs the same for any grid size.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["plot_factor", "write_factor_plots"]

_CMAPS = {
    "elevation": "terrain",
    "slope": "viridis",
    "aspect": "twilight",
    "northness": "RdBu",
    "eastness": "RdBu",
    "plan_curvature": "RdBu_r",
    "profile_curvature": "RdBu_r",
    "tpi": "RdBu_r",
    "tri": "magma",
    "roughness": "magma",
    "sca": "Blues",
    "twi": "Blues",
    "spi": "Blues",
}
_SYMMETRIC = {"plan_curvature", "profile_curvature", "tpi", "northness", "eastness"}
_LOG = {"sca", "spi"}


def _read_small(path: str | os.PathLike, max_pixels: int) -> tuple[np.ndarray, Any, dict]:
    """Read band 1 reduced to at most ``max_pixels`` cells a side (nearest), with extent and tags.

    Returns a masked float32 array (masked on nodata), ``(left, right, bottom, top)`` in
    metres of the raster's CRS, and the dataset tags plus ``_colormap`` (band 1's colour
    table, or None).
    """
    import rasterio

    from slidemap.raster import read_decimated

    data, extent, _, _ = read_decimated(path, max_pixels)
    with rasterio.open(path) as src:
        tags = src.tags()
        try:
            cmap = src.colormap(1)
        except ValueError:
            cmap = None
    tags["_colormap"] = cmap
    return np.ma.masked_invalid(data), extent, tags


def plot_factor(
    path: str | os.PathLike,
    out_png: str | os.PathLike,
    *,
    name: str,
    streams: Any = None,
    max_pixels: int = 1200,
) -> None:
    """Draw one factor raster to a PNG (colour bar with unit, or class legend).

    Parameters
    ----------
    path
        The factor COG.
    out_png
        Output PNG (written atomically).
    name
        Factor name (title; selects the colour map).
    streams
        Optional GeoDataFrame of streams drawn over hydrology factors.
    max_pixels
        Long side of the image read from the raster, in pixels.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.patches import Patch

    from slidemap.io import atomic_path

    data, extent, tags = _read_small(path, max_pixels)
    unit = tags.get("unit", "")
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    if tags.get("kind") == "categorical":
        import json

        codes = {int(k): v for k, v in json.loads(tags.get("codes", "{}")).items()}
        cm = tags.get("_colormap") or {}
        values = data.filled(0).astype(np.int64)
        present = sorted(codes)
        lut = np.zeros((max(present + [0]) + 1, 4))
        handles = []
        for i, code in enumerate(present):
            rgba = cm.get(code) or tuple(
                int(255 * v) for v in matplotlib.colormaps["tab20"](i % 20)
            )
            lut[code] = np.array(rgba) / 255.0
            handles.append(Patch(color=lut[code], label=f"{code}: {codes[code]}"))
        rgba_img = lut[np.clip(values, 0, len(lut) - 1)]
        rgba_img[values == 0] = (1, 1, 1, 0)
        ax.imshow(rgba_img, extent=extent, interpolation="nearest")
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    else:
        values = data.astype(float).filled(np.nan)
        if name == "aspect":
            values = np.where(values < 0, np.nan, values)  # flat (-1) left blank
        finite = values[np.isfinite(values)]
        cmap = matplotlib.colormaps[
            _CMAPS.get(name, "cividis" if name.startswith("dist_") else "viridis")
        ]
        cmap = ListedColormap(cmap(np.linspace(0, 1, 256)))
        cmap.set_bad((1, 1, 1, 0))
        norm = None
        vmin = vmax = None
        if finite.size:
            if name in _LOG and (finite > 0).any():
                pos = finite[finite > 0]
                norm = LogNorm(vmin=max(pos.min(), 1e-6), vmax=pos.max())
            elif name == "aspect":
                vmin, vmax = 0.0, 360.0
            elif name in _SYMMETRIC:
                lim = float(np.percentile(np.abs(finite), 98)) or 1.0
                vmin, vmax = -lim, lim
            else:
                vmin, vmax = (float(v) for v in np.percentile(finite, [2, 98]))
                if vmin == vmax:
                    vmax = vmin + 1.0
        im = ax.imshow(
            values,
            extent=extent,
            cmap=cmap,
            norm=norm,
            vmin=vmin if norm is None else None,
            vmax=vmax if norm is None else None,
            interpolation="nearest",
        )
        fig.colorbar(im, ax=ax, shrink=0.8, label=unit)
    if streams is not None and len(streams) and name in ("sca", "twi", "spi"):
        streams.plot(ax=ax, color="k", linewidth=0.5)
    ax.set_title(f"{name} ({unit})" if unit else name)
    method = tags.get("method", "")
    if method:
        fig.text(0.01, 0.01, method[:140], fontsize=6, color="0.3")
    ax.set_xlabel("easting (m)")
    ax.set_ylabel("northing (m)")
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)


def write_factor_plots(
    factor_paths: Mapping[str, str | os.PathLike],
    out_paths: Mapping[str, str | os.PathLike],
    *,
    streams_path: str | os.PathLike | None = None,
) -> None:
    """Plot every factor.

    Parameters
    ----------
    factor_paths
        Factor name -> COG.
    out_paths
        Factor name -> output PNG.
    streams_path
        Optional streams GeoPackage drawn over SCA/TWI/SPI.
    """
    streams = None
    if streams_path and os.path.exists(streams_path):
        import geopandas as gpd

        streams = gpd.read_file(streams_path)
    for name, path in factor_paths.items():
        plot_factor(path, out_paths[name], name=name, streams=streams)
