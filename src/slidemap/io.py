"""Atomic writers: an output either appears complete under its final name or not at all.

Every stage writes through these helpers. Each writes to a temporary file in the target's
folder and renames it into place (``os.replace`` is atomic on POSIX file systems), so a run
killed mid-write never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_path",
    "storage_errno",
    "write_json",
    "read_json",
    "write_cog",
    "write_cog_chunked",
    "write_cogs_chunked",
    "write_tiff",
    "write_gpkg",
    "read_decimated",
    "FIXED_GPKG_DATE",
    "CogLayer",
    "COG_OPTIONS",
]

log = logging.getLogger(__name__)

#: Modification time GDAL stamps into every GeoPackage slidemap writes (``gpkg_contents``),
#: so that two runs on the same inputs give byte-identical files.
FIXED_GPKG_DATE = "2024-01-01T00:00:00.000Z"

#: Creation options of every GeoTIFF slidemap writes (GDAL's COG driver).
COG_OPTIONS = {"COMPRESS": "DEFLATE", "BLOCKSIZE": "256", "OVERVIEWS": "AUTO", "NUM_THREADS": "1"}


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
        _raise_storage_error(exc, final.parent, final)
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


def _raise_storage_error(exc: BaseException, folder: Path, target: Path) -> None:
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


def write_cog(
    data: np.ndarray,
    path: str | os.PathLike,
    *,
    crs: Any,
    transform: Any,
    nodata: float | int | None,
    dtype: str | None = None,
    band_names: list[str] | None = None,
    tags: dict[str, str] | None = None,
    colormap: dict[int, tuple[int, int, int, int]] | None = None,
) -> None:
    """Write a 2-D (or band-first 3-D) array as a Cloud-Optimized GeoTIFF, atomically.

    Parameters
    ----------
    data
        Array of shape (rows, cols) or (bands, rows, cols).
    path
        Output file (``.tif``).
    crs
        CRS understood by rasterio (a ``rasterio.crs.CRS``, WKT or "EPSG:xxxx").
    transform
        Affine transform of the grid (cell size in metres of ``crs``).
    nodata
        Nodata value written into the file (NaN allowed for float data).
    dtype
        Output data type; default the array's.
    band_names
        Optional band descriptions.
    tags
        Optional dataset metadata (e.g. ``{"unit": "degree"}``).
    colormap
        Optional colour table of band 1 (code -> RGBA), for integer class rasters.
    """
    import rasterio.shutil
    from rasterio.io import MemoryFile

    arr = np.asarray(data)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    dtype = dtype or arr.dtype.name
    profile = {
        "driver": "GTiff",
        "height": arr.shape[1],
        "width": arr.shape[2],
        "count": arr.shape[0],
        "dtype": dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    with atomic_path(path) as tmp:
        # Build in memory, then let the COG driver lay out tiles and overviews.
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                dst.write(arr.astype(dtype, copy=False))
                if band_names:
                    for i, name in enumerate(band_names, start=1):
                        dst.set_band_description(i, name)
                if tags:
                    dst.update_tags(**tags)
                if colormap:
                    dst.write_colormap(1, colormap)
            with mem.open() as src:
                rasterio.shutil.copy(src, tmp, driver="COG", **COG_OPTIONS)


def write_tiff(
    data: np.ndarray,
    path: str | os.PathLike,
    *,
    crs: Any,
    transform: Any,
    nodata: float | int | None,
    dtype: str | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Write a 2-D array as a plain tiled GeoTIFF (ZSTD level 1, no overviews), atomically.

    For intermediate rasters that only slidemap reads again (map tiles before the mosaic):
    about ten times faster to write than :func:`write_cog`, whose parameters of the same
    names these are (``data`` 2-D; cell size in metres of ``crs``).
    """
    import rasterio

    arr = np.asarray(data)
    dtype = dtype or arr.dtype.name
    block = {"tiled": True, "blockxsize": 256, "blockysize": 256}
    if arr.shape[0] < 256 or arr.shape[1] < 256:
        block = {"tiled": False}
    with atomic_path(path) as tmp:
        with rasterio.open(
            tmp, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1,
            dtype=dtype, crs=crs, transform=transform, nodata=nodata, compress="ZSTD",
            zstd_level=1, **block,
        ) as dst:  # fmt: skip
            dst.write(arr.astype(dtype, copy=False), 1)
            if tags:
                dst.update_tags(**tags)


