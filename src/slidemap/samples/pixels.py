"""Pixel samples: inventory cells and negatives beyond a buffer, exclusions counted by reason."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.features import geometry_mask
from rasterio.transform import Affine

from slidemap.errors import ConfigError, InputDataError
from slidemap.samples.factorset import FactorSet

log = logging.getLogger(__name__)


def _cells_of_geometries(
    fs: FactorSet, geoms: gpd.GeoSeries, polygon_mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return rows, cols and feature index of the cells of points and polygons.

    A point gives its cell; a polygon the cells whose centre lies inside it (``pixels``) or
    the cell of a representative point (``point``, and for polygons smaller than a cell).
    """
    rows, cols, owner = [], [], []
    is_pt = (geoms.geom_type == "Point").to_numpy()
    if is_pt.any():
        pts = geoms[is_pt]
        r, c = fs.cells_of(pts.x.to_numpy(), pts.y.to_numpy())
        rows.append(r)
        cols.append(c)
        owner.append(np.flatnonzero(is_pt))
    poly_idx = np.flatnonzero(~is_pt)
    if poly_idx.size and polygon_mode == "point":
        rp = geoms.iloc[poly_idx].representative_point()
        r, c = fs.cells_of(rp.x.to_numpy(), rp.y.to_numpy())
        rows.append(r)
        cols.append(c)
        owner.append(poly_idx)
    elif poly_idx.size:
        inv = ~fs.transform
        for i in poly_idx:
            g = geoms.iloc[i]
            minx, miny, maxx, maxy = g.bounds
            c_a, r_a = inv @ (minx, maxy)
            c_b, r_b = inv @ (maxx, miny)
            r0, r1 = int(np.floor(min(r_a, r_b))), int(np.ceil(max(r_a, r_b)))
            c0, c1 = int(np.floor(min(c_a, c_b))), int(np.ceil(max(c_a, c_b)))
            r0, c0 = max(r0, 0), max(c0, 0)
            r1, c1 = min(r1, fs.height), min(c1, fs.width)
            if r1 <= r0 or c1 <= c0:
                # entirely outside: report it through its representative point's cell
                p = g.representative_point()
                r, c = fs.cells_of(np.array([p.x]), np.array([p.y]))
                rows.append(r)
                cols.append(c)
                owner.append(np.array([i]))
                continue
            win_t = fs.transform @ Affine.translation(c0, r0)
            m = geometry_mask([g], out_shape=(r1 - r0, c1 - c0), transform=win_t, invert=True)
            rr, cc = np.nonzero(m)
            if rr.size == 0:  # smaller than a cell: the cell of its representative point
                p = g.representative_point()
                r, c = fs.cells_of(np.array([p.x]), np.array([p.y]))
                rows.append(r)
                cols.append(c)
            else:
                rows.append(rr + r0)
                cols.append(cc + c0)
            owner.append(np.full(rows[-1].size, i))
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(owner)


