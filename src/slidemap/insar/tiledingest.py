"""InSAR ingest cut into batch and tile jobs (issue 14, items 1 and 2; ``insar.tile_size_m``).

The whole-track ingest (:func:`~slidemap.insar.ingest.ingest_track`) is one job that reads
every CSV batch of a track. With a tile size the same work is three kinds of jobs, whose
composition is that function's output, row for row and count for count:

1. :func:`ingest_batch_job` (one per CSV file): reads and validates the file
   (:func:`~slidemap.insar.batch.read_batch`) and writes its valid rows as one Parquet piece
   per spatial tile (tiles of :func:`~slidemap.insar.partition.point_tiles`, fixed by
   the working CRS) plus ``batch.json`` (the file's facts, its rows read and dropped, dates,
   the tiles it touches), written last. A new EGMS burst is one new job.
2. :func:`ingest_tile_job` (one per tile): the pieces of the batches that touch the tile go
   through the track's rules (:func:`~slidemap.insar.ingest.combine_batches`: duplicate
   ids, study area, coherence). Copies of one id with identical values share their
   coordinates and so their tile; the tile keeps every row's id, batch, line and reason.
   A tile's job depends only on the batches that touch it, so a new batch reruns the tiles
   its points fall in and no other.
3. :func:`merge_tiles_job` (one per track): settles ids repeated across tiles (copies at
   different positions, which ``ingest_track`` counts as conflicting duplicates or refuses),
   adds up the account, raises the whole-track errors and writes ``points.parquet`` and
   ``summary.json`` exactly as the whole-track rule does.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from slidemap.errors import InputDataError
from slidemap.insar.batch import Batch, read_batch
from slidemap.insar.fastcsv import permute_columns
from slidemap.insar.ingest import (
    TRACK_REASONS,
    TrackPart,
    check_same_dates,
    combine_batches,
    finish_track,
    no_coherence_column,
)
from slidemap.insar.layouts import TrackSettings
from slidemap.insar.partition import tile_name, xy_tile_keys

__all__ = ["ingest_batch_job", "ingest_tile_job", "merge_tiles_job", "batch_tiles", "BATCH_JSON"]

log = logging.getLogger(__name__)

#: The batch folder's manifest (written last: a folder without it is incomplete).
BATCH_JSON = "batch.json"
#: Parquet codec of the batch pieces (intermediate files read once by their tile's job).
PIECE_CODEC = "lz4"
#: Columns of the pieces unique per row (ids, line numbers, coordinates), written without a
#: dictionary: hashing them costs time and their dictionary is as long as the column; the
#: others (displacements and values as read, few distinct numbers) keep Arrow's dictionary
#: encoding. Measured on 1 M x 70 in 36 pieces: writes 8-15 % faster, files no larger.
PIECE_PLAIN = ("pid", "line", "v_x_m", "v_y_m")


def _read_manifest(folder: Path) -> dict[str, Any]:
    """Read a batch folder's ``batch.json``; refuse a folder without it."""
    from slidemap.io import read_json

    path = Path(folder) / BATCH_JSON
    if not path.exists():
        raise InputDataError(
            folder,
            f"no {BATCH_JSON}: the batch's tiles were not written completely.",
            "rerun the ingest_batch rule of this batch (snakemake reruns an incomplete job).",
        )
    return read_json(path)


def batch_tiles(folder: str | Path) -> list[str]:
    """Names (``x{i}_y{j}``) of the tiles a batch folder holds rows of, sorted."""
    return sorted(_read_manifest(Path(folder))["tiles"])


