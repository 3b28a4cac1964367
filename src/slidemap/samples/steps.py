"""The samples steps of the workflow (rules pixel_samples and plc_samples)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from os import PathLike

import geopandas as gpd
import pandas as pd

from slidemap.errors import ConfigError, InputDataError
from slidemap.samples.factorset import FactorSet
from slidemap.samples.inventory import read_inventory
from slidemap.samples.pixels import pixel_samples
from slidemap.samples.plc import plc_samples

log = logging.getLogger(__name__)


def classified_positives(
    classified: str | PathLike, candidates: str | PathLike
) -> gpd.GeoDataFrame:
    """Candidate polygons that the PLC classifier calls potential landslides.

    Parameters
    ----------
    classified
        ``candidates_classified.parquet`` (``cand_id``, ``probability``, ``predicted`` 0/1,
        ``source``: ``classifier``, or ``rule`` when the classifier was skipped and the
        rule-based pre-classification decides).
    candidates
        ``candidates.gpkg`` (layer ``candidates``).

    Returns
    -------
    geopandas.GeoDataFrame
        The candidates with ``predicted == 1`` (``cand_id``, ``probability``, geometry).
    """
    pred = pd.read_parquet(classified)
    for col in ("cand_id", "predicted"):
        if col not in pred.columns:
            raise InputDataError(
                classified, f"no column '{col}'.", "rerun rule train_plc.", column=col
            )
    cands = gpd.read_file(candidates, layer="candidates")
    keep = pred.loc[
        pred["predicted"].astype(int) == 1,
        ["cand_id"] + (["probability"] if "probability" in pred.columns else []),
    ]
    out = cands[["cand_id", "geometry"]].merge(keep, on="cand_id", how="inner")
    unknown = set(keep["cand_id"]) - set(cands["cand_id"])
    if unknown:
        raise InputDataError(
            classified,
            f"{len(unknown)} cand_id(s) are not in {candidates} (e.g. {sorted(unknown)[:5]}).",
            "rerun rule train_plc after rule candidates.",
            column="cand_id",
        )
    log.info("%d candidate(s) classified as potential landslides added as positives", len(out))
    if "source" in pred.columns and (pred["source"].astype(str) == "rule").any():
        log.warning(
            "the PLC classifier was skipped (models/plc/metrics.json says why): the added "
            "candidates are those the rule-based pre-classification calls landslides"
        )
    return gpd.GeoDataFrame(out, geometry="geometry", crs=cands.crs)


def _inventory(path: str | PathLike, fs: FactorSet, inventory: Mapping) -> gpd.GeoDataFrame:
    """Read the inventory with the config's inventory settings."""
    return read_inventory(
        path,
        working_crs=fs.crs,
        crs=inventory.get("crs"),
        x_column=inventory.get("x_column", "x"),
        y_column=inventory.get("y_column", "y"),
        label_column=inventory.get("label_column"),
        label_value=inventory.get("label_value", 1),
    )


def _with_splits(frame: gpd.GeoDataFrame, validation: Mapping) -> gpd.GeoDataFrame:
    """Add split and fold columns with the config's validation settings."""
    from slidemap.folds import assign_splits

    return assign_splits(
        frame,
        test_split_method=validation["test_split"],
        test_fraction=validation["test_fraction"],
        folds=validation["folds"],
        spatial_folds=validation["spatial_folds"],
        block_size_m=validation["block_size_m"],
        seed=validation["seed"],
    )


