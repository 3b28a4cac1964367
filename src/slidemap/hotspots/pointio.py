"""A track's points in and out of the hot-spot stage, with bounded memory for the series.

``insar/{track}/points.parquet`` holds, per point, the contract columns and the displacement
series (``d_YYYYMMDD``: 60-300 dates, most of the bytes). ``track_hotspots`` needs the series
only for the trend fits (each point's own series) and writes them back unchanged onto
``hotspots/{track}/points.parquet``. So the job reads the light columns whole
(:func:`read_track_points` with ``time_series=False``), fits the trends batch by batch
(:func:`stream_trends`; the fits are row by row, so any batching gives the same bits) and
copies the input's rows batch by batch into the output next to the computed columns
(:func:`write_analysed_points`): the series are never all in memory at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyproj import CRS

from slidemap.errors import InputDataError

__all__ = [
    "REQUIRED_POINT_COLUMNS",
    "read_track_points",
    "count_dates",
    "stream_trends",
    "write_analysed_points",
]

#: Columns of ``insar/{track}/points.parquet`` the hot-spot stage needs.
REQUIRED_POINT_COLUMNS = ["pid", "x_m", "y_m", "velocity_mm_yr", "los_e", "los_n", "los_u"]

#: Rows per batch of the streamed reads and writes (~60 MB of series at 60 dates).
BATCH_ROWS = 250_000


def _geo_column(schema: Any) -> tuple[str | None, CRS | None]:
    """Geometry column name and CRS of a GeoParquet schema (None, None without ``geo``)."""
    meta = (schema.metadata or {}).get(b"geo")
    if meta is None:
        return None, None
    geo = json.loads(meta)
    name = geo["primary_column"]
    crs = geo["columns"][name].get("crs", "OGC:CRS84")  # the GeoParquet default
    if crs is None:
        return name, None
    return name, CRS.from_json_dict(crs) if isinstance(crs, dict) else CRS.from_user_input(crs)


def count_dates(path: str | Path) -> int:
    """Count the ``d_YYYYMMDD`` columns (acquisition dates) of a points file."""
    import pyarrow.parquet as pq

    from slidemap.hotspots.trend import date_columns

    return len(date_columns(pq.read_schema(path).names))


def _check_finite(pts: pd.DataFrame, path: str | Path, offset: int) -> None:
    """Refuse missing or infinite ``x_m``/``y_m``/``velocity_mm_yr`` (rows from ``offset``)."""
    for col in ("x_m", "y_m", "velocity_mm_yr"):
        if col not in pts.columns:
            continue
        bad = ~np.isfinite(pts[col].to_numpy(np.float64))
        if bad.any():
            first = int(np.argmax(bad))
            which = f"pid {pts['pid'].iloc[first]!r}" if "pid" in pts else f"row {offset + first}"
            raise InputDataError(
                path,
                f"{int(bad.sum())} value(s) of '{col}' are missing or infinite (first {which}).",
                "rerun the ingest_track rule; it drops or rejects such rows.",
                column=col,
            )


def _read_where(
    path: str | Path, keep: list[str], where: Callable[[pd.DataFrame], np.ndarray], schema: Any
) -> pd.DataFrame:
    """Read the rows of columns ``keep`` where ``where`` holds, batch by batch (checked)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts, offset = [], 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=keep):
        frame = batch.to_pandas()
        _check_finite(frame, path, offset)
        offset += batch.num_rows
        mask = np.asarray(where(frame), bool)
        parts.append(batch.filter(pa.array(mask)))
    if not parts:  # an empty file: its columns, no row
        return pa.schema([schema.field(c) for c in keep]).empty_table().to_pandas()
    return pa.Table.from_batches(parts).to_pandas(split_blocks=True, self_destruct=True)


