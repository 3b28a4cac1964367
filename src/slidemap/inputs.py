"""The read boundary: raster and vector inputs of a study, opened so that errors speak slidemap.

Every user raster (the DEM, land-use or lithology rasters, extra factors) and every user
vector layer (inventory, faults, rivers, roads, boundary, lithology and land-use polygons)
is opened through this module. GDAL, rasterio and pyogrio errors become
:class:`~slidemap.errors.InputDataError` naming the config key, the file and a fix; what can
be repaired is repaired and counted, never silently:

- :func:`open_raster`: missing, unreadable (corrupt, truncated, not a raster) and rotated or
  sheared rasters are refused with the command that fixes them.
- :func:`scan_elevation`: every cell of a DEM is read once (so a truncated file fails here,
  not halfway through a factor), and undeclared nodata sentinels (-9999, -32768, ±3.4e38,
  values outside the elevations found on Earth) are found and counted.
- :func:`read_vector`: invalid geometries are repaired (``make_valid``); empty and null
  geometries, geometries of a type the layer cannot use, and features outside the study
  area are counted by reason; an empty layer, a layer without CRS and coordinates that are
  not finite after reprojection are errors.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slidemap.errors import InputDataError

__all__ = [
    "ELEVATION_RANGE_M",
    "KNOWN_SENTINELS",
    "ElevationScan",
    "VectorCounts",
    "RASTER_SUFFIXES",
    "open_raster",
    "check_raster",
    "scan_elevation",
    "read_vector",
    "to_working_crs",
]

log = logging.getLogger(__name__)

#: Elevations (m) found on Earth, with margin: Challenger Deep about -10,935 m, Everest 8,849 m.
ELEVATION_RANGE_M = (-11000.0, 9000.0)
#: Nodata sentinels of common DEM products, flagged even inside :data:`ELEVATION_RANGE_M`.
KNOWN_SENTINELS = (-9999.0, -32768.0, -32767.0)
#: Cells read per strip by :func:`scan_elevation` (bounds its memory to ~8 bytes × this).
_STRIP_CELLS = 1 << 22


def _gdal_message(exc: BaseException) -> str:
    """Return the first line of a GDAL/rasterio error (at most 300 characters)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def _existing(path: str | os.PathLike, key: str) -> Path:
    """Return ``path`` as a Path, or raise an error naming the config key if it is missing."""
    p = Path(path)
    if not p.exists():
        raise InputDataError(
            path, "the file does not exist.", f"check the path in config key '{key}'."
        )
    return p


@contextlib.contextmanager
def open_raster(path: str | os.PathLike, key: str) -> Iterator[Any]:
    """Open a user raster with rasterio, refusing what slidemap cannot read correctly.

    Parameters
    ----------
    path
        The raster file.
    key
        The config key that names it (e.g. ``dem.path``), quoted in error messages.

    Yields
    ------
    rasterio.io.DatasetReader
        The open dataset (closed on exit).

    Raises
    ------
    InputDataError
        If the file does not exist, cannot be opened as a raster (corrupt, truncated, another
        format), has no band, or has a rotated or sheared geotransform.
    """
    import rasterio
    from rasterio.errors import RasterioError

    p = _existing(path, key)
    try:
        src = rasterio.open(p)
    except (RasterioError, OSError) as exc:
        raise InputDataError(
            path,
            f"is not a raster GDAL can read ({_gdal_message(exc)}): the file is corrupt, "
            "truncated or of another format.",
            f"re-export or download it again (`gdalinfo {p}` must describe it without error), "
            f"or point config key '{key}' at a GeoTIFF.",
        ) from None
    try:
        t = src.transform
        if t.b != 0 or t.d != 0:
            raise InputDataError(
                path,
                f"has a rotated or sheared geotransform ({t.a:g}, {t.b:g}, {t.c:g}, {t.d:g}, "
                f"{t.e:g}, {t.f:g}), which slidemap does not resample implicitly.",
                f"warp it north-up: gdalwarp -r bilinear {p} {p.with_suffix('')}_northup.tif "
                f"and set config key '{key}' to the new file.",
            )
        if t.a == 0 or t.e == 0 or src.count < 1:
            raise InputDataError(
                path,
                "has no usable geotransform or no band.",
                f"georeference it (gdal_translate -a_ullr / -a_srs) or set config key '{key}' "
                "to another file.",
            )
        yield src
    finally:
        src.close()