def make_pixel_samples(
    catalog: str | PathLike,
    factor_paths: Mapping[str, str | PathLike],
    inventory_path: str | PathLike,
    *,
    inventory: Mapping,
    sampling: Mapping,
    validation: Mapping,
    classified: str | PathLike | None = None,
    candidates: str | PathLike | None = None,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Pixel samples with split and folds, from the validated config sections.

    Parameters
    ----------
    catalog
        ``factors.json``.
    factor_paths
        Factor name -> COG path.
    inventory_path
        The inventory file.
    inventory, sampling, validation
        The config sections of the same names (defaults filled).
    classified, candidates
        With ``sampling.add_plc_predictions``: the classified candidates and their polygons.

    Returns
    -------
    samples : geopandas.GeoDataFrame
        See :func:`pixel_samples`, plus ``split``, ``fold``, ``fold_random``.
    summary : dict
        Counts, exclusions, folds, ``features`` and ``categorical`` (the factor columns).
    """
    from slidemap.folds import fold_summary

    fs = FactorSet.open(catalog, factor_paths)
    inv = _inventory(inventory_path, fs, inventory)
    plc = None
    if sampling.get("add_plc_predictions"):
        if classified is None or candidates is None:
            raise ConfigError("sampling.add_plc_predictions needs the classified candidates.")
        plc = classified_positives(classified, candidates)
    frame, summary = pixel_samples(
        fs,
        inv,
        polygon_positives=sampling["polygon_positives"],
        negatives=sampling["negatives"],
        negative_ratio=sampling["negative_ratio"],
        buffer_m=sampling["buffer_m"],
        seed=sampling["seed"],
        plc_positives=plc,
    )
    frame = _with_splits(frame, validation)
    summary["folds"] = fold_summary(frame)
    summary["features"] = list(fs.names)
    summary["categorical"] = list(fs.categorical)
    return frame, summary


def make_plc_samples(
    catalog: str | PathLike,
    factor_paths: Mapping[str, str | PathLike],
    candidates_path: str | PathLike,
    inventory_path: str | PathLike | None,
    *,
    inventory: Mapping,
    sampling: Mapping,
    validation: Mapping,
) -> tuple[gpd.GeoDataFrame, dict]:
    """PLC samples with split and folds (labelled rows only), from the config sections.

    Parameters
    ----------
    catalog
        ``factors.json``.
    factor_paths
        Factor name -> COG path.
    candidates_path
        ``candidates.gpkg`` (layer ``candidates``).
    inventory_path
        The inventory file, or None.
    inventory, sampling, validation
        The config sections of the same names.

    Returns
    -------
    samples : geopandas.GeoDataFrame
        See :func:`plc_samples`, plus ``split`` (train|test|predict), ``fold``,
        ``fold_random``. When the classifier cannot be trained every row has
        ``split = "predict"`` and folds -1.
    summary : dict
        Counts, labels, exclusions, folds, ``features`` and ``categorical``;
        ``min_per_class``; ``classifier_skipped`` (None, or ``{"reason", "fix"}`` when the
        labelled candidates cannot train the classifier: rule ``train_plc`` then keeps the
        rule-based classes).
    """
    from slidemap.folds import MIN_PER_CLASS, assign_splits_or_skip, fold_summary

    fs = FactorSet.open(catalog, factor_paths)
    inv = _inventory(inventory_path, fs, inventory) if inventory_path else None
    cands = gpd.read_file(candidates_path, layer="candidates")
    frame, summary = plc_samples(
        fs,
        cands,
        inv,
        min_overlap=sampling["plc_min_overlap"],
        unmatched=sampling["plc_unmatched"],
        attributes=sampling["plc_attributes"],
    )
    frame, problem = assign_splits_or_skip(
        frame,
        min_per_class=MIN_PER_CLASS,
        test_split_method=validation["test_split"],
        test_fraction=validation["test_fraction"],
        folds=validation["folds"],
        spatial_folds=validation["spatial_folds"],
        block_size_m=validation["block_size_m"],
        seed=validation["seed"],
    )
    summary["inventory_read"] = None if inv is None else inv.attrs.get("read_counts")
    summary["min_per_class"] = MIN_PER_CLASS
    summary["classifier_skipped"] = None
    if problem is not None:
        summary["classifier_skipped"] = plc_skip_message(summary, problem)
        log.warning(
            "the potential-landslide classifier cannot be trained: %s. Fix: %s.",
            summary["classifier_skipped"]["reason"],
            summary["classifier_skipped"]["fix"],
        )
    summary["folds"] = fold_summary(frame)
    return frame, summary


def plc_skip_message(summary: Mapping, problem: str) -> dict[str, str]:
    """Say why the PLC classifier is skipped, in the user's terms, and how to train it.

    Parameters
    ----------
    summary
        The PLC samples summary (:func:`plc_samples`: ``labels``, ``label_sources``,
        ``negatives_source``, ``precls_available``, ``inventory_*``).
    problem
        What :func:`slidemap.folds.assign_splits_or_skip` found (too few labelled samples
        of a class, or folds that cannot be made).

    Returns
    -------
    dict
        ``reason`` (ends with what happens instead: the candidates keep their rule-based
        class) and ``fix`` (the config keys or inputs to change).
    """
    from slidemap.folds import MIN_PER_CLASS

    labels = summary.get("labels", {})
    n1, n0 = int(labels.get("1", 0)), int(labels.get("0", 0))
    src = summary.get("negatives_source")
    minimum = summary.get("min_per_class", MIN_PER_CLASS)
    few = (
        f"the classifier needs at least {minimum} of each class "
        f"({n1} landslide(s), {n0} non-landslide(s))"
    )
    if n1 < minimum and not summary.get("inventory_landslides"):
        reason = f"there is no inventory landslide: {few}"
        fix = "configure inventory.path (a landslide inventory) to train it"
    elif src == "rule" and n0 < minimum:
        if summary.get("precls_available", True):
            cause = (
                "the inventory maps landslides only and the rule-based pre-classification "
                f"rejected only {n0} candidate(s) that match no inventory landslide"
            )
        else:
            cause = (
                "the inventory maps landslides only and the candidates have no rule-based "
                "pre-classification (precls_landslide; an older run of rule candidates), so "
                "no candidate is a non-landslide"
            )
        reason = f"{cause}: {few}"
        fix = (
            "add mapped non-landslides to the inventory (inventory.label_column / "
            "label_value tell them from the landslides) to train it"
            + ("" if summary.get("precls_available", True) else ", or rerun rule candidates")
        )
    elif n0 < minimum:
        reason = f"only {n0} candidate(s) overlap a mapped non-landslide of the inventory: {few}"
        fix = (
            "map non-landslides where there are candidates, or lower "
            "sampling.plc_min_overlap, to train it"
        )
    elif n1 < minimum:
        reason = (
            f"only {n1} candidate(s) overlap an inventory landslide "
            f"by sampling.plc_min_overlap = {summary.get('min_overlap')} of the smaller area: "
            f"{few}"
        )
        fix = (
            "check that the inventory and the candidates cover the same area (inventory.crs), "
            "or lower sampling.plc_min_overlap, to train it"
        )
    else:
        reason = problem
        fix = (
            "add labelled candidates (e.g. mapped non-landslides: inventory.label_column), "
            "or use fewer validation.folds, a smaller validation.test_fraction or "
            "validation.block_size_m, to train it"
        )
    reason += "; the candidates keep their rule-based class (precls_landslide)"
    return {"reason": reason, "fix": fix}
