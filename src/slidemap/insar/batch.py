"""One InSAR CSV batch -> its validated points in the working CRS (a :class:`Batch`).

:func:`read_batch` reads one CSV batch of a track (EGMS or generic layout, see
:mod:`slidemap.insar.layouts`) with the CSV engine (:mod:`slidemap.insar.csvread`),
validates it with pandera schemas (:mod:`slidemap.insar.schema`), drops empty rows (and,
with ``invalid_rows: drop``, invalid ones, counted per reason), reprojects the positions to
the working CRS, marks the points inside the study area, detects swapped coordinate columns
and attaches the LOS unit vector (from columns or from heading/incidence). Assembling a
track from its batches is :mod:`slidemap.insar.ingest`.

Bad input raises :class:`~slidemap.errors.InputDataError` naming the file, the line
(1-based, header = line 1) or the column, and the fix (:mod:`slidemap.insar.diagnose`).
Line numbers assume one record per line (no line break inside a quoted value), which holds
for every known InSAR export.

A batch is held as numpy arrays (one float64 array per per-point value and one float32
``(dates, points)`` block of displacements); this module holds the per-file domain rules.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from pyproj import CRS, Transformer

from slidemap.errors import InputDataError
from slidemap.insar.csvread import cut_off_column, read_csv
from slidemap.insar.diagnose import file_column, row_error
from slidemap.insar.fastcsv import all_within
from slidemap.insar.geometry import los_unit_vector
from slidemap.insar.layouts import Layout, TrackSettings, resolve_layout, sniff_header
from slidemap.insar.schema import (
    RowFailure,
    displacement_schema,
    failure_reasons,
    point_schema,
    reason_of,
    validate_points,
)

__all__ = ["read_batch", "Batch", "OPTIONAL_VALUES"]

log = logging.getLogger(__name__)

#: Per-point values a file may lack (then absent from :attr:`Batch.values`).
OPTIONAL_VALUES = ("velocity_std", "coherence", "height")
_LOS = ("los_east", "los_north", "los_up")
#: Points from which :func:`_to_working` splits a reprojection between two threads (a thread's
#: first transform builds its own PROJ transformer, some 0.04 s).
PARALLEL_MIN_POINTS = 200_000


@dataclass
class Batch:
    """One CSV batch after validation: its valid points and the account of the other rows.

    Attributes
    ----------
    path
        The file.
    pid
        Point ids of the valid rows (arrow strings).
    values
        Per-point float64 arrays: ``x_m``, ``y_m`` (working CRS, m), ``velocity`` (mm/yr),
        ``velocity_std``, ``coherence``, ``height`` (those the file has), ``los_east``,
        ``los_north``, ``los_up``.
    disp
        float32 array (dates, points) of LOS displacements in mm (one contiguous row per
        date, the layout of a pandas/arrow column store).
    line
        File line of each valid row (header = line 1).
    inside
        Whether each valid point lies in the study area.
    dates
        Acquisition dates of the displacement columns, ascending.
    rows_read
        Data rows in the file (lines after the header).
    dropped
        Rows dropped so far (empty, or invalid with ``invalid_rows: drop``), per reason.
    info
        Per-file facts for summary.json (separator, encoding, CRS, LOS source …).
    """

    path: Path
    pid: pa.ChunkedArray
    values: dict[str, np.ndarray]
    disp: np.ndarray
    line: np.ndarray
    inside: np.ndarray
    dates: list[dt.date]
    rows_read: int
    dropped: Counter = field(default_factory=Counter)
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        """Return the number of valid points."""
        return len(self.line)


@lru_cache(maxsize=32)
def _transformer(src: str, dst: str) -> Transformer:
    """Return a cached always-xy transformer (lon/lat order for geographic CRSs)."""
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


@lru_cache(maxsize=32)
def _same_crs(a: str, b: str) -> bool:
    """Return whether two CRS strings denote the same CRS."""
    return CRS.from_user_input(a) == CRS.from_user_input(b)


def _to_working(
    source_crs: str, x: np.ndarray, y: np.ndarray, working_crs: str, threads: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Reproject source coordinates to the working CRS (m); points it cannot take give inf.

    ``x``, ``y`` are in the units of ``source_crs`` (degrees of longitude/latitude or metres).
    With ``threads`` > 1 and at least :data:`PARALLEL_MIN_POINTS` points, the second half is
    transformed by another thread at the same time (PROJ runs without the GIL; pyproj gives
    each thread its own transformer): the same values, point by point.
    """
    if _same_crs(source_crs, working_crs):
        return np.array(x, dtype=float), np.array(y, dtype=float)
    transformer = _transformer(source_crs, working_crs)
    n = len(x)
    if threads < 2 or n < PARALLEL_MIN_POINTS:
        xm, ym = transformer.transform(x, y, errcheck=False)
        return np.asarray(xm, dtype=float), np.asarray(ym, dtype=float)
    xm, ym = np.empty(n), np.empty(n)

    def part(s: slice) -> None:
        xm[s], ym[s] = transformer.transform(x[s], y[s], errcheck=False)

    with ThreadPoolExecutor(max_workers=1) as pool:
        second = pool.submit(part, slice(n // 2, n))
        part(slice(0, n // 2))
        second.result()
    return xm, ym


def _check_swapped(
    path: Path,
    settings: TrackSettings,
    layout: Layout,
    x: np.ndarray,
    y: np.ndarray,
    inside: np.ndarray,
    working_crs: str,
    study_area: shapely.Geometry,
) -> None:
    """Raise when no point of a file is in the study area but most would be with x, y swapped."""
    if len(x) == 0 or inside.any():
        return
    if layout.position == "lonlat" and np.abs(x).max() > 90:
        return  # longitudes beyond ±90 cannot be latitudes
    xs, ys = _to_working(layout.source_crs, y, x, working_crs)
    ok = np.isfinite(xs) & np.isfinite(ys)
    share = float(shapely.intersects_xy(study_area, xs[ok], ys[ok]).mean()) if ok.any() else 0.0
    if share >= 0.5:
        a, b = ("lon", "lat") if layout.position == "lonlat" else ("x", "y")
        names = "longitude and latitude" if layout.position == "lonlat" else "x and y"
        raise InputDataError(
            path,
            f"no point of the file lies in the study area, but {share:.0%} would with {names} "
            f"exchanged: the columns '{layout.columns[a]}' and '{layout.columns[b]}' look "
            "swapped.",
            f"exchange '{settings.key('columns')}.{a}' and '{settings.key('columns')}.{b}' "
            "(or fix the export's column headers).",
            column=layout.columns[b],
        )


def _no_rows(path: Path, rows_read: int) -> InputDataError:
    """Build the error of a file without data rows."""
    return InputDataError(
        path,
        "the file has a header but no data rows"
        + (f" (only {rows_read} empty line(s))." if rows_read else "."),
        "re-export the batch, or remove the file from the track folder.",
        row=2,
    )


def read_batch(
    path: str | Path,
    settings: TrackSettings,
    *,
    working_crs: str,
    study_area: shapely.Geometry,
    threads: int = 1,
) -> Batch:
    """Read and validate one CSV batch; reproject its points to the working CRS.

    Parameters
    ----------
    path
        The CSV file.
    settings
        The track's settings.
    working_crs
        Target CRS (projected, metres), e.g. ``"EPSG:32717"``.
    study_area
        Study area polygon in the working CRS (marks points inside; detects swapped axes).
    threads
        Parser threads for a large file (byte ranges parsed in parallel).

    Returns
    -------
    Batch
        The valid rows (not yet de-duplicated or clipped to the study area) and the count
        of the rows dropped as empty or, with ``invalid_rows: drop``, invalid.

    Raises
    ------
    InputDataError
        For an empty or header-only file, an unparsable line, a missing column, a bad
        value (with ``invalid_rows: error``), swapped coordinates — each naming the line or
        column and the fix.
    """
    path = Path(path)
    t0 = time.perf_counter()
    header = sniff_header(path, settings.encoding)
    layout = resolve_layout(path, header, settings)
    meta, disp, failures = read_csv(path, header, layout, threads)
    rows_read = len(meta)
    dropped: Counter = Counter()
    if rows_read == 0:
        raise _no_rows(path, 0)
    if not header.ends_with_newline:
        cut = cut_off_column(path, header, layout)
        if cut is not None:  # pandas pads a short last line with NaN: it lost values
            failures.append(
                RowFailure(
                    index=int(meta.index[-1]),
                    column=cut,
                    value=None,
                    problem="is missing (the last line is cut off)",
                    reason=reason_of(cut),
                )
            )
    dnames = tuple(f"d_{day:%Y%m%d}" for _, day in layout.dates)

    # rows with no value at all (blank lines, lines of separators) are counted and dropped
    maybe = (meta["pid"].isna() & meta["velocity"].isna()).to_numpy()
    if maybe.any():
        empty = maybe.copy()
        empty[maybe] = meta.loc[maybe].isna().all(axis=1).to_numpy() & np.isnan(disp[:, maybe]).all(
            axis=0
        )
        if empty.any():
            dropped["empty_row"] = int(empty.sum())
            gone = set(meta.index[empty].tolist())
            failures = [f for f in failures if f.index not in gone]
            meta, disp = meta.loc[~empty], disp[:, ~empty]
    if len(meta) == 0:
        raise _no_rows(path, rows_read)

    span_years = (
        (layout.dates[-1][1] - layout.dates[0][1]).days / 365.25 if len(layout.dates) > 1 else 0.0
    )
    schema = point_schema(
        position=layout.position,
        has_los=layout.los_from_columns,
        optional=tuple(k for k in OPTIONAL_VALUES if k in layout.columns),
        max_abs_velocity_mm_yr=settings.max_abs_velocity_mm_yr,
    )
    meta, meta_failures = validate_points(meta, schema)
    failures += meta_failures
    dmax = settings.max_abs_velocity_mm_yr * max(1.0, span_years)
    if dnames and not all_within(disp, dmax, threads):
        # some displacement fails: the schema names every failing cell
        dframe = pd.DataFrame(disp.T, index=meta.index, columns=list(dnames), copy=False)
        dschema = displacement_schema(dnames, max_abs_displacement_mm=dmax)
        _, d_failures = validate_points(dframe, dschema)
        known = {(f.index, f.column) for f in failures}
        failures += [f for f in d_failures if (f.index, f.column) not in known]
        del dframe

    if failures:
        if settings.invalid_rows == "error":
            rank = {c: i for i, c in enumerate([*meta.columns, "_los", *dnames])}
            first = min(failures, key=lambda f: (f.index, rank.get(f.column, -1)))
            raise row_error(path, settings, header, layout, first, meta)
        worst = failure_reasons(failures)
        bad = np.isin(meta.index.to_numpy(), np.fromiter(worst, dtype=np.int64))
        dropped.update(f.reason for f in worst.values())
        first_bad = min(worst)
        log.warning(
            "%s: dropped %d invalid row(s) (%s); the first, line %d: %s %s",
            path,
            int(bad.sum()),
            ", ".join(
                f"{k}={v}" for k, v in sorted(Counter(f.reason for f in worst.values()).items())
            ),
            first_bad + 2,
            file_column(layout, worst[first_bad].column),
            worst[first_bad].problem,
        )
        meta, disp = meta.loc[~bad], disp[:, ~bad]

    x_src = meta["x"].to_numpy(dtype=float)
    y_src = meta["y"].to_numpy(dtype=float)
    xm, ym = _to_working(layout.source_crs, x_src, y_src, working_crs, threads)
    bad_xy = ~(np.isfinite(xm) & np.isfinite(ym))
    if bad_xy.any():
        k = int(np.argmax(bad_xy))
        if settings.invalid_rows == "error":
            raise InputDataError(
                path,
                f"the coordinates ({x_src[k]:g}, {y_src[k]:g}) cannot be transformed from "
                f"{layout.source_crs} to the working CRS {working_crs} (they lie outside the "
                "area where the CRS is defined).",
                f"check the track's CRS ('{settings.key('crs')}') and the coordinates, or set "
                f"'{settings.key('invalid_rows')}: drop'.",
                row=int(meta.index[k]) + 2,
                column=file_column(layout, "x"),
            )
        dropped["invalid_coordinates"] += int(bad_xy.sum())
        keep = ~bad_xy
        meta, disp = meta.loc[keep], disp[:, keep]
        x_src, y_src, xm, ym = x_src[keep], y_src[keep], xm[keep], ym[keep]

    inside = shapely.intersects_xy(study_area, xm, ym)
    _check_swapped(path, settings, layout, x_src, y_src, inside, working_crs, study_area)

    values = {"x_m": xm, "y_m": ym, "velocity": meta["velocity"].to_numpy(dtype=float)}
    for key in OPTIONAL_VALUES:
        if key in meta:
            values[key] = meta[key].to_numpy(dtype=float)
    if layout.los_from_columns:
        for key in _LOS:
            values[key] = meta[key].to_numpy(dtype=float)
        los_source = "columns"
    else:
        vec = los_unit_vector(settings.heading_deg, settings.incidence_deg, settings.look)
        for key, comp in zip(_LOS, vec, strict=True):
            values[key] = np.full(len(meta), float(comp))
        los_source = "heading_incidence"
    pid = pa.array(meta["pid"].astype("str"), type=pa.large_string())
    if isinstance(pid, pa.Array):
        pid = pa.chunked_array([pid])
    info = {
        "file": path.name,
        "separator": header.sep,
        "decimal": header.decimal,
        "encoding": header.encoding,
        "byte_order_mark": header.has_bom,
        "ends_with_newline": header.ends_with_newline,
        "columns": dict(layout.columns),
        "source_crs": layout.source_crs,
        "los_source": los_source,
    }
    if not header.ends_with_newline:
        log.warning(
            "%s does not end with a newline: if the export was cut off, the last value may be "
            "incomplete (its line has all its fields).",
            path,
        )
    log.info(
        "%s: %d rows read, %d valid, %d dates, %.1f s",
        path,
        rows_read,
        len(meta),
        len(dnames),
        time.perf_counter() - t0,
    )
    return Batch(
        path=path,
        pid=pid,
        values=values,
        disp=np.ascontiguousarray(disp),
        line=meta.index.to_numpy(dtype=np.int64) + 2,
        inside=inside,
        dates=[day for _, day in layout.dates],
        rows_read=rows_read,
        dropped=dropped,
        info=info,
    )
