"""Report assets: hillshade, map figures over the hillshade, and the interactive (Leaflet) map.

- :func:`hillshade` shades a DEM with Horn's gradient, exactly as ``gdaldem hillshade``;
  :func:`hillshade_raster` does it chunk by chunk with a one-cell halo
  (:func:`slidemap.raster.map_overlap`).
- :func:`plot_map` draws a susceptibility, class or uncertainty raster over the hillshade
  with the candidate polygons on top (PNG for ``snakemake --report``); large rasters are
  read decimated, so memory is bounded by the figure size.
- :func:`interactive_map` writes a standalone folium/Leaflet HTML page: the class map of the
  best model as an image overlay (reprojected to Web Mercator), the hillshade, the candidate
  polygons with their attributes as GeoJSON, a legend and a layer switcher.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.enums import Resampling

from slidemap.io import atomic_path
from slidemap.maps.classes import CLASS_COLORS, CLASS_LABELS
from slidemap.raster import (
    Grid,
    horn_gradient,
    map_overlap,
    open_on_grid,
    read_decimated,
    write_cog,
)

__all__ = [
    "hillshade",
    "hillshade_raster",
    "read_decimated",
    "plot_map",
    "interactive_map",
]


def hillshade(
    dem: np.ndarray,
    cellsize_x_m: float,
    cellsize_y_m: float,
    *,
    azimuth_deg: float = 315.0,
    altitude_deg: float = 45.0,
    z_factor: float = 1.0,
) -> np.ndarray:
    """Shaded relief of a DEM (Horn's method, the formula of ``gdaldem hillshade``).

    Parameters
    ----------
    dem
        Elevation in metres, (rows, cols), NaN = nodata; row 0 is the north edge.
    cellsize_x_m, cellsize_y_m
        Cell width and height in metres (positive).
    azimuth_deg
        Direction of the light, degrees clockwise from north.
    altitude_deg
        Elevation of the light above the horizon, degrees.
    z_factor
        Vertical exaggeration.

    Returns
    -------
    numpy.ndarray
        uint8 shade 1–255 (0 = nodata: the cell or one of its 8 neighbours is NaN, or the
        cell is on the array's edge).
    """
    z = np.asarray(dem, dtype=np.float64)
    out = np.zeros(z.shape, dtype=np.uint8)
    if z.shape[0] < 3 or z.shape[1] < 3:
        return out
    dzdx, dzdy = horn_gradient(z, cellsize_x_m, cellsize_y_m)
    # GDAL's sign convention: x = -dz/dx (east), y = dz/dy (north); exact negation
    x, y = -dzdx[1:-1, 1:-1], dzdy[1:-1, 1:-1]
    alt = np.radians(altitude_deg)
    az = np.radians(azimuth_deg)
    cang = (
        np.sin(alt)
        - (y * np.cos(az) * np.cos(alt) * z_factor - x * np.sin(az) * np.cos(alt) * z_factor)
    ) / np.sqrt(1.0 + z_factor**2 * (x * x + y * y))
    shade = np.where(cang <= 0.0, 1.0, 1.0 + 254.0 * cang)
    valid = np.isfinite(shade)
    inner = np.zeros(shade.shape, dtype=np.uint8)
    inner[valid] = np.round(shade[valid]).astype(np.uint8)
    out[1:-1, 1:-1] = inner
    return out


def hillshade_raster(
    dem_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    azimuth_deg: float = 315.0,
    altitude_deg: float = 45.0,
    z_factor: float = 1.0,
    block: int = 1024,
) -> None:
    """Write the hillshade of a DEM as a uint8 COG (nodata 0), chunk by chunk (dask, 1-cell halo).

    Parameters
    ----------
    dem_path
        The study grid DEM (metres, projected CRS).
    out_path
        Output COG.
    azimuth_deg, altitude_deg, z_factor
        As for :func:`hillshade`.
    block
        Block edge in cells.
    """
    grid = Grid.from_raster(dem_path)
    t = grid.transform
    cx, cy = abs(t.a), abs(t.e)

    def shade(zpad: np.ndarray) -> np.ndarray:
        hs = hillshade(
            zpad, cx, cy, azimuth_deg=azimuth_deg, altitude_deg=altitude_deg, z_factor=z_factor
        )
        return hs[1:-1, 1:-1]

    dem = open_on_grid(dem_path, chunk_size=block).data
    write_cog(
        map_overlap(shade, dem, 1, dtype=np.uint8),
        out_path,
        grid=grid,
        dtype="uint8",
        nodata=0,
        band_names=["hillshade"],
        tags={"azimuth_deg": str(azimuth_deg), "altitude_deg": str(altitude_deg)},
    )


def _candidate_outlines(ax, candidates, crs) -> list:
    """Draw candidate polygons (outline coloured by PLC prediction); return legend handles."""
    from matplotlib.lines import Line2D

    if candidates is None or len(candidates) == 0:
        return []
    gdf = candidates.to_crs(crs) if candidates.crs is not None else candidates
    if "plc_predicted" not in gdf.columns:  # not classified by the PLC model
        gdf.boundary.plot(ax=ax, color="#6a00a8", linewidth=1.2)
        return [Line2D([], [], color="#6a00a8", lw=1.2, label="InSAR candidate")]
    pos = gdf["plc_predicted"].to_numpy() == 1
    handles = []
    if (~pos).any():
        gdf[~pos].boundary.plot(ax=ax, color="#3a3a3a", linewidth=0.8)
        handles.append(Line2D([], [], color="#3a3a3a", lw=0.8, label="InSAR candidate"))
    if pos.any():
        gdf[pos].boundary.plot(ax=ax, color="#6a00a8", linewidth=1.4)
        label = "potential landslide"
        if _by_rule(gdf):
            label += " (rule-based: PLC classifier skipped)"
        handles.append(Line2D([], [], color="#6a00a8", lw=1.4, label=label))
    return handles


def _by_rule(candidates: Any) -> bool:
    """Tell whether the rule-based pre-classification, not the classifier, classified them.

    Parameters
    ----------
    candidates
        Potential landslides (``maps/potential_landslides.gpkg``), maybe with ``plc_source``.

    Returns
    -------
    bool
        True when some candidate has ``plc_source = rule`` and none ``classifier``.
    """
    if "plc_source" not in candidates.columns:
        return False
    src = candidates["plc_source"].astype(str)
    return bool((src == "rule").any() and not (src == "classifier").any())


def plot_map(
    raster_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    kind: str,
    hillshade_path: str | os.PathLike | None = None,
    candidates: Any = None,
    title: str = "",
    band: int = 1,
    max_side: int = 1600,
    class_labels: Sequence[str] = CLASS_LABELS,
) -> None:
    """Draw a map raster over the hillshade, with candidate polygons on top (PNG).

    Parameters
    ----------
    raster_path
        Susceptibility (probability), class (1–5) or uncertainty raster.
    out_path
        Output PNG.
    kind
        ``susceptibility``, ``classes`` or ``uncertainty`` (colours and legend).
    hillshade_path
        Optional hillshade COG of the same grid (grey background).
    candidates
        Optional GeoDataFrame of candidate polygons (outlined; potential landslides,
        ``plc_predicted == 1``, in purple).
    title
        Figure title.
    band
        Band of ``raster_path`` to draw.
    max_side
        Largest edge of the drawn arrays in cells.
    class_labels
        Legend labels of the classes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    is_classes = kind == "classes"
    arr, extent, _, crs = read_decimated(
        raster_path,
        max_side,
        band=band,
        resampling=Resampling.nearest if is_classes else Resampling.average,
    )
    h, w = arr.shape
    fig, ax = plt.subplots(figsize=(8.5, 7.0 * h / w + 0.8), dpi=110)
    if hillshade_path is not None:
        hs, hs_extent, _, _ = read_decimated(
            hillshade_path, max_side, resampling=Resampling.average
        )
        hs[hs == 0] = np.nan
        ax.imshow(hs, extent=hs_extent, cmap="gray", vmin=1, vmax=255, interpolation="nearest")
    alpha = 0.6 if hillshade_path is not None else 1.0
    if is_classes:
        n = len(class_labels)
        colors = [np.array(c[:3]) / 255 for c in CLASS_COLORS[:n]]
        cmap = ListedColormap(colors)
        arr[arr == 0] = np.nan
        ax.imshow(
            arr,
            extent=extent,
            cmap=cmap,
            norm=BoundaryNorm(np.arange(0.5, n + 1), n),
            alpha=alpha,
            interpolation="nearest",
        )
        handles = [Patch(color=colors[i], label=class_labels[i]) for i in range(n)][::-1]
        handles += _candidate_outlines(ax, candidates, crs)
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            title="susceptibility",
        )
    else:
        cmap = "RdYlGn_r" if kind == "susceptibility" else "magma_r"
        vmax = (
            1.0
            if kind == "susceptibility"
            else float(np.nanmax(arr))
            if np.isfinite(arr).any()
            else 1
        )
        im = ax.imshow(
            arr, extent=extent, cmap=cmap, vmin=0, vmax=vmax, alpha=alpha, interpolation="nearest"
        )
        label = "P(landslide)" if kind == "susceptibility" else "spread across models"
        fig.colorbar(im, ax=ax, shrink=0.7, label=label)
        handles = _candidate_outlines(ax, candidates, crs)
        if handles:
            ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.8)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("easting (m)")
    ax.set_ylabel("northing (m)")
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)


