"""Accuracy of the candidates against reference polygons of truly moving ground (seed 002, 4.2).

Seed 002 reports two figures against field-checked high-deformation areas:

- **extraction accuracy rate**: the share of the candidate area that lies on truly moving
  ground, ``area(∪ candidates ∩ ∪ reference) / area(∪ candidates)`` (71.02 % in the paper);
- **missing rate**: the share of truly moving slopes that no candidate touches, by count
  (``#reference polygons without overlap / #reference``; 7.89 % in the paper) and by area.

Other truly moving ground that is not a landslide (subsidence bowls: ``other_moving``) counts
as moving ground for the extraction accuracy and the object precision, but not for the missing
rate and recall, which are about the reference slopes only.

Added here: object precision (share of candidates that overlap a reference polygon), object
recall (share of reference polygons overlapped by a candidate, ``1 − missing rate``), and the
area recall ``area(∪ candidates ∩ ∪ reference) / area(∪ reference)``. "Overlap" means an
intersection of positive area (more than ``min_overlap_m2``), so polygons that only share an
edge do not count.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from slidemap.errors import InputDataError

__all__ = ["read_reference", "extraction_accuracy", "decoy_scores"]


def read_reference(path: str | Path, crs, query: str | None = None) -> gpd.GeoDataFrame:
    """Read reference polygons of moving ground, in the working CRS.

    Parameters
    ----------
    path
        Any OGR vector file of polygons.
    crs
        Working CRS to reproject to.
    query
        Optional :meth:`pandas.DataFrame.query` expression selecting the moving features
        (e.g. ``"kind == 'landslide'"``); None keeps every feature.

    Returns
    -------
    geopandas.GeoDataFrame
        Polygon features (empty geometries dropped); ``attrs["n_features_read"]`` holds the
        number of features in the file before the query.

    Raises
    ------
    InputDataError
        When the file has no CRS, holds no polygons, or the query fails.
    """
    gdf = gpd.read_file(path)
    n_read = len(gdf)
    if gdf.crs is None:
        raise InputDataError(
            path, "the reference layer has no CRS.", "save it with a CRS (e.g. a GeoPackage)."
        )
    if query:
        try:
            gdf = gdf.query(query)
        except Exception as exc:  # pandas raises many kinds of errors for a bad expression
            raise InputDataError(
                path,
                f"the reference query {query!r} failed ({exc}).",
                f"fix config key 'hotspots.reference_query'; columns are {list(gdf.columns)}.",
            ) from None
    gdf = gdf[~gdf.geometry.is_empty & gdf.geometry.notna()]
    kinds = set(gdf.geometry.geom_type)
    if not kinds or not kinds <= {"Polygon", "MultiPolygon"}:
        raise InputDataError(
            path,
            f"the reference must hold polygons, found {sorted(kinds) or 'no features'}.",
            "point the config key 'hotspots.reference' at a polygon layer of moving ground.",
        )
    out = gdf.to_crs(crs).reset_index(drop=True)
    out.attrs["n_features_read"] = n_read
    return out


def extraction_accuracy(
    candidates: gpd.GeoSeries | gpd.GeoDataFrame,
    reference: gpd.GeoSeries | gpd.GeoDataFrame,
    *,
    other_moving: gpd.GeoSeries | gpd.GeoDataFrame | None = None,
    min_overlap_m2: float = 0.0,
) -> dict:
    """Score candidate polygons: extraction accuracy, missing rate, object precision/recall.

    Parameters
    ----------
    candidates
        Candidate polygons (metres, same CRS as ``reference``).
    reference
        Reference polygons of truly moving slopes.
    other_moving
        Optional polygons of other truly moving ground (e.g. subsidence): on moving ground
        for ``extraction_accuracy`` and ``precision_objects``, not counted as missed.
    min_overlap_m2
        Intersection area (m²) above which a candidate and a reference polygon overlap.

    Returns
    -------
    dict
        ``extraction_accuracy`` (share of candidate area on moving ground: reference and
        ``other_moving``), ``extraction_accuracy_reference_only`` (reference ground only),
        ``missing_rate_count``, ``missing_rate_area``, ``precision_objects``,
        ``recall_objects``, ``recall_area``, and the counts and areas (m²) they come from.
        Rates whose denominator is 0 are None.
    """
    cand = np.asarray(getattr(candidates, "geometry", candidates).values, dtype=object)
    ref = np.asarray(getattr(reference, "geometry", reference).values, dtype=object)
    other = (
        np.asarray(getattr(other_moving, "geometry", other_moving).values, dtype=object)
        if other_moving is not None
        else np.empty(0, dtype=object)
    )
    cand_union = shapely.union_all(cand) if cand.size else shapely.Polygon()
    ref_union = shapely.union_all(ref) if ref.size else shapely.Polygon()
    moving_union = (
        shapely.union_all(np.concatenate([ref, other])) if ref.size + other.size else ref_union
    )
    cand_area = float(cand_union.area)
    ref_area = float(ref_union.area)
    hit_area = float(shapely.intersection(cand_union, ref_union).area)
    moving_hit_area = float(shapely.intersection(cand_union, moving_union).area)

    ref_overlap = np.asarray(shapely.area(shapely.intersection(ref, cand_union)), float)
    cand_overlap = np.asarray(shapely.area(shapely.intersection(cand, moving_union)), float)
    ref_hit = ref_overlap > min_overlap_m2
    cand_hit = cand_overlap > min_overlap_m2
    ref_areas = np.asarray(shapely.area(ref), float)

    def ratio(a: float, b: float) -> float | None:
        return float(a / b) if b > 0 else None

    return {
        "extraction_accuracy": ratio(moving_hit_area, cand_area),
        "extraction_accuracy_reference_only": ratio(hit_area, cand_area),
        "missing_rate_count": ratio(float((~ref_hit).sum()), float(ref.size)),
        "missing_rate_area": ratio(float(ref_areas[~ref_hit].sum()), float(ref_areas.sum())),
        "precision_objects": ratio(float(cand_hit.sum()), float(cand.size)),
        "recall_objects": ratio(float(ref_hit.sum()), float(ref.size)),
        "recall_area": ratio(hit_area, ref_area),
        "n_candidates": int(cand.size),
        "n_candidates_on_reference": int(cand_hit.sum()),
        "n_reference": int(ref.size),
        "n_reference_missed": int((~ref_hit).sum()),
        "candidate_area_m2": cand_area,
        "reference_area_m2": ref_area,
        "overlap_area_m2": hit_area,
        "n_other_moving": int(other.size),
        "overlap_other_moving_area_m2": moving_hit_area - hit_area,
        "min_overlap_m2": float(min_overlap_m2),
    }


def decoy_scores(
    candidates: gpd.GeoDataFrame,
    decoys: gpd.GeoDataFrame,
    *,
    is_landslide: np.ndarray | None = None,
    min_overlap_m2: float = 0.0,
) -> dict:
    """How the candidates treat known decoys (moving or seasonal ground that is no landslide).

    A decoy is **touched** when a candidate overlaps it (intersection area above
    ``min_overlap_m2``), and **rejected** when no candidate classified as a landslide
    touches it: either no candidate at all, or only candidates the pre-classification or the
    PLC classifier calls something else.

    Parameters
    ----------
    candidates
        Candidate polygons (metres, the CRS of ``decoys``).
    decoys
        Decoy polygons with a ``kind`` column (e.g. ``subsidence``, ``thermal``,
        ``embankment``).
    is_landslide
        Per candidate: classified as a (potential) landslide; None = every candidate is.
    min_overlap_m2
        Intersection area (m²) above which a candidate touches a decoy.

    Returns
    -------
    dict
        ``n_decoys``, ``touched``, ``rejected`` (counts), ``rejected_share`` (None without
        decoys) and ``by_kind`` (kind → ``{"n", "touched", "rejected"}``).
    """
    cand = np.asarray(candidates.geometry.values, dtype=object)
    lands = np.ones(cand.size, bool) if is_landslide is None else np.asarray(is_landslide, bool)
    if lands.size != cand.size:
        raise ValueError(f"is_landslide has {lands.size} values for {cand.size} candidates")
    geoms = np.asarray(decoys.geometry.values, dtype=object)
    kinds = decoys["kind"].astype(str).to_numpy() if "kind" in decoys else np.full(geoms.size, "")
    touched = np.zeros(geoms.size, bool)
    kept = np.zeros(geoms.size, bool)
    if cand.size and geoms.size:
        tree = shapely.STRtree(cand)
        di, ci = tree.query(geoms, predicate="intersects")
        area = np.asarray(shapely.area(shapely.intersection(geoms[di], cand[ci])), float)
        hit = area > min_overlap_m2
        np.logical_or.at(touched, di[hit], True)
        np.logical_or.at(kept, di[hit & lands[ci]], True)
    by_kind = {
        str(k): {
            "n": int((kinds == k).sum()),
            "touched": int(touched[kinds == k].sum()),
            "rejected": int((~kept[kinds == k]).sum()),
        }
        for k in sorted(set(kinds))
    }
    return {
        "n_decoys": int(geoms.size),
        "touched": int(touched.sum()),
        "rejected": int((~kept).sum()),
        "rejected_share": float((~kept).mean()) if geoms.size else None,
        "by_kind": by_kind,
    }