def ingest_batch_job(
    csv_path: str | Path,
    track_cfg: Mapping[str, Any],
    *,
    track_name: str,
    working_crs: str,
    study_area: shapely.Geometry,
    tile_size_m: float,
    folder: str | Path,
    threads: int = 1,
) -> dict[str, Any]:
    """Read one CSV batch and write its valid rows as one Parquet piece per tile.

    Parameters
    ----------
    csv_path
        The batch.
    track_cfg, track_name
        The track's settings (``insar.tracks.<name>``) and name.
    working_crs
        Working CRS (projected, metres).
    study_area
        Study area polygon in the working CRS (rows outside are kept here, marked, and
        counted by the tile jobs as ``ingest_track`` counts them).
    tile_size_m
        Tile edge (m, ``insar.tile_size_m``).
    folder
        Output folder: ``x{i}_y{j}.parquet`` per touched tile (columns ``pid``, ``line``,
        ``inside``, ``v_<value>`` float64, ``d<k>`` float32 displacements in mm as read) and
        ``batch.json``, written last.
    threads
        Threads for parsing and for writing the pieces.

    Returns
    -------
    dict
        The manifest written to ``batch.json``.
    """
    import pyarrow.parquet as pq

    from slidemap.io import atomic_path, write_json

    t0 = time.perf_counter()
    settings = TrackSettings.from_config(track_cfg, track_name)
    csv_path = Path(csv_path)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / BATCH_JSON).unlink(missing_ok=True)
    for stale in out.glob("x*_y*.parquet"):
        stale.unlink()
    shapely.prepare(study_area)
    batch = read_batch(
        csv_path, settings, working_crs=working_crs, study_area=study_area, threads=threads
    )
    # one int64 key per tile, rows grouped by tile (a stable sort keeps each tile's rows in
    # line order), then every column permuted once by compiled code, in threads
    flat, tile_of = xy_tile_keys(batch.values["x_m"], batch.values["y_m"], tile_size_m)
    # keys below 2^16 (at most 256 x 256 tiles in a batch): numpy's radix sort, same order
    small = len(flat) > 0 and int(flat.max()) < 1 << 16
    order = np.argsort(flat.astype(np.uint16) if small else flat, kind="stable")
    ranked = flat[order]  # ascending: each tile's rows are one run
    starts = np.flatnonzero(np.concatenate([[len(ranked) > 0], ranked[1:] != ranked[:-1]]))
    codes = ranked[starts]
    del ranked
    bounds = np.append(starts, len(order))
    keys = list(batch.values)
    with ThreadPoolExecutor(max_workers=1) as side:  # the ids (Arrow) beside the numbers
        pid = side.submit(batch.pid.take, pa.array(order))
        disp, line, inside, *values = permute_columns(
            [
                batch.disp,
                batch.line.astype(np.int64, copy=False),
                batch.inside.astype(bool, copy=False),
                *(np.asarray(batch.values[k], np.float64) for k in keys),
            ],
            order,
            threads=threads,
            inplace=True,  # the batch's displacements are not used unpermuted again
        )
        pid = pid.result()
    columns = {
        "pid": pid,
        "line": pa.array(line),
        "inside": pa.array(inside),
        **{f"v_{k}": pa.array(v) for k, v in zip(keys, values, strict=True)},
        **{f"d{j}": pa.array(disp[j]) for j in range(disp.shape[0])},
    }
    table = pa.table(columns)
    del pid, disp, line, inside, values
    names = [tile_name(tile_of(c)) for c in codes]
    # the batch's facts; its arrays leave memory before the pieces are encoded
    rows_read, n_valid, dropped = batch.rows_read, len(batch), dict(batch.dropped)
    info, dates, value_names = batch.info, batch.dates, sorted(batch.values)
    del batch

    dictionary = [name for name in table.column_names if name not in PIECE_PLAIN]

    def write(t: int) -> None:
        b0, b1 = int(bounds[t]), int(bounds[t + 1])
        with atomic_path(out / f"{names[t]}.parquet") as tmp:
            pq.write_table(
                table.slice(b0, b1 - b0),
                tmp,
                compression=PIECE_CODEC,
                use_dictionary=dictionary,
            )

    with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
        list(pool.map(write, range(len(names))))
    manifest_tiles = {n: int(bounds[t + 1] - bounds[t]) for t, n in enumerate(names)}
    manifest = {
        "file": csv_path.name,
        "path": str(csv_path),
        "rows_read": rows_read,
        "dropped": dropped,
        "info": info,
        "dates": [d.isoformat() for d in dates],
        "values": value_names,
        "tile_size_m": float(tile_size_m),
        "tiles": manifest_tiles,
    }
    write_json(manifest, out / BATCH_JSON)
    log.info(
        "batch %s: %d rows read, %d valid, in %d tile(s) of %g m (%.1f s)",
        csv_path.name,
        rows_read,
        n_valid,
        len(manifest_tiles),
        tile_size_m,
        time.perf_counter() - t0,
    )
    return manifest


