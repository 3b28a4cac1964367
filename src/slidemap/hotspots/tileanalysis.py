"""Pass 3 of the tiled hot-spot stage: each tile's points analysed alone, the track joined.

With the tile fields (:mod:`slidemap.hotspots.tilefields`) the per-point work of
``track_hotspots`` needs nothing beyond a tile: the trend classes come from the tile's
``tile_trends`` file, ``v_hp``/Gi* from its ``hotspot_tile_gistar`` file and the threshold
from the track's settings. So:

1. :func:`analyse_tile_job` (per tile with points, rule ``hotspot_tile_points``) runs
   :func:`~slidemap.hotspots.pipeline.analyse_points` on the tile's own points and writes
   the columns the hot-spot stage adds to them (``pid`` first; rows in file order; small
   row groups of :data:`ROW_GROUP_ROWS`).
2. The track job reads back only what the density, the polygons and the summary need
   (:func:`read_tile_columns`: a few numbers per point, put into the track's file order) and
   writes ``hotspots/{track}/points.parquet`` by streaming the track's rows batch by batch
   beside the tile files' rows (:func:`write_points_from_tiles`): the analysed table of the
   track is never in memory.

A tile file holds exactly its tile's points in the track file's order (the tile job reads
them from the track's ``points.parquet``), so the k-th point of a tile in the track is the
k-th row of its file: the join is positional, checked by the ids.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slidemap.errors import InputDataError

__all__ = [
    "ROW_GROUP_ROWS",
    "TRACK_COLUMNS",
    "analyse_tile_job",
    "read_tile_columns",
    "track_from_tiles",
    "write_points_from_tiles",
]

#: Rows per row group of a tile file: the streamed writer keeps one row group per tile in
#: memory (~150 B per row: ~0.3 MB per tile, 0.9 GB for 3000 tiles).
ROW_GROUP_ROWS = 2048

#: Columns of the tile files the track job reads whole (density, polygons, summary).
TRACK_COLUMNS = ["trend_class", "v_hp_mm_yr", "gi_z", "gi_n"]


def analyse_tile_job(
    points_path: str | Path,
    tile: str,
    tile_size_m: float,
    trends_path: str | Path,
    gistar_path: str | Path,
    settings_path: str | Path,
    params: Any,
    out_path: str | Path,
) -> dict[str, Any]:
    """Analyse the points of one tile (trend classes, moving flag, Gi*) and write them.

    Parameters
    ----------
    points_path
        The track's ``points.parquet`` (only the tile's rows are read, by a Parquet filter).
    tile
        Tile name ``x{i}_y{j}``.
    tile_size_m
        Tile edge (m, ``insar.tile_size_m``).
    trends_path, gistar_path
        The tile's ``tile_trends`` and ``hotspot_tile_gistar`` outputs.
    settings_path
        The track's ``hotspot_settings`` output (JSON).
    params
        Hot-spot settings (:class:`~slidemap.hotspots.pipeline.HotspotParams`).
    out_path
        Output Parquet: ``pid`` and the columns ``analyse_points`` adds to the track's
        points (those the track file lacks), one row per point of the tile, in file order.

    Returns
    -------
    dict
        Points and seconds, for the job's log.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from slidemap.hotspots.pipeline import analyse_points
    from slidemap.hotspots.pointio import REQUIRED_POINT_COLUMNS, count_dates
    from slidemap.hotspots.tilefields import read_json, read_points_box
    from slidemap.hotspots.tilejobs import join_tile_rows, join_trends
    from slidemap.insar.partition import parse_tile_name
    from slidemap.io import atomic_path

    t0 = time.perf_counter()
    pts, own = read_points_box(
        points_path, parse_tile_name(tile), tile_size_m, 0.0, columns=REQUIRED_POINT_COLUMNS
    )
    pts = pts[own].reset_index(drop=True)
    trends = join_trends(pts, [trends_path], tile_size_m, n_dates=count_dates(points_path))
    columns = join_tile_rows(
        pts, [gistar_path], tile_size_m, what="tile Gi*", rule="hotspot_tile_gistar"
    )
    settings = read_json(settings_path)["settings"]
    out, _ = analyse_points(pts, params, trends=trends, fields=(settings, columns))
    names = set(pq.read_schema(points_path).names)
    table = pa.Table.from_pandas(
        out[["pid", *[c for c in out.columns if c not in names]]], preserve_index=False
    )
    with atomic_path(out_path) as tmp:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS)
    return {"points": len(out), "seconds": round(time.perf_counter() - t0, 2)}


def _tile_index(xy: np.ndarray, files: Sequence[str | Path], tile_size_m: float) -> np.ndarray:
    """Index in ``files`` of each point's tile (-1: no file), from the file names ``x{i}_y{j}``."""
    from slidemap.insar.partition import parse_tile_name, point_tiles, tile_keys

    index = {parse_tile_name(Path(f).name.split(".")[0]): i for i, f in enumerate(files)}
    flat, tile_of = tile_keys(point_tiles(xy, tile_size_m))
    keys, inverse = np.unique(flat, return_inverse=True)
    have = np.asarray([index.get(tile_of(k), -1) for k in keys], dtype=np.int64)
    return have[inverse] if len(keys) else np.zeros(0, np.int64)


