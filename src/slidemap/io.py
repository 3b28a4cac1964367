"""Atomic writers: an output either appears complete under its final name or not at all.

Every stage writes through these helpers (rasters through :mod:`slidemap.raster.write`, which
uses :func:`atomic_path`). Each writes to a temporary file in the target's
folder and renames it into place (``os.replace`` is atomic on POSIX file systems), so a run
killed mid-write never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_path",
    "storage_errno",
    "raise_storage_error",
    "write_json",
    "read_json",
    "write_gpkg",
    "FIXED_GPKG_DATE",
]

log = logging.getLogger(__name__)

#: Modification time GDAL stamps into every GeoPackage slidemap writes (``gpkg_contents``),
#: so that two runs on the same inputs give byte-identical files.
FIXED_GPKG_DATE = "2024-01-01T00:00:00.000Z"


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


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically (numpy types converted).

    Parameters
    ----------
    obj
        A JSON-serialisable object (numpy scalars and arrays allowed).
    path
        Output file.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, default=_json_default, allow_nan=False)
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