def _dates(manifest: Mapping[str, Any]) -> list:
    import datetime as dt

    return [dt.date.fromisoformat(d) for d in manifest["dates"]]


def _tile_batch(folder: Path, manifest: Mapping[str, Any], tile: str) -> Batch:
    """Return one batch's rows in one tile (listed in its manifest) as a :class:`Batch`."""
    import pyarrow.parquet as pq

    dates = _dates(manifest)
    table = pq.read_table(folder / f"{tile}.parquet")
    values = {
        name[2:]: table.column(name).to_numpy() for name in table.column_names if name[:2] == "v_"
    }
    disp = np.empty((len(dates), table.num_rows), np.float32)
    for j in range(len(dates)):
        disp[j] = table.column(f"d{j}").to_numpy()
    return Batch(
        path=Path(manifest["path"]),
        pid=table.column("pid").cast(pa.large_string()),
        values=values,
        disp=disp,
        line=table.column("line").to_numpy(),
        inside=table.column("inside").to_numpy(zero_copy_only=False),
        dates=dates,
        rows_read=0,
        info=manifest["info"],
    )


def ingest_tile_job(
    batch_folders: Sequence[str | Path],
    tile: str,
    track_cfg: Mapping[str, Any],
    *,
    track_name: str,
    working_crs: str,
    points_path: str | Path,
    ids_path: str | Path,
    account_path: str | Path,
    threads: int = 1,
) -> TrackPart:
    """Apply the track's rules to the rows of one tile from the batches that touch it.

    Parameters
    ----------
    batch_folders
        Folders of :func:`ingest_batch_job` (those whose ``batch.json`` lists the tile).
    tile
        Tile name ``x{i}_y{j}``.
    track_cfg, track_name
        The track's settings and name.
    working_crs
        Working CRS (projected, metres).
    points_path
        Output GeoParquet of the tile's kept points (the columns of ``points.parquet``).
    ids_path
        Output Parquet: every valid row of the tile (``pid``, ``file`` name, ``line``,
        ``reason`` index into :data:`~slidemap.insar.ingest.TRACK_REASONS`, -1 = kept).
    account_path
        Output JSON: rows dropped per file and reason, ids, extent, rows inside.
    threads
        Threads for gathering displacements.

    Returns
    -------
    TrackPart
        The tile's part of the track.
    """
    from slidemap.insar.tilemerge import TILE_ROW_GROUP_ROWS
    from slidemap.io import atomic_path, write_geoparquet, write_json

    settings = TrackSettings.from_config(track_cfg, track_name)
    folders = [Path(f) for f in batch_folders]
    manifests = [_read_manifest(f) for f in folders]
    pairs = sorted(
        ((m, f) for m, f in zip(manifests, folders, strict=True) if tile in m["tiles"]),
        key=lambda p: (p[0]["file"], p[0]["path"]),
    )
    batches = [_tile_batch(folder, m, tile) for m, folder in pairs]
    if settings.min_coherence is not None:
        # as for the whole track: rows of a batch without coherence have none (NaN, dropped
        # as low_coherence) when another batch has the column; the merge raises when none has
        for b in batches:
            b.values.setdefault("coherence", np.full(len(b), np.nan))
    if not batches:
        raise InputDataError(
            folders[0].parent if folders else tile,
            f"no batch of track '{track_name}' holds rows in tile {tile}.",
            "rerun the workflow: the tile list comes from the batches' batch.json.",
        )
    check_same_dates(batches)
    part = combine_batches(batches, settings, crs=working_crs, threads=threads, keep_ids=True)
    names = [m["file"] for m, _ in pairs]
    write_geoparquet(
        part.points,
        points_path,
        compression="zstd",
        xy_columns=("x_m", "y_m"),
        row_group_size=TILE_ROW_GROUP_ROWS,
    )
    ids = part.ids
    ids = ids.set_column(
        ids.column_names.index("file"),
        "file",
        pa.DictionaryArray.from_arrays(
            pa.array(ids.column("file").to_numpy()), pa.array(names, pa.string())
        ),
    )
    import pyarrow.parquet as pq

    with atomic_path(ids_path) as tmp:
        pq.write_table(ids, tmp, compression="zstd")
    write_json(
        {
            "tile": tile,
            "reasons": {n: dict(c) for n, c in zip(names, part.reasons, strict=True) if c},
            "n_unique": part.n_unique,
            "extent": part.extent,
            "n_inside": part.n_inside,
            "rows_kept": len(part.points),
        },
        account_path,
    )
    log.info(
        "tile %s: %d rows from %d batch(es), %d kept",
        tile,
        ids.num_rows,
        sum(1 for b in batches if len(b)),
        len(part.points),
    )
    return part