def _to_web_mercator(
    path: str | os.PathLike, max_side: int, resampling: Resampling
) -> tuple[np.ndarray, list[list[float]]]:
    """Reproject a decimated raster band to EPSG:3857; return it and its lat/lon bounds."""
    import math

    from pyproj import Transformer
    from rasterio.transform import from_origin
    from rasterio.warp import reproject, transform_bounds

    arr, (left, right, bottom, top), transform, crs = read_decimated(
        path, max_side, resampling=resampling
    )
    h, w = arr.shape
    ml, mb, mr, mt = transform_bounds(crs, "EPSG:3857", left, bottom, right, top, densify_pts=51)
    res = max(mr - ml, mt - mb) / max(h, w)
    dw, dh = math.ceil((mr - ml) / res), math.ceil((mt - mb) / res)
    dst_t = from_origin(ml, mt, res, res)  # covers the whole footprint
    dst = np.full((dh, dw), np.nan, dtype=np.float32)
    reproject(
        arr,
        dst,
        src_transform=transform,
        src_crs=crs,
        dst_transform=dst_t,
        dst_crs="EPSG:3857",
        resampling=Resampling.nearest,
        src_nodata=np.nan,
        dst_nodata=np.nan,
    )
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    x0, y0 = dst_t * (0, 0)
    x1, y1 = dst_t * (dw, dh)
    (lon0, lon1), (lat0, lat1) = to_ll.transform([x0, x1], [y0, y1])
    return dst, [[min(lat0, lat1), min(lon0, lon1)], [max(lat0, lat1), max(lon0, lon1)]]


