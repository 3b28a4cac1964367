"""The one raster writer: Cloud-Optimized GeoTIFFs (and plain intermediate GeoTIFFs), atomically.

:func:`write_cogs` writes one or more rasters on one grid; :func:`write_cog` is its one-raster
form. The data of a raster may be

- a numpy array, (rows, cols) or (bands, rows, cols);
- a dask array or an ``xarray.DataArray`` (rows, cols): computed block by block, the rasters
  of one call together (one dask graph, so blocks they share, such as a DEM window, are read
  once), with ``threads`` threads;
- an iterable of ``(rasterio.windows.Window, array)`` blocks (e.g. a map predicted block by
  block); cells no block covers hold the nodata value.

Each raster is written window by window into a tiled GeoTIFF beside the output (raw; dask
layers ZSTD-compressed when the disk is short, :data:`STAGING_OPTIONS`), then GDAL's COG driver
adds overviews, compresses and writes the final file, which is renamed into place
(:func:`slidemap.io.atomic_path`): a killed run leaves no file that looks complete, and the
bytes depend on the values and options only (reproducible). Peak memory is about ``threads``
x one block of every raster plus GDAL's cache, whatever the raster size; the staging files of
one call are all on disk before the first COG copy (compressed: ~0.7 of the raw size on
rough terrain, less on smooth).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slidemap.io import atomic_path, raise_storage_error, remove_stale_temporaries
from slidemap.raster.grid import Grid

__all__ = ["COG_OPTIONS", "STAGING_OPTIONS", "Layer", "write_cogs", "write_cog", "write_vrt"]

log = logging.getLogger(__name__)

#: Creation options of every GeoTIFF slidemap writes (GDAL's COG driver). ``BIGTIFF``: GDAL's
#: default (IF_NEEDED) never makes a compressed file a BigTIFF, so a COG whose compressed bytes
#: pass 4 GiB fails at the end of its copy ("exceeds 32 bit range allowed for Classic TIFF": a
#: 32768² curvature of rough relief did). IF_SAFER makes it a BigTIFF whenever the raster is
#: over ~2 GB uncompressed (smaller rasters keep the classic header and their bytes).
COG_OPTIONS = {
    "COMPRESS": "DEFLATE",
    "BLOCKSIZE": "256",
    "OVERVIEWS": "AUTO",
    "NUM_THREADS": "1",
    "BIGTIFF": "IF_SAFER",
}

#: Creation options of the staged copy of a dask layer when the disk is short
#: (:func:`_squeeze_scratch`; read once more by the COG copy, then deleted): ZSTD level 1 with
#: the data type's predictor. A terrain job stages all its layers before the COG copies;
#: uncompressed that is 4.3 GB per float32 layer at 32768² cells. Measured on the national
#: study's relief (random-walk DEM, 10 terrain layers, 8192²): the scratch falls to 0.71 of
#: the raw size, the job takes ~30 % longer (benchmarks/national.md).
STAGING_OPTIONS = {"compress": "ZSTD", "zstd_level": 1, "BIGTIFF": "YES"}


@dataclass
class Layer:
    """One raster for :func:`write_cogs`.

    Parameters
    ----------
    data
        numpy array (rows, cols) or (bands, rows, cols); dask array or ``xarray.DataArray``
        (rows, cols); or an iterable of ``(Window, array)`` blocks.
    path
        Output file (``.tif``).
    nodata
        Nodata value written into the file (NaN allowed for float data).
    dtype
        Output data type (e.g. ``"float32"``, ``"uint8"``); default the array's (required for
        blocks).
    tags
        Dataset metadata (e.g. ``{"unit": "degree"}``).
    colormap
        Colour table of band 1 (code -> RGBA), for integer class rasters.
    resampling
        Overview resampling (``"average"`` for continuous data, ``"nearest"`` for class
        codes); None = GDAL's default.
    band_names
        Band descriptions.
    count
        Number of bands of a block iterable (arrays give theirs).
    """

    data: Any
    path: str | os.PathLike
    nodata: float | int | None
    dtype: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    colormap: dict[int, tuple[int, int, int, int]] | None = None
    resampling: str | None = None
    band_names: Sequence[str] | None = None
    count: int = 1


def _unwrapped(data: Any) -> tuple[str, Any]:
    """Return how a layer's data is written (``"dask"``, ``"numpy"``, ``"blocks"``) and the data.

    An ``xarray.DataArray`` gives its ``.data``; arrays and blocks are returned unchanged.
    """
    import dask.array as da

    if hasattr(data, "dims") and hasattr(data, "data"):  # xarray.DataArray
        data = data.data
    if isinstance(data, da.Array):
        return "dask", data
    if isinstance(data, np.ndarray):
        return "numpy", data
    return "blocks", data


class _WindowWriter:
    """``dask.array.store`` target writing each block into an open raster band."""

    def __init__(self, dataset: Any, dtype: str, row0: int = 0) -> None:
        self.dataset = dataset
        self.dtype = dtype
        self.row0 = row0  # the grid row of the stored array's first row (a strip's)

    def __setitem__(self, key: tuple[slice, slice], value: np.ndarray) -> None:
        from rasterio.windows import Window

        rows, cols = key
        window = Window(
            cols.start, self.row0 + rows.start, cols.stop - cols.start, rows.stop - rows.start
        )
        self.dataset.write(np.asarray(value).astype(self.dtype, copy=False), 1, window=window)


#: Cells of one strip of chunk rows that :func:`write_cogs` stores at a time.
STRIP_CELLS = 2**25


def _strips(row_chunks: Sequence[int], width: int) -> list[tuple[int, int]]:
    """Cut the rows of a grid into strips of whole chunk rows, ~``STRIP_CELLS`` cells each.

    Storing a whole dask graph at once lets the scheduler read and compute ahead: at 1024-cell
    chunks the terrain job held ~0.57 / 0.96 / 1.96 GB at 8192² / 16384² / 32768² cells,
    growing with the grid's width. One strip at a time bounds it by the strip (a halo'd
    kernel reads the neighbouring chunk rows again: a little more reading, the same cells).

    Parameters
    ----------
    row_chunks
        The dask chunk heights along the rows (cells).
    width
        Grid width (cells).

    Returns
    -------
    list of (int, int)
        First and end row of each strip, covering every row once, in order.
    """
    strips, start, rows = [], 0, 0
    for height in row_chunks:
        rows += int(height)
        if rows * width >= STRIP_CELLS:
            strips.append((start, start + rows))
            start, rows = start + rows, 0
    if rows:
        strips.append((start, start + rows))
    return strips


def _squeeze_scratch(layers: Sequence[Layer], grid: Grid) -> bool:
    """Decide whether the dask layers of a call are staged compressed (see :data:`STAGING_OPTIONS`).

    Yes when their uncompressed size (bytes = cells x item size) is over a quarter of the free
    space of the first output's folder (the COGs need room too): a national grid's terrain
    stack on a working disk. Otherwise raw, which writes faster.

    Parameters
    ----------
    layers
        The layers of the call (only the dask ones count).
    grid
        Their grid.

    Returns
    -------
    bool
        True to stage the dask layers compressed.
    """
    import shutil

    raw = 0
    for layer in layers:
        kind, data = _unwrapped(layer.data)
        if kind == "dask":
            raw += grid.width * grid.height * np.dtype(layer.dtype or data.dtype).itemsize
    if not raw:
        return False
    folder = Path(layers[0].path).parent
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    squeeze = raw > free / 4
    if squeeze:
        log.info(
            "staging %.1f GB of rasters compressed (%.1f GB free in %s)",
            raw / 1e9,
            free / 1e9,
            folder,
        )
    return squeeze


def _staging_options(
    layout: str, kind: str, dtype: str, threads: int, squeeze: bool
) -> dict[str, Any]:
    """Return the GTiff creation options of one layer's staged copy.

    Parameters
    ----------
    layout
        ``"cog"`` or ``"tiff"`` (see :func:`write_cogs`).
    kind
        How the layer is written (``"dask"``, ``"numpy"``, ``"blocks"``).
    dtype
        The layer's data type (picks the predictor: 3 for floats, 2 for integers).
    threads
        Threads of the call (GDAL's compression threads).
    squeeze
        Stage dask layers compressed (:func:`_squeeze_scratch`). Only dask layers: they are
        written once per whole 256-cell tile (chunks permitting), so no tile is recompressed.

    Returns
    -------
    dict
        Options for ``rasterio.open(..., "w", driver="GTiff", ...)``.
    """
    if layout == "tiff":
        return {"compress": "ZSTD", "zstd_level": 1, "BIGTIFF": "IF_SAFER"}
    if kind == "dask" and squeeze:
        predictor = 3 if np.dtype(dtype).kind == "f" else 2
        return {**STAGING_OPTIONS, "predictor": predictor, "num_threads": str(max(1, threads))}
    return {"BIGTIFF": "IF_SAFER"}


def _grid_of(layers: Sequence[Layer], grid: Grid | None, crs: Any, transform: Any) -> Grid:
    """Return the grid of a call: ``grid``, or ``crs`` + ``transform`` + the first array's shape."""
    if grid is not None:
        return grid
    kind, first = _unwrapped(layers[0].data)
    if kind == "blocks":
        raise ValueError(f"{layers[0].path}: writing blocks needs the grid (grid=...)")
    height, width = tuple(first.shape)[-2:]
    return Grid(crs=crs, transform=transform, width=int(width), height=int(height))


def write_cogs(
    layers: Sequence[Layer],
    *,
    grid: Grid | None = None,
    crs: Any = None,
    transform: Any = None,
    threads: int = 1,
    compress: str = "deflate",
    level: int | None = None,
    predictor: bool = False,
    layout: str = "cog",
) -> None:
    """Write rasters on one grid, block by block, each atomically.

    Parameters
    ----------
    layers
        The rasters (arrays of the grid's shape, or blocks).
    grid
        The grid; or give ``crs`` and ``transform`` (the shape is the first array's).
    crs
        CRS understood by rasterio (a ``rasterio.crs.CRS``, WKT or "EPSG:xxxx").
    transform
        Affine transform of the grid (cell size in metres of ``crs``).
    threads
        Threads of the dask scheduler and of GDAL's compression.
    compress
        ``"deflate"`` (default, read by every GIS) or ``"zstd"`` (usually faster to write and a
        little smaller; needs GDAL >= 2.3 with ZSTD, as QGIS, GRASS and SAGA have).
    level
        Compression level (1 = fastest; float rasters barely compress better at 6); None =
        GDAL's default (6 for DEFLATE).
    predictor
        Use the predictor suited to the data type (horizontal differencing, or floating
        point), which shrinks smooth rasters.
    layout
        ``"cog"`` (default): Cloud-Optimized GeoTIFF with overviews. ``"tiff"``: a plain
        tiled GeoTIFF (ZSTD level 1, no overviews, strips below 256 cells) for intermediate
        rasters only slidemap reads again (map tiles before the mosaic): about ten times
        faster to write.
    """
    import dask
    import dask.array as da
    import rasterio
    import rasterio.shutil

    if not layers:
        return
    if layout not in ("cog", "tiff"):
        raise ValueError(f"layout must be 'cog' or 'tiff', got {layout!r}")
    grid = _grid_of(layers, grid, crs, transform)
    squeeze = layout == "cog" and _squeeze_scratch(layers, grid)
    staged: list[Path] = []
    datasets: list[Any] = []
    try:
        sources, targets = [], []
        for layer in layers:
            kind, data = _unwrapped(layer.data)
            if kind != "blocks" and tuple(data.shape)[-2:] != grid.shape:
                raise ValueError(f"{layer.path}: shape {data.shape} is not the grid's {grid.shape}")
            if kind == "dask" and data.ndim != 2:
                raise ValueError(f"{layer.path}: a dask layer must be 2-D, got {data.shape}")
            dtype = layer.dtype or np.dtype(data.dtype).name
            count = data.shape[0] if kind == "numpy" and data.ndim == 3 else layer.count
            final = Path(layer.path)
            final.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(final, staged=True)
            fd, tmp = tempfile.mkstemp(
                prefix=f".{final.name}.", suffix=".raw.tif", dir=final.parent
            )
            os.close(fd)
            staged.append(Path(tmp))
            Path(tmp).unlink()  # GDAL creates the file itself
            if layout == "cog" or min(grid.shape) >= 256:
                tiling = {"tiled": True, "blockxsize": 256, "blockysize": 256}
            else:
                tiling = {"tiled": False}
            options = _staging_options(layout, kind, dtype, threads, squeeze)
            dst = rasterio.open(
                tmp, "w", driver="GTiff", height=grid.height, width=grid.width, count=count,
                dtype=dtype, crs=grid.crs, transform=grid.transform, nodata=layer.nodata,
                **tiling, **options,
            )  # fmt: skip
            datasets.append(dst)
            if layer.colormap:  # before any pixel is written (it sets the photometric tag)
                dst.write_colormap(1, layer.colormap)
            if kind == "dask":
                sources.append(data)
                targets.append(_WindowWriter(dst, dtype))
            elif kind == "numpy":
                arr = data[np.newaxis] if data.ndim == 2 else data
                dst.write(arr.astype(dtype, copy=False))
            else:
                for window, block in data:
                    a = np.asarray(block)
                    dst.write((a[np.newaxis] if a.ndim == 2 else a).astype(dtype, copy=False),
                              window=window)  # fmt: skip
            if layer.band_names:
                for i, name in enumerate(layer.band_names, start=1):
                    dst.set_band_description(i, name)
            if layer.tags:
                dst.update_tags(**{k: str(v) for k, v in layer.tags.items()})
        if sources:
            t0 = time.perf_counter()
            with dask.config.set(scheduler="threads", num_workers=max(1, int(threads))):
                for r0, r1 in _strips(sources[0].chunks[0], grid.width):
                    da.store(
                        [source[r0:r1] for source in sources],
                        [_WindowWriter(t.dataset, t.dtype, row0=r0) for t in targets],
                        lock=threading.Lock(),
                        compute=True,
                    )
            log.info(
                "computed %d raster(s) of %s cells in %.1f s",
                len(sources),
                grid.shape,
                time.perf_counter() - t0,
            )
        for dst in datasets:
            dst.close()
        datasets.clear()
        for layer, tmp in zip(layers, staged, strict=True):
            t0 = time.perf_counter()
            with atomic_path(layer.path) as out:
                if layout == "tiff":
                    os.replace(tmp, out)
                    continue
                options = {**COG_OPTIONS, "COMPRESS": compress.upper()}
                if level is not None:
                    options["LEVEL"] = str(level)
                if predictor:
                    options["PREDICTOR"] = "YES"
                if threads > 1:
                    options["NUM_THREADS"] = str(threads)
                if layer.resampling:
                    options["RESAMPLING"] = layer.resampling.upper()
                rasterio.shutil.copy(tmp, out, driver="COG", **options)
            tmp.unlink()
            log.debug("wrote %s in %.1f s", layer.path, time.perf_counter() - t0)
    except Exception as exc:
        # name the file, or the folder when several rasters were being written at once
        first = Path(layers[0].path)
        raise_storage_error(exc, first.parent, first if len(layers) == 1 else first.parent)
        raise
    finally:
        for dst in datasets:
            dst.close()
        for tmp in staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def write_cog(
    data: Any,
    path: str | os.PathLike,
    *,
    nodata: float | int | None,
    grid: Grid | None = None,
    crs: Any = None,
    transform: Any = None,
    dtype: str | None = None,
    band_names: Sequence[str] | None = None,
    tags: dict[str, str] | None = None,
    colormap: dict[int, tuple[int, int, int, int]] | None = None,
    resampling: str | None = None,
    count: int = 1,
    threads: int = 1,
    compress: str = "deflate",
    level: int | None = None,
    predictor: bool = False,
    layout: str = "cog",
) -> None:
    """Write one raster as a Cloud-Optimized GeoTIFF, atomically (see :func:`write_cogs`).

    Parameters
    ----------
    data
        numpy (rows, cols) or (bands, rows, cols); dask / xarray (rows, cols); or an iterable
        of ``(Window, array)`` blocks (then ``grid``, ``dtype`` and ``count`` are needed).
    path
        Output file (``.tif``).
    nodata
        Nodata value written into the file (NaN allowed for float data).
    grid, crs, transform
        The grid, or its CRS and affine transform (cell size in metres of ``crs``).
    dtype
        Output data type; default the array's.
    band_names, tags, colormap, resampling, count
        See :class:`Layer`.
    threads, compress, level, predictor, layout
        See :func:`write_cogs`.
    """
    layer = Layer(
        data=data,
        path=path,
        nodata=nodata,
        dtype=dtype,
        tags=dict(tags or {}),
        colormap=colormap,
        resampling=resampling,
        band_names=band_names,
        count=count,
    )
    write_cogs(
        [layer], grid=grid, crs=crs, transform=transform, threads=threads, compress=compress,
        level=level, predictor=predictor, layout=layout,
    )  # fmt: skip


def write_vrt(
    path: str | os.PathLike,
    grid: Grid,
    tiles: Sequence[tuple[Any, str | os.PathLike]],
    *,
    dtype: str,
    nodata: float | int | None,
) -> None:
    """Write a GDAL VRT that mosaics tile GeoTIFFs of one grid into one raster, atomically.

    Parameters
    ----------
    path
        Output ``.vrt``; tile paths are written relative to its folder when they are inside it.
    grid
        The grid the tiles cut (CRS, transform in metres of the CRS, size in cells).
    tiles
        ``(Window, path)`` of each tile: its cells in the grid and its single-band GeoTIFF.
    dtype
        Band data type (numpy name, e.g. ``"float32"``).
    nodata
        Nodata value of the band (NaN allowed).
    """
    from xml.sax.saxutils import escape

    gdal_types = {
        "uint8": "Byte",
        "int16": "Int16",
        "uint16": "UInt16",
        "int32": "Int32",
        "float32": "Float32",
        "float64": "Float64",
    }
    if dtype not in gdal_types:
        raise ValueError(f"write_vrt: unsupported dtype {dtype!r} (one of {sorted(gdal_types)})")
    out = Path(path)
    t = grid.transform
    lines = [
        f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">',
        f"  <SRS>{escape(grid.crs.to_wkt())}</SRS>",
        f"  <GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>",
        f'  <VRTRasterBand dataType="{gdal_types[dtype]}" band="1">',
    ]
    if nodata is not None:
        lines.append(
            f"    <NoDataValue>{'nan' if np.isnan(nodata) else repr(nodata)}</NoDataValue>"
        )
    for window, tile in tiles:
        tile = Path(tile)
        try:
            name, relative = tile.resolve().relative_to(out.resolve().parent).as_posix(), 1
        except ValueError:
            name, relative = str(tile.resolve()), 0
        w, h = int(window.width), int(window.height)
        lines += [
            "    <SimpleSource>",
            f'      <SourceFilename relativeToVRT="{relative}">{escape(name)}</SourceFilename>',
            "      <SourceBand>1</SourceBand>",
            f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>',
            f'      <DstRect xOff="{int(window.col_off)}" yOff="{int(window.row_off)}" '
            f'xSize="{w}" ySize="{h}"/>',
            "    </SimpleSource>",
        ]
    lines += ["  </VRTRasterBand>", "</VRTDataset>", ""]
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