def _stale(path: Any, detail: str) -> InputDataError:
    """Return the error of a tile file that does not hold its tile's points of the track."""
    return InputDataError(
        path,
        f"the tile's analysed points do not match the track's points: {detail}.",
        "the tile outputs are older than the track's points: rerun the workflow "
        "(snakemake --forcerun hotspot_tile_points).",
    )


def read_tile_columns(
    xy: np.ndarray, files: Sequence[str | Path], tile_size_m: float, columns: Sequence[str]
) -> pd.DataFrame:
    """Columns of the tile files put into the track's order (one row per point of ``xy``).

    Parameters
    ----------
    xy
        The track's points (n × 2, metres), in file order.
    files
        :func:`analyse_tile_job` outputs of every tile with points.
    tile_size_m
        Tile edge (m).
    columns
        Columns to read (numeric or strings).

    Returns
    -------
    pandas.DataFrame
        The columns with the files' dtypes, index 0..n-1.

    Raises
    ------
    InputDataError
        When a point's tile has no file, or a file's row count is not its tile's.
    """
    want = _tile_index(xy, files, tile_size_m)
    if (want < 0).any():
        k = int(np.argmax(want < 0))
        raise _stale(Path(files[0]).parent if files else None, f"point {k} has no tile file")
    order = np.argsort(want, kind="stable")  # points grouped by tile, file order kept
    cuts = np.searchsorted(want[order], np.arange(len(files) + 1))
    out: dict[str, Any] = {}
    for t, f in enumerate(files):
        part = pd.read_parquet(f, columns=list(columns))
        idx = order[cuts[t] : cuts[t + 1]]
        if len(part) != idx.size:
            raise _stale(f, f"{len(part)} rows for the tile's {idx.size} points")
        for c in columns:
            values = part[c]
            if c not in out:  # numbers: one array filled tile by tile; strings: codes
                kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else "O"
                out[c] = np.empty(xy.shape[0], values.dtype) if kind in "biuf" else ([], [])
            if isinstance(out[c], np.ndarray):
                out[c][idx] = values.to_numpy()
            else:
                out[c][0].append(values)
                out[c][1].append(idx)
    frame = {}
    for c in columns:
        if c not in out:
            frame[c] = np.zeros(0)
        elif isinstance(out[c], np.ndarray):
            frame[c] = out[c]
        else:  # strings: the pieces joined, then put into the track's order
            joined = pd.concat(out[c][0], ignore_index=True)
            place = np.empty(xy.shape[0], np.int64)
            place[np.concatenate(out[c][1])] = np.arange(xy.shape[0])
            frame[c] = joined.take(place).reset_index(drop=True)
    return pd.DataFrame(frame)