def _cross_tile(
    ids: pa.Table,
    order: np.ndarray,
    settings: TrackSettings,
    names: list[str],
    paths: list[Path],
) -> tuple[np.ndarray, Counter, int, int]:
    """Settle ids found in more than one tile (copies at different positions).

    ``ids`` holds every valid row of the track (``pid``, ``file`` (global batch index),
    ``line``, ``reason``, ``tile`` index); ``order`` is its rows' stable order by ``pid``.
    As in :func:`~slidemap.insar.ingest.ingest_track`
    the first copy (file-name, then line order) keeps its reason, copies in its own tile keep
    theirs (the tile compared them with it), and every copy in another tile is a conflicting
    duplicate. Returns the ``ids`` rows of kept copies to drop (``duplicate_ids: first``), the
    count changes per (file name, reason), and how many ids the tiles counted as unique and
    as inside too many.
    """
    pid = ids.column("pid")
    spid = pid.take(pa.array(order))
    n = len(order)
    tile = ids.column("tile").to_numpy()[order]
    same = np.zeros(n, bool)
    if n > 1:
        import pyarrow.compute as pc

        eq = pc.equal(spid.slice(1), spid.slice(0, n - 1))
        same[1:] = pc.fill_null(eq, False).to_numpy(zero_copy_only=False)
    group = np.cumsum(~same) - 1
    # groups spanning more than one tile
    tmin = np.minimum.reduceat(tile, np.flatnonzero(~same)) if n else tile
    tmax = np.maximum.reduceat(tile, np.flatnonzero(~same)) if n else tile
    multi = (tmin != tmax)[group]
    moves: Counter = Counter()
    if not multi.any():
        return np.zeros(0, np.int64), moves, 0, 0
    rows = order[multi]
    sub = pa.table(
        {
            "g": group[multi],
            "file": ids.column("file").to_numpy()[rows],
            "line": ids.column("line").to_numpy()[rows],
            "tile": tile[multi],
            "reason": ids.column("reason").to_numpy()[rows],
            "row": rows,
        }
    ).to_pandas()
    sub = sub.sort_values(["g", "file", "line"], kind="stable")
    first = ~sub["g"].duplicated()
    first_tile = sub["tile"].where(first).ffill().astype(np.int64)
    other = (~first) & (sub["tile"] != first_tile)
    if other.any() and settings.duplicate_ids == "error":
        k = sub.index[other.to_numpy()][0]
        row = sub.loc[k]
        head = sub[(sub["g"] == row["g"]) & first].iloc[0]
        raise InputDataError(
            paths[int(row["file"])],
            f"point id '{pid[int(row['row'])].as_py()}' "
            f"also appears in {paths[int(head['file'])]} line {int(head['line'])} at another "
            f"position (x_m/y_m differ); {int(other.sum())} repeated id(s) of the track differ "
            "like this.",
            "remove one of the copies (overlapping batches must agree), or set "
            f"'{settings.key('duplicate_ids')}: first' to keep the first copy (files in name "
            "order) and count the others as conflicting_duplicate_id.",
            row=int(row["line"]),
        )
    moved = sub[other]
    for (f, r), count in moved.groupby(["file", "reason"]).size().items():
        if r >= 0:
            moves[(names[int(f)], TRACK_REASONS[int(r)])] -= int(count)
        moves[(names[int(f)], "conflicting_duplicate_id")] += int(count)
    # first copies of their tile's group that are not the track's first copy: were unique
    tile_first = ~sub.duplicated(["g", "tile"])
    lost_unique = int((tile_first & other).sum())
    lost_inside = int(((moved["reason"] < 0) | (moved["reason"] == 3)).sum())
    drop_rows = moved.loc[moved["reason"] < 0, "row"].to_numpy()
    return drop_rows, moves, lost_unique, lost_inside


