"""A track's ``points.parquet`` from its tile files, in pid order, a chunk of rows at a time.

The tiled ingest leaves a track's kept points in one GeoParquet file per tile, each in pid
order. The track's ``points.parquet`` is every kept point in pid order (what
:func:`~slidemap.insar.ingest.ingest_track` writes). :func:`write_merged_points` writes it
as a k-way merge: the caller sorts the light columns (pid, the tile and row of each point)
once, and the full rows — the displacement series are most of the bytes — are read from
each tile file in file order, a few thousand rows at a time, so the job holds one output
chunk and a small buffer per tile instead of the whole track.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

__all__ = ["write_merged_points", "CHUNK_ROWS", "TILE_ROW_GROUP_ROWS"]

#: Output rows per chunk: ~2.5 KB per row at 60 dates while a chunk is converted and written
#: (measured: 2.5 GB peak with 500,000, 1.4 GB with 100,000; on a 1.06 M-point track in 26
#: tiles 887 MB with 100,000, 725 MB with 50,000, 638 MB with 25,000 at the same speed).
CHUNK_ROWS = 50_000

#: Rows per row group of the tile files (``ingest_tile``). A cursor decompresses a row group
#: whole: with one group per file the merge held every tile's rows, the whole track (470 MB
#: of a 1 M-point track, ~0.45 KB per point); with 2048 it holds ~0.6 MB per tile at 60 dates.
TILE_ROW_GROUP_ROWS = 2048


class _TileCursor:
    """Rows of one tile file, read forward in batches (each request beyond the last)."""

    def __init__(self, path: str | Path, batch_rows: int) -> None:
        import pyarrow.parquet as pq

        # no pre-buffering: it keeps the compressed row groups it read (the whole file by
        # the end: the merge grew by the tile files' size, ~1 GB at 10 M points)
        self._batches = pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=batch_rows)
        self._buffer: pa.Table | None = None
        self._start = 0  # file row of the buffer's first row

    def take(self, rows: np.ndarray) -> pa.Table:
        """Read the file's rows ``rows`` (ascending, each beyond any row asked for before)."""
        end = int(rows[-1]) + 1
        parts = [] if self._buffer is None else [self._buffer]
        have = self._start + sum(p.num_rows for p in parts)
        while have < end:
            batch = next(self._batches)
            parts.append(pa.Table.from_batches([batch]))
            have += batch.num_rows
        buffer = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        out = buffer.take(pa.array(rows - self._start))
        self._buffer, self._start = buffer.slice(end - self._start), end
        return out


def write_merged_points(
    tile_paths: Sequence[str | Path],
    tile: np.ndarray,
    row: np.ndarray,
    *,
    file_names: Sequence[str],
    working_crs: str,
    bbox: Sequence[float],
    out_path: str | Path,
    chunk_rows: int | None = None,
) -> None:
    """Write the kept points of every tile as one GeoParquet file, in the order given.

    Read back, the file equals :func:`~slidemap.insar.ingest.write_points` of the
    concatenated rows in that order (the same columns, values, ``source_file`` categories
    and GeoParquet metadata, the ``bbox`` included).

    Parameters
    ----------
    tile_paths
        The tile files (GeoParquet of the tile jobs, rows in pid order).
    tile, row
        Per output point, in output order: the index of its tile file and its row in that
        file. Within a tile the rows must ascend (the files' pid order is the output's).
    file_names
        The track's CSV file names, in order: the categories of ``source_file``.
    working_crs
        CRS of the points (the working CRS).
    bbox
        ``[xmin, ymin, xmax, ymax]`` of all the points (m), for the GeoParquet metadata.
    out_path
        Output ``points.parquet`` (zstd, written atomically).
    chunk_rows
        Output rows per chunk (None: :data:`CHUNK_ROWS`).
    """
    import geopandas as gpd
    import pandas as pd
    import pyarrow.parquet as pq

    from slidemap.io import atomic_path, point_geoparquet_table, with_bbox

    tile, row = np.asarray(tile), np.asarray(row)  # any integer type: no copy of the track
    chunk_rows = int(chunk_rows or CHUNK_ROWS)
    batch_rows = int(np.clip(chunk_rows // max(len(tile_paths), 1), 512, TILE_ROW_GROUP_ROWS))
    cursors: dict[int, _TileCursor] = {}
    writer = None
    with atomic_path(out_path) as tmp:
        try:
            for a in range(0, tile.size, chunk_rows):
                t, r = tile[a : a + chunk_rows], row[a : a + chunk_rows]
                key = np.lexsort((r, t))  # the chunk's rows grouped by tile, in file order
                ts, rs = t[key], r[key]
                cuts = np.flatnonzero(np.diff(ts)) + 1
                parts = []
                for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, ts.size], strict=True):
                    u = int(ts[lo])
                    if u not in cursors:
                        cursors[u] = _TileCursor(tile_paths[u], batch_rows)
                    parts.append(cursors[u].take(rs[lo:hi]))
                table = pa.concat_tables(parts, promote_options="default")
                table = table.take(pa.array(np.argsort(key)))
                frame = table.to_pandas()
                frame["source_file"] = pd.Categorical(
                    frame["source_file"].astype(str), categories=list(file_names)
                )
                frame["geometry"] = gpd.GeoSeries.from_wkb(frame["geometry"], crs=working_crs)
                frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=working_crs)
                encoded = point_geoparquet_table(frame, ("x_m", "y_m"))
                if encoded is None:  # pragma: no cover - the tile jobs write 2-D points
                    raise ValueError(f"{tile_paths[int(ts[0])]}: not a table of 2-D points")
                encoded = encoded[0]
                if writer is None:
                    xy = np.asarray(bbox, np.float64).reshape(2, 2)
                    schema = with_bbox(encoded, xy).schema
                    writer = pq.ParquetWriter(tmp, schema, compression="zstd")
                writer.write_table(encoded.replace_schema_metadata(schema.metadata).cast(schema))
        finally:
            if writer is not None:
                writer.close()
