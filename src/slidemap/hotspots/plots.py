"""Report figures of the hot-spot stage: velocity map with candidates, hot/cold density map."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LightSource, TwoSlopeNorm  # noqa: E402

from slidemap.io import atomic_path  # noqa: E402

__all__ = ["hillshade", "plot_velocity_map", "plot_density_map"]


def hillshade(dem: np.ndarray, cell_size_m: float) -> np.ndarray:
    """Hillshade (0–1) of a DEM for a background, sun from the north-west at 45°.

    Parameters
    ----------
    dem
        Elevation (m); NaN is nodata.
    cell_size_m
        Cell size in metres.

    Returns
    -------
    numpy.ndarray
        Shade 0..1 (NaN where the DEM is NaN).
    """
    z = np.asarray(dem, dtype=np.float64)
    filled = np.where(np.isfinite(z), z, np.nanmean(z) if np.isfinite(z).any() else 0.0)
    shade = LightSource(azdeg=315, altdeg=45).hillshade(filled, dx=cell_size_m, dy=cell_size_m)
    return np.where(np.isfinite(z), shade, np.nan)


def _extent(transform, shape) -> tuple[float, float, float, float]:
    """Matplotlib extent (left, right, bottom, top) of a north-up raster."""
    h, w = shape
    return (transform.c, transform.c + w * transform.a, transform.f + h * transform.e, transform.f)


def _background(ax, dem, dem_transform) -> None:
    """Draw a grey hillshade."""
    if dem is None:
        return
    shade = hillshade(dem, abs(dem_transform.a))
    ax.imshow(shade, cmap="gray", extent=_extent(dem_transform, shade.shape), alpha=0.6, zorder=0)


def _axes(ax) -> None:
    """Label map axes in plain metres, equal aspect."""
    ax.set_xlabel("easting (m)")
    ax.set_ylabel("northing (m)")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(axis="x", labelrotation=30)
    ax.set_aspect("equal")


def _save(fig, path: str | Path) -> None:
    """Save a figure atomically as PNG and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_velocity_map(
    points: pd.DataFrame,
    polygons: gpd.GeoDataFrame,
    path: str | Path,
    *,
    title: str,
    threshold_mm_yr: float | None = None,
    dem: np.ndarray | None = None,
    dem_transform=None,
    notes: list[str] | None = None,
) -> None:
    """Map of LOS velocities (mm/yr, + toward the satellite) with candidate outlines.

    The analysed velocity is drawn: ``v_hp_mm_yr`` (after the high-pass) when the points
    have it, else ``velocity_mm_yr``.

    Parameters
    ----------
    points
        Points with ``x_m``, ``y_m``, ``velocity_mm_yr`` or ``v_hp_mm_yr`` (and
        ``moving``).
    polygons
        Candidate polygons to outline.
    path
        Output PNG.
    title
        Figure title.
    threshold_mm_yr
        Stability threshold, shown in the colour-bar label.
    dem, dem_transform
        Optional DEM (m) and its transform for a hillshade background.
    notes
        Lines written in a box in the corner (the settings the track got, warnings).
    """
    fig, ax = plt.subplots(figsize=(8, 7))
    _background(ax, dem, dem_transform)
    column = "v_hp_mm_yr" if "v_hp_mm_yr" in points else "velocity_mm_yr"
    v = points[column].to_numpy(np.float64)
    lim = float(np.nanpercentile(np.abs(v), 99)) if v.size else 1.0
    lim = max(lim, threshold_mm_yr or 0.0, 1.0)
    order = np.argsort(np.abs(v))  # fast points on top
    sc = ax.scatter(
        points["x_m"].to_numpy()[order],
        points["y_m"].to_numpy()[order],
        c=v[order],
        s=3,
        cmap="RdYlBu",  # red: away from the satellite, blue: toward it (seed 002 Fig. 7)
        norm=TwoSlopeNorm(0.0, -lim, lim),
        linewidths=0,
        zorder=1,
    )
    if len(polygons):
        polygons.boundary.plot(ax=ax, color="black", linewidth=0.8, zorder=2)
    label = "LOS velocity (mm/yr, + toward satellite)"
    if column == "v_hp_mm_yr":
        label = "high-passed " + label
    if threshold_mm_yr is not None:
        label += f"; moving: |v| ≥ {threshold_mm_yr:.1f}"
    fig.colorbar(sc, ax=ax, shrink=0.8, label=label)
    if notes:
        ax.text(
            0.01,
            0.99,
            "\n".join(notes),
            transform=ax.transAxes,
            va="top",
            ha="left",
            fontsize=7,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8},
            zorder=3,
        )
    ax.set_title(f"{title}: {len(points)} points, {len(polygons)} candidates")
    _axes(ax)
    _save(fig, path)


def plot_density_map(
    density: np.ndarray,
    transform,
    polygons: gpd.GeoDataFrame,
    path: str | Path,
    *,
    title: str,
    threshold: float | None = None,
    dem: np.ndarray | None = None,
    dem_transform=None,
) -> None:
    """Hot (red) and cold (blue) spot density map with candidate outlines.

    Parameters
    ----------
    density
        (2 × rows × cols) hot and cold density (z per km²).
    transform
        Affine transform of ``density``.
    polygons
        Candidate polygons to outline.
    path
        Output PNG.
    title
        Figure title.
    threshold
        Density threshold (z per km²), drawn as a contour.
    dem, dem_transform
        Optional DEM and transform for a hillshade background.
    """
    fig, ax = plt.subplots(figsize=(8, 7))
    _background(ax, dem, dem_transform)
    ext = _extent(transform, density.shape[1:])
    hot = np.where(density[0] > 0, density[0], np.nan)
    cold = np.where(density[1] > 0, density[1], np.nan)
    vmax = np.nanmax(
        [
            np.nanmax(hot) if np.isfinite(hot).any() else 0.0,
            np.nanmax(cold) if np.isfinite(cold).any() else 0.0,
            1e-9,
        ]
    )
    im_h = ax.imshow(hot, cmap="Reds", vmin=0, vmax=vmax, extent=ext, alpha=0.75, zorder=1)
    im_c = ax.imshow(cold, cmap="Blues", vmin=0, vmax=vmax, extent=ext, alpha=0.75, zorder=1)
    if threshold is not None and threshold > 0:
        for band, colour in ((density[0], "darkred"), (density[1], "navy")):
            if np.nanmax(np.nan_to_num(band)) >= threshold:
                ax.contour(
                    np.nan_to_num(band),
                    levels=[threshold],
                    colors=colour,
                    linewidths=0.6,
                    extent=ext,
                    origin="upper",
                    zorder=2,
                )
    if len(polygons):
        polygons.boundary.plot(ax=ax, color="black", linewidth=0.8, zorder=3)
    fig.colorbar(im_h, ax=ax, shrink=0.6, label="hot-spot density (Gi* z per km²)")
    fig.colorbar(im_c, ax=ax, shrink=0.6, label="cold-spot density (−Gi* z per km²)")
    ax.set_title(title)
    _axes(ax)
    _save(fig, path)