def _legend_html(title: str, labels: Sequence[str], colors: Sequence[Sequence[int]]) -> str:
    """Return the HTML of a fixed-position legend box for the Leaflet map."""
    rows = "".join(
        f'<div><span style="display:inline-block;width:14px;height:14px;margin-right:6px;'
        f'background:rgb({c[0]},{c[1]},{c[2]});border:1px solid #555"></span>'
        f"{html.escape(lab)}</div>"
        for lab, c in zip(labels, colors, strict=True)
    )
    return (
        '<div id="slidemap-legend" style="position:fixed;bottom:30px;left:30px;z-index:9999;'
        "background:white;padding:8px 10px;border:1px solid #999;border-radius:4px;"
        f'font:12px sans-serif"><b>{html.escape(title)}</b>{rows}</div>'
    )


@contextlib.contextmanager
def _sequential_element_ids() -> Iterator[None]:
    """Give folium/branca elements sequential ids instead of random ones (reproducible HTML)."""
    from branca.element import Element

    counter = itertools.count(1)
    original = Element.__dict__["_generate_id"]
    Element._generate_id = classmethod(lambda cls: f"{next(counter):032x}")
    try:
        yield
    finally:
        Element._generate_id = original


#: Leaflet 1.9.4 (BSD-2-Clause, LICENSE beside it), embedded in the interactive map so the
#: page works offline: no script or style sheet comes from a CDN.
LEAFLET_DIR = Path(__file__).parent / "assets" / "leaflet"


def _embed_leaflet(fmap: Any) -> None:
    """Replace folium's CDN links by Leaflet's JavaScript and CSS inlined in the page's head.

    folium links Leaflet, jQuery, Bootstrap, Font Awesome and awesome-markers from CDNs; the
    map uses Leaflet only (image overlays, GeoJSON with tooltips, the layer control, a legend
    of plain HTML). The layer-control icons are embedded as data URIs.
    """
    import base64

    import folium

    fmap.default_js = []
    fmap.default_css = []
    js = (LEAFLET_DIR / "leaflet.js").read_text(encoding="utf-8")
    js = "\n".join(line for line in js.splitlines() if not line.startswith("//# sourceMappingURL"))
    css = (LEAFLET_DIR / "leaflet.css").read_text(encoding="utf-8")
    for name in ("layers.png", "layers-2x.png"):
        data = base64.b64encode((LEAFLET_DIR / "images" / name).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{name})", f"url(data:image/png;base64,{data})")
    header = fmap.get_root().header
    header.add_child(folium.Element(f"<style>{css}</style>"), name="leaflet_css")
    header.add_child(folium.Element(f"<script>{js}</script>"), name="leaflet_js")


