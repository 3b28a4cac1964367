"""Hot-spot work of one spatial tile, from the tiled ingest's files (issue 14, item 1).

The tiled ingest (``insar.tile_size_m``) leaves a track as one GeoParquet file per tile
(``insar/{track}/tiles/x{i}_y{j}.parquet``, the contract columns, rows in pid order). The
hot-spot stage splits into work that depends only on a tile's points and its halo, and
merges over the whole track (the robust plane, the noise level, the radii, Gi*'s scale; see
:func:`~slidemap.hotspots.spatialtiles.hotspot_fields_tiled`). This module holds the tile
side:

- :func:`pass1_tile_job`: trend classes and seasonal amplitude of the tile's points (each
  point's own series) and the k-th-neighbour distances that the "auto" radii are the median
  of (from the tile + halo). It depends on no track statistic, so a new batch reruns it only
  for the tiles the batch touches and their halo neighbours.
- :func:`join_trends`: the merge side of the trends: every tile's rows put back onto the
  track's points (``insar/{track}/points.parquet``) by (tile, pid), for
  :func:`~slidemap.hotspots.pipeline.track_hotspots` (``trends=``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slidemap.hotspots.spatialtiles import halo_mask, knn_distances_tile, knn_ranks
from slidemap.hotspots.trend import point_trends
from slidemap.insar.partition import halo_tile_names, parse_tile_name, tile_name

__all__ = ["pass1_tile_job", "read_tile_points", "join_tile_rows", "join_trends"]

log = logging.getLogger(__name__)


def read_tile_points(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a tile's points (a GeoParquet file of the tiled ingest) without geometries.

    Parameters
    ----------
    path
        The tile's file.
    columns
        Columns to read (None: every column but the geometry).

    Returns
    -------
    pandas.DataFrame
        The rows in file order (pid order).
    """
    import pyarrow.parquet as pq

    if columns is None:
        columns = [c for c in pq.read_schema(path).names if c != "geometry"]
    return pq.read_table(path, columns=columns).to_pandas()


