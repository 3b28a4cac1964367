"""InSAR ingest: the CSV batches of one track -> one table of points in the working CRS.

:func:`ingest_track` reads every CSV batch of a track (one :class:`~slidemap.insar.batch.Batch`
per file, validated and reprojected by :func:`~slidemap.insar.batch.read_batch`), checks that
the batches share their dates, removes duplicate point ids of overlapping batches, drops
points outside the study area and below the coherence threshold, and returns the points with
a summary that accounts for every row::

    rows_read == rows_kept + sum(dropped.values())

Bad input raises :class:`~slidemap.errors.InputDataError` naming the file, the line
(1-based, header = line 1) or the column, and the fix (:mod:`slidemap.insar.diagnose`).

:func:`write_points` writes ``points.parquet`` (GeoParquet) and ``summary.json`` atomically.
The output columns are those of ``docs/contracts.md``: ``pid, x_m, y_m, velocity_mm_yr,
velocity_std_mm_yr, coherence, height_m, los_e, los_n, los_u, source_file, d_YYYYMMDD…,
geometry``, sorted by ``pid``.

This module holds the track's domain rules (dates, duplicates, study area, coherence, the
account of dropped rows, the output table); reading one file is :mod:`slidemap.insar.batch`,
the CSV engine :mod:`slidemap.insar.csvread`. 10^6 points x 70 dates are ingested in about
4 s on 2 cores (``benchmarks/ingest.py``) with a peak memory of about 1.3 GB.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyproj import CRS

from slidemap.errors import InputDataError
from slidemap.insar.batch import OPTIONAL_VALUES, Batch, read_batch
from slidemap.insar.diagnose import value_text
from slidemap.insar.fastcsv import sort_strings, take_columns
from slidemap.insar.layouts import TrackSettings
from slidemap.insar.schema import DROP_REASONS
from slidemap.io import write_geoparquet, write_json

__all__ = [
    "ingest_track",
    "combine_batches",
    "finish_track",
    "TrackPart",
    "TRACK_REASONS",
    "no_coherence_column",
    "write_points",
    "OUTPUT_COLUMNS",
]

log = logging.getLogger(__name__)

#: Leading output columns (then one ``d_YYYYMMDD`` per date, then ``geometry``).
OUTPUT_COLUMNS = (
    "pid",
    "x_m",
    "y_m",
    "velocity_mm_yr",
    "velocity_std_mm_yr",
    "coherence",
    "height_m",
    "los_e",
    "los_n",
    "los_u",
    "source_file",
)
#: Canonical value -> output column.
_OUT = {
    "x_m": "x_m",
    "y_m": "y_m",
    "velocity": "velocity_mm_yr",
    "velocity_std": "velocity_std_mm_yr",
    "coherence": "coherence",
    "height": "height_m",
    "los_east": "los_e",
    "los_north": "los_n",
    "los_up": "los_u",
}


def check_same_dates(batches: Sequence[Batch]) -> None:
    """Raise unless every batch of a track carries the same acquisition dates."""
    ref = batches[0]
    for b in batches[1:]:
        if b.dates != ref.dates:
            extra = sorted(set(b.dates) - set(ref.dates))
            lacking = sorted(set(ref.dates) - set(b.dates))
            if extra:
                diff = f"it has date {extra[0].isoformat()} that {ref.path.name} lacks"
            elif lacking:
                diff = f"it lacks date {lacking[0].isoformat()} that {ref.path.name} has"
            else:  # pragma: no cover - dates are sorted on reading
                diff = "its dates are in a different order"
            raise InputDataError(
                b.path,
                f"the batch's displacement dates differ from those of {ref.path} "
                f"({len(b.dates)} vs {len(ref.dates)} dates; {diff}).",
                "batches of one track must come from the same processing (same dates); put "
                "batches of different processings in different track folders.",
            )


def _duplicates(
    sorted_pid: pa.ChunkedArray,
    order: np.ndarray,
    values: Mapping[str, np.ndarray],
    disp: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Find repeated ids among points sorted by (pid, file, line).

    Returns
    -------
    repeat : numpy.ndarray of bool
        In sorted order: the row repeats an id seen before (not the first copy).
    ref : numpy.ndarray of int
        In sorted order: position of the first copy of each row's id.
    differs : numpy.ndarray of bool
        In sorted order: a repeat whose values differ from the first copy.
    first_diff : list of str
        For each repeat that differs (in order), the first differing value's name.
    """
    n = len(order)
    repeat = np.zeros(n, dtype=bool)
    if n > 1:
        eq = pc.equal(sorted_pid.slice(1), sorted_pid.slice(0, n - 1))
        repeat[1:] = pc.fill_null(eq, False).to_numpy(zero_copy_only=False)
    ref = np.arange(n)
    if not repeat.any():
        return repeat, ref, np.zeros(n, dtype=bool), []
    starts = np.flatnonzero(~repeat)
    ref = starts[np.cumsum(~repeat) - 1]
    rows = np.flatnonzero(repeat)
    a, b = order[rows], order[ref[rows]]
    names = [*values, *(f"d{j}" for j in range(disp.shape[0]))]
    mat_a = np.column_stack([*(values[k][a] for k in values), disp[:, a].T.astype(float)])
    mat_b = np.column_stack([*(values[k][b] for k in values), disp[:, b].T.astype(float)])
    same_cell = (mat_a == mat_b) | (np.isnan(mat_a) & np.isnan(mat_b))
    same = same_cell.all(axis=1)
    differs = np.zeros(n, dtype=bool)
    differs[rows[~same]] = True
    first_diff = [names[int(np.argmin(r))] for r in same_cell[~same]]
    return repeat, ref, differs, first_diff


