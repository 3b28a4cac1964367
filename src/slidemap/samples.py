"""Pixel samples (susceptibility) and PLC samples (potential-landslide classification).

Pixel samples: positives are the grid cells of the inventory's landslides (points, polygon
cells or one point per polygon) and, optionally, of the candidates the PLC classifier calls
potential landslides (seed 000's InSAR-updated inventory); negatives are the inventory's
field-checked non-landslides and/or cells drawn at random (seeded) among valid cells farther
than a buffer from every positive. Every sample lies on a cell where every factor is valid;
features outside the grid, on nodata or sharing a cell are excluded and counted.

PLC samples: one row per candidate polygon with zonal statistics of every factor (mean and
standard deviation; majority for categorical factors) over the cells whose centres lie in
the polygon, the candidate's InSAR attributes, and a label from the inventory (1 landslide
overlap, 0 field-checked non-landslide, -1 unlabelled, kept for prediction). When the
inventory maps no non-landslide (the usual landslide-only inventory), the negatives come
from the rule-based pre-classification of the hot-spot stage: a candidate that matches no
inventory feature and that the rules reject (``precls_landslide == 0``: flat ground,
seasonal, vertical or upslope motion) is a non-landslide (0). ``label_source`` says where
each label comes from. With fewer than :data:`slidemap.folds.MIN_PER_CLASS` labelled
candidates of a class (or folds that cannot be made) the PLC samples get no training rows
and the summary says why (``classifier_skipped``): rule ``train_plc`` then keeps the
rule-based classes instead of stopping the workflow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import CRS
from rasterio.features import geometry_mask
from rasterio.transform import Affine, rowcol

from slidemap.errors import ConfigError, InputDataError
from slidemap.io import atomic_path, read_json, write_json
from slidemap.tiles import read_window

__all__ = [
    "META_COLUMNS",
    "PLC_ATTRIBUTES",
    "PRECLS_COLUMNS",
    "LABEL_SOURCES",
    "FactorSet",
    "read_inventory",
    "positive_cells",
    "draw_negatives",
    "pixel_samples",
    "plc_samples",
    "feature_columns",
    "write_samples",
    "classified_positives",
    "make_pixel_samples",
    "make_plc_samples",
    "plc_skip_message",
]

log = logging.getLogger(__name__)

#: Columns of every samples file that are not model features, in file order.
META_COLUMNS = [
    "unit_id",
    "unit",
    "label",
    "x_m",
    "y_m",
    "row",
    "col",
    "split",
    "fold",
    "fold_random",
    "source",
]

#: InSAR attributes of candidates.gpkg used as PLC features by default (seed 002 uses the
#: trend-class proportions; velocities describe the deformation).
PLC_ATTRIBUTES = [
    "mean_abs_v_mm_yr",
    "max_abs_v_mm_yr",
    "p_uncorrelated",
    "p_linear",
    "p_nonlinear",
    "v_slope_mm_yr",
]

#: Columns of the rule-based pre-classification (hot-spot stage) in candidates.gpkg; copied
#: to the PLC samples as metadata, never as features: for negatives drawn from the rule, a
#: classifier given them would only learn to copy the rule.
PRECLS_COLUMNS = ("precls", "precls_landslide")

#: Where a PLC label comes from (column ``label_source`` of the PLC samples).
LABEL_SOURCES = {
    "inventory": "overlaps an inventory feature (1 landslide, 0 mapped non-landslide)",
    "rule": "matches no inventory feature and the rule-based pre-classification rejects it "
    "(precls_landslide = 0), with an inventory that maps no non-landslide",
    "unmatched": "matches no inventory feature, and sampling.plc_unmatched is negative",
    "none": "unlabelled (-1), classified only",
}


@dataclass
class FactorSet:
    """The factor rasters of a study: names, kinds, paths and the common grid.

    Attributes
    ----------
    names
        Factor names (catalog order).
    paths
        One single-band raster per factor.
    kinds
        name -> ``"continuous"`` or ``"categorical"``.
    crs
        Grid CRS (projected, metres).
    transform
        Affine of the grid (cell size in metres).
    height, width
        Grid shape in cells.
    """

    names: list[str]
    paths: list[Path]
    kinds: dict[str, str]
    crs: CRS
    transform: Affine
    height: int
    width: int
    codes: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def open(
        cls, catalog: str | PathLike, paths: Mapping[str, str | PathLike] | None = None
    ) -> FactorSet:
        """Read ``factors.json`` and check that every factor is on one grid.

        Parameters
        ----------
        catalog
            ``factors.json`` (``{"factors": [{"name", "kind", "path", …}]}``).
        paths
            Optional name -> raster path overriding the catalog's ``path`` (the workflow
            passes its declared inputs). Without it a catalog path that does not exist is
            looked up as ``<catalog folder>/<name>.tif``.

        Returns
        -------
        FactorSet
        """
        entries = read_json(catalog).get("factors")
        if not entries:
            raise InputDataError(
                catalog, "the factor catalog lists no factors.", "rerun rule factor_catalog."
            )
        names, files, kinds, codes = [], [], {}, {}
        for i, e in enumerate(entries):
            try:
                name, kind = str(e["name"]), str(e["kind"])
            except KeyError as exc:
                raise InputDataError(
                    catalog, f"factor entry {i} has no {exc} field.", "rerun rule factor_catalog."
                ) from None
            if kind not in ("continuous", "categorical"):
                raise InputDataError(
                    catalog,
                    f"factor {name!r} has kind {kind!r}.",
                    "use 'continuous' or 'categorical'.",
                )
            if paths is not None and name in paths:
                p = Path(paths[name])
            else:
                p = Path(e.get("path") or "")
                if not p.is_file():
                    p = Path(catalog).parent / f"{name}.tif"
            if not p.is_file():
                raise InputDataError(
                    catalog,
                    f"factor {name!r}: raster {p} does not exist.",
                    "rerun the factor rules.",
                )
            names.append(name)
            files.append(p)
            kinds[name] = kind
            if e.get("codes"):
                codes[name] = dict(e["codes"])
        if paths is not None:
            unlisted = sorted(set(paths) - set(names))
            if unlisted:
                log.warning(
                    "factor(s) %s have rasters but are not in %s; not used", unlisted, catalog
                )
        with rasterio.open(files[0]) as ref:
            crs, transform, height, width = ref.crs, ref.transform, ref.height, ref.width
        for name, p in zip(names[1:], files[1:], strict=True):
            with rasterio.open(p) as src:
                if (
                    (src.height, src.width) != (height, width)
                    or not src.transform.almost_equals(transform)
                    or src.crs != crs
                ):
                    raise InputDataError(
                        p,
                        f"factor {name!r} is not on the grid of {names[0]!r}.",
                        "rerun the factor rules so that every factor uses R/grid/dem.tif's grid.",
                    )
        return cls(names, files, kinds, CRS.from_user_input(crs), transform, height, width, codes)

    @property
    def continuous(self) -> list[str]:
        """Names of the continuous factors."""
        return [n for n in self.names if self.kinds[n] == "continuous"]

    @property
    def categorical(self) -> list[str]:
        """Names of the categorical factors."""
        return [n for n in self.names if self.kinds[n] == "categorical"]

    @property
    def cell_size_m(self) -> float:
        """Cell edge in metres (the larger of the two)."""
        return float(max(abs(self.transform.a), abs(self.transform.e)))

    def cells_of(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cells holding points (may lie outside the grid).

        Parameters
        ----------
        x_m, y_m
            Coordinates in metres of the grid CRS.

        Returns
        -------
        tuple of numpy.ndarray
            int64 rows and columns.
        """
        x = np.asarray(x_m, dtype=np.float64)
        y = np.asarray(y_m, dtype=np.float64)
        if x.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        r, c = rowcol(self.transform, x, y, op=np.floor)
        return np.asarray(r, dtype=np.int64).ravel(), np.asarray(c, dtype=np.int64).ravel()

    def centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates (metres) of cell centres.

        Parameters
        ----------
        rows, cols
            Cell indices.

        Returns
        -------
        tuple of numpy.ndarray
            float64 x and y.
        """
        t = self.transform
        c = np.asarray(cols, dtype=np.float64) + 0.5
        r = np.asarray(rows, dtype=np.float64) + 0.5
        return t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f

    def inside(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Return True for cells inside the grid."""
        return (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)

    def read_cells(self, rows: np.ndarray, cols: np.ndarray, block: int = 512) -> np.ndarray:
        """Factor values at cells, read block by block (never whole rasters).

        Parameters
        ----------
        rows, cols
            Cell indices, shape (n,); cells outside the grid give NaN.
        block
            Edge in cells of the windows read.

        Returns
        -------
        numpy.ndarray
            float64 (n, F) in catalog order; NaN on nodata (categorical nodata 0 included).
        """
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        out = np.full((rows.size, len(self.names)), np.nan)
        ok = np.flatnonzero(self.inside(rows, cols))
        if ok.size == 0:
            return out
        br, bc = rows[ok] // block, cols[ok] // block
        keys = br * (1 << 32) + bc
        srcs = [rasterio.open(p) for p in self.paths]
        try:
            for key in np.unique(keys):
                sel = ok[keys == key]
                r0, c0 = int(key >> 32) * block, int(key & 0xFFFFFFFF) * block
                for f, src in enumerate(srcs):
                    win = read_window(src, r0, c0, block, block)
                    out[sel, f] = win[rows[sel] - r0, cols[sel] - c0]
        finally:
            for src in srcs:
                src.close()
        return out

    def read_window_all(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """Read a window of every factor (float32 (F, height, width), NaN outside/nodata)."""
        out = np.empty((len(self.names), height, width), dtype=np.float32)
        for f, p in enumerate(self.paths):
            with rasterio.open(p) as src:
                out[f] = read_window(src, row0, col0, height, width)
        return out


# ----------------------------------------------------------------------------- inventory


def _label_matches(values: pd.Series, label_value: object) -> np.ndarray:
    """Rows of ``values`` equal to ``label_value`` (numbers, booleans and strings alike)."""
    if isinstance(label_value, bool):
        text = values.astype("string").str.strip().str.lower()
        truthy = {"true", "1", "yes", "t", "y"} if label_value else {"false", "0", "no", "f", "n"}
        return text.isin(truthy).fillna(False).to_numpy(dtype=bool)
    if isinstance(label_value, int | float) and pd.api.types.is_numeric_dtype(values):
        return values.to_numpy() == label_value
    return (
        (values.astype("string").str.strip() == str(label_value)).fillna(False).to_numpy(dtype=bool)
    )


def _read_inventory_csv(path: Path) -> pd.DataFrame:
    """Read an inventory CSV (separator sniffed); unreadable or empty files are errors."""
    import csv

    fix_text = (
        "save the inventory as a UTF-8 CSV with a header line (x,y[,label]) and one row per "
        "point, or point config key 'inventory.path' to the right file."
    )
    if not path.read_bytes().strip():
        raise InputDataError(path, "the inventory file is empty.", fix_text)
    try:
        df = pd.read_csv(path, sep=None, engine="python")
    except UnicodeDecodeError as exc:
        raise InputDataError(
            path,
            f"the file is not valid UTF-8 text ({exc.reason} at byte {exc.start}).",
            "save it as 'CSV UTF-8' (Excel) or convert it (iconv -f cp1252 -t utf-8) and "
            "point config key 'inventory.path' to the new file.",
        ) from None
    except (csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputDataError(
            path, f"the inventory is not a readable CSV table ({exc}).", fix_text
        ) from None
    if df.empty:
        raise InputDataError(
            path,
            "the inventory has a header line but no rows.",
            "add the landslide points, or point config key 'inventory.path' to the right file.",
            row=2,
        )
    return df


def read_inventory(
    path: str | PathLike,
    *,
    working_crs: CRS | str,
    crs: str | None = None,
    x_column: str = "x",
    y_column: str = "y",
    label_column: str | None = None,
    label_value: object = 1,
) -> gpd.GeoDataFrame:
    """Read a landslide inventory (CSV of points or any OGR vector file) in the working CRS.

    Parameters
    ----------
    path
        CSV with x/y columns, or a vector file of points or polygons.
    working_crs
        The grid CRS; features are reprojected to it.
    crs
        CRS of a CSV's x/y columns; None = the working CRS.
    x_column, y_column
        Coordinate columns of a CSV (metres, or degrees when ``crs`` is geographic).
    label_column
        Column marking landslides; None = every feature is a landslide.
    label_value
        Value of ``label_column`` that marks a landslide; other rows are field-checked
        non-landslides.

    Returns
    -------
    geopandas.GeoDataFrame
        ``geometry`` (Point or Polygon), ``landslide`` (bool) and ``inv_row`` (1-based line
        of a CSV, or 0-based feature index of a vector file), single-part geometries.

    Raises
    ------
    InputDataError
        For a missing column, a non-numeric coordinate (naming the line), a line geometry,
        or a vector file without CRS.
    """
    path = Path(path)
    working_crs = CRS.from_user_input(working_crs)
    if path.suffix.lower() in (".csv", ".txt"):
        df = _read_inventory_csv(path)
        for col in (x_column, y_column) + ((label_column,) if label_column else ()):
            if col not in df.columns:
                raise InputDataError(
                    path,
                    f"the inventory has no column '{col}' (columns: {', '.join(df.columns)}).",
                    "set inventory.x_column / y_column / label_column to the right names.",
                    column=col,
                )
        xy = {}
        for col in (x_column, y_column):
            num = pd.to_numeric(df[col], errors="coerce")
            bad = np.flatnonzero(~np.isfinite(num.to_numpy(dtype=np.float64, na_value=np.nan)))
            if bad.size:
                raise InputDataError(
                    path,
                    f"{bad.size} row(s) have a missing or non-numeric coordinate.",
                    "fix or delete those rows.",
                    row=int(bad[0]) + 2,
                    column=col,
                )
            xy[col] = num.to_numpy(dtype=np.float64)
        src_crs = CRS.from_user_input(crs) if crs else working_crs
        if not crs:
            log.info("inventory %s: inventory.crs is null, x/y taken in the working CRS", path)
        gdf = gpd.GeoDataFrame(
            {"inv_row": np.arange(len(df)) + 2},
            geometry=gpd.points_from_xy(xy[x_column], xy[y_column]),
            crs=src_crs,
        )
        labels = df[label_column] if label_column else None
        read_counts = {"read": len(df), "kept": len(df)}
    else:
        from slidemap.inputs import read_vector

        raw, counts = read_vector(
            path, "inventory.path", working_crs, types=("point", "polygon"), what="inventory"
        )
        read_counts = counts.to_json()
        if label_column and label_column not in raw.columns:
            raise InputDataError(
                path,
                f"the inventory has no attribute '{label_column}'.",
                "set inventory.label_column to an existing attribute, or null.",
                column=label_column,
            )
        gdf = gpd.GeoDataFrame(
            {"inv_row": raw["feature"].to_numpy() - 1}, geometry=raw.geometry.values, crs=raw.crs
        )
        labels = raw[label_column] if label_column else None
    gdf["landslide"] = True if labels is None else _label_matches(labels, label_value)
    # empty, null and line geometries were dropped and counted by read_vector (a CSV gives
    # finite points only)
    gdf = gdf.explode(index_parts=False).reset_index(drop=True).to_crs(working_crs)
    gdf.attrs["read_counts"] = read_counts
    gdf.attrs["source"] = str(path)
    return gdf


# ------------------------------------------------------------------------ pixel samples


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


# -------------------------------------------------------------------------- PLC samples


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


# ------------------------------------------------------------------------------ output


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Feature columns of a samples frame: everything but the metadata and geometry.

    Parameters
    ----------
    frame
        A samples frame.

    Returns
    -------
    list of str
    """
    skip = set(META_COLUMNS) | {"geometry", "area_m2", "n_cells", "tracks", "label_source"}
    skip |= set(PRECLS_COLUMNS)
    return [c for c in frame.columns if c not in skip]


def write_samples(
    frame: gpd.GeoDataFrame, summary: Mapping, path: str | PathLike, summary_path: str | PathLike
) -> None:
    """Write samples as GeoParquet (metadata columns first) and the summary JSON, atomically.

    Parameters
    ----------
    frame
        Samples with the columns of :data:`META_COLUMNS`, features and geometry.
    summary
        The summary dict.
    path
        Output ``.parquet``.
    summary_path
        Output ``.json``.
    """
    cols = [c for c in META_COLUMNS if c in frame.columns]
    rest = [c for c in frame.columns if c not in cols and c != "geometry"]
    ordered = frame[cols + rest + ["geometry"]]
    with atomic_path(path) as tmp:
        ordered.to_parquet(tmp, index=False)
    write_json(dict(summary), summary_path)


# ------------------------------------------------------------------- workflow entry points


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