def positive_cells(
    fs: FactorSet,
    geoms: gpd.GeoSeries,
    *,
    polygon_mode: str,
    taken: set[int] | None = None,
    lost: dict[str, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Return the valid, distinct grid cells of a set of features, with exclusion counts.

    Parameters
    ----------
    fs
        The factor rasters.
    geoms
        Points and/or polygons in the grid CRS.
    polygon_mode
        ``"pixels"`` (every cell whose centre lies in the polygon) or ``"point"`` (the cell
        of one representative point inside the polygon).
    taken
        Flat cell indices (row * width + col) already used; such cells are excluded and
        counted as ``duplicate_cell``. Updated in place with the cells returned.
    lost
        Optional dict filled in place with, for each reason (``outside_grid``, ``nodata``,
        ``duplicate_cell``), the sorted indices into ``geoms`` of the features that lost
        every one of their cells for that reason (so are absent from the samples).

    Returns
    -------
    cells : pandas.DataFrame
        ``row``, ``col``, ``feature`` (index into ``geoms``) and one column per factor.
    excluded : dict
        Counts of cells excluded as ``outside_grid``, ``nodata`` and ``duplicate_cell``
        (for points and representative points, one cell = one feature).
    """
    taken = set() if taken is None else taken
    rows, cols, owner = _cells_of_geometries(fs, geoms, polygon_mode)
    excluded = {"outside_grid": 0, "nodata": 0, "duplicate_cell": 0}
    inside = fs.inside(rows, cols)
    excluded["outside_grid"] = int((~inside).sum())
    stages = [np.unique(owner)]
    rows, cols, owner = rows[inside], cols[inside], owner[inside]
    stages.append(np.unique(owner))
    flat = rows * fs.width + cols
    _, first = np.unique(flat, return_index=True)
    keep = np.zeros(flat.size, dtype=bool)
    keep[first] = True
    dup = ~keep | np.isin(flat, np.fromiter(taken, dtype=np.int64, count=len(taken)))
    excluded["duplicate_cell"] = int(dup.sum())
    rows, cols, owner, flat = rows[~dup], cols[~dup], owner[~dup], flat[~dup]
    stages.append(np.unique(owner))
    vals = fs.read_cells(rows, cols)
    valid = np.all(np.isfinite(vals), axis=1)
    excluded["nodata"] = int((~valid).sum())
    rows, cols, owner, flat, vals = rows[valid], cols[valid], owner[valid], flat[valid], vals[valid]
    stages.append(np.unique(owner))
    if lost is not None:
        for k, reason in enumerate(("outside_grid", "duplicate_cell", "nodata")):
            lost[reason] = np.setdiff1d(stages[k], stages[k + 1])
    taken.update(flat.tolist())
    cells = pd.DataFrame({"row": rows, "col": cols, "feature": owner})
    for f, name in enumerate(fs.names):
        cells[name] = vals[:, f]
    return cells, excluded


def draw_negatives(
    fs: FactorSet,
    n: int,
    *,
    positives: gpd.GeoSeries,
    buffer_m: float,
    taken: set[int],
    seed: int,
    max_rounds: int = 30,
) -> pd.DataFrame:
    """Draw random negative cells: valid everywhere, farther than a buffer from every positive.

    Cells are drawn uniformly over the grid (seeded) in rounds; a cell is rejected when it
    is already used, when its centre lies within ``buffer_m`` of a positive feature, or when
    any factor is nodata there.

    Parameters
    ----------
    fs
        The factor rasters.
    n
        Number of negatives wanted.
    positives
        Positive features (points or polygons, grid CRS) the buffer is measured from.
    buffer_m
        Minimum distance in metres from a negative cell centre to every positive feature.
    taken
        Flat cell indices already used (updated in place).
    seed
        Random seed.
    max_rounds
        Rounds of drawing before giving up.

    Returns
    -------
    pandas.DataFrame
        ``row``, ``col`` and one column per factor, n rows.

    Raises
    ------
    ConfigError
        If fewer than n such cells are found.
    """
    rng = np.random.default_rng(seed)
    tree = (
        shapely.STRtree(np.asarray(positives.values)) if len(positives) and buffer_m > 0 else None
    )
    n_cells = fs.height * fs.width
    got_r, got_c, got_v = [], [], []
    have = 0
    rate = 0.5
    tried: set[int] = set(taken)
    for _ in range(max_rounds):
        need = n - have
        if need <= 0:
            break
        m = int(min(max(2 * need / max(rate, 0.01), 1024), 4_000_000))
        draw = rng.integers(0, n_cells, size=m)
        _, first = np.unique(draw, return_index=True)
        draw = draw[np.sort(first)]
        draw = draw[~np.isin(draw, np.fromiter(tried, dtype=np.int64, count=len(tried)))]
        if draw.size == 0:
            continue
        tried.update(draw.tolist())
        r, c = draw // fs.width, draw % fs.width
        ok = np.ones(draw.size, dtype=bool)
        if tree is not None:
            x, y = fs.centres(r, c)
            near = tree.query(shapely.points(x, y), predicate="dwithin", distance=buffer_m)
            ok[np.unique(near[0])] = False
        vals = np.full((draw.size, len(fs.names)), np.nan)
        if ok.any():
            vals[ok] = fs.read_cells(r[ok], c[ok])
        ok &= np.all(np.isfinite(vals), axis=1)
        rate = max(ok.mean(), 1e-4)
        sel = np.flatnonzero(ok)[:need]
        got_r.append(r[sel])
        got_c.append(c[sel])
        got_v.append(vals[sel])
        have += sel.size
        if len(tried) >= n_cells:
            break
    if have < n:
        raise ConfigError(
            f"config key 'sampling.negative_ratio': only {have} of the {n} random negatives "
            f"could be placed on valid cells farther than sampling.buffer_m = {buffer_m} m from "
            "every positive. Lower sampling.negative_ratio or sampling.buffer_m."
        )
    rows, cols = np.concatenate(got_r), np.concatenate(got_c)
    taken.update((rows * fs.width + cols).tolist())
    out = pd.DataFrame({"row": rows, "col": cols})
    vals = np.concatenate(got_v)
    for f, name in enumerate(fs.names):
        out[name] = vals[:, f]
    return out


def pixel_samples(
    fs: FactorSet,
    inventory: gpd.GeoDataFrame,
    *,
    polygon_positives: str = "pixels",
    negatives: str = "random",
    negative_ratio: float | None = 1.0,
    buffer_m: float = 100.0,
    seed: int = 42,
    plc_positives: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Build the pixel samples (without split and fold columns).

    Parameters
    ----------
    fs
        The factor rasters.
    inventory
        From :func:`read_inventory` (``geometry``, ``landslide``).
    polygon_positives
        ``"pixels"``: every cell of a landslide polygon is a positive; ``"point"``: one
        cell per polygon (its representative point).
    negatives
        ``"random"`` (drawn cells), ``"inventory"`` (the inventory's non-landslide
        features) or ``"both"`` (inventory ones, topped up with drawn cells).
    negative_ratio
        Negatives per positive. With ``inventory`` a larger set of inventory negatives is
        subsampled (seeded) to this ratio; None = every inventory negative (``random`` and
        ``both`` need a number).
    buffer_m
        Minimum distance in metres from a drawn negative cell centre to every positive
        feature (inventory negatives are field observations: they are kept, and those
        within the buffer are counted).
    seed
        Random seed.
    plc_positives
        Optional candidate polygons classified as potential landslides (added as positives,
        ``source = "plc"``).

    Returns
    -------
    samples : geopandas.GeoDataFrame
        ``unit_id``, ``unit`` (``pixel``), ``label``, ``x_m``, ``y_m`` (cell centre),
        ``row``, ``col``, ``source`` (``inventory``, ``plc``, ``inventory_negative``,
        ``negative``), one column per factor, point geometry.
    summary : dict
        Counts of features read, samples kept and exclusions by reason (``excluded``, in
        cells), and ``excluded_inventory_rows``: the inventory rows (``inv_row``) of the
        landslides that give no sample because they lie outside the grid or on nodata.
    """
    if negatives not in ("random", "inventory", "both"):
        raise ConfigError(f"config key 'sampling.negatives': unknown value {negatives!r}.")
    if polygon_positives not in ("pixels", "point"):
        raise ConfigError(
            f"config key 'sampling.polygon_positives': unknown value {polygon_positives!r}."
        )
    taken: set[int] = set()
    pos_geoms = inventory.geometry[inventory["landslide"].to_numpy()].reset_index(drop=True)
    neg_geoms = inventory.geometry[~inventory["landslide"].to_numpy()].reset_index(drop=True)
    summary: dict = {
        "inventory_features": len(inventory),
        "inventory_landslides": len(pos_geoms),
        "inventory_non_landslides": len(neg_geoms),
        "inventory_read": inventory.attrs.get("read_counts"),
        "excluded": {},
    }
    parts = []
    lost: dict[str, np.ndarray] = {}
    cells, exc = positive_cells(
        fs, pos_geoms, polygon_mode=polygon_positives, taken=taken, lost=lost
    )
    summary["excluded"]["inventory"] = exc
    if "inv_row" in inventory.columns:
        pos_rows = inventory["inv_row"].to_numpy()[inventory["landslide"].to_numpy()]
        summary["excluded_inventory_rows"] = _report_lost(pos_rows, lost)
    cells["source"] = "inventory"
    cells["label"] = 1
    parts.append(cells)
    all_pos = pos_geoms
    if plc_positives is not None and len(plc_positives):
        pcells, pexc = positive_cells(
            fs,
            plc_positives.geometry.reset_index(drop=True),
            polygon_mode=polygon_positives,
            taken=taken,
        )
        summary["excluded"]["plc"] = pexc
        summary["plc_candidates_added"] = len(plc_positives)
        pcells["source"] = "plc"
        pcells["label"] = 1
        parts.append(pcells)
        all_pos = pd.concat(
            [pos_geoms, plc_positives.geometry.reset_index(drop=True)], ignore_index=True
        )
    n_pos = sum(len(p) for p in parts)
    if n_pos == 0:
        raise InputDataError(
            inventory.attrs.get("source"),
            "no landslide of the inventory falls on a valid cell of the study grid "
            f"(excluded: {summary['excluded']}).",
            "check inventory.crs, inventory.label_column / label_value and the study area.",
        )
    rng = np.random.default_rng(seed)
    n_neg_target = None if negative_ratio is None else int(round(negative_ratio * n_pos))
    if negatives in ("random", "both") and n_neg_target is None:
        raise ConfigError(
            f"config key 'sampling.negative_ratio': null is only allowed with "
            f"sampling.negatives: inventory (got {negatives!r}). Give a number, e.g. 1."
        )
    n_inv_neg = 0
    if negatives in ("inventory", "both"):
        if len(neg_geoms) == 0:
            raise ConfigError(
                f"config key 'sampling.negatives': {negatives!r} takes the negatives from the "
                "inventory's non-landslide features, but the inventory holds none (its "
                f"{len(pos_geoms)} feature(s) are all landslides). Fix: set "
                "inventory.label_column / label_value to tell mapped non-landslides from "
                "landslides, or use sampling.negatives: random (the default)."
            )
        ncells, nexc = positive_cells(fs, neg_geoms, polygon_mode=polygon_positives, taken=taken)
        x, y = fs.centres(ncells["row"].to_numpy(), ncells["col"].to_numpy())
        if buffer_m > 0 and len(ncells):
            tree = shapely.STRtree(np.asarray(all_pos.values))
            near = tree.query(shapely.points(x, y), predicate="dwithin", distance=buffer_m)
            nexc["within_buffer_kept"] = int(np.unique(near[0]).size)
        if n_neg_target is not None and len(ncells) > n_neg_target:
            pick = np.sort(rng.choice(len(ncells), size=n_neg_target, replace=False))
            nexc["subsampled_out"] = len(ncells) - n_neg_target
            dropped = ncells.drop(index=ncells.index[pick])
            taken.difference_update(
                (dropped["row"].to_numpy() * fs.width + dropped["col"].to_numpy()).tolist()
            )
            ncells = ncells.iloc[pick].reset_index(drop=True)
        summary["excluded"]["inventory_negative"] = nexc
        ncells["source"] = "inventory_negative"
        ncells["label"] = 0
        parts.append(ncells)
        n_inv_neg = len(ncells)
    if negatives in ("random", "both"):
        n_draw = max(int(n_neg_target) - n_inv_neg, 0)
        if n_draw:
            rcells = draw_negatives(
                fs,
                n_draw,
                positives=all_pos,
                buffer_m=buffer_m,
                taken=taken,
                seed=int(rng.integers(2**31)),
            )
            rcells["source"] = "negative"
            rcells["label"] = 0
            parts.append(rcells)
    frame = pd.concat(parts, ignore_index=True)
    x, y = fs.centres(frame["row"].to_numpy(), frame["col"].to_numpy())
    out = pd.DataFrame(
        {
            "unit_id": np.arange(len(frame), dtype=np.int64),
            "unit": pd.Series(["pixel"] * len(frame), dtype="string"),
            "label": frame["label"].to_numpy(dtype=np.int64),
            "x_m": x,
            "y_m": y,
            "row": frame["row"].to_numpy(dtype=np.int64),
            "col": frame["col"].to_numpy(dtype=np.int64),
            "source": pd.Series(frame["source"].to_numpy(), dtype="string"),
        }
    )
    for name in fs.names:
        out[name] = frame[name].to_numpy(dtype=np.float64)
    summary["samples"] = len(out)
    summary["by_source"] = {k: int(v) for k, v in out["source"].value_counts().sort_index().items()}
    summary["positives"] = int((out["label"] == 1).sum())
    summary["negatives"] = int((out["label"] == 0).sum())
    gdf = gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(x, y), crs=fs.crs)
    _log_exclusions(summary["excluded"])
    return gdf, summary


#: Most inventory rows listed per exclusion reason in the samples summary.
MAX_LISTED_ROWS = 1000


def _report_lost(inv_rows: np.ndarray, lost: Mapping[str, np.ndarray]) -> dict[str, list[int]]:
    """Log and list the inventory landslides that yield no sample, by reason.

    Parameters
    ----------
    inv_rows
        ``inv_row`` of each landslide feature (CSV line, or feature index of a vector file),
        in the order the features were given to :func:`positive_cells`.
    lost
        Reason -> feature indices, from :func:`positive_cells`.

    Returns
    -------
    dict
        ``outside_grid`` and ``nodata`` -> sorted distinct inventory rows (at most
        :data:`MAX_LISTED_ROWS` each; the counts are in ``excluded``).
    """
    words = {
        "outside_grid": "lie outside the study grid (the DEM's extent or study_area.boundary)",
        "nodata": "lie on cells where the DEM or a factor is nodata",
    }
    out = {}
    for reason, text in words.items():
        rows = np.unique(inv_rows[lost.get(reason, np.zeros(0, np.int64))]).astype(int)
        out[reason] = rows[:MAX_LISTED_ROWS].tolist()
        if rows.size:
            shown = ", ".join(map(str, rows[:20])) + (" ..." if rows.size > 20 else "")
            log.warning(
                "%d inventory landslide(s) %s and are excluded from the samples "
                "(inventory line of a CSV, or feature index of a vector file: %s). "
                "Check inventory.crs and the study area.",
                rows.size,
                text,
                shown,
            )
    return out


def _log_exclusions(excluded: Mapping[str, Mapping[str, int]]) -> None:
    """Log every non-zero exclusion count."""
    for group, counts in excluded.items():
        for reason, n in counts.items():
            if n:
                log.warning("%s: %d cell(s) excluded or noted: %s", group, n, reason)