def track_from_tiles(
    points_path: str | Path,
    settings_path: str | Path,
    files: Sequence[str | Path],
    tile_size_m: float,
    params: Any,
    crs: Any = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read the columns of a track's analysed points that its density and polygons need.

    Parameters
    ----------
    points_path
        The track's ``points.parquet`` (``x_m``, ``y_m`` and ``velocity_mm_yr`` are read).
    settings_path
        The track's ``hotspot_settings`` output.
    files
        :func:`analyse_tile_job` outputs of every tile with points.
    tile_size_m
        Tile edge (m).
    params
        Hot-spot settings.
    crs
        Expected CRS of the points (the study grid's); None skips the check.

    Returns
    -------
    points, info
        ``x_m``, ``y_m``, ``velocity_mm_yr``, ``v_hp_mm_yr`` (mm/yr), ``moving``,
        ``trend_class`` and ``gi_z`` of every point in file order (about 60 bytes per
        point), and the summary figures of
        :func:`~slidemap.hotspots.pipeline.analyse_points` for the whole track (the same
        keys and values).
    """
    from slidemap.hotspots.pipeline import moving_flags, trend_summary
    from slidemap.hotspots.pointio import count_dates, read_track_points
    from slidemap.hotspots.tilefields import read_json

    tic = time.perf_counter()
    light = ["x_m", "y_m", "velocity_mm_yr"]
    pts = read_track_points(points_path, crs, time_series=False, columns=light, only=True)
    cols = read_tile_columns(pts[light[:2]].to_numpy(np.float64), files, tile_size_m, TRACK_COLUMNS)
    settings = read_json(settings_path)["settings"]
    info: dict[str, Any] = {"timings_s": {}, "n_dates": count_dates(points_path)}
    info.update(trend_summary(cols["trend_class"]))
    info.update(settings)
    v_hp = cols["v_hp_mm_yr"].to_numpy(np.float64)
    moving, counts = moving_flags(v_hp, settings, cols["trend_class"], params)
    info.update(counts)
    info["mean_neighbours"] = float(cols["gi_n"].to_numpy(np.int64).mean() - 1)
    pts["v_hp_mm_yr"] = v_hp
    pts["moving"] = moving
    pts["trend_class"] = cols["trend_class"]
    pts["gi_z"] = cols["gi_z"].to_numpy(np.float64)
    info["timings_s"]["join"] = time.perf_counter() - tic
    return pts, info


class _TileCursor:
    """The rows of one tile file, handed out in order, one row group held at a time."""

    def __init__(self, path: str | Path):
        self.path, self.group, self.rows, self.buffer, self.pos = path, 0, None, None, 0

    def take(self, n: int) -> Any:
        """Return the next ``n`` rows (a pyarrow Table); the file is opened per row group read."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        pieces = []
        while n > 0:
            if self.buffer is None or self.pos == self.buffer.num_rows:
                source = pq.ParquetFile(self.path)
                if self.group >= source.metadata.num_row_groups:
                    raise _stale(self.path, "the track has more points in this tile")
                self.buffer, self.pos = source.read_row_group(self.group), 0
                self.group += 1
            k = min(n, self.buffer.num_rows - self.pos)
            pieces.append(self.buffer.slice(self.pos, k))
            self.pos, n = self.pos + k, n - k
        return pa.concat_tables(pieces)

    def done(self) -> bool:
        """Return True when every row of the file was handed out."""
        import pyarrow.parquet as pq

        if self.buffer is not None and self.pos < self.buffer.num_rows:
            return False
        return self.group >= pq.ParquetFile(self.path).metadata.num_row_groups


def write_points_from_tiles(
    source_path: str | Path,
    files: Sequence[str | Path],
    tile_size_m: float,
    out_path: str | Path,
    *,
    batch_rows: int | None = None,
) -> None:
    """Write the track's points with the tile files' columns appended, streaming both.

    The result equals :func:`~slidemap.hotspots.pointio.write_analysed_points` of the
    track's analysed table (every input column, then the added ones, row for row; the
    same batches, so the same row groups and bytes), with memory for a batch of the track
    and one row group per tile.

    Parameters
    ----------
    source_path
        The track's ``points.parquet`` (GeoParquet, in the file order the tiles share).
    files
        :func:`analyse_tile_job` outputs of every tile with points.
    tile_size_m
        Tile edge (m).
    out_path
        Output GeoParquet (written atomically).
    batch_rows
        Input rows per batch (default: ``pointio.BATCH_ROWS``).

    Raises
    ------
    InputDataError
        When a tile file's rows are not its tile's points of the track (ids or counts).
    """
    import json

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from slidemap.hotspots.pointio import BATCH_ROWS
    from slidemap.io import atomic_path

    source = pq.ParquetFile(source_path)
    names = source.schema_arrow.names
    if not files:
        raise _stale(Path(source_path).parent, "no tile files")
    tile_schema = pq.read_schema(files[0])
    added = [f for f in tile_schema if f.name != "pid"]
    meta = dict(source.schema_arrow.metadata or {})
    if b"pandas" in meta:  # the pandas dtypes of the added columns, for reading back
        pandas_meta = json.loads(meta[b"pandas"])
        extra = [c for c in tile_schema.pandas_metadata["columns"] if c["name"] != "pid"]
        pandas_meta["columns"] += extra
        meta[b"pandas"] = json.dumps(pandas_meta).encode()
    schema = pa.schema(list(source.schema_arrow) + added, metadata=meta)
    cursors = [_TileCursor(f) for f in files]
    with atomic_path(out_path) as tmp, pq.ParquetWriter(tmp, schema, compression="snappy") as out:
        for batch in source.iter_batches(batch_size=batch_rows or BATCH_ROWS):
            x, y = (batch.column(names.index(c)).to_numpy() for c in ("x_m", "y_m"))
            xy = np.column_stack([x, y])
            want = _tile_index(xy, files, tile_size_m)
            if (want < 0).any():
                raise _stale(Path(files[0]).parent, "a point's tile has no file")
            order = np.argsort(want, kind="stable")
            tiles, counts = np.unique(want[order], return_counts=True)
            taken = [cursors[t].take(int(c)) for t, c in zip(tiles, counts, strict=True)]
            rows = pa.concat_tables(taken)
            pid = batch.column(names.index("pid")).take(pa.array(order))
            same = pc.equal(rows.column("pid"), pid)
            if not pc.all(same).as_py():
                k = int(np.argmin(same.to_numpy(zero_copy_only=False)))
                raise _stale(files[int(want[order][k])], f"point {pid[k].as_py()!r} out of place")
            place = np.empty(len(order), np.int64)
            place[order] = np.arange(len(order))
            rows = rows.take(pa.array(place))
            columns = [*batch.columns, *(rows.column(f.name) for f in added)]
            out.write_table(pa.Table.from_arrays(columns, schema=schema))
        left = [f for f, c in zip(files, cursors, strict=True) if not c.done()]
        if left:
            raise _stale(left[0], "the file holds more rows than the track has points there")