@_sequential_element_ids()
def interactive_map(
    out_path: str | os.PathLike,
    *,
    classes_path: str | os.PathLike,
    hillshade_path: str | os.PathLike | None = None,
    candidates: Any = None,
    model: str = "",
    basemap: str | None = "OpenStreetMap",
    max_side: int = 2048,
    opacity: float = 0.65,
) -> None:
    """Write the standalone interactive map (folium / Leaflet HTML).

    Parameters
    ----------
    out_path
        Output ``.html``.
    classes_path
        Class raster (1–5, nodata 0) of the best model.
    hillshade_path
        Optional hillshade COG (grey overlay under the classes).
    candidates
        Optional GeoDataFrame of candidate polygons with their attributes (shown as GeoJSON
        with a tooltip; potential landslides in purple; the layer name says when the
        rule-based pre-classification classified them, ``plc_source = rule``).
    model
        Name of the model (layer name and legend).
    basemap
        folium tile layer name (e.g. ``OpenStreetMap``; its tiles need the internet, the rest
        of the page does not: Leaflet is embedded), or None for none.
    max_side
        Largest edge of the embedded images in cells.
    opacity
        Opacity of the class overlay (0–1).
    """
    import folium

    cls, bounds = _to_web_mercator(classes_path, max_side, Resampling.nearest)
    rgba = np.zeros((*cls.shape, 4), dtype=np.uint8)
    for i, color in enumerate(CLASS_COLORS, start=1):
        rgba[cls == i] = color
    (south, west), (north, east) = bounds
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2], tiles=None, control_scale=True
    )
    _embed_leaflet(fmap)
    if basemap:
        folium.TileLayer(basemap, name=basemap).add_to(fmap)
    if hillshade_path is not None:
        hs, hs_bounds = _to_web_mercator(hillshade_path, max_side, Resampling.average)
        grey = np.zeros((*hs.shape, 4), dtype=np.uint8)
        ok = np.isfinite(hs) & (hs > 0)
        grey[ok, :3] = np.clip(hs[ok], 0, 255).astype(np.uint8)[:, None]
        grey[ok, 3] = 255
        folium.raster_layers.ImageOverlay(
            grey, bounds=hs_bounds, name="Hillshade", opacity=1.0, pixelated=False
        ).add_to(fmap)
    name = f"Susceptibility classes ({model})" if model else "Susceptibility classes"
    folium.raster_layers.ImageOverlay(rgba, bounds=bounds, name=name, opacity=opacity).add_to(fmap)
    if candidates is not None and len(candidates):
        gdf = candidates.to_crs("EPSG:4326")
        fields = [
            c
            for c in (
                "cand_id",
                "plc_probability",
                "plc_predicted",
                "plc_source",
                "susceptibility_mean",
                "susceptibility_max",
                "susceptibility_class",
                "area_m2",
                "mean_abs_v_mm_yr",
            )
            if c in gdf.columns
        ]
        gdf = gdf[[*fields, "geometry"]].copy()
        for c in fields:
            if gdf[c].dtype.kind == "f":
                gdf[c] = gdf[c].round(3)

        classified = "plc_predicted" in gdf.columns
        by_rule = _by_rule(gdf)

        def style(feature):
            pos = feature["properties"].get("plc_predicted") == 1 or not classified
            return {
                "color": "#6a00a8" if pos else "#333333",
                "weight": 2.5 if pos else 1.2,
                "fillOpacity": 0.15 if pos else 0.0,
            }

        if not classified:
            layer = "InSAR candidates"
        elif by_rule:
            layer = (
                "Candidates (potential landslides in purple: rule-based, PLC classifier skipped)"
            )
        else:
            layer = "Candidates (potential landslides in purple)"
        folium.GeoJson(
            gdf,
            name=layer,
            style_function=style,
            tooltip=folium.GeoJsonTooltip(fields=fields) if fields else None,
        ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])
    title = f"Susceptibility ({model})" if model else "Susceptibility"
    fmap.get_root().html.add_child(folium.Element(_legend_html(title, CLASS_LABELS, CLASS_COLORS)))
    with atomic_path(out_path) as tmp:
        fmap.save(os.fspath(tmp))
