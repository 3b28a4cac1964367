"""The landslide inventory: CSV points or vector points/polygons, labelled, in the working CRS."""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from slidemap.errors import InputDataError

log = logging.getLogger(__name__)


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
    with open(path, "rb") as fh:
        blank = not any(line.strip() for line in fh)
    if blank:
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