def _kept_rows(
    tile: np.ndarray, reason: np.ndarray, order: np.ndarray, drop_rows: np.ndarray, n_tiles: int
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, int]]]:
    """Where each point of ``points.parquet`` is in the tile files, in the output's order.

    A tile's ids file lists every valid row in (pid, file, line) order and its points file
    the rows it kept (``reason`` -1) in pid order, so the k-th kept row of a tile's ids is
    the k-th row of its points file.

    Parameters
    ----------
    tile, reason
        Per row of every tile's ids, concatenated in tile order: its tile (0 to
        ``n_tiles - 1``) and reason (-1: kept by its tile).
    order
        Those rows in stable pid order.
    drop_rows
        Rows kept by their tile that leave (later copies of ids repeated across tiles).
    n_tiles
        Number of tiles.

    Returns
    -------
    tuple
        Per output point in pid order: its tile and its row in that tile's points file
        (int32 both); per tile: the rows of its points file that leave and the number of
        rows the file must hold.
    """
    kept = reason < 0
    per_tile = np.bincount(tile[kept], minlength=n_tiles)
    before = np.concatenate(([0], np.cumsum(per_tile)[:-1])).astype(np.int32)
    row = np.cumsum(kept, dtype=np.int32)  # valid where kept
    row -= 1
    row -= before[tile]
    kept[drop_rows] = False
    gone_tile, gone_row = tile[drop_rows], row[drop_rows]
    gone = [(gone_row[gone_tile == t], int(per_tile[t])) for t in range(n_tiles)]
    order = order[kept[order]]
    del kept
    return tile[order], row[order], gone