@dataclass
class ElevationScan:
    """What :func:`scan_elevation` found in a DEM.

    Attributes
    ----------
    nodata
        The nodata value to use (declared by the file, given by ``dem.nodata``, or the one
        undeclared sentinel found), or None.
    declared
        How ``nodata`` was set: ``"file"``, ``"config"``, ``"detected"`` or None.
    sentinel_cells
        Source cells holding ``nodata`` when it was detected (0 otherwise).
    cells
        Source cells read.
    implausible
        Value → cell count of every value that is no elevation on Earth, besides ``nodata``
        (empty when the DEM is usable).
    """

    nodata: float | None
    declared: str | None
    sentinel_cells: int = 0
    cells: int = 0
    implausible: dict[float, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the ``grid.json`` entry ``source_nodata``."""
        value = self.nodata
        if value is not None and not math.isfinite(value):
            value = "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return {
            "value": value,
            "declared_by": self.declared,
            "undeclared_cells": self.sentinel_cells,
            "cells_read": self.cells,
        }


#: File suffixes that are rasters whatever GDAL says (a corrupt one is a raster error, not
#: "cannot be read as a vector layer").
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".asc", ".nc", ".jp2", ".bil", ".hgt")


def _strips(src: Any, path: str | os.PathLike, key: str) -> Iterator[np.ndarray]:
    """Yield band 1 of an open raster in row strips of about 4 M cells, naming read failures."""
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    rows = max(1, _STRIP_CELLS // max(1, src.width))
    for r0 in range(0, src.height, rows):
        h = min(rows, src.height - r0)
        try:
            yield src.read(1, window=Window(0, r0, src.width, h))
        except (RasterioError, OSError) as exc:
            raise InputDataError(
                path,
                f"cannot be read at rows {r0 + 1}–{r0 + h} of {src.height} "
                f"({_gdal_message(exc)}): the file is truncated or corrupt.",
                f"copy or download it again (`gdalinfo -checksum {path}` must finish "
                f"without error), or point config key '{key}' at another file.",
            ) from None


def check_raster(path: str | os.PathLike, key: str) -> None:
    """Open a user raster and read every cell once, so a damaged file fails before any output.

    Parameters
    ----------
    path
        The raster.
    key
        Its config key, for messages.

    Raises
    ------
    InputDataError
        As :func:`open_raster`, or if a strip of the file cannot be read (truncated, corrupt).
    """
    with open_raster(path, key) as src:
        for _ in _strips(src, path, key):
            pass


def _yaml_number(value: float) -> str:
    """``value`` as YAML writes it (``.inf``, ``-.inf`` and ``.nan`` for the non-finite)."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return f"{value:g}"


def _implausible(data: np.ndarray, nodata: float | None) -> np.ndarray:
    """Mask of cells whose value is no elevation (m) on Earth, other than NaN and ``nodata``."""
    values = data.astype(np.float64, copy=False)
    lo, hi = ELEVATION_RANGE_M
    with np.errstate(invalid="ignore"):
        bad = (values < lo) | (values > hi) | np.isinf(values)
        for s in KNOWN_SENTINELS:
            bad |= values == s
    if nodata is not None and not math.isnan(nodata):
        bad &= values != nodata
    return bad


def scan_elevation(
    path: str | os.PathLike, key: str = "dem.path", *, nodata: float | None = None
) -> ElevationScan:
    """Read every cell of a DEM once, check it reads, and find undeclared nodata sentinels.

    A value is a sentinel when it is one of :data:`KNOWN_SENTINELS` or lies outside
    :data:`ELEVATION_RANGE_M` (metres), and is neither NaN nor the declared nodata value.
    When the file and ``dem.nodata`` declare no nodata and exactly one such value occurs,
    it is the nodata value (a WARNING names the value, the count and the key that silences
    it). Any other combination is an error: two nodata values cannot both be honoured by
    GDAL's warper, and values that are no elevation must not become terrain.

    Parameters
    ----------
    path
        The DEM (elevation in metres).
    key
        Its config key, for messages.
    nodata
        ``dem.nodata``: used when the file declares none.

    Returns
    -------
    ElevationScan
        The nodata value to use and the counts.

    Raises
    ------
    InputDataError
        If the file cannot be read to the end, or holds implausible values that cannot be
        taken as its one nodata value.
    """
    with open_raster(path, key) as src:
        if src.count > 1:
            log.warning(
                "%s has %d bands: band 1 is read as the elevation (m) and the others are "
                "ignored. If the elevation is another band, extract it: gdal_translate -b <n> "
                "%s dem.tif, and set config key '%s' to dem.tif.",
                path,
                src.count,
                path,
                key,
            )
        declared = "file" if src.nodata is not None else ("config" if nodata is not None else None)
        value = src.nodata if src.nodata is not None else nodata
        counts: Counter[float] = Counter()
        for data in _strips(src, path, key):
            bad = _implausible(data, value)
            if bad.any():
                vals, n = np.unique(data[bad].astype(np.float64), return_counts=True)
                for v, c in zip(vals.tolist(), n.tolist(), strict=True):
                    counts[v] += c
        cells = src.width * src.height
    if not counts:
        return ElevationScan(value, declared, 0, cells)
    if declared is None and len(counts) == 1:
        ((sentinel, n),) = counts.items()
        log.warning(
            "%s: %d cells hold %g, which is no elevation on Earth, and the file declares no "
            "nodata value: they are treated as nodata. Set config key 'dem.nodata: %s' to "
            "declare it and silence this warning.",
            path,
            n,
            sentinel,
            _yaml_number(sentinel),
        )
        return ElevationScan(sentinel, "detected", n, cells)
    listed = ", ".join(f"{v:g} ({n} cells)" for v, n in sorted(counts.items())[:6])
    total = sum(counts.values())
    fill = -9999 if value is None or math.isnan(value) else value
    lo, hi = ELEVATION_RANGE_M
    raise InputDataError(
        path,
        f"{total} cells hold values that are no elevation on Earth and are not the declared "
        f"nodata ({'none' if value is None else f'{value:g}'}): {listed}.",
        f"mark them nodata, e.g. gdal_calc.py -A {path} --outfile=dem_clean.tif "
        f'--NoDataValue={fill:g} --calc="where((A<{lo:g})|(A>{hi:g})'
        + "".join(f"|(A=={s:g})" for s in KNOWN_SENTINELS)
        + f",{fill:g},A)\" and set config key '{key}' to dem_clean.tif; if they are "
        "elevations in another unit, convert the DEM to metres.",
        column=None,
    )


@dataclass
class VectorCounts:
    """Features of a vector layer by what happened to them (counts).

    Attributes
    ----------
    read
        Features in the file.
    repaired
        Invalid geometries repaired with ``make_valid`` (kept).
    empty_or_null
        Features without geometry, or with an empty one (dropped).
    wrong_type
        Geometries of a type the layer cannot use (dropped), e.g. lines in an inventory.
    outside_study_area
        Features that do not reach the study area (kept: a road outside still sets
        distances; the sampling step reports inventory features it cannot use).
    kept
        Features returned.
    """

    read: int = 0
    repaired: int = 0
    empty_or_null: int = 0
    wrong_type: int = 0
    outside_study_area: int = 0
    kept: int = 0

    def to_json(self) -> dict[str, int]:
        """Return the counts as a JSON object (for the step's summary)."""
        return dict(self.__dict__)


_FAMILIES = {
    "point": {"Point", "MultiPoint"},
    "line": {"LineString", "MultiLineString", "LinearRing"},
    "polygon": {"Polygon", "MultiPolygon"},
}


def _keep_family(geom: Any, allowed: set[str]) -> Any:
    """Return the parts of a (repaired) geometry whose type is allowed, or None."""
    import shapely

    if geom.geom_type in allowed:
        return geom
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in shapely.get_parts(geom) if g.geom_type in allowed and not g.is_empty]
        if parts:
            return shapely.union_all(parts) if len(parts) > 1 else parts[0]
    return None


