"""The high-pass, the settings and Gi* of a track as tile jobs and merges (issue 14, item 1).

:func:`~slidemap.hotspots.spatialtiles.hotspot_fields_tiled` runs this chain in one process;
here each step is a job of its own, reading the track's merged ``points.parquet`` (only the
rows of its tile and halo, by a Parquet filter) and writing a small file:

1. :func:`plane_job` (per track, merge A): the robust plane of the velocities, the node
   lattice of the local median and the tiles that hold points or nodes (JSON).
2. :func:`pass1_job` (per tile): the local medians of the tile's nodes (from the tile and a
   halo of at least the high-pass radius) and the k-th-neighbour distances of its points
   (``.npz``).
3. :func:`settings_job` (per track, merge C): the node grid, the high-pass of every point
   (elementwise), the noise level, the threshold and the radii
   (:func:`~slidemap.hotspots.pipeline.resolve_settings` itself) and Gi*'s centre and
   spread (JSON).
4. :func:`gistar_job` (per tile with points): ``v_background_mm_yr``, ``v_hp_mm_yr``,
   ``gi_z`` and ``gi_n`` of the tile's points (Parquet, pid order), from the tile and a halo
   of the Gi* band.

:func:`read_fields` joins the tile files back onto the track's points for
:func:`~slidemap.hotspots.pipeline.track_hotspots` (``fields=``). The result equals the
whole-track computation: the same settings, the same high-pass bit for bit, the same band
counts, z to rounding (~1e-15 relative: the band sums add the same terms in another order).

Memory: a tile job holds its tile and halo; the merges hold the coordinates and velocity
of every point (24 bytes, :func:`read_light`), then the high-pass and its background, and
work in blocks of 1 M points (~50–60 bytes per point at their peak: ~1.5 GB at 20 M points
with the interpreter). The global statistics (plane, noise level, Gi*
scale) span the track, so a new batch reruns every tile job of its track here (the trend
fits, rule ``tile_trends``, stay per tile).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slidemap.errors import InputDataError
from slidemap.hotspots.spatialtiles import halo_mask, knn_distances_tile, knn_ranks
from slidemap.insar.partition import parse_tile_name, point_tiles, tile_keys, tile_name

__all__ = [
    "write_json",
    "read_json",
    "MIN_POINTS",
    "MIN_HALO_M",
    "field_halo_m",
    "read_points_box",
    "read_light",
    "tile_point_counts",
    "plane_job",
    "pass1_job",
    "knn_median",
    "settings_job",
    "gistar_job",
    "read_fields",
]

log = logging.getLogger(__name__)

#: Least number of points for a high-pass (and of a node's disc): as highpass_velocity.
MIN_POINTS = 30
#: Least halo (m) of the pass-1 tile jobs: the "auto" radii are medians of k-th-neighbour
#: distances, exact as long as more than half of them lie within the halo.
MIN_HALO_M = 1500.0
_LIGHT = ["x_m", "y_m", "velocity_mm_yr"]
#: Points per block of the merges' elementwise steps (memory only).
_CHUNK = 1 << 20


def write_json(obj: Mapping[str, Any], path: str | Path) -> None:
    """Write a job's result as JSON, atomically, with NaN and inf kept (Python's JSON tokens).

    Unlike :func:`slidemap.io.write_json` (reports: NaN/inf as null) these files feed other
    jobs, so every float must come back as it went (``repr`` round trip).
    """
    from slidemap.io import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=1, allow_nan=True))


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a file of :func:`write_json`."""
    return json.loads(Path(path).read_text())


def field_halo_m(section: Any) -> float:
    """Halo (m) of the pass-1 tile jobs for a ``hotspots`` config section (or its settings).

    The largest of :data:`MIN_HALO_M`, the high-pass radius and the search and kernel radii
    where they are numbers (an "auto" radius is checked by :func:`settings_job`).
    """
    from slidemap.hotspots.pipeline import HotspotParams

    params = section if isinstance(section, HotspotParams) else HotspotParams.from_config(section)
    radii = [params.highpass_radius_m, params.search_radius_m, params.kernel_radius_m]
    return float(max([MIN_HALO_M] + [float(r) for r in radii if isinstance(r, int | float)]))


