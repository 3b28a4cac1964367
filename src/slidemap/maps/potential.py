"""The map of potential landslides (seed 002): candidates, PLC classes, susceptibility under them.

Each candidate polygon (``hotspots/candidates.gpkg``) gets its PLC probability and predicted
class (``hotspots/candidates_classified.parquet``; from the classifier, or from the rule-based
pre-classification when the classifier was skipped: ``plc_source``) and zonal statistics of
the best model's susceptibility map: the cells whose centre lies inside the polygon (all
touched cells for a polygon smaller than a cell).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import shapely
from rasterio.windows import Window

from slidemap.errors import InputDataError
from slidemap.maps.classes import classify
from slidemap.raster import read_window

__all__ = ["zonal_stats", "potential_landslides"]

log = logging.getLogger(__name__)


def zonal_stats(
    raster_path: str | os.PathLike, geometries: Sequence[shapely.Geometry]
) -> pd.DataFrame:
    """Mean, max and count of the valid raster cells under each polygon.

    Parameters
    ----------
    raster_path
        A single-band raster (e.g. susceptibility, probability 0–1).
    geometries
        Polygons in the raster's CRS.

    Returns
    -------
    pandas.DataFrame
        ``n_cells`` (valid cells counted), ``mean``, ``max`` (NaN when no valid cell),
        ``all_touched`` (True when the polygon covers no cell centre and every touched cell
        was used instead); one row per geometry, in order.
    """
    rows = []
    with rasterio.open(raster_path) as src:
        for geom in geometries:
            rec = {"n_cells": 0, "mean": np.nan, "max": np.nan, "all_touched": False}
            if geom is None or geom.is_empty:
                rows.append(rec)
                continue
            try:
                win = rasterio.features.geometry_window(src, [geom], pad_x=1, pad_y=1)
            except rasterio.errors.WindowError:
                rows.append(rec)  # entirely outside the grid
                continue
            win = Window(
                int(win.col_off),
                int(win.row_off),
                int(np.ceil(win.width)),
                int(np.ceil(win.height)),
            )
            data = read_window(src, win)
            tf = src.window_transform(win)
            for all_touched in (False, True):
                inside = rasterio.features.geometry_mask(
                    [geom], out_shape=data.shape, transform=tf, invert=True, all_touched=all_touched
                )
                if inside.any():
                    break
            vals = data[inside & np.isfinite(data)]
            rec["all_touched"] = all_touched
            if vals.size:
                rec.update(n_cells=int(vals.size), mean=float(vals.mean()), max=float(vals.max()))
            rows.append(rec)
    return pd.DataFrame(rows)


def potential_landslides(
    candidates_path: str | os.PathLike,
    classified_path: str | os.PathLike,
    susceptibility_path: str | os.PathLike,
    breaks: Sequence[float],
    model: str,
) -> gpd.GeoDataFrame:
    """Join the PLC classification and the susceptibility under each candidate polygon.

    Parameters
    ----------
    candidates_path
        ``hotspots/candidates.gpkg`` (layer ``candidates``, with ``cand_id``).
    classified_path
        ``hotspots/candidates_classified.parquet`` (``cand_id``, ``probability``,
        ``predicted``).
    susceptibility_path
        Susceptibility COG of the best model (same CRS as the candidates).
    breaks
        Class breaks of that map (upper bounds), to class the mean susceptibility.
    model
        Name of the model whose map is used.

    Returns
    -------
    geopandas.GeoDataFrame
        Every candidate (all its columns) plus ``plc_probability`` (0–1; NaN when the
        rule-based pre-classification classified it), ``plc_predicted`` (1 = potential
        landslide, 0 = not, −1 = not classified), ``plc_source`` (``classifier``, ``rule``;
        ``none`` when not classified), ``susceptibility_mean``,
        ``susceptibility_max`` (probability 0–1), ``susceptibility_cells``,
        ``susceptibility_class`` (1–5 of the mean, 0 = off the map), ``susceptibility_model``.
    """
    cands = gpd.read_file(candidates_path, layer="candidates")
    if "cand_id" not in cands.columns:
        raise InputDataError(
            candidates_path,
            "the layer 'candidates' has no cand_id column.",
            "rerun the candidates rule.",
            column="cand_id",
        )
    cls = pd.read_parquet(classified_path)
    for col in ("cand_id", "probability", "predicted"):
        if col not in cls.columns:
            raise InputDataError(
                classified_path,
                f"the column {col!r} is missing.",
                "rerun the train_plc rule.",
                column=col,
            )
    if cls["cand_id"].duplicated().any():
        dup = cls.loc[cls["cand_id"].duplicated(), "cand_id"].iloc[0]
        raise InputDataError(
            classified_path,
            f"candidate {dup!r} is classified twice.",
            "rerun the train_plc rule.",
            column="cand_id",
        )
    with rasterio.open(susceptibility_path) as src:
        crs = src.crs
    if cands.crs is None or not cands.crs.equals(crs):
        cands = cands.to_crs(crs)
    if "source" not in cls.columns:  # written before the rule fallback existed
        cls = cls.assign(source="classifier")
    cls = cls[["cand_id", "probability", "predicted", "source"]].rename(
        columns={
            "probability": "plc_probability",
            "predicted": "plc_predicted",
            "source": "plc_source",
        }
    )
    cls["plc_source"] = cls["plc_source"].astype(str)
    cands["cand_id"] = cands["cand_id"].astype(cls["cand_id"].dtype)
    out = cands.merge(cls, on="cand_id", how="left")
    unclassified = int(out["plc_predicted"].isna().sum())
    if unclassified:
        log.warning(
            "%d of %d candidates have no PLC classification (kept, plc_predicted = -1)",
            unclassified,
            len(out),
        )
    out["plc_predicted"] = out["plc_predicted"].fillna(-1).astype("int64")
    out["plc_source"] = out["plc_source"].fillna("none").astype(str)
    if (out["plc_source"] == "rule").any():
        log.info(
            "the PLC classifier was skipped (models/plc/metrics.json says why): the candidates "
            "keep their rule-based class"
        )
    stats = zonal_stats(susceptibility_path, out.geometry.values)
    out["susceptibility_mean"] = stats["mean"].to_numpy()
    out["susceptibility_max"] = stats["max"].to_numpy()
    out["susceptibility_cells"] = stats["n_cells"].to_numpy()
    out["susceptibility_class"] = classify(stats["mean"].to_numpy(), breaks).astype("int64")
    out["susceptibility_model"] = model
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs)