#: Features read at a time by :func:`read_vector` (bounds the WKB buffer held beside the
#: geometries: a 48 M-vertex stream network peaked at 2.2 GB read whole, 1.46 GB in batches).
READ_BATCH_FEATURES = 65536


def _read_in_batches(path: Path, batch: int | None = None) -> Any:
    """Read a vector file's first layer ``batch`` features at a time into one GeoDataFrame.

    pyogrio reads a layer's WKB whole before making the geometries, so a large layer is held
    twice at the peak; read in batches (``skip_features``/``max_features``, by the layer's
    feature count) only one batch's WKB is. The result equals one ``geopandas.read_file``
    (rows in file order, a 0-based index, the same columns and dtypes); a layer whose count
    is unknown (-1) or at most ``batch`` is read in one call. The freed read buffers are
    handed back to the operating system where glibc allows it (``malloc_trim``).

    Parameters
    ----------
    path
        Any OGR vector file.
    batch
        Features per read (default :data:`READ_BATCH_FEATURES`).

    Returns
    -------
    geopandas.GeoDataFrame
    """
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    batch = int(batch or READ_BATCH_FEATURES)
    n = int(pyogrio.read_info(path)["features"])
    if n <= batch:
        return gpd.read_file(path)
    parts = [gpd.read_file(path, skip_features=s, max_features=batch) for s in range(0, n, batch)]
    gdf = pd.concat(parts, ignore_index=True)
    del parts
    _release_freed_heap()
    return gdf