def pass1_tile_job(
    tile: str,
    files: Mapping[str, str | Path],
    params: Any,
    *,
    tile_size_m: float,
    halo_m: float,
    out_path: str | Path,
    ranks: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Trend classes, seasonal amplitude and k-th-neighbour distances of one tile's points.

    Parameters
    ----------
    tile
        Tile name ``x{i}_y{j}``.
    files
        Tile name -> points file of the tile and of the neighbour tiles that hold points
        (:func:`~slidemap.insar.partition.halo_tile_names` of ``halo_m``; missing ones hold
        none).
    params
        Hot-spot settings (``HotspotParams``: the trend keys, ``search_neighbours``,
        ``kernel_neighbours``).
    tile_size_m
        Tile edge (m, ``insar.tile_size_m``).
    halo_m
        Halo (m): at least the farthest k-th neighbour of any point of the tile (checked).
    out_path
        Output Parquet: ``pid``, the trend columns of
        :func:`~slidemap.hotspots.trend.trend_frame`, ``seasonal_mm`` and ``knn_<k>_m`` for
        each rank of :func:`~slidemap.hotspots.spatialtiles.knn_ranks` (m; NaN with fewer
        than k other points in the track).
    ranks
        Neighbour ranks to measure (None: those of
        :func:`~slidemap.hotspots.spatialtiles.knn_ranks`); empty: trends and seasonal
        amplitude only, from the tile's own file (no halo is read).

    Returns
    -------
    dict
        Points, dates and seconds, for the job's log.
    """
    from slidemap.io import atomic_path

    t0 = time.perf_counter()
    key = parse_tile_name(tile)
    core = read_tile_points(files[tile])
    trend, seasonal_mm, n_dates = point_trends(core, params)
    ranks = knn_ranks(params) if ranks is None else sorted(ranks)
    # the halo: the positions of the neighbour tiles' points within halo_m of the tile
    near = [core[["x_m", "y_m"]].to_numpy(np.float64)]
    for name in halo_tile_names(key, tile_size_m, halo_m) if ranks else []:
        if name != tile and name in files:
            xy = read_tile_points(files[name], ["x_m", "y_m"]).to_numpy(np.float64)
            near.append(xy[halo_mask(xy, key, tile_size_m, halo_m)])
    xy = np.vstack(near)
    own = np.zeros(len(xy), bool)
    own[: len(core)] = True
    out = pd.DataFrame({"pid": core["pid"].to_numpy()})
    out = pd.concat([out, trend], axis=1)
    out["seasonal_mm"] = seasonal_mm
    for k in ranks:
        out[f"knn_{k}_m"] = knn_distances_tile(
            xy, own, k, tile=key, tile_size_m=tile_size_m, halo_m=halo_m
        )
    with atomic_path(out_path) as tmp:
        out.to_parquet(tmp, index=False)
    return {
        "points": len(core),
        "halo_points": int(len(xy) - len(core)),
        "dates": n_dates,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _match_rows(pid: Any, part_pid: Any) -> np.ndarray:
    """Row of ``part_pid`` (one tile file's ids) of each of the tile's points ``pid``; -1: none.

    A tile's points and its file's rows are both in pid order, so where a tile's file holds
    exactly its points (the usual case) they match position by position; a tile with other
    rows (copies dropped by the merge, stale files) is matched by pid. Both are pandas
    arrays (Arrow strings: no Python string per point).
    """
    if len(part_pid) == len(pid) and bool(np.asarray(part_pid == pid, dtype=bool).all()):
        return np.arange(len(pid), dtype=np.int64)
    return pd.Index(part_pid).get_indexer(pid).astype(np.int64)


def join_tile_rows(
    points: pd.DataFrame,
    files: Sequence[str | Path],
    tile_size_m: float,
    *,
    what: str = "tile trend",
    rule: str = "tile_trends",
) -> pd.DataFrame:
    """Rows of per-tile files put back onto a track's points, in the points' order.

    A point's row is the one of the tile its position falls in: with ``duplicate_ids:
    first`` a tile file can still hold a copy of an id whose first copy lies in another
    tile (the ingest merge drops it), and that copy's row is left out here.

    Parameters
    ----------
    points
        The track's points (``pid``, ``x_m``, ``y_m`` in metres).
    files
        Per-tile Parquet files with a ``pid`` column, rows in pid order, named
        ``x{i}_y{j}.<anything>.parquet`` by tile.
    tile_size_m
        Tile edge (m, ``insar.tile_size_m``).
    what, rule
        The files' kind and the rule writing them (for the error message).

    Returns
    -------
    pandas.DataFrame
        The files' columns but ``pid``, one row per point (index 0..n-1).

    Raises
    ------
    InputDataError
        When a point has no row in the tile files (tile outputs older than the points).
    """
    from slidemap.errors import InputDataError
    from slidemap.insar.partition import point_tiles, tile_keys

    index = {parse_tile_name(Path(f).name.split(".")[0]): i for i, f in enumerate(files)}
    tiles = point_tiles(points[["x_m", "y_m"]].to_numpy(np.float64), tile_size_m)
    flat, tile_of = tile_keys(tiles)
    keys, inverse = np.unique(flat, return_inverse=True)
    have = [index.get(tile_of(k), -1) for k in keys]
    want = np.asarray(have, dtype=np.int64)[inverse] if len(keys) else np.zeros(0, np.int64)
    order = np.argsort(want, kind="stable")  # points grouped by tile, pid order kept
    cuts = np.searchsorted(want[order], np.arange(len(files) + 1))
    pid = points["pid"].array
    # one tile file at a time, cut to its rows of the tile's points and without its ids
    # before the next is read (the files' ids are never all held, nor their extra rows)
    pieces, dest, missing = [], [], [order[: cuts[0]]]  # before cuts[0]: tiles without a file
    for t, f in enumerate(files):
        idx = order[cuts[t] : cuts[t + 1]]
        part = pd.read_parquet(f)
        row = _match_rows(pid.take(idx), part.pop("pid").array)
        found = row >= 0
        pieces.append(part.take(row[found]))
        dest.append(idx[found])
        missing.append(idx[~found])
    missing = np.concatenate(missing)
    if missing.size:
        k = int(missing.min())
        tile = tile_name((int(tiles[k][0]), int(tiles[k][1])))
        raise InputDataError(
            Path(files[0]).parent / tile if files else None,
            f"point '{points['pid'].iloc[k]}' of tile {tile} has no row in the {what} "
            f"files ({missing.size} such points).",
            "the tile outputs are older than the track's points: rerun the workflow "
            f"(snakemake --forcerun {rule}).",
        )
    if not pieces:
        return pd.DataFrame(index=pd.RangeIndex(len(points)))
    table = pd.concat(pieces, ignore_index=True)
    del pieces
    place = np.empty(len(points), np.int64)
    place[np.concatenate(dest)] = np.arange(len(points))
    return table.take(place).reset_index(drop=True)


def join_trends(
    points: pd.DataFrame,
    files: Sequence[str | Path],
    tile_size_m: float,
    *,
    n_dates: int | None = None,
) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Put the tile jobs' trend columns back onto a track's points, in the points' order.

    See :func:`join_tile_rows` (the row of a point is the one of the tile it falls in).

    Parameters
    ----------
    points
        The track's points (``pid``, ``x_m``, ``y_m`` in metres, ``d_YYYYMMDD`` columns).
    files
        :func:`pass1_tile_job` outputs, named ``x{i}_y{j}.<anything>.parquet`` by tile.
    tile_size_m
        Tile edge (m, ``insar.tile_size_m``).
    n_dates
        Number of dates of the track (None: the ``d_YYYYMMDD`` columns of ``points``; give
        it when the points were read without them).

    Returns
    -------
    trend, seasonal_mm, n_dates
        What :func:`~slidemap.hotspots.trend.point_trends` returns for ``points``.

    Raises
    ------
    InputDataError
        When a point has no row in the tile files (tile outputs older than the points).
    """
    from slidemap.hotspots.trend import classify_trends, date_columns, trend_frame

    picked = join_tile_rows(points, files, tile_size_m)
    picked = picked[[c for c in picked.columns if not c.startswith("knn_")]]
    seasonal = picked.pop("seasonal_mm").to_numpy(np.float64)
    # the dtypes point_trends gives (Parquet stores the break dates in ms)
    ref = trend_frame(classify_trends(np.zeros((0, 0)), np.zeros(0)), None)
    trend = picked[list(ref.columns)].astype(ref.dtypes.to_dict())
    return trend, seasonal, len(date_columns(points.columns)) if n_dates is None else n_dates
