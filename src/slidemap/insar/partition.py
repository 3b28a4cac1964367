"""A track's points as one GeoParquet file per spatial tile (issue 14, items 1 and 2).

The tiles are those of :func:`point_tiles`: squares of
``tile_size_m`` fixed by the working CRS, so a point's tile never depends on the other points
and a new batch adds rows to the tiles it covers only. The folder holds ``x{i}_y{j}.parquet``
per non-empty tile (the rows in track order: ascending ``pid``) and ``tiles.json``, written
last, that lists every tile with its row count and the tile size: a folder without it is an
interrupted write, and readers refuse it.

Tile files are written in parallel threads (Parquet encoding releases the GIL), so a track's
write scales with the cores where a single ``points.parquet`` is one thread.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from slidemap.errors import InputDataError

__all__ = [
    "point_tiles",
    "tile_keys",
    "xy_tile_keys",
    "tile_name",
    "parse_tile_name",
    "halo_tile_names",
    "write_partitioned",
    "read_partitioned",
    "read_tile_with_halo",
]

MANIFEST = "tiles.json"


def point_tiles(xy: np.ndarray, tile_size_m: float) -> np.ndarray:
    """Tile index ``(i, j)`` of each point: ``floor(x / s)``, ``floor(y / s)``.

    Parameters
    ----------
    xy
        Coordinates (n × 2) in metres of the working CRS.
    tile_size_m
        Tile edge ``s`` in metres.

    Returns
    -------
    numpy.ndarray
        int64 (n × 2): column index i (x) and row index j (y) of each point's tile.
    """
    if not tile_size_m > 0:
        raise ValueError(f"tile_size_m must be > 0, got {tile_size_m}")
    return np.floor(np.asarray(xy, dtype=np.float64) / float(tile_size_m)).astype(np.int64)


def tile_keys(tiles: np.ndarray) -> tuple[np.ndarray, Any]:
    """One int64 key per row of tiles, ascending in ``(i, j)`` (np.unique over rows is slow).

    Parameters
    ----------
    tiles
        ``(i, j)`` per point (n × 2 int64, :func:`point_tiles`).

    Returns
    -------
    keys, tile_of
        The keys (n,) and a function ``key -> (i, j)``.
    """
    tiles = np.asarray(tiles, np.int64).reshape(-1, 2)
    lo = tiles.min(axis=0) if len(tiles) else np.zeros(2, np.int64)
    span = int(tiles[:, 1].max() - lo[1] + 1) if len(tiles) else 1
    return (tiles[:, 0] - lo[0]) * span + (tiles[:, 1] - lo[1]), _decoder(lo[0], lo[1], span)


def _decoder(lo_i: float, lo_j: float, span: int) -> Any:
    """``key -> (i, j)`` for keys ``(i - lo_i) * span + (j - lo_j)`` (tile indices)."""
    lo_i, lo_j, span = int(lo_i), int(lo_j), int(span)

    def tile_of(key: int) -> tuple[int, int]:
        return int(key // span + lo_i), int(key % span + lo_j)

    return tile_of


def xy_tile_keys(x: np.ndarray, y: np.ndarray, tile_size_m: float) -> tuple[np.ndarray, Any]:
    """``tile_keys(point_tiles(column_stack([x, y]), tile_size_m))`` with fewer temporaries.

    The same keys and ``tile_of`` (one float division and floor per coordinate, as
    :func:`point_tiles`), computed in place on two float64 arrays: ~24 MB of new memory per
    million points instead of ~90 MB (a batch job's first touch of memory is much of its
    time on some virtual machines).

    Parameters
    ----------
    x, y
        Finite coordinates (m, working CRS), 1-D, same length.
    tile_size_m
        Tile edge (m).

    Returns
    -------
    keys, tile_of
        int64 keys (n,) ascending in ``(i, j)`` and a function ``key -> (i, j)``.

    Raises
    ------
    ValueError
        For a tile size that is not > 0 or a coordinate that is not finite.
    """
    if not tile_size_m > 0:
        raise ValueError(f"tile_size_m must be > 0, got {tile_size_m}")
    s = float(tile_size_m)
    i = np.divide(np.asarray(x, np.float64), s)
    j = np.divide(np.asarray(y, np.float64), s)
    if not (np.isfinite(i).all() and np.isfinite(j).all()):
        raise ValueError("coordinates must be finite to be given a tile")
    np.floor(i, out=i)
    np.floor(j, out=j)
    if len(i) == 0:
        return np.empty(0, np.int64), _decoder(0, 0, 1)
    lo_i, lo_j = float(i.min()), float(j.min())
    span = int(j.max() - lo_j + 1)
    i -= lo_i
    i *= span
    j -= lo_j
    i += j  # integers far below 2^53: exact in float64
    return i.astype(np.int64), _decoder(lo_i, lo_j, span)


def tile_name(tile: tuple[int, int]) -> str:
    """File stem of a tile: ``x{i}_y{j}`` (i, j may be negative)."""
    return f"x{int(tile[0])}_y{int(tile[1])}"


def parse_tile_name(name: str) -> tuple[int, int]:
    """``(i, j)`` of a tile name ``x{i}_y{j}`` (see :func:`tile_name`)."""
    x, y = name.split("_")
    if x[:1] != "x" or y[:1] != "y":
        raise ValueError(f"not a tile name (x<i>_y<j>): {name!r}")
    return int(x[1:]), int(y[1:])


def halo_tile_names(tile: tuple[int, int], tile_size_m: float, halo_m: float) -> list[str]:
    """Names of the tile and of every tile a halo of ``halo_m`` around it reaches.

    Parameters
    ----------
    tile
        ``(i, j)`` of the tile.
    tile_size_m
        Tile edge (m).
    halo_m
        Halo width (m), widened as :func:`~slidemap.hotspots.spatialtiles.halo_mask` widens it.

    Returns
    -------
    list of str
        ``x{i}_y{j}`` names, the tile itself among them, row by row.
    """
    size = float(tile_size_m)
    reach = int(np.floor(halo_m * (1.0 + 1e-9) / size + 1e-6 / size)) + 1  # halo_mask's reach
    return [
        tile_name((tile[0] + di, tile[1] + dj))
        for di in range(-reach, reach + 1)
        for dj in range(-reach, reach + 1)
    ]


def write_partitioned(
    points: Any,
    folder: str | os.PathLike,
    tile_size_m: float,
    *,
    compression: str = "zstd",
    threads: int = 1,
) -> dict[str, Any]:
    """Write a track's points as one GeoParquet file per tile, then the manifest.

    Parameters
    ----------
    points
        GeoDataFrame with ``x_m``, ``y_m`` (working CRS, metres; the point geometries'
        coordinates) in track order.
    folder
        Output folder (created; files of tiles no longer present are removed).
    tile_size_m
        Tile edge in metres.
    compression
        Parquet codec.
    threads
        Files written at once.

    Returns
    -------
    dict
        The manifest: ``tile_size_m`` and ``tiles`` (name -> rows).
    """
    import pyarrow.parquet as pq

    from slidemap.io import (
        atomic_path,
        point_geoparquet_table,
        with_bbox,
        write_geoparquet,
        write_json,
    )

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # the folder is incomplete until it is rewritten
    xy = points[["x_m", "y_m"]].to_numpy(np.float64)
    tiles = point_tiles(xy, tile_size_m)
    lo = tiles.min(axis=0) if len(tiles) else np.zeros(2, np.int64)
    span = (tiles[:, 1].max() - lo[1] + 1) if len(tiles) else 1
    flat = (tiles[:, 0] - lo[0]) * span + (tiles[:, 1] - lo[1])  # one int64 key per tile
    codes, inverse = np.unique(flat, return_inverse=True)
    keys = np.column_stack([codes // span + lo[0], codes % span + lo[1]])
    order = np.argsort(inverse, kind="stable")  # rows of each tile stay in track order
    bounds = np.searchsorted(inverse[order], np.arange(keys.shape[0] + 1))
    names = [tile_name((key[0], key[1])) for key in keys]
    encoded = point_geoparquet_table(points, ("x_m", "y_m"))
    if encoded is not None:  # one gather of the arrow table, then zero-copy slices per tile
        table = encoded[0].take(order)
        xy_sorted = xy[order]

        def write(t: int) -> None:
            b0, b1 = int(bounds[t]), int(bounds[t + 1])
            part = with_bbox(table.slice(b0, b1 - b0), xy_sorted[b0:b1])
            with atomic_path(out / f"{names[t]}.parquet") as tmp:
                pq.write_table(part, tmp, compression=compression)

    else:  # not plain 2-D points: GeoPandas encodes each tile

        def write(t: int) -> None:
            part = points.iloc[order[bounds[t] : bounds[t + 1]]].reset_index(drop=True)
            write_geoparquet(part, out / f"{names[t]}.parquet", compression=compression)

    with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
        list(pool.map(write, range(len(names))))
    jobs = [(names[t], bounds[t + 1] - bounds[t]) for t in range(len(names))]
    for stale in out.glob("x*_y*.parquet"):
        if stale.stem not in set(names):
            stale.unlink()
    manifest = {
        "tile_size_m": float(tile_size_m),
        "tiles": {name: int(count) for name, count in jobs},
    }
    write_json(manifest, out / MANIFEST)
    return manifest


def _manifest(folder: Path) -> dict[str, Any]:
    from slidemap.io import read_json

    path = folder / MANIFEST
    if not path.exists():
        raise InputDataError(
            folder,
            f"no {MANIFEST}: the tiled points were not written completely.",
            "rerun the ingest rule of this track (snakemake reruns an incomplete job).",
        )
    return read_json(path)


def read_partitioned(folder: str | os.PathLike, tiles: list[str] | None = None) -> Any:
    """Read tiles of a partitioned track (all by default) as one GeoDataFrame in pid order.

    Parameters
    ----------
    folder
        The folder of :func:`write_partitioned`.
    tiles
        Tile names to read (missing ones hold no points and are skipped); None = every tile.

    Returns
    -------
    geopandas.GeoDataFrame
        The rows, sorted by ``pid`` (the track order), index 0..n-1.
    """
    import geopandas as gpd

    folder = Path(folder)
    listed = _manifest(folder)["tiles"]
    names = sorted(listed) if tiles is None else [t for t in tiles if t in listed]
    if not names:
        raise InputDataError(
            folder,
            f"none of the tiles {', '.join(names or tiles or [])} holds points.",
            f"ask for tiles listed in {MANIFEST}.",
        )
    # one dataset read: the CRS (PROJJSON) is parsed once, not once per tile file
    frame = gpd.read_parquet([str(folder / f"{name}.parquet") for name in names])
    return frame.sort_values("pid", kind="stable", ignore_index=True)


def read_tile_with_halo(
    folder: str | os.PathLike, tile: tuple[int, int], halo_m: float
) -> tuple[Any, np.ndarray]:
    """Read a tile's points and every point within ``halo_m`` of the tile (its halo).

    Parameters
    ----------
    folder
        The folder of :func:`write_partitioned`.
    tile
        ``(i, j)`` of the tile.
    halo_m
        Halo width in metres (reads the neighbouring tiles it reaches).

    Returns
    -------
    points, core
        The points in pid order and a bool array marking the tile's own points.
    """
    from slidemap.hotspots.spatialtiles import halo_mask

    folder = Path(folder)
    size = float(_manifest(folder)["tile_size_m"])
    frame = read_partitioned(folder, halo_tile_names(tile, size, halo_m))
    xy = frame[["x_m", "y_m"]].to_numpy(np.float64)
    near = halo_mask(xy, tile, size, halo_m)
    core = (point_tiles(xy, size) == np.asarray(tile)).all(axis=1)
    keep = near | core
    return frame[keep].reset_index(drop=True), core[keep]