def read_points_box(
    path: str | Path,
    tile: tuple[int, int],
    tile_size_m: float,
    halo_m: float,
    columns: Sequence[str] = ("pid", *_LIGHT),
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read the points of a tile and its halo from a track's ``points.parquet``.

    Parameters
    ----------
    path
        The track's points (GeoParquet with ``x_m``, ``y_m`` in metres).
    tile
        ``(i, j)`` of the tile.
    tile_size_m
        Tile edge (m).
    halo_m
        Halo (m): every point within it of the tile's box is read
        (:func:`~slidemap.hotspots.spatialtiles.halo_mask`).
    columns
        Columns to read (must hold ``x_m`` and ``y_m``).

    Returns
    -------
    points, own
        The rows in file order (only those of the tile and halo; the file is scanned in
        record batches, so memory follows the tile, not the track) and a bool array: True
        for the tile's own points.
    """
    import pyarrow.dataset as ds

    s, pad = float(tile_size_m), float(halo_m) * 1.01 + 1.0  # the exact box is halo_mask's
    x0, y0 = tile[0] * s, tile[1] * s
    box = (
        (ds.field("x_m") >= x0 - pad)
        & (ds.field("x_m") < x0 + s + pad)
        & (ds.field("y_m") >= y0 - pad)
        & (ds.field("y_m") < y0 + s + pad)
    )
    table = ds.dataset(str(path), format="parquet").to_table(columns=list(columns), filter=box)
    pts = table.to_pandas()
    xy = pts[["x_m", "y_m"]].to_numpy(np.float64)
    own = (point_tiles(xy, s) == np.asarray(tile)).all(axis=1)
    keep = halo_mask(xy, tile, s, halo_m) | own
    return pts[keep].reset_index(drop=True), own[keep]


def read_light(points_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the coordinates (n × 2, m) and LOS velocities (n, mm/yr) of a track's points.

    Read a row group at a time into NumPy arrays (no DataFrame, no whole Arrow table): the
    merges' memory is these 24 bytes per point plus what each step adds.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = pq.ParquetFile(points_path)
    n = source.metadata.num_rows
    xy, v = np.empty((n, 2)), np.empty(n)
    start = 0
    for group in range(source.metadata.num_row_groups):  # one row group at a time
        table = source.read_row_group(group, columns=_LIGHT)
        stop = start + table.num_rows
        xy[start:stop, 0] = table.column("x_m").to_numpy()
        xy[start:stop, 1] = table.column("y_m").to_numpy()
        v[start:stop] = table.column("velocity_mm_yr").to_numpy()
        start = stop
        del table
    pa.default_memory_pool().release_unused()
    return xy, v


def tile_point_counts(xy: np.ndarray, tile_size_m: float, *, chunk: int = _CHUNK) -> dict:
    """Points per tile (tile name -> count) of points (n × 2, m), ``chunk`` points at a time."""
    counts: dict[tuple[int, int], int] = {}
    for start in range(0, len(xy), max(int(chunk), 1)):
        keys, tile_of = tile_keys(point_tiles(xy[start : start + chunk], tile_size_m))
        for key, c in zip(*np.unique(keys, return_counts=True), strict=True):
            tile = tile_of(int(key))
            counts[tile] = counts.get(tile, 0) + int(c)
    return {tile_name(key): counts[key] for key in sorted(counts)}


def _nodes(plane_info: Mapping[str, Any]) -> np.ndarray:
    """Node coordinates (m × 2, metres) of the lattice, node ``i·len(gy) + j`` at (gx[i], gy[j])."""
    gx, gy = np.asarray(plane_info["gx"]), np.asarray(plane_info["gy"])
    return np.column_stack([np.repeat(gx, gy.size), np.tile(gy, gx.size)])


def plane_job(
    points_path: str | Path, params: Any, *, tile_size_m: float, halo_m: float
) -> dict[str, Any]:
    """Merge A: the robust plane, the node lattice and the tile jobs of a track.

    Parameters
    ----------
    points_path
        The track's ``points.parquet``.
    params
        Hot-spot settings (``HotspotParams``; ``highpass_radius_m``).
    tile_size_m, halo_m
        Tile edge and pass-1 halo (m; :func:`field_halo_m`).

    Returns
    -------
    dict
        ``n_points``, ``tile_size_m``, ``halo_m``, ``highpass`` (bool), ``radius_m``,
        ``plane`` (the six numbers of
        :func:`~slidemap.hotspots.adaptive.plane_coefficients`), ``spacing_m``, ``gx``,
        ``gy`` (node axes, m), ``tiles`` (pass-1 jobs: tiles with points or nodes) and
        ``point_tiles`` (tile name -> number of points; the Gi* jobs). JSON-ready; floats
        survive a JSON round trip exactly.
    """
    from slidemap.hotspots.adaptive import _node_axes, plane_coefficients

    xy, v = read_light(points_path)
    radius = float(params.highpass_radius_m or 0.0)
    if radius and halo_m < radius:
        raise ValueError(f"halo {halo_m} m is below the high-pass radius {radius} m")
    info: dict[str, Any] = {
        "n_points": int(v.size),
        "tile_size_m": float(tile_size_m),
        "halo_m": float(halo_m),
        "radius_m": radius,
        "highpass": bool(radius) and v.size >= MIN_POINTS,
        "point_tiles": tile_point_counts(xy, tile_size_m),
    }
    jobs = set(info["point_tiles"])
    if info["highpass"]:
        spacing = radius / 2.0
        gx = _node_axes(xy[:, 0].min(), xy[:, 0].max(), spacing)
        gy = _node_axes(xy[:, 1].min(), xy[:, 1].max(), spacing)
        info.update(
            plane=list(plane_coefficients(xy, v)),
            spacing_m=spacing,
            gx=gx.tolist(),
            gy=gy.tolist(),
        )
        node_keys = np.unique(point_tiles(_nodes(info), tile_size_m), axis=0)
        jobs |= {tile_name((int(i), int(j))) for i, j in node_keys}
    info["tiles"] = sorted(jobs)
    return info


def pass1_job(
    tile: str,
    points_path: str | Path,
    plane_info: Mapping[str, Any],
    params: Any,
    out_path: str | Path,
) -> dict[str, Any]:
    """Pass 1 of a tile: the medians of its nodes and the k-th-neighbour distances of its points.

    Parameters
    ----------
    tile
        Tile name ``x{i}_y{j}``.
    points_path
        The track's ``points.parquet``.
    plane_info
        :func:`plane_job`'s result.
    params
        Hot-spot settings (``search_neighbours``, ``kernel_neighbours``).
    out_path
        Output ``.npz``: ``node_index`` (int64, the tile's nodes), ``node_median`` (mm/yr;
        NaN below 30 points in the disc) and ``knn_<k>`` per rank of
        :func:`~slidemap.hotspots.spatialtiles.knn_ranks` (m, the tile's points in file
        order; +inf where the k-th neighbour lies beyond the halo).

    Returns
    -------
    dict
        Points, halo points, nodes and seconds, for the job's log.
    """
    from slidemap.hotspots.adaptive import evaluate_plane, node_medians
    from slidemap.io import atomic_path

    t0 = time.perf_counter()
    key = parse_tile_name(tile)
    size, halo = float(plane_info["tile_size_m"]), float(plane_info["halo_m"])
    pts, own = read_points_box(points_path, key, size, halo, _LIGHT)
    xy = pts[["x_m", "y_m"]].to_numpy(np.float64)
    out: dict[str, np.ndarray] = {
        "node_index": np.zeros(0, np.int64),
        "node_median": np.zeros(0),
    }
    if plane_info["highpass"]:
        nodes = _nodes(plane_info)
        mine = np.flatnonzero((point_tiles(nodes, size) == np.asarray(key)).all(axis=1))
        resid = pts["velocity_mm_yr"].to_numpy(np.float64) - evaluate_plane(
            xy, tuple(plane_info["plane"])
        )
        out["node_index"] = mine.astype(np.int64)
        out["node_median"] = node_medians(
            xy, resid, nodes[mine], float(plane_info["radius_m"]), MIN_POINTS
        )
    for k in knn_ranks(params):
        out[f"knn_{k}"] = (
            knn_distances_tile(xy, own, k, tile=key, tile_size_m=size, halo_m=halo, beyond="inf")
            if own.any()
            else np.zeros(0)
        )
    with atomic_path(out_path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **out)
    return {
        "points": int(own.sum()),
        "halo_points": int((~own).sum()),
        "nodes": int(out["node_index"].size),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def knn_median(distances: np.ndarray, n_points: int, k: int, halo_m: float) -> float:
    """Median k-th-neighbour distance (m) from the tile jobs' distances (+inf beyond a halo).

    A distance stored as +inf is at least ``halo_m`` in truth, so the median is exact when
    both middle values lie below ``halo_m``; otherwise the halo is too small (checked).

    Parameters
    ----------
    distances
        Every point's k-th-neighbour distance (m), in any order.
    n_points
        Points of the track.
    k
        Neighbour rank.
    halo_m
        The pass-1 halo (m).

    Returns
    -------
    float
        The median (m); NaN when the track has at most k points.

    Raises
    ------
    ValueError
        When fewer than half the distances lie within the halo.
    """
    d = np.asarray(distances, dtype=np.float64)
    if d.size != n_points:
        raise ValueError(f"{d.size} k-th-neighbour distances for {n_points} points")
    if n_points <= k:
        return math.nan
    if int((d < halo_m).sum()) < n_points // 2 + 1:
        raise ValueError(
            f"the {k}-th neighbour of most points is farther than the {halo_m:g} m halo of the "
            "hot-spot tile jobs (the 'auto' radii and the point density are medians of such "
            "distances): the points are too sparse for it."
        )
    return float(np.median(d))


def settings_job(
    points_path: str | Path,
    plane_info: Mapping[str, Any],
    pass1_files: Sequence[str | Path],
    params: Any,
) -> dict[str, Any]:
    """Merge C: the node grid, the high-pass, the settings and Gi*'s scale of a track.

    Parameters
    ----------
    points_path
        The track's ``points.parquet``.
    plane_info
        :func:`plane_job`'s result.
    pass1_files
        :func:`pass1_job` outputs of every tile of ``plane_info["tiles"]``.
    params
        Hot-spot settings.

    Returns
    -------
    dict
        ``settings`` (:func:`~slidemap.hotspots.pipeline.resolve_settings`), ``grid`` (the
        filled node grid, len(gx) × len(gy) lists, mm/yr; None without a high-pass or when
        no node has 30 points), ``centre``, ``spread`` (Gi*'s, mm/yr) and ``n_points``.

    Raises
    ------
    InputDataError
        When the resolved Gi* band exceeds the halo the tile files were cut with, or the
        pass-1 files do not cover every point.
    """
    from slidemap.hotspots.adaptive import _fill_nearest, evaluate_plane, interpolate_nodes
    from slidemap.hotspots.gistar import gistar_scale
    from slidemap.hotspots.pipeline import resolve_settings

    xy, v = read_light(points_path)
    n, halo = v.size, float(plane_info["halo_m"])
    medians = {}
    for k in knn_ranks(params):  # one rank at a time: 8 bytes per point
        parts = []
        for f in pass1_files:
            with np.load(f) as part:
                parts.append(part[f"knn_{k}"])
        d = np.concatenate(parts) if parts else np.zeros(0)
        del parts
        try:
            medians[k] = knn_median(d, n, k, halo)
        except ValueError as err:
            raise InputDataError(
                points_path,
                str(err),
                "set hotspots.search_radius_m or hotspots.kernel_radius_m in metres, above "
                "the spacing of the points (the halo grows to them).",
            ) from err
        del d
    grid = None
    background = np.zeros(n)
    if plane_info["highpass"]:
        gx, gy = np.asarray(plane_info["gx"]), np.asarray(plane_info["gy"])
        med = np.full(gx.size * gy.size, np.nan)
        for f in pass1_files:
            with np.load(f) as part:
                med[part["node_index"]] = part["node_median"]
        grid2 = med.reshape(gx.size, gy.size)
        if np.isfinite(grid2).any():
            grid = _fill_nearest(grid2)
        plane, spacing = tuple(plane_info["plane"]), float(plane_info["spacing_m"])
        for start in range(0, n, _CHUNK):  # elementwise: the same bits as in one piece
            part = xy[start : start + _CHUNK]
            background[start : start + _CHUNK] = evaluate_plane(part, plane)
            if grid is not None:
                background[start : start + _CHUNK] += interpolate_nodes(part, grid, gx, gy, spacing)
    # else: no high-pass, or too few points to tell a background from the signal
    del xy
    v -= background  # the high-passed velocities, in place
    highpassed = (v, background)

    settings, columns = resolve_settings(
        pd.DataFrame(index=pd.RangeIndex(n)),
        params,
        highpassed=highpassed,
        knn=lambda k: medians.get(k, math.nan),
    )
    del highpassed, v, background
    band = float(settings["search_radius_m"])
    if not band <= halo:
        raise InputDataError(
            points_path,
            f"the Gi* band {band:g} m is wider than the {halo:g} m halo of the hot-spot tile jobs.",
            "set hotspots.search_radius_m in metres (the halo grows to it).",
            column="search_radius_m",
        )
    centre, spread = gistar_scale(columns["v_hp_mm_yr"].to_numpy(np.float64), params.gi_scale)
    return {
        "settings": settings,
        "grid": None if grid is None else grid.tolist(),
        "centre": float(centre),
        "spread": float(spread),
        "n_points": int(n),
    }


def gistar_job(
    tile: str,
    points_path: str | Path,
    plane_info: Mapping[str, Any],
    settings_info: Mapping[str, Any],
    out_path: str | Path,
) -> dict[str, Any]:
    """Pass 2 of a tile: the high-pass and Gi* of its points.

    Parameters
    ----------
    tile
        Tile name ``x{i}_y{j}``.
    points_path
        The track's ``points.parquet``.
    plane_info, settings_info
        :func:`plane_job`'s and :func:`settings_job`'s results.
    out_path
        Output Parquet: ``pid``, ``v_background_mm_yr``, ``v_hp_mm_yr`` (mm/yr), ``gi_z``
        and ``gi_n`` (int64, points in the band, the point itself included) of the tile's
        points, in file (pid) order.

    Returns
    -------
    dict
        Points, halo points and seconds, for the job's log.
    """
    from slidemap.hotspots.adaptive import evaluate_plane, interpolate_nodes
    from slidemap.hotspots.spatialtiles import gistar_tile
    from slidemap.io import atomic_path

    t0 = time.perf_counter()
    key = parse_tile_name(tile)
    band = float(settings_info["settings"]["search_radius_m"])
    pts, own = read_points_box(points_path, key, plane_info["tile_size_m"], band)
    xy = pts[["x_m", "y_m"]].to_numpy(np.float64)
    v = pts["velocity_mm_yr"].to_numpy(np.float64)
    if plane_info["highpass"]:
        if settings_info["grid"] is None:
            local = np.zeros(v.size)
        else:
            local = interpolate_nodes(
                xy,
                np.asarray(settings_info["grid"], dtype=np.float64),
                np.asarray(plane_info["gx"]),
                np.asarray(plane_info["gy"]),
                float(plane_info["spacing_m"]),
            )
        background = evaluate_plane(xy, tuple(plane_info["plane"])) + local
    else:
        background = np.zeros(v.size)
    v_hp = v - background if plane_info["highpass"] else v.copy()
    z, card = gistar_tile(
        v_hp,
        xy,
        own,
        band,
        centre=settings_info["centre"],
        spread=settings_info["spread"],
        n_total=int(settings_info["n_points"]),
    )
    out = pd.DataFrame(
        {
            "pid": pts["pid"].to_numpy()[own],
            "v_background_mm_yr": background[own],
            "v_hp_mm_yr": v_hp[own],
            "gi_z": z,
            "gi_n": card,
        }
    )
    with atomic_path(out_path) as tmp:
        out.to_parquet(tmp, index=False)
    return {
        "points": int(own.sum()),
        "halo_points": int((~own).sum()),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def read_fields(
    points: pd.DataFrame, settings_path: str | Path, files: Sequence[str | Path], tile_size_m: float
) -> tuple[dict, pd.DataFrame]:
    """Read the tile jobs' settings and per-point fields, in the points' order.

    Parameters
    ----------
    points
        The track's points (``pid``, ``x_m``, ``y_m``).
    settings_path
        :func:`settings_job`'s JSON.
    files
        :func:`gistar_job` outputs (``x{i}_y{j}.gistar.parquet``) of every tile with points.
    tile_size_m
        Tile edge (m).

    Returns
    -------
    settings, columns
        What :func:`~slidemap.hotspots.pipeline.analyse_points` takes as ``fields``.
    """
    from slidemap.hotspots.tilejobs import join_tile_rows

    settings = read_json(settings_path)["settings"]
    columns = join_tile_rows(
        points, files, tile_size_m, what="tile Gi*", rule="hotspot_tile_gistar"
    )
    columns.index = points.index
    return settings, columns