def read_track_points(
    path: str | Path,
    crs=None,
    *,
    time_series: bool = True,
    columns: list[str] | None = None,
    only: bool = False,
    where: Callable[[pd.DataFrame], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Read a track's ``points.parquet`` and check the columns the hot-spot stage needs.

    Parameters
    ----------
    path
        GeoParquet of the ingested points.
    crs
        Expected CRS (the study grid's); None skips the check.
    time_series
        True: every column, as a GeoDataFrame. False: a DataFrame without the geometry and
        the ``d_YYYYMMDD`` columns (~8 bytes per column and point instead of ~4 per date:
        the hot-spot job then streams the series, :func:`stream_trends`).
    columns
        With ``time_series=False``: read only these columns (the required ones are added);
        None = every column but the series and the geometry.
    only
        With ``columns``: read those alone (the required columns must still be in the file).
    where
        With ``time_series=False``: keep only the rows where ``where(batch)`` (a boolean
        array per batch of :data:`BATCH_ROWS` rows, after the checks) is True; the file is
        read batch by batch, so memory follows the rows kept (the index runs 0..kept-1).

    Returns
    -------
    geopandas.GeoDataFrame or pandas.DataFrame
        The points, in file order.

    Raises
    ------
    InputDataError
        When a required column is missing, a value is not finite, or the CRS differs.
    """
    import geopandas as gpd
    import pyarrow.parquet as pq

    from slidemap.hotspots.trend import date_columns

    schema = pq.read_schema(path)
    geom, file_crs = _geo_column(schema)
    if time_series:
        pts = gpd.read_parquet(path)
        file_crs = pts.crs
    else:
        drop = set(date_columns(schema.names)) | {geom}
        keep = [c for c in schema.names if c not in drop]
        if columns is not None:
            want = set(columns) | (set() if only else set(REQUIRED_POINT_COLUMNS))
            keep = [c for c in keep if c in want]
        if where is None:
            # column by column, each Arrow buffer freed once converted (no second copy)
            table = pq.read_table(path, columns=keep)
            pts = table.to_pandas(split_blocks=True, self_destruct=True)
        else:
            pts = _read_where(path, keep, where, schema)
    for col in REQUIRED_POINT_COLUMNS:
        if col not in schema.names:
            raise InputDataError(
                path,
                f"the points table has no column '{col}'.",
                "rerun the ingest_track rule (see docs/contracts.md for the columns).",
                column=col,
            )
    n_rows = len(pts) if where is None else pq.ParquetFile(path).metadata.num_rows
    if n_rows < 2:
        raise InputDataError(
            path,
            f"the track has {n_rows} point(s); the hot-spot analysis needs at least 2.",
            "check the track's CSV batches and the study area, or remove the track.",
        )
    if where is None:
        _check_finite(pts, path, 0)
    if crs is not None and file_crs is not None and not CRS.from_user_input(crs).equals(file_crs):
        raise InputDataError(
            path,
            f"the points are in {file_crs.to_string()} but the study grid is in {crs}.",
            "rerun ingest_track and study_grid with the same study_area.crs.",
        )
    return pts


def stream_trends(
    path: str | Path, params: Any, *, batch_rows: int = BATCH_ROWS
) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Trend columns and seasonal amplitude of every point of a file, read batch by batch.

    Parameters
    ----------
    path
        The track's ``points.parquet``.
    params
        Hot-spot settings (the trend keys; see :func:`~slidemap.hotspots.trend.point_trends`).
    batch_rows
        Rows per batch (memory: ~``batch_rows × dates × 40`` bytes at a time).

    Returns
    -------
    trend, seasonal_mm, n_dates
        What :func:`~slidemap.hotspots.trend.point_trends` returns for the whole file.
    """
    import pyarrow.parquet as pq

    from slidemap.hotspots.trend import date_columns, point_trends

    source = pq.ParquetFile(path)
    dates = date_columns(source.schema_arrow.names)
    if not dates:  # point_trends' warning and empty classes, once
        return point_trends(pd.DataFrame(index=range(source.metadata.num_rows)), params)
    trends, seasonal = [], []
    for batch in source.iter_batches(batch_size=batch_rows, columns=dates):
        trend, amp, _ = point_trends(batch.to_pandas(), params)
        trends.append(trend)
        seasonal.append(amp)
    return pd.concat(trends, ignore_index=True), np.concatenate(seasonal), len(dates)


def write_analysed_points(
    source_path: str | Path,
    analysed: pd.DataFrame,
    out_path: str | Path,
    *,
    batch_rows: int = BATCH_ROWS,
) -> None:
    """Write the input points with the hot-spot columns appended, streaming the input's rows.

    The output holds every column of ``source_path`` (series and geometry included, bytes
    unchanged) followed by the columns of ``analysed`` that the input lacks, row for row;
    read back it equals writing the whole analysed table at once.

    Parameters
    ----------
    source_path
        The track's ``points.parquet`` (GeoParquet).
    analysed
        One row per input point, in file order (``analyse_points`` of the light columns).
    out_path
        Output GeoParquet (written atomically).
    batch_rows
        Input rows copied per batch.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from slidemap.io import atomic_path

    source = pq.ParquetFile(source_path)
    if len(analysed) != source.metadata.num_rows:
        raise ValueError(
            f"{len(analysed)} analysed rows for the {source.metadata.num_rows} points of "
            f"{source_path}"
        )
    names = source.schema_arrow.names
    new = analysed[[c for c in analysed.columns if c not in names]]

    def extra(start: int, stop: int) -> pa.Table:
        # the new columns of rows start..stop as Arrow (converted batch by batch: the
        # whole table is never held twice)
        part = new.iloc[start:stop]
        return pa.Table.from_pandas(part, schema=extra_schema, preserve_index=False)

    extra_schema = pa.Schema.from_pandas(new, preserve_index=False)
    meta = dict(source.schema_arrow.metadata or {})
    if b"pandas" in meta:  # the pandas dtypes of the new columns, for reading back
        pandas_meta = json.loads(meta[b"pandas"])
        pandas_meta["columns"] += extra_schema.pandas_metadata["columns"]
        meta[b"pandas"] = json.dumps(pandas_meta).encode()
    schema = pa.schema(list(source.schema_arrow) + list(extra_schema), metadata=meta)
    start = 0
    with atomic_path(out_path) as tmp, pq.ParquetWriter(tmp, schema, compression="snappy") as out:
        for batch in source.iter_batches(batch_size=batch_rows):
            part = extra(start, start + batch.num_rows)
            out.write_table(pa.Table.from_arrays([*batch.columns, *part.columns], schema=schema))
            start += batch.num_rows
