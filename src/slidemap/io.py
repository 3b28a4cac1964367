"""Atomic writers: an output either appears complete under its final name or not at all.

Every stage writes through these helpers (rasters through :mod:`slidemap.raster.write`, which
uses :func:`atomic_path`). Each writes to a temporary file in the target's
folder and renames it into place (``os.replace`` is atomic on POSIX file systems), so a run
killed mid-write never leaves a truncated file that looks complete. A temporary file is
removed on any error; one left by a job killed outright (out of memory, a scheduler's hard
limit) is removed by the next attempt at the same output
(:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_path",
    "remove_stale_temporaries",
    "storage_errno",
    "raise_storage_error",
    "write_json",
    "read_json",
    "write_gpkg",
    "write_geoparquet",
    "point_geoparquet_table",
    "with_bbox",
    "FIXED_GPKG_DATE",
]

log = logging.getLogger(__name__)

#: Modification time GDAL stamps into every GeoPackage slidemap writes (``gpkg_contents``),
#: so that two runs on the same inputs give byte-identical files.
FIXED_GPKG_DATE = "2024-01-01T00:00:00.000Z"


#: The random part ``tempfile.mkstemp`` puts in a name (8 of ``[a-z0-9_]``).
_MKSTEMP_PART = r"[a-z0-9_]{8}"
#: Side files GDAL writes beside a raster it is building (COG overviews, statistics).
_SIDE_FILES = r"(\.ovr\.tmp|\.ovr|\.aux\.xml)?"


def remove_stale_temporaries(path: str | os.PathLike, *, staged: bool = False) -> list[Path]:
    """Delete the temporary files an earlier, killed attempt at writing ``path`` left.

    :func:`atomic_path` writes ``<folder>/.<name>.<8 random characters><suffix>`` (and the
    raster writer stages ``.<name>.<8 random characters>.raw.tif``) and removes it on any
    error, but a process killed outright (SIGKILL: the kernel's out-of-memory killer, a
    scheduler's hard limit) runs no clean-up; at national scale each such file can be
    gigabytes. Snakemake lets one job at a time write an output, so when an attempt at
    ``path`` starts, such files are dead leftovers.

    Parameters
    ----------
    path
        The final output path.
    staged
        Also delete the raster writer's staged ``.raw.tif`` files of ``path`` (only the
        writer itself asks for this, before it stages its own).

    Returns
    -------
    list of pathlib.Path
        The files deleted (each is logged with its size in MB).
    """
    final = Path(path)
    if not final.parent.is_dir():
        return []
    suffix = re.escape(final.suffix) + ("|\\.raw\\.tif" if staged else "")
    pattern = re.compile(rf"\.{re.escape(final.name)}\.{_MKSTEMP_PART}(?:{suffix}){_SIDE_FILES}")
    removed = []
    for candidate in final.parent.glob(f".{glob.escape(final.name)}.*"):
        if pattern.fullmatch(candidate.name) and candidate.is_file():
            size_mb = candidate.stat().st_size / 2**20
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
                removed.append(candidate)
                log.warning(
                    "removed %s (%.0f MB), left by an earlier attempt at %s that was killed",
                    candidate,
                    size_mb,
                    final,
                )
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    Parameters
    ----------
    path
        The final output path. Its folder is created if needed.

    Yields
    ------
    pathlib.Path
        A temporary file name with the same suffix in the same folder. Write to it.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=final.suffix, dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # writers (GDAL, pyarrow) create the file themselves
    try:
        yield tmp_path
        if not tmp_path.exists():
            raise RuntimeError(f"nothing was written to the temporary file of {final}")
        os.replace(tmp_path, final)
    except Exception as exc:
        # GDAL and pyarrow often say only "Write failed": name the fault and the file
        raise_storage_error(exc, final.parent, final)
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


#: Free space (bytes) below which a failed write is taken as a full disk.
FULL_DISK_BYTES = 1 << 20


def storage_errno(folder: str | os.PathLike, exc: BaseException) -> int | None:
    """Tell whether a failed write in ``folder`` comes from its storage, and which errno.

    Parameters
    ----------
    folder
        The folder written to.
    exc
        The exception the writer raised.

    Returns
    -------
    int or None
        ``errno.ENOSPC`` (less than :data:`FULL_DISK_BYTES` bytes free while the partial file
        still exists), ``errno.EROFS`` (read-only mount), the errno of an ``OSError`` in the
        exception's chain that is a storage error (ENOSPC, EDQUOT, EROFS, EACCES, EPERM), or
        None.
    """
    import errno
    import shutil

    from slidemap.logs import STORAGE_ERRNOS

    e: BaseException | None = exc
    while e is not None:
        if isinstance(e, OSError) and e.errno is not None:
            return e.errno if e.errno in STORAGE_ERRNOS else None
        e = e.__cause__ or e.__context__
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return errno.EROFS
        if shutil.disk_usage(folder).free < FULL_DISK_BYTES:
            return errno.ENOSPC
    except OSError:
        return None
    return None


def raise_storage_error(exc: BaseException, folder: Path, target: Path) -> None:
    """Raise ``OSError(errno, …, target)`` from ``exc`` if a write in ``folder`` hit storage."""
    code = storage_errno(folder, exc)
    if code is not None:
        raise OSError(code, os.strerror(code), str(target)) from exc


def _json_default(obj: Any) -> Any:
    """Convert numpy scalars and arrays (and paths) for :func:`json.dump`."""
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def _finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float (numpy ones too) replaced by None."""
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "f":
        return _finite(obj.tolist())
    return obj


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically (numpy types converted).

    Strict JSON: a NaN or infinite float (a figure that could not be computed, e.g. a point
    density of coincident points) is written as ``null``.

    Parameters
    ----------
    obj
        A JSON-serialisable object (numpy scalars and arrays allowed).
    path
        Output file.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(
                _finite(obj), fh, indent=2, sort_keys=True, default=_json_default, allow_nan=False
            )
            fh.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file.

    Parameters
    ----------
    path
        Input file.

    Returns
    -------
    Any
        The decoded object.
    """
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@contextlib.contextmanager
def _fixed_gpkg_date() -> Iterator[None]:
    """Make GDAL stamp :data:`FIXED_GPKG_DATE` instead of the wall-clock time into GeoPackages."""
    import pyogrio

    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_GPKG_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def write_gpkg(frame: Any, path: str | os.PathLike, layer: str) -> None:
    """Write a GeoDataFrame as the one layer of a new GeoPackage, atomically and reproducibly.

    Empty tables are written too (as ``MultiPolygon`` layers, GDAL cannot infer a type from
    no rows). The ``gpkg_contents`` timestamp is fixed (:data:`FIXED_GPKG_DATE`), so the
    bytes depend on the data only.

    Parameters
    ----------
    frame
        A ``geopandas.GeoDataFrame`` with its CRS set (coordinates in CRS units, metres for
        the working CRS).
    path
        Output ``.gpkg`` file; its folder is created.
    layer
        Layer name.
    """
    import pyogrio

    with _fixed_gpkg_date(), atomic_path(path) as tmp:
        pyogrio.write_dataframe(
            frame,
            tmp,
            layer=layer,
            driver="GPKG",
            geometry_type="MultiPolygon" if len(frame) == 0 else None,
        )


def write_gpkg_chunks(frames: Iterable[Any], path: str | os.PathLike, layer: str) -> None:
    """Write GeoDataFrames one after another as the one layer of a new GeoPackage.

    :func:`write_gpkg` of their concatenation (the same rows, read back), holding one frame
    at a time: the first creates the layer, the others are appended. Atomic (nothing at
    ``path`` unless every frame was written) and reproducible as :func:`write_gpkg`.

    Parameters
    ----------
    frames
        GeoDataFrames with the same columns and CRS (coordinates in CRS units); at least one.
    path
        Output ``.gpkg`` file; its folder is created.
    layer
        Layer name.

    Raises
    ------
    ValueError
        If ``frames`` yields nothing.
    """
    import pyogrio

    with _fixed_gpkg_date(), atomic_path(path) as tmp:
        written, empty = False, None
        for frame in frames:
            if len(frame):
                pyogrio.write_dataframe(frame, tmp, layer=layer, driver="GPKG", append=written)
                written = True
            elif empty is None:
                empty = frame
        if not written:
            if empty is None:
                raise ValueError(f"{path}: no table to write")
            write_gpkg(empty, tmp, layer)


def _drop_member_ids(projjson: dict) -> None:
    """Drop the ids of datum-ensemble members (as GeoPandas and GDAL write GeoParquet CRSs)."""
    for key, value in projjson.items():
        if isinstance(value, dict):
            _drop_member_ids(value)
        elif key == "members" and isinstance(value, list):
            for member in value:
                member.pop("id", None)


def _plain_points(geoms: np.ndarray) -> bool:
    """Tell whether every geometry is a non-empty 2-D Point (not None)."""
    import shapely

    return bool(
        (shapely.get_type_id(geoms) == 0).all()
        and not shapely.is_empty(geoms).any()
        and (shapely.get_coordinate_dimension(geoms) == 2).all()
    )


def _point_wkb(frame: Any, xy_columns: tuple[str, str] | None) -> tuple[Any, np.ndarray] | None:
    """Encode a GeoDataFrame's 2-D points as ISO WKB (a ``pyarrow`` binary array) + bbox.

    Built from the coordinates with numpy (21 bytes per point: byte order, type 1, x, y)
    instead of one shapely call per geometry; the coordinates come from ``xy_columns`` when
    given (checked against the geometries on a sample of 1000 rows), else from the
    geometries. Returns None when any geometry is missing, empty, not a Point or 3-D, or the
    columns are not the geometries' coordinates (the caller then lets GeoPandas encode), else
    the array and the coordinates (n × 2, CRS units).
    """
    import pyarrow as pa
    import shapely

    geoms = np.asarray(frame.geometry.array)
    n = geoms.size
    if n == 0:
        return None
    if xy_columns is None:
        if not _plain_points(geoms):
            return None
        xy = shapely.get_coordinates(geoms)
    else:
        xy = np.column_stack([frame[c].to_numpy(dtype=np.float64) for c in xy_columns])
        sample = np.unique(np.linspace(0, n - 1, min(n, 1000)).astype(np.int64))
        if not _plain_points(geoms[sample]) or not np.array_equal(
            shapely.get_coordinates(geoms[sample]), xy[sample]
        ):
            return None
    record = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])
    wkb = np.empty(n, dtype=record)  # packed: 21 bytes per point
    wkb["order"], wkb["kind"], wkb["x"], wkb["y"] = 1, 1, xy[:, 0], xy[:, 1]
    offsets = np.arange(0, 21 * (n + 1), 21, dtype=np.int32 if 21 * n < 2**31 else np.int64)
    kind = pa.binary() if offsets.dtype == np.int32 else pa.large_binary()
    array = pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets), pa.py_buffer(wkb)])
    return array, xy


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("slidemap")
    except PackageNotFoundError:  # a checkout used through PYTHONPATH
        return "unknown"


def write_geoparquet(
    frame: Any,
    path: str | os.PathLike,
    *,
    compression: str = "snappy",
    xy_columns: tuple[str, str] | None = None,
    row_group_size: int | None = None,
) -> None:
    """Write a GeoDataFrame as GeoParquet 1.1 (WKB geometry), atomically.

    Point tables (the InSAR tracks: millions of rows) are encoded without a shapely call
    per point: the WKB column is built from the coordinates with numpy and the ``geo``
    metadata (CRS as PROJJSON, ``geometry_types``, ``bbox`` in CRS units) is written as
    GeoPandas writes it, so :func:`geopandas.read_parquet` and GDAL read the same table.
    Other geometries go through :meth:`geopandas.GeoDataFrame.to_parquet`.

    Parameters
    ----------
    frame
        A ``geopandas.GeoDataFrame`` (one geometry column); its index is not written.
    path
        Output ``.parquet`` file.
    compression
        Parquet codec (``"snappy"``, ``"zstd"`` …).
    xy_columns
        Columns holding each point's x and y (CRS units), e.g. ``("x_m", "y_m")`` of an
        ingested track: the WKB is then built from them, which skips reading a million
        shapely points (~0.5 s per million); they must be the geometries' coordinates
        (a sample of 1000 rows is checked, else GeoPandas encodes).
    row_group_size
        Rows per Parquet row group (None: pyarrow's default, up to 1 Mi rows). A reader
        decompresses a row group's columns whole, so files read a few rows at a time
        (a track's tile files, merged by :func:`~slidemap.insar.tilemerge.write_merged_points`)
        are written in small groups.
    """
    import pyarrow.parquet as pq

    encoded = point_geoparquet_table(frame, xy_columns)
    groups = {} if row_group_size is None else {"row_group_size": int(row_group_size)}
    with atomic_path(path) as tmp:
        if encoded is None:
            frame.to_parquet(tmp, index=False, compression=compression, **groups)
        else:
            pq.write_table(encoded[0], tmp, compression=compression, **groups)


def with_bbox(table: Any, xy: np.ndarray) -> Any:
    """Set the GeoParquet ``bbox`` of a table's rows (a slice of a table) from their x, y.

    Parameters
    ----------
    table
        A table of :func:`point_geoparquet_table` or a slice of it.
    xy
        The coordinates (rows × 2, CRS units) of those rows.

    Returns
    -------
    pyarrow.Table
        The same rows with the ``geo`` metadata's ``bbox`` of these rows.
    """
    geo = json.loads(table.schema.metadata[b"geo"])
    column = geo["columns"][geo["primary_column"]]
    column.pop("bbox", None)
    if len(xy):
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        column["bbox"] = [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]
    return table.replace_schema_metadata(
        {**table.schema.metadata, b"geo": json.dumps(geo).encode()}
    )


def point_geoparquet_table(
    frame: Any, xy_columns: tuple[str, str] | None = None
) -> tuple[Any, np.ndarray] | None:
    """Build the GeoParquet table (WKB, ``geo`` metadata) of a point GeoDataFrame with numpy.

    Parameters
    ----------
    frame
        A ``geopandas.GeoDataFrame`` of 2-D points (one geometry column); its index is
        dropped.
    xy_columns
        See :func:`write_geoparquet`.

    Returns
    -------
    (pyarrow.Table, numpy.ndarray) or None
        The table and the points' coordinates (n × 2, CRS units); None when the frame is
        not made of plain 2-D points (then GeoPandas must encode it).
    """
    import pandas as pd
    import pyarrow as pa

    name = frame.geometry.name
    if list(frame.columns[frame.dtypes == "geometry"]) != [name]:
        return None
    encoded = _point_wkb(frame, xy_columns)
    if encoded is None:
        return None
    wkb, xy = encoded
    plain = pd.DataFrame(frame, copy=False)
    plain[name] = pd.arrays.ArrowExtensionArray(wkb)
    table = pa.Table.from_pandas(plain, preserve_index=False)
    crs = frame.crs
    column: dict[str, Any] = {"encoding": "WKB", "crs": None, "geometry_types": ["Point"]}
    field_meta = {b"ARROW:extension:name": b"geoarrow.wkb", b"ARROW:extension:metadata": b"{}"}
    if crs is not None:
        column["crs"] = crs.to_json_dict()
        _drop_member_ids(column["crs"])
        field_meta[b"ARROW:extension:metadata"] = json.dumps({"crs": crs.to_json_dict()}).encode()
    geo = {
        "primary_column": name,
        "columns": {name: column},
        "version": "1.1.0",
        "creator": {"library": "slidemap", "version": _version()},
    }
    i = table.schema.get_field_index(name)
    table = table.set_column(i, pa.field(name, wkb.type, nullable=True, metadata=field_meta), wkb)
    table = table.replace_schema_metadata(
        {**table.schema.metadata, b"geo": json.dumps(geo).encode()}
    )
    return with_bbox(table, xy), xy