@dataclass
class CogLayer:
    """One raster for :func:`write_cogs_chunked`: a lazy (dask) or in-memory 2-D array and its file.

    Parameters
    ----------
    data
        2-D array (rows, cols) on the grid given to the writer: a ``dask.array.Array``
        (computed block by block) or a numpy array.
    path
        Output file (``.tif``).
    nodata
        Nodata value written into the file (NaN allowed for float data).
    dtype
        Output data type (e.g. ``"float32"``, ``"int16"``); default the array's.
    tags
        Dataset metadata (e.g. ``{"unit": "degree"}``).
    colormap
        Colour table of band 1 (code -> RGBA), for integer class rasters.
    resampling
        Overview resampling: ``"average"`` (default, continuous data) or ``"nearest"``
        (class codes).
    """

    data: Any
    path: str | os.PathLike
    nodata: float | int | None
    dtype: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    colormap: dict[int, tuple[int, int, int, int]] | None = None
    resampling: str = "average"


class _WindowWriter:
    """``dask.array.store`` target writing each block into an open raster band."""

    def __init__(self, dataset: Any, dtype: str) -> None:
        self.dataset = dataset
        self.dtype = dtype

    def __setitem__(self, key: tuple[slice, slice], value: np.ndarray) -> None:
        from rasterio.windows import Window

        rows, cols = key
        window = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        self.dataset.write(np.asarray(value).astype(self.dtype, copy=False), 1, window=window)


def write_cogs_chunked(
    layers: Sequence[CogLayer],
    *,
    crs: Any,
    transform: Any,
    threads: int = 1,
    compress_level: int = 1,
    compress: str = "deflate",
) -> None:
    """Write several rasters on one grid as COGs, block by block, never holding a whole raster.

    The arrays are computed together (one dask graph, so blocks they share, such as a DEM
    window, are read once) with ``threads`` threads and written window by window into
    uncompressed tiled GeoTIFFs beside the outputs; GDAL's COG driver then adds overviews,
    compresses (DEFLATE, or ZSTD, with the predictor suited to the data type,
    ``NUM_THREADS=threads``)
    and writes each final file, which is renamed into place (:func:`atomic_path`). Peak memory
    is about ``threads`` x (one block of every layer) plus GDAL's block cache, whatever the
    raster size; the temporary files need the uncompressed size of the rasters on disk.

    Parameters
    ----------
    layers
        The rasters (all of shape ``(height, width)`` of the grid).
    crs
        CRS understood by rasterio.
    transform
        Affine transform of the grid.
    threads
        Threads of the dask scheduler and of GDAL's compression.
    compress_level
        Compression level (1 = fastest; float rasters barely compress better at 6).
    compress
        ``"deflate"`` (default, read by every GIS) or ``"zstd"`` (usually faster to
        write and a little smaller; needs GDAL >= 2.3 with ZSTD, as QGIS, GRASS and SAGA
        have, but not every other GIS).
    """
    import dask
    import dask.array as da
    import rasterio
    import rasterio.shutil

    if not layers:
        return
    shape = tuple(layers[0].data.shape)
    for layer in layers:
        if tuple(layer.data.shape) != shape or len(shape) != 2:
            raise ValueError(f"every layer must be 2-D of shape {shape}: {layer.path}")
    tmp_files: list[Path] = []
    datasets = []
    try:
        sources, targets = [], []
        for layer in layers:
            final = Path(layer.path)
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                prefix=f".{final.name}.", suffix=".raw.tif", dir=final.parent
            )
            os.close(fd)
            tmp_files.append(Path(tmp))
            Path(tmp).unlink()  # GDAL creates the file itself
            dtype = layer.dtype or np.dtype(layer.data.dtype).name
            dst = rasterio.open(
                tmp,
                "w",
                driver="GTiff",
                height=shape[0],
                width=shape[1],
                count=1,
                dtype=dtype,
                crs=crs,
                transform=transform,
                nodata=layer.nodata,
                tiled=True,
                blockxsize=256,
                blockysize=256,
                BIGTIFF="IF_SAFER",
            )
            datasets.append(dst)
            if layer.tags:
                dst.update_tags(**{k: str(v) for k, v in layer.tags.items()})
            if layer.colormap:
                dst.write_colormap(1, layer.colormap)
            data = layer.data
            if not isinstance(data, da.Array):
                data = da.from_array(np.asarray(data), chunks=(2048, 2048))
            sources.append(data)
            targets.append(_WindowWriter(dst, dtype))
        threads = max(1, int(threads))
        t0 = time.perf_counter()
        with dask.config.set(scheduler="threads", num_workers=threads):
            da.store(sources, targets, lock=threading.Lock(), compute=True)
        for dst in datasets:
            dst.close()
        datasets.clear()
        log.info(
            "computed %d raster(s) of %s cells in %.1f s",
            len(layers),
            shape,
            time.perf_counter() - t0,
        )
        for layer, tmp in zip(layers, tmp_files, strict=True):
            t0 = time.perf_counter()
            options = {
                **COG_OPTIONS,
                "COMPRESS": compress.upper(),
                "LEVEL": str(compress_level),
                "PREDICTOR": "YES",
                "NUM_THREADS": str(threads),
                "RESAMPLING": layer.resampling.upper(),
            }
            with atomic_path(layer.path) as out:
                rasterio.shutil.copy(tmp, out, driver="COG", **options)
            tmp.unlink()
            log.info("wrote %s in %.1f s", layer.path, time.perf_counter() - t0)
    except Exception as exc:
        # name the file, or the folder when several rasters were being written at once
        first = Path(layers[0].path)
        _raise_storage_error(exc, first.parent, first if len(layers) == 1 else first.parent)
        raise
    finally:
        for dst in datasets:
            dst.close()
        for tmp in tmp_files:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def write_cog_chunked(
    data: Any,
    path: str | os.PathLike,
    *,
    crs: Any,
    transform: Any,
    nodata: float | int | None,
    dtype: str | None = None,
    tags: dict[str, str] | None = None,
    colormap: dict[int, tuple[int, int, int, int]] | None = None,
    resampling: str = "average",
    threads: int = 1,
    compress: str = "deflate",
) -> None:
    """Write one (dask or numpy) 2-D array as a COG block by block; see :func:`write_cogs_chunked`.

    Parameters
    ----------
    data
        2-D array (rows, cols).
    path
        Output file (``.tif``).
    crs
        CRS understood by rasterio.
    transform
        Affine transform of the grid.
    nodata
        Nodata value written into the file.
    dtype
        Output data type; default the array's.
    tags
        Dataset metadata.
    colormap
        Colour table of band 1 (code -> RGBA).
    resampling
        Overview resampling (``"average"`` or ``"nearest"``).
    threads
        Threads for computing and compressing.
    compress
        ``"deflate"`` or ``"zstd"`` (see :func:`write_cogs_chunked`).
    """
    layer = CogLayer(
        data=data,
        path=path,
        nodata=nodata,
        dtype=dtype,
        tags=dict(tags or {}),
        colormap=colormap,
        resampling=resampling,
    )
    write_cogs_chunked([layer], crs=crs, transform=transform, threads=threads, compress=compress)


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