def _release_freed_heap() -> None:
    """Return freed heap pages to the operating system (glibc ``malloc_trim``; else nothing).

    Large reads leave their buffers in the allocator's free lists, counted in the job's
    resident memory until reused; the peak of the steps after a read then starts lower.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


def to_working_crs(gdf: Any, crs: Any) -> Any:
    """Reproject a GeoDataFrame/GeoSeries to ``crs``, or only relabel it when already there.

    geopandas reprojects unless the two CRS are *identical* objects (``is_exact_same``): a
    layer in EPSG:3035 read against a grid whose CRS is the same projection written as WKT
    went through PROJ vertex by vertex, an identity transformation that copied every
    coordinate twice (5.2 GB peak for a 48 M-vertex stream network at 32768² cells, 2.1 GB
    without). When the CRS are equivalent (pyproj ``==``: the same projection, datum and
    units), the geometries are kept as they are and the working CRS is set on them.

    Parameters
    ----------
    gdf
        GeoDataFrame or GeoSeries with a CRS.
    crs
        The working CRS (anything pyproj accepts).

    Returns
    -------
    The same type, in ``crs`` (the geometries shared with ``gdf`` when nothing moves).
    """
    from pyproj import CRS

    target = CRS.from_user_input(crs)
    if gdf.crs is not None and CRS.from_user_input(gdf.crs) == target:
        return gdf.set_crs(target, allow_override=True)
    return gdf.to_crs(target)


def _non_finite_vertices(values: np.ndarray, batch: int = READ_BATCH_FEATURES) -> tuple[int, int]:
    """Count the vertices with a non-finite coordinate, ``batch`` geometries at a time.

    Parameters
    ----------
    values
        Array of shapely geometries.
    batch
        Geometries per batch (bounds the coordinate copy: 16 B per vertex of a batch).

    Returns
    -------
    tuple
        (vertices with a NaN or infinite x or y, all vertices).
    """
    import shapely

    bad = total = 0
    for start in range(0, len(values), batch):
        xy = shapely.get_coordinates(values[start : start + batch])
        bad += int((~np.isfinite(xy).all(axis=1)).sum())
        total += len(xy)
    return bad, total


def read_vector(
    path: str | os.PathLike,
    key: str,
    crs: Any,
    *,
    types: tuple[str, ...] = ("point", "line", "polygon"),
    study_area: Any = None,
    what: str = "layer",
) -> tuple[Any, VectorCounts]:
    """Read a user vector layer in the working CRS, repairing and counting what is wrong.

    Parameters
    ----------
    path
        The vector file (any OGR format).
    key
        Its config key (e.g. ``layers.roads``), quoted in messages.
    crs
        The working CRS.
    types
        Geometry families the layer may hold: ``"point"``, ``"line"``, ``"polygon"``.
    study_area
        Shapely geometry in ``crs`` (e.g. the study grid's box) to count features outside
        it, or None.
    what
        The layer's name in messages (``"inventory"``, ``"roads layer"`` …).

    Returns
    -------
    gdf : geopandas.GeoDataFrame
        The usable features in ``crs``, every attribute kept, plus ``feature`` (1-based
        position in the file); repaired geometries in place.
    counts : VectorCounts
        What was repaired, dropped or found outside, by reason (a WARNING is logged for each
        non-zero reason).

    Raises
    ------
    InputDataError
        If the file cannot be read, has no CRS, has no features, has no usable geometry, or
        its coordinates are not finite after reprojection (a wrong CRS).
    """
    import geopandas as gpd
    import shapely

    p = _existing(path, key)
    try:
        gdf = _read_in_batches(p)
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, ...
        raise InputDataError(
            path,
            f"cannot be read as a vector layer ({_gdal_message(exc)}).",
            f"give a vector file (GeoPackage, shapefile, GeoJSON) in config key '{key}'.",
        ) from None
    counts = VectorCounts(read=len(gdf))
    if len(gdf) == 0:
        raise InputDataError(
            path,
            f"the {what} has no features.",
            f"add features to the file, or remove config key '{key}' if the {what} is optional.",
        )
    if gdf.crs is None:
        raise InputDataError(
            path,
            f"the {what} has no coordinate reference system.",
            "save it with a CRS (a GeoPackage, or a shapefile with its .prj file): "
            "ogr2ogr -a_srs EPSG:xxxx out.gpkg in.shp.",
        )
    gdf = gdf.reset_index(drop=True)
    gdf["feature"] = np.arange(1, len(gdf) + 1)
    geoms = gdf.geometry
    empty = (geoms.isna() | geoms.is_empty).to_numpy()
    counts.empty_or_null = int(empty.sum())
    gdf = gdf[~empty].copy()
    allowed = set().union(*(_FAMILIES[t] for t in types))
    values = gdf.geometry.to_numpy().copy()
    invalid = ~shapely.is_valid(values)
    counts.repaired = int(invalid.sum())
    values[invalid] = shapely.make_valid(values[invalid])
    kept = np.array([_keep_family(g, allowed) for g in values], dtype=object)
    ok = np.array([g is not None for g in kept], dtype=bool)
    counts.wrong_type = int((~ok).sum())
    dropped_types = sorted({g.geom_type for g in values[~ok]})
    gdf = gdf.set_geometry(gpd.GeoSeries(kept, index=gdf.index, crs=gdf.crs))[ok]
    if len(gdf) == 0:
        raise InputDataError(
            path,
            f"the {what} has no usable geometry ({counts.read} features: "
            f"{counts.empty_or_null} empty or null, {counts.wrong_type} not "
            f"{' or '.join(types)}{': ' + ', '.join(dropped_types) if dropped_types else ''}).",
            f"give {' or '.join(types)} features in config key '{key}'.",
        )
    src_crs = gdf.crs
    gdf = to_working_crs(gdf, crs)
    n_bad, n_vertices = _non_finite_vertices(gdf.geometry.to_numpy())
    if n_bad:
        raise InputDataError(
            path,
            f"{n_bad} of {n_vertices} vertices are not finite after reprojection from "
            f"{src_crs.to_string()} to the working CRS: the layer's CRS is wrong.",
            "check the coordinates against the CRS (ogrinfo -so), assign the right one with "
            f"ogr2ogr -a_srs EPSG:xxxx, and set config key '{key}' to the fixed file.",
        )
    if study_area is not None:
        counts.outside_study_area = int((~gdf.geometry.intersects(study_area)).sum())
    counts.kept = len(gdf)
    reasons = {
        "invalid geometries repaired with make_valid": counts.repaired,
        "empty or null geometries dropped": counts.empty_or_null,
        f"geometries that are not {' or '.join(types)} dropped ({', '.join(dropped_types)})": (
            counts.wrong_type
        ),
        "features outside the study area": counts.outside_study_area,
    }
    for reason, n in reasons.items():
        if n:
            log.warning("%s (%s, config key '%s'): %d %s", path, what, key, n, reason)
    return gdf, counts