def merge_tiles_job(
    batch_folders: Sequence[str | Path],
    tile_files: Sequence[tuple[str | Path, str | Path, str | Path]],
    track_cfg: Mapping[str, Any],
    *,
    track_name: str,
    working_crs: str,
    study_area: shapely.Geometry,
    points_path: str | Path,
    summary_path: str | Path,
) -> dict[str, Any]:
    """Merge a track's tiles into ``points.parquet`` and ``summary.json``.

    Parameters
    ----------
    batch_folders
        Every batch folder of the track (:func:`ingest_batch_job`).
    tile_files
        Per tile: its points, ids and account files (:func:`ingest_tile_job`).
    track_cfg, track_name, working_crs, study_area
        As for :func:`~slidemap.insar.ingest.ingest_track`.
    points_path, summary_path
        Outputs (see :func:`~slidemap.insar.ingest.write_points`).

    Returns
    -------
    dict
        The summary. Both files equal :func:`~slidemap.insar.ingest.ingest_track`'s on the
        batches' CSV files; the points are streamed from the tile files
        (:func:`~slidemap.insar.tilemerge.write_merged_points`), never all in memory.
    """
    import pyarrow.parquet as pq

    from slidemap.insar.fastcsv import sort_strings
    from slidemap.insar.tilemerge import write_merged_points
    from slidemap.io import read_json, write_json

    t0 = time.perf_counter()
    settings = TrackSettings.from_config(track_cfg, track_name)
    manifests = sorted(
        (_read_manifest(Path(f)) for f in batch_folders), key=lambda m: (m["file"], m["path"])
    )
    if not manifests:
        raise InputDataError(
            track_cfg.get("path"),
            f"track '{track_name}' has no CSV batch.",
            f"put the track's *.csv files in its folder ('{settings.key('path')}').",
        )
    names = [m["file"] for m in manifests]
    paths = [Path(m["path"]) for m in manifests]
    check_same_dates(
        [SimpleNamespace(path=p, dates=_dates(m)) for p, m in zip(paths, manifests, strict=True)]
    )
    index = {name: i for i, name in enumerate(names)}

    # the light id table of every tile: ids repeated across tiles
    tables, accounts = [], []
    for t, (_, ids_file, account_file) in enumerate(tile_files):
        ids = pq.read_table(ids_file)
        files = ids.column("file").combine_chunks()
        global_file = np.array([index[n] for n in files.dictionary.to_pylist()], np.int32)
        tables.append(
            pa.table(
                {
                    "pid": ids.column("pid"),
                    "file": global_file[files.indices.to_numpy(zero_copy_only=False)],
                    "line": ids.column("line"),
                    "reason": ids.column("reason"),
                    "tile": np.full(ids.num_rows, t, np.int32),
                }
            )
        )
        accounts.append(read_json(account_file))
    all_ids = pa.concat_tables(tables) if tables else None
    reasons = [Counter() for _ in names]
    for account in accounts:
        for name, counts in account["reasons"].items():
            reasons[index[name]].update(counts)
    # ids repeated across tiles: later copies leave (duplicate_ids: first)
    n_ids = all_ids.num_rows if all_ids is not None else 0
    order, drop_rows = np.zeros(0, np.int64), np.zeros(0, np.int64)
    tile, reason = np.zeros(0, np.int32), np.zeros(0, np.int8)
    lost_unique = lost_inside = 0
    if n_ids:
        order = np.asarray(sort_strings(all_ids.column("pid")), np.int64)
        drop_rows, moves, lost_unique, lost_inside = _cross_tile(
            all_ids, order, settings, names, paths
        )
        for (name, why), count in moves.items():
            reasons[index[name]][why] += count
        # the tile and reason of each row; the ids, files and lines are done with
        tile = all_ids.column("tile").to_numpy()
        reason = all_ids.column("reason").to_numpy().astype(np.int8, copy=False)
    del all_ids, tables
    tile_of, row_of, gone_rows = _kept_rows(tile, reason, order, drop_rows, len(tile_files))
    del tile, reason, order, drop_rows

    # the kept points' positions and velocities (finish_track's checks and summary, which
    # do not depend on the order); the full rows are streamed into points.parquet afterwards
    light = {"x_m": [], "y_m": [], "velocity_mm_yr": []}
    for t, (points_file, _, _) in enumerate(tile_files):
        tab = pq.read_table(points_file, columns=list(light))
        if tab.num_rows != gone_rows[t][1]:
            raise InputDataError(
                points_file,
                f"holds {tab.num_rows} points where its ids file lists {gone_rows[t][1]} kept "
                "rows: the tile files are from different runs.",
                "delete the track's tiles/ folder and rerun the workflow.",
            )
        keep = np.ones(tab.num_rows, bool)
        keep[gone_rows[t][0]] = False
        for name, parts in light.items():
            parts.append(tab.column(name).to_numpy()[keep])
        del tab
    if n_ids:
        points = pd.DataFrame({name: np.concatenate(parts) for name, parts in light.items()})
    else:  # no valid row in any batch: finish_track raises
        points = pd.DataFrame({name: np.zeros(0) for name in light})
    del light

    extents = [a["extent"] for a in accounts if a["extent"] is not None]
    extent = None
    if extents:
        e = np.asarray(extents, float)
        extent = [
            float(e[:, 0].min()),
            float(e[:, 1].min()),
            float(e[:, 2].max()),
            float(e[:, 3].max()),
        ]
    part = TrackPart(
        points=points,
        reasons=reasons,
        n_unique=sum(a["n_unique"] for a in accounts) - lost_unique,
        extent=extent,
        n_inside=sum(a["n_inside"] for a in accounts) - lost_inside,
    )
    has_coherence = any("coherence" in m["values"] for m in manifests)
    if settings.min_coherence is not None and part.n_inside and not has_coherence:
        raise no_coherence_column(paths[0], settings)
    points, summary = finish_track(
        part,
        [(m["info"], m["rows_read"], Counter(m["dropped"])) for m in manifests],
        dates=_dates(manifests[0]),
        settings=settings,
        track_name=track_name,
        working_crs=working_crs,
        study_area=study_area,
        paths=paths,
        t0=t0,
    )
    n_points = len(points)
    del points  # the write holds a chunk of rows and a row group of each tile file
    tic = time.perf_counter()
    write_merged_points(
        [f for f, _, _ in tile_files],
        tile_of,
        row_of,
        file_names=names,
        working_crs=working_crs,
        bbox=summary["bounds_m"],
        out_path=points_path,
    )
    write_json(dict(summary), summary_path)
    log.info("wrote %s (%d points) in %.1f s", points_path, n_points, time.perf_counter() - tic)
    return summary