def read_decimated(
    path: str | os.PathLike,
    max_side: int,
    *,
    band: int = 1,
    resampling: Any = None,
) -> tuple[np.ndarray, tuple[float, float, float, float], Any, Any]:
    """Read a raster band reduced so that its longer side has at most ``max_side`` cells.

    Parameters
    ----------
    path
        A raster.
    max_side
        Largest output edge in cells (memory ~ max_side² × 4 bytes, whatever the raster).
    band
        Band to read.
    resampling
        ``rasterio.enums.Resampling`` when reducing (nearest for classes, average for
        continuous maps); None = nearest.

    Returns
    -------
    array : numpy.ndarray
        float32 values, NaN on nodata.
    extent : tuple
        (left, right, bottom, top) in the raster's CRS (for ``imshow``).
    transform
        Affine transform of the reduced array.
    crs
        The raster's CRS.
    """
    import rasterio
    from rasterio.enums import Resampling

    resampling = Resampling.nearest if resampling is None else resampling
    with rasterio.open(path) as src:
        scale = max(1.0, max(src.height, src.width) / max_side)
        shape = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
        data = src.read(band, out_shape=shape, resampling=resampling, masked=True)
        arr = data.astype(np.float32).filled(np.nan)
        if np.issubdtype(src.dtypes[band - 1], np.floating):
            arr[~np.isfinite(arr)] = np.nan
        b = src.bounds
        transform = src.transform * src.transform.scale(src.width / shape[1], src.height / shape[0])
        return arr, (b.left, b.right, b.bottom, b.top), transform, src.crs