def ingest_track(
    csv_paths: Sequence[str | Path],
    track_cfg: Mapping[str, Any],
    *,
    track_name: str,
    working_crs: str,
    study_area: shapely.Geometry,
    threads: int = 1,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Ingest every CSV batch of one track.

    Parameters
    ----------
    csv_paths
        The track's CSV batches (read in name order; the first copy of a duplicate id wins).
    track_cfg
        The track's settings (``insar.tracks.<name>``; missing keys take the defaults).
    track_name
        The track's name (for messages and the summary).
    working_crs
        Working CRS (projected, metres), any string pyproj understands.
    study_area
        Study area polygon in the working CRS; points outside are dropped and counted.
    threads
        Threads for parsing (byte ranges of a large file; pandas' tokenizer releases the GIL)
        and for assembling the output. Batches are read one after the other.

    Returns
    -------
    points : geopandas.GeoDataFrame
        One row per kept point, sorted by ``pid``: ``pid`` (str), ``x_m``, ``y_m`` (m,
        working CRS), ``velocity_mm_yr`` (LOS, + toward the satellite), ``velocity_std_mm_yr``,
        ``coherence``, ``height_m`` (NaN when the export has none), ``los_e``, ``los_n``,
        ``los_u`` (ground-to-satellite unit vector), ``source_file``, one ``d_YYYYMMDD``
        column per date (LOS displacement in mm, float32, same sign convention), ``geometry``.
    summary : dict
        ``rows_read``, ``rows_kept``, ``dropped`` (every reason of
        :data:`~slidemap.insar.schema.DROP_REASONS`; ``rows_read == rows_kept +
        sum(dropped.values())``), per-file facts, dates, working CRS, LOS source.

    Raises
    ------
    InputDataError
        For bad input (see :func:`~slidemap.insar.batch.read_batch`), batches with different
        dates, a point id with different values in two places (unless ``duplicate_ids:
        first``), or no point left (e.g. every point outside the study area).
    ConfigError
        For track settings that cannot describe a layout.
    """
    t0 = time.perf_counter()
    settings = TrackSettings.from_config(track_cfg, track_name)
    paths = sorted((Path(p) for p in csv_paths), key=lambda p: (p.name, str(p)))
    if not paths:
        raise InputDataError(
            track_cfg.get("path"),
            f"track '{track_name}' has no CSV batch.",
            f"put the track's *.csv files in its folder ('{settings.key('path')}').",
        )
    working_crs = CRS.from_user_input(working_crs).to_string()
    shapely.prepare(study_area)

    batches = [
        read_batch(p, settings, working_crs=working_crs, study_area=study_area, threads=threads)
        for p in paths
    ]
    check_same_dates(batches)
    part = combine_batches(batches, settings, threads=threads, crs=working_crs)
    return finish_track(
        part,
        [(b.info, b.rows_read, Counter(b.dropped)) for b in batches],
        dates=batches[0].dates,
        settings=settings,
        track_name=track_name,
        working_crs=working_crs,
        study_area=study_area,
        paths=paths,
        t0=t0,
    )


def no_coherence_column(path: Path, settings: TrackSettings) -> InputDataError:
    """Build the error raised when ``min_coherence`` is set for files without coherence."""
    return InputDataError(
        path,
        f"'{settings.key('min_coherence')}' is set but the files have no coherence column.",
        f"map the coherence column with '{settings.key('columns')}.coherence', or set "
        "min_coherence: null.",
    )


@dataclass
class TrackPart:
    """The points of some batches (or of one tile of them) after the track's row rules.

    Attributes
    ----------
    points
        The kept points in pid order (the output table of :func:`ingest_track`).
    reasons
        Per batch (same order): rows dropped by the track's rules (``duplicate_id``,
        ``conflicting_duplicate_id``, ``outside_study_area``, ``low_coherence``).
    n_unique
        Distinct ids among the valid rows.
    extent
        ``[xmin, ymin, xmax, ymax]`` (m) of the first copies of the ids; None without rows.
    n_inside
        Rows left before the coherence rule (unique ids inside the study area).
    ids
        With ``keep_ids``: every valid row sorted by (pid, file, line) as a table of ``pid``,
        ``file`` (batch index), ``line`` and ``reason`` (index into :data:`TRACK_REASONS`,
        -1 = kept); what a tiled ingest needs to settle ids repeated across tiles.
    """

    points: gpd.GeoDataFrame
    reasons: list[Counter]
    n_unique: int
    extent: list[float] | None
    n_inside: int
    ids: pa.Table | None = None


#: Drop reasons of the track's rules (after the per-file ones of read_batch), in their order.
TRACK_REASONS = ("duplicate_id", "conflicting_duplicate_id", "outside_study_area", "low_coherence")


def combine_batches(
    batches: Sequence[Batch],
    settings: TrackSettings,
    *,
    crs: str,
    threads: int = 1,
    keep_ids: bool = False,
) -> TrackPart:
    """Apply the track's rules to validated batches: duplicates, study area, coherence.

    Parameters
    ----------
    batches
        The batches in file-name order (all with the same dates; some may hold no row).
    settings
        The track's settings (``duplicate_ids``, ``min_coherence``, ``velocity_positive``).
    crs
        Working CRS of the coordinates (projected, metres).
    threads
        Threads for gathering the displacement block.
    keep_ids
        Also return every valid row's id, batch, line and reason (:attr:`TrackPart.ids`).

    Returns
    -------
    TrackPart
        The kept points and the account of the rows these rules dropped. Raises nothing for
        an empty result (the caller knows whether the part is the whole track).

    Raises
    ------
    InputDataError
        A repeated id with different values (``duplicate_ids: error``), or ``min_coherence``
        set for files without a coherence column.
    """
    paths = [b.path for b in batches]
    # one table of every valid row, in file then line order
    keys = [k for k in _OUT if all(k in b.values for b in batches)]
    keys += [k for k in OPTIONAL_VALUES if k not in keys and any(k in b.values for b in batches)]
    values = {
        k: np.concatenate([b.values.get(k, np.full(len(b), np.nan)) for b in batches]) for k in keys
    }
    disp = (
        np.concatenate([b.disp for b in batches], axis=1) if len(batches) > 1 else batches[0].disp
    )
    line = np.concatenate([b.line for b in batches])
    inside = np.concatenate([b.inside for b in batches])
    file_idx = np.concatenate([np.full(len(b), i, dtype=np.int32) for i, b in enumerate(batches)])
    pid = pa.chunked_array([c for b in batches for c in b.pid.chunks], type=pa.large_string())
    for b in batches:  # free the per-file copies
        b.values, b.disp = {}, b.disp[:, :0]
    # the points' geometries (shapely holds the GIL) are made while the ids are sorted and
    # the displacements gathered (both release it)
    geometry = _in_background(shapely.points, values["x_m"], values["y_m"])

    # sort by pid (stable: copies of one id stay in file, line order) and find repeats
    order = sort_strings(pid)
    sorted_pid = pid.take(order)
    repeat, ref, differs, first_diff = _duplicates(sorted_pid, order, values, disp)
    if differs.any() and settings.duplicate_ids == "error":
        k = int(np.flatnonzero(differs)[0])
        i, j = int(order[k]), int(order[ref[k]])
        what = first_diff[0]
        if what.startswith("d") and what[1:].isdigit():
            day = batches[0].dates[int(what[1:])]
            col, v_here, v_there = f"d_{day:%Y%m%d}", disp[int(what[1:]), i], disp[int(what[1:]), j]
        else:
            col, v_here, v_there = _OUT.get(what, what), values[what][i], values[what][j]
        raise InputDataError(
            paths[file_idx[i]],
            f"point id '{sorted_pid[k].as_py()}' also appears in {paths[file_idx[j]]} line "
            f"{line[j]} with different values ({col}: {value_text(v_there)} there, "
            f"{value_text(v_here)} here); {int(differs.sum())} repeated id(s) of the track "
            "differ like this.",
            "remove one of the copies (overlapping batches must agree), or set "
            f"'{settings.key('duplicate_ids')}: first' to keep the first copy (files in name "
            "order) and count the others as conflicting_duplicate_id.",
            row=int(line[i]),
        )

    # every row gets at most one reason, in the order of DROP_REASONS
    reason = np.full(len(order), -1, dtype=np.int8)
    reason[repeat & ~differs] = 0
    reason[differs] = 1
    n_unique = int((reason < 0).sum())
    extent = None
    if n_unique:
        first = ~repeat
        xs, ys = values["x_m"][order[first]], values["y_m"][order[first]]
        extent = [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]
    reason[(reason < 0) & ~inside[order]] = 2
    n_inside = int((reason < 0).sum())
    if settings.min_coherence is not None and n_inside:
        if "coherence" not in values:
            raise no_coherence_column(paths[0], settings)
        low = ~(values["coherence"][order] >= settings.min_coherence)
        reason[(reason < 0) & low] = 3

    reasons = [Counter() for _ in batches]
    for r in range(len(TRACK_REASONS)):
        hit = reason == r
        if hit.any():
            for i, n in zip(*np.unique(file_idx[order[hit]], return_counts=True), strict=True):
                reasons[int(i)][TRACK_REASONS[r]] += int(n)

    keep = order[reason < 0]
    sign = -1.0 if settings.velocity_positive == "away_from_satellite" else 1.0
    dnames = [f"d_{day:%Y%m%d}" for day in batches[0].dates]
    points = _assemble(
        pid=sorted_pid.filter(pa.array(reason < 0)),
        values=values,
        disp=disp,
        keep=keep,
        geometry=geometry,
        source=pd.Categorical.from_codes(file_idx[keep], categories=[p.name for p in paths]),
        dnames=dnames,
        sign=sign,
        crs=crs,
        threads=threads,
    )
    ids = None
    if keep_ids:
        ids = pa.table(
            {
                "pid": sorted_pid,
                "file": file_idx[order],
                "line": line[order].astype(np.int64),
                "reason": reason,
            }
        )
    return TrackPart(points, reasons, n_unique, extent, n_inside, ids)


def finish_track(
    part: TrackPart,
    files: Sequence[tuple[Mapping[str, Any], int, Counter]],
    *,
    dates: Sequence[Any],
    settings: TrackSettings,
    track_name: str,
    working_crs: str,
    study_area: shapely.Geometry,
    paths: Sequence[Path],
    t0: float,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Check a whole track's rows and build its summary (see :func:`ingest_track`).

    Parameters
    ----------
    part
        The whole track after :func:`combine_batches` (or the merge of its tiles).
    files
        Per batch (file-name order): its facts (``Batch.info``), rows read and the rows
        :func:`~slidemap.insar.batch.read_batch` dropped per reason.
    dates, settings, track_name, working_crs, study_area, paths
        The track's dates, settings, name, working CRS, study area and CSV files.
    t0
        ``time.perf_counter()`` at the start (for the log line, s).

    Raises
    ------
    InputDataError
        No valid point left in the study area, or none above ``min_coherence``.
    """
    points = part.points
    if not part.n_inside:
        early = Counter()
        for _, _, dropped in files:
            early.update(dropped)
        raise _nothing_inside(paths, part.n_unique, part.extent, study_area, working_crs, early)
    if not len(points):  # every point inside is below min_coherence
        raise InputDataError(
            paths[0].parent,
            f"every point of track '{track_name}' in the study area has a coherence below "
            f"min_coherence = {settings.min_coherence} (or none).",
            f"lower '{settings.key('min_coherence')}'.",
        )

    # the account: per file and overall
    dropped = Counter()
    per_file = []
    for (_, _, early), late in zip(files, part.reasons, strict=True):
        counts = Counter(early) + Counter(late)
        dropped.update(counts)
        per_file.append(counts)

    rows_read = sum(n for _, n, _ in files)
    all_dropped = {r: int(dropped.get(r, 0)) for r in DROP_REASONS}
    file_facts = [
        {
            **info,
            "rows_read": n,
            "rows_kept": n - sum(counts.values()),
            "dropped": {r: int(counts[r]) for r in DROP_REASONS if counts[r]},
        }
        for (info, n, _), counts in zip(files, per_file, strict=True)
    ]
    los_sources = sorted({info["los_source"] for info, _, _ in files})
    v = points["velocity_mm_yr"].to_numpy()
    summary = {
        "track": track_name,
        "format": settings.format,
        "orbit": settings.orbit,
        "working_crs": working_crs,
        "rows_read": rows_read,
        "rows_kept": len(points),
        "dropped": all_dropped,
        "files": file_facts,
        "dates": [d.isoformat() for d in dates],
        "n_dates": len(dates),
        "los_source": los_sources[0] if len(los_sources) == 1 else "mixed",
        "heading_deg": settings.heading_deg,
        "incidence_deg": settings.incidence_deg,
        "look": settings.look,
        "velocity_positive_in_files": settings.velocity_positive,
        "invalid_rows": settings.invalid_rows,
        "duplicate_ids": settings.duplicate_ids,
        "min_coherence": settings.min_coherence,
        "bounds_m": [
            float(points["x_m"].min()),
            float(points["y_m"].min()),
            float(points["x_m"].max()),
            float(points["y_m"].max()),
        ],
        "velocity_mm_yr": {
            "min": float(v.min()),
            "median": float(np.median(v)),
            "max": float(v.max()),
        },
    }
    if rows_read != len(points) + sum(all_dropped.values()):  # pragma: no cover - invariant
        raise RuntimeError(f"row accounting is off: {summary}")
    log.info(
        "track %s: %d rows read, %d kept, dropped %s (%.1f s)",
        track_name,
        rows_read,
        len(points),
        {k: n for k, n in all_dropped.items() if n},
        time.perf_counter() - t0,
    )
    return points, summary


def _assemble(
    *,
    pid: pa.ChunkedArray,
    values: Mapping[str, np.ndarray],
    disp: np.ndarray,
    keep: np.ndarray,
    geometry: Future,
    source: pd.Categorical,
    dnames: list[str],
    sign: float,
    crs: str,
    threads: int = 1,
) -> gpd.GeoDataFrame:
    """Build the output table (contract column order) from the kept rows, in pid order.

    ``geometry`` holds (or will hold) the shapely points of every row of ``values``; the
    displacement block is gathered by compiled code in ``threads`` groups of dates.
    """
    n = len(keep)
    identity = n == len(values["x_m"]) and bool((keep[:-1] < keep[1:]).all())
    block = None
    if dnames:
        if identity:
            block = -disp if sign < 0 else disp  # already in pid order, all kept
        else:
            block = take_columns(disp, keep, scale=sign, threads=threads)
    cols: dict[str, Any] = {"pid": pd.array(pid, dtype="str")}
    for key, out in _OUT.items():
        if key not in values:
            cols[out] = np.full(n, np.nan)
        else:
            cols[out] = values[key] if identity else values[key][keep]
    cols["velocity_mm_yr"] = cols["velocity_mm_yr"] * sign
    cols["source_file"] = source
    frame = pd.DataFrame(cols, columns=list(OUTPUT_COLUMNS), copy=False)
    if block is not None:
        frame = pd.concat([frame, pd.DataFrame(block.T, columns=dnames, copy=False)], axis=1)
    points = geometry.result()
    points = gpd.array.GeometryArray(points if identity else points[keep], crs=crs)
    return gpd.GeoDataFrame(frame, geometry=points, crs=crs, copy=False)


def _in_background(fn, *args) -> Future:
    """Run ``fn(*args)`` in a daemon thread; return the future of its result."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller via the future
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def _nothing_inside(
    paths: Sequence[Path],
    n_valid: int,
    extent: list[float] | None,
    study_area: shapely.Geometry,
    working_crs: str,
    dropped: Mapping[str, int],
) -> InputDataError:
    """Build the error raised when no valid point of a track is left in the study area."""
    folder = paths[0].parent
    if n_valid == 0 or extent is None:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(dropped.items()) if v)
        return InputDataError(
            folder,
            f"no valid point is left in {', '.join(p.name for p in paths)} (dropped rows: "
            f"{counts}).",
            "see the job's log for the first dropped line of each file, and correct the export "
            "(or check the track's column mapping).",
        )
    b = study_area.bounds
    return InputDataError(
        folder,
        f"every one of the {n_valid} valid points of {', '.join(p.name for p in paths)} lies "
        f"outside the study area: the points span x {extent[0]:.0f}..{extent[2]:.0f}, y "
        f"{extent[1]:.0f}..{extent[3]:.0f} m, the study area x {b[0]:.0f}..{b[2]:.0f}, y "
        f"{b[1]:.0f}..{b[3]:.0f} m ({working_crs}).",
        "check that the batches belong to this study area (DEM, study_area.boundary) and "
        "that the track's 'crs' key (for x/y columns) is the CRS the coordinates are in.",
    )


def write_points(
    points: gpd.GeoDataFrame,
    summary: Mapping[str, Any],
    points_path: str | Path,
    summary_path: str | Path,
) -> None:
    """Write ``points.parquet`` (GeoParquet) and ``summary.json``, each atomically.

    Parameters
    ----------
    points
        From :func:`ingest_track`.
    summary
        From :func:`ingest_track`.
    points_path
        Output GeoParquet file (zstd-compressed).
    summary_path
        Output JSON file.
    """
    t0 = time.perf_counter()
    write_geoparquet(points, points_path, compression="zstd", xy_columns=("x_m", "y_m"))
    write_json(dict(summary), summary_path)
    log.info("wrote %s (%d points) in %.1f s", points_path, len(points), time.perf_counter() - t0)
