"""PLC samples: one row per candidate polygon with zonal factor statistics and a label."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.features import geometry_mask
from rasterio.transform import Affine

from slidemap.errors import ConfigError, InputDataError
from slidemap.samples.factorset import (
    LABEL_SOURCES,
    PLC_ATTRIBUTES,
    PRECLS_COLUMNS,
    FactorSet,
)

log = logging.getLogger(__name__)


def _majority(codes: np.ndarray) -> float:
    """Most frequent finite code (smallest on ties); NaN when none."""
    v = codes[np.isfinite(codes)]
    if v.size == 0:
        return np.nan
    vals, counts = np.unique(v, return_counts=True)
    return float(vals[np.argmax(counts)])


def _overlap_fraction(cands: gpd.GeoSeries, feats: gpd.GeoSeries) -> np.ndarray:
    """Return, per candidate, its largest overlap fraction with any feature.

    The fraction is the intersection area over the smaller of the two areas; a point inside
    a candidate counts as full overlap.
    """
    out = np.zeros(len(cands))
    if len(feats) == 0:
        return out
    tree = shapely.STRtree(np.asarray(feats.values))
    ci, fi = tree.query(np.asarray(cands.values), predicate="intersects")
    for c, f in zip(ci, fi, strict=True):
        cg, fg = cands.iloc[c], feats.iloc[f]
        if fg.geom_type == "Point":
            frac = 1.0
        else:
            denom = min(cg.area, fg.area)
            frac = cg.intersection(fg).area / denom if denom > 0 else 0.0
        out[c] = max(out[c], frac)
    return out


def _rule_landslide(cands: pd.DataFrame) -> np.ndarray:
    """Return the rule-based class of candidates: 1 landslide, 0 rejected by the rules.

    Parameters
    ----------
    cands
        Candidates, with ``precls_landslide`` (or ``precls``) when the hot-spot stage
        pre-classified them.

    Returns
    -------
    numpy.ndarray
        int64 ``precls_landslide`` (or ``precls == "landslide"``); candidates without a
        value, and every candidate of a file without these columns (an older run), are 1.
    """
    if "precls_landslide" in cands.columns:
        v = pd.to_numeric(cands["precls_landslide"], errors="coerce").to_numpy(np.float64)
        return np.where(np.isnan(v), 1, v != 0).astype(np.int64)
    if "precls" in cands.columns:
        v = cands["precls"].astype("string")
        return np.where(v.isna().to_numpy(), True, (v == "landslide").to_numpy()).astype(np.int64)
    return np.ones(len(cands), dtype=np.int64)


def _plc_labels(
    cands: gpd.GeoDataFrame,
    inventory: gpd.GeoDataFrame | None,
    *,
    min_overlap: float,
    unmatched: str,
) -> dict:
    """Label candidates from the inventory, and from the rules when it maps no non-landslide.

    Parameters
    ----------
    cands
        Candidate polygons in the working CRS, like the inventory (with
        ``precls_landslide`` when the hot-spot stage pre-classified them).
    inventory
        From :func:`read_inventory` (``landslide``, geometry), or None.
    min_overlap
        Least overlap (fraction of the smaller area) of a matching inventory feature.
    unmatched
        ``"unlabelled"`` or ``"negative"`` (``sampling.plc_unmatched``).

    Returns
    -------
    dict
        ``label`` (int64: 1, 0, -1), ``label_source`` (object: a key of
        :data:`LABEL_SOURCES`) and summary entries (``min_overlap``,
        ``inventory_landslides``, ``inventory_non_landslides``,
        ``conflicts_labelled_landslide``, ``precls_available``, ``negatives_source``,
        ``negatives``). Inventory landslides win over everything; with inventory
        non-landslides, or ``unmatched = "negative"``, the rules label nothing.
    """
    n = len(cands)
    label = np.full(n, -1 if unmatched == "unlabelled" else 0, dtype=np.int64)
    source = np.full(n, "none" if unmatched == "unlabelled" else "unmatched", dtype=object)
    out: dict = {
        "min_overlap": min_overlap,
        "inventory_landslides": 0,
        "inventory_non_landslides": 0,
    }
    if inventory is not None and len(inventory):
        is_land = inventory["landslide"].to_numpy(dtype=bool)
        out["inventory_landslides"] = int(is_land.sum())
        out["inventory_non_landslides"] = int((~is_land).sum())
        ov_pos = _overlap_fraction(cands.geometry, inventory.geometry[is_land])
        ov_neg = _overlap_fraction(cands.geometry, inventory.geometry[~is_land])
        is_pos = ov_pos >= min_overlap
        is_neg = (ov_neg >= min_overlap) & ~is_pos
        out["conflicts_labelled_landslide"] = int(((ov_neg >= min_overlap) & is_pos).sum())
        label[is_neg] = 0
        source[is_neg] = "inventory"
        label[is_pos] = 1
        source[is_pos] = "inventory"
    out["precls_available"] = "precls_landslide" in cands.columns or "precls" in cands.columns
    if out["inventory_non_landslides"]:
        out["negatives_source"] = "inventory"
        out["negatives"] = "negatives from the inventory's mapped non-landslides"
    elif unmatched == "negative":
        out["negatives_source"] = "unmatched"
        out["negatives"] = (
            "negatives: every candidate that matches no inventory feature "
            "(sampling.plc_unmatched: negative)"
        )
    else:
        # a landslide-only inventory (or none): the rules' rejections are the negatives
        out["negatives_source"] = "rule"
        out["negatives"] = (
            "negatives from the rule-based pre-classification: the inventory maps no "
            "non-landslide, so candidates that match no inventory feature and that the rules "
            "reject (precls_landslide = 0) are non-landslides (0)"
        )
        if not out["precls_available"]:
            log.warning(
                "the candidates have no rule-based pre-classification (columns precls, "
                "precls_landslide: an older run of rule candidates); every candidate counts "
                "as a landslide for the rules, so none becomes a negative. Rerun rule "
                "candidates to get it."
            )
        rejected = (label == -1) & (_rule_landslide(cands) == 0)
        label[rejected] = 0
        source[rejected] = "rule"
        log.info(
            "the inventory maps no non-landslide: %d candidate(s) rejected by the rule-based "
            "pre-classification become negatives",
            int(rejected.sum()),
        )
    out["label"] = label
    out["label_source"] = source
    return out


def plc_samples(
    fs: FactorSet,
    candidates: gpd.GeoDataFrame,
    inventory: gpd.GeoDataFrame | None,
    *,
    min_overlap: float = 0.1,
    unmatched: str = "unlabelled",
    attributes: Sequence[str] = PLC_ATTRIBUTES,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Build the PLC samples: zonal factor statistics, InSAR attributes and labels.

    Parameters
    ----------
    fs
        The factor rasters.
    candidates
        ``candidates.gpkg`` layer ``candidates`` (``cand_id``, InSAR attributes, polygons).
    inventory
        From :func:`read_inventory`, or None (no candidate is a landslide).
    min_overlap
        A candidate is a landslide (label 1) when a landslide feature overlaps it by at
        least this fraction of the smaller of the two areas (a landslide point inside it
        always counts); likewise label 0 for a non-landslide feature.
    unmatched
        Label of candidates matching no inventory feature: ``"unlabelled"`` (-1, kept for
        prediction; but 0 for those the rule-based pre-classification rejects when the
        inventory maps no non-landslide) or ``"negative"`` (0).
    attributes
        Candidate columns copied as InSAR features (absent ones are skipped and logged;
        ``precls`` and ``precls_landslide`` never are).

    Returns
    -------
    samples : geopandas.GeoDataFrame
        ``unit_id`` (= ``cand_id``), ``unit`` (``plc``), ``label``, ``x_m``, ``y_m`` (a
        representative point inside the polygon), ``row``, ``col``, ``source`` (``plc``),
        ``label_source`` (``inventory``, ``rule``, ``unmatched`` or ``none``: see
        :data:`LABEL_SOURCES`), ``<factor>_mean`` and ``<factor>_std`` (continuous; the
        factor's unit; population std) or ``<factor>_majority`` (categorical code), the
        InSAR attributes, ``area_m2``, ``n_cells``, ``precls`` (missing without a
        pre-classification) and ``precls_landslide`` (1 when absent) and the polygon
        geometry.
    summary : dict
        Counts of candidates, labels, label sources (``label_sources``,
        ``rule_negatives``), where the negatives come from (``negatives_source``,
        ``negatives``) and exclusions.
    """
    if "cand_id" not in candidates.columns:
        raise InputDataError(
            candidates.attrs.get("source"),
            "the candidates layer has no 'cand_id' column.",
            "rerun rule candidates.",
            column="cand_id",
        )
    if unmatched not in ("unlabelled", "negative"):
        raise ConfigError(f"config key 'sampling.plc_unmatched': unknown value {unmatched!r}.")
    cands = candidates if candidates.crs is None else candidates.to_crs(fs.crs)
    cands = cands.set_crs(fs.crs, allow_override=True).reset_index(drop=True)
    n = len(cands)
    inv = ~fs.transform
    feats = {f"{f}_mean": np.full(n, np.nan) for f in fs.continuous}
    feats.update({f"{f}_std": np.full(n, np.nan) for f in fs.continuous})
    feats.update({f"{f}_majority": np.full(n, np.nan) for f in fs.categorical})
    n_cells = np.zeros(n, dtype=np.int64)
    for i, g in enumerate(cands.geometry):
        minx, miny, maxx, maxy = g.bounds
        c_a, r_a = inv @ (minx, maxy)
        c_b, r_b = inv @ (maxx, miny)
        r0, r1 = int(np.floor(min(r_a, r_b))), int(np.ceil(max(r_a, r_b)))
        c0, c1 = int(np.floor(min(c_a, c_b))), int(np.ceil(max(c_a, c_b)))
        h, w = max(r1 - r0, 1), max(c1 - c0, 1)
        win_t = fs.transform @ Affine.translation(c0, r0)
        m = geometry_mask([g], out_shape=(h, w), transform=win_t, invert=True)
        if not m.any():  # smaller than a cell: every cell it touches
            m = geometry_mask([g], out_shape=(h, w), transform=win_t, invert=True, all_touched=True)
        data = fs.read_window_all(r0, c0, h, w)[:, m].astype(np.float64)  # (F, cells)
        n_cells[i] = int(m.sum())
        for f, name in enumerate(fs.names):
            v = data[f]
            if fs.kinds[name] == "categorical":
                feats[f"{name}_majority"][i] = _majority(v)
            else:
                fin = v[np.isfinite(v)]
                if fin.size:
                    feats[f"{name}_mean"][i] = fin.mean()
                    feats[f"{name}_std"][i] = fin.std()
    rp = cands.geometry.representative_point()
    x, y = rp.x.to_numpy(), rp.y.to_numpy()
    rows, cols = fs.cells_of(x, y)
    labels = _plc_labels(cands, inventory, min_overlap=min_overlap, unmatched=unmatched)
    label, label_source, summary = labels.pop("label"), labels.pop("label_source"), labels
    summary = {"candidates": n, **summary}
    out = pd.DataFrame(
        {
            "unit_id": cands["cand_id"].to_numpy(),
            "unit": pd.Series(["plc"] * n, dtype="string"),
            "label": label,
            "x_m": x,
            "y_m": y,
            "row": rows,
            "col": cols,
            "source": pd.Series(["plc"] * n, dtype="string"),
            "label_source": pd.Series(label_source, dtype="string"),
        }
    )
    for name, v in feats.items():
        out[name] = v
    attributes = list(attributes)
    leaking = [a for a in attributes if a in PRECLS_COLUMNS]
    if leaking:
        log.warning(
            "sampling.plc_attributes names %s: the rule-based pre-classification is not a PLC "
            "feature (the classifier would only copy the rule that gives its negatives); "
            "not used",
            leaking,
        )
        attributes = [a for a in attributes if a not in PRECLS_COLUMNS]
    present = [a for a in attributes if a in cands.columns]
    missing = [a for a in attributes if a not in cands.columns]
    if missing:
        log.warning("candidates lack InSAR attribute column(s) %s; not used", missing)
    for a in present:
        out[a] = pd.to_numeric(cands[a], errors="coerce").to_numpy(dtype=np.float64)
    out["area_m2"] = cands.geometry.area.to_numpy()
    out["n_cells"] = n_cells
    out["precls"] = pd.Series(
        cands["precls"].astype("string").to_numpy() if "precls" in cands.columns else None,
        index=out.index,
        dtype="string",
    )
    out["precls_landslide"] = _rule_landslide(cands)
    feature_cols = list(feats) + present
    bad = ~np.all(np.isfinite(out[feature_cols].to_numpy(dtype=np.float64)), axis=1)
    summary["excluded"] = {"nodata": int(bad.sum())}
    if bad.any():
        log.warning(
            "%d candidate(s) excluded: a factor or attribute has no valid value (cand_id %s…)",
            int(bad.sum()),
            out.loc[bad, "unit_id"].tolist()[:10],
        )
    gdf = gpd.GeoDataFrame(out, geometry=cands.geometry.values, crs=fs.crs)[~bad]
    gdf = gdf.reset_index(drop=True)
    summary["samples"] = len(gdf)
    summary["labels"] = {
        str(k): int(v) for k, v in gdf["label"].value_counts().sort_index().items()
    }
    summary["label_sources"] = {
        src: int((gdf["label_source"] == src).sum()) for src in LABEL_SOURCES
    }
    summary["rule_negatives"] = summary["label_sources"]["rule"]
    summary["features"] = feature_cols
    summary["categorical"] = [f"{f}_majority" for f in fs.categorical]
    return gdf, summary
