"""Categorical factors (lithology, land use, hardness) and extra continuous layers on the grid.

Categorical layers
------------------
* A **raster** of integer class codes is brought onto the study grid with nearest-neighbour
  resampling (exact per cell, see :class:`slidemap.factors.studygrid.RasterOnGrid`); its
  nodata (and every cell outside it) becomes 0.
* A **polygon** layer is rasterised by the integer attribute ``layers.<name>.attribute``: a
  cell takes the code of the polygon containing its centre (where polygons overlap, the
  later feature wins); cells outside every polygon are 0.
* Codes must be integers from 1 to 32767 (0 is nodata). The output is uint8 when every code
  is <= 255 (with a colour table for GIS), else int16.
* The **code table** (``layers.<name>.codes``) is a CSV with columns ``code,name`` and, for
  lithology, ``hardness``. Every code found in the study area must be listed in it.
* **Hardness** (seed 002, section 3.4.4): with ``layers.lithology.hardness: true`` the
  ``hardness`` column groups lithologies into hard / sub-hard / sub-soft / soft, written as
  codes 1 / 2 / 3 / 4 to ``hardness.tif``.

Cells where the grid DEM is nodata are 0 in every categorical factor (NaN in continuous
ones), so every factor shares the DEM's nodata cells.

Extra continuous layers (``layers.extra``) are resampled bilinearly onto the grid (nodata
-> NaN) and written as float32.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import numpy as np
import pandas as pd

from slidemap.errors import ConfigError, InputDataError

__all__ = [
    "HARDNESS_CLASSES",
    "read_code_table",
    "is_raster",
    "categorical_on_grid",
    "write_categorical_factor",
    "write_hardness_factor",
    "write_extra_factor",
    "class_colormap",
]

#: Hardness classes of seed 002 and their codes.
HARDNESS_CLASSES: dict[int, str] = {1: "hard", 2: "sub-hard", 3: "sub-soft", 4: "soft"}
_HARDNESS_BY_NAME = {name.replace("-", ""): code for code, name in HARDNESS_CLASSES.items()}
MAX_CODE = 32767


def _normalise_hardness(value: Any) -> int | None:
    """Map 'Sub-hard', 'sub_hard', 'SUB HARD' ... to the hardness code, None if unknown."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    key = re.sub(r"[\s_\-]+", "", str(value).strip().lower())
    return _HARDNESS_BY_NAME.get(key)


def read_code_table(
    path: str | os.PathLike, *, key: str, need_hardness: bool = False
) -> pd.DataFrame:
    """Read and check a code table CSV (``code,name[,hardness]``).

    Parameters
    ----------
    path
        The CSV file.
    key
        Config key that names it (for messages).
    need_hardness
        Require a ``hardness`` value (hard, sub-hard, sub-soft, soft) on every row.

    Returns
    -------
    pandas.DataFrame
        Columns ``code`` (int), ``name`` (str) and, when present, ``hardness_code``
        (int 1..4 or missing).

    Raises
    ------
    InputDataError
        Naming the file, line and column of the first problem.
    """
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as exc:
        raise InputDataError(
            path, f"cannot be read as CSV ({exc}).", f"check the file of config key '{key}'."
        ) from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    for col in ("code", "name"):
        if col not in table.columns:
            raise InputDataError(
                path,
                f"the code table has no '{col}' column (columns: {list(table.columns)}).",
                "use a header line 'code,name' (and ',hardness' for lithology).",
                column=col,
            )
    if need_hardness and "hardness" not in table.columns:
        raise InputDataError(
            path,
            "layers.lithology.hardness is true but the code table has no 'hardness' column.",
            "add a column 'hardness' with hard, sub-hard, sub-soft or soft per lithology.",
            column="hardness",
        )
    codes, names, hard = [], [], []
    for i, row in enumerate(table.itertuples(index=False), start=2):
        row = row._asdict()
        text = str(row["code"]).strip()
        if not re.fullmatch(r"\d+", text) or not 1 <= int(text) <= MAX_CODE:
            raise InputDataError(
                path,
                f"code {text!r} is not an integer from 1 to {MAX_CODE} (0 means nodata).",
                "renumber the classes from 1.",
                row=i,
                column="code",
            )
        if int(text) in codes:
            raise InputDataError(
                path, f"code {text} is listed twice.", "list each code once.", row=i, column="code"
            )
        codes.append(int(text))
        names.append(str(row["name"]).strip() or f"class {text}")
        if "hardness" in table.columns:
            value = str(row["hardness"]).strip()
            code = _normalise_hardness(value) if value else None
            if value and code is None:
                raise InputDataError(
                    path,
                    f"hardness {value!r} is not one of hard, sub-hard, sub-soft, soft.",
                    "use one of these four classes (seed 002).",
                    row=i,
                    column="hardness",
                )
            if need_hardness and code is None:
                raise InputDataError(
                    path,
                    f"code {text} has no hardness.",
                    "give every lithology a hardness (hard, sub-hard, sub-soft, soft).",
                    row=i,
                    column="hardness",
                )
            hard.append(code)
    out = pd.DataFrame({"code": codes, "name": names})
    if "hardness" in table.columns:
        out["hardness_code"] = pd.array(hard, dtype="Int64")
    return out


def is_raster(path: str | os.PathLike) -> bool:
    """Tell whether ``path`` is a raster (else it is treated as a vector layer).

    A file with a raster suffix (:data:`slidemap.inputs.RASTER_SUFFIXES`) is a raster even
    when GDAL cannot open it, so a damaged GeoTIFF gets a raster error, not a vector one.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    from slidemap.inputs import RASTER_SUFFIXES

    if str(path).lower().endswith(RASTER_SUFFIXES):
        return True

    gdal_log = logging.getLogger("rasterio._env")
    level = gdal_log.level
    gdal_log.setLevel(logging.ERROR)  # "not recognized as a supported file format" is expected
    try:
        with rasterio.open(path) as src:
            return src.count >= 1
    except RasterioIOError:
        return False
    finally:
        gdal_log.setLevel(level)


def _rasterize_block(
    block: np.ndarray, shapes: Any, tree: Any, grid: Any, block_info: Any = None
) -> np.ndarray:
    """Rasterise polygons (centre-in-polygon) into one float64 block, NaN outside."""
    import shapely
    from affine import Affine
    from rasterio.features import rasterize

    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    t = grid.transform @ Affine.translation(c0, r0)
    box = shapely.box(t.c, t.f + (r1 - r0) * t.e, t.c + (c1 - c0) * t.a, t.f)
    hits = np.sort(tree.query(box))
    out = np.full((r1 - r0, c1 - c0), np.nan)
    if len(hits):
        burned = rasterize(
            ((shapes[i][0], shapes[i][1]) for i in hits),
            out_shape=out.shape,
            transform=t,
            fill=0,
            all_touched=False,
            dtype="int32",
        )
        out[burned > 0] = burned[burned > 0]
    return out


def categorical_on_grid(
    path: str | os.PathLike,
    grid: Any,
    *,
    attribute: str | None,
    key: str,
    chunk_size: int,
) -> Any:
    """Bring a categorical raster or polygon layer onto the grid (lazy float64, NaN = no class).

    Parameters
    ----------
    path
        Raster of codes, or polygon layer.
    grid
        The study grid.
    attribute
        Integer attribute holding the code (polygon layers).
    key
        Config key of the layer (``layers.lithology`` ...) for messages.
    chunk_size
        Chunk edge in cells.

    Returns
    -------
    dask.array.Array
        float64 codes, NaN where there is no class.
    """
    import dask.array as da
    import shapely

    from slidemap.raster import open_on_grid

    if is_raster(path):
        from slidemap.inputs import check_raster

        check_raster(path, f"{key}.path")
        return open_on_grid(
            path, grid, chunk_size=chunk_size, resampling="nearest", dtype="float64"
        ).data
    if not attribute:
        raise ConfigError(
            f"config key '{key}.attribute': {path} is a vector layer, so the integer "
            "attribute that holds the class code must be named."
        )
    from slidemap.inputs import read_vector

    gdf, _ = read_vector(path, f"{key}.path", grid.crs, types=("polygon",), what="layer")
    if attribute not in gdf.columns:
        raise InputDataError(
            path,
            f"the layer has no attribute '{attribute}' (attributes: "
            f"{[c for c in gdf.columns if c not in ('geometry', 'feature')]}).",
            f"set config key '{key}.attribute' to the column holding the class code.",
            column=attribute,
        )
    geoms = gdf.geometry
    values = pd.to_numeric(gdf[attribute], errors="coerce")
    bad = values.isna() | (values % 1 != 0) | (values < 1) | (values > MAX_CODE)
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputDataError(
            path,
            f"feature {int(gdf['feature'].iloc[first])} has code "
            f"{gdf[attribute].iloc[first]!r}, not an "
            f"integer from 1 to {MAX_CODE}.",
            "give every polygon an integer class code >= 1.",
            column=attribute,
        )
    shapes = list(zip(geoms.to_numpy(), values.astype(int).to_numpy(), strict=True))
    tree = shapely.STRtree(geoms.to_numpy())
    template = da.zeros(grid.shape, chunks=(chunk_size, chunk_size), dtype=np.float64)
    return da.map_blocks(
        _rasterize_block, template, shapes=shapes, tree=tree, grid=grid, dtype=np.float64
    )


def class_colormap(codes: list[int]) -> dict[int, tuple[int, int, int, int]]:
    """Return a colour table (code -> RGBA) for class codes, 0 transparent.

    Parameters
    ----------
    codes
        Class codes (1..255).

    Returns
    -------
    dict
        Colours from matplotlib's ``tab20`` cycle.
    """
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    out = {0: (0, 0, 0, 0)}
    for i, code in enumerate(sorted(codes)):
        r, g, b, _ = cmap(i % 20)
        out[int(code)] = (int(r * 255), int(g * 255), int(b * 255), 255)
    return out


def _codes_present(data: Any, dem: Any, threads: int) -> np.ndarray:
    """Return the distinct codes found where the DEM is valid (blockwise)."""
    import dask

    def block_unique(values: np.ndarray, elev: np.ndarray) -> np.ndarray:
        return np.unique(values[~np.isnan(elev) & ~np.isnan(values)])

    data = data.rechunk(dem.chunks)
    parts = [
        dask.delayed(block_unique)(v, e)
        for v, e in zip(data.to_delayed().ravel(), dem.to_delayed().ravel(), strict=True)
    ]
    with dask.config.set(scheduler="threads", num_workers=max(1, threads)):
        found = dask.compute(*parts)
    return np.unique(np.concatenate(found)) if found else np.empty(0)


def write_categorical_factor(
    source_path: str | os.PathLike,
    dem_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    name: str,
    attribute: str | None = None,
    codes_path: str | os.PathLike | None = None,
    chunk_size: int = 1024,
    threads: int = 1,
    compress: str = "deflate",
) -> dict[int, str]:
    """Write a categorical factor (``lithology.tif``, ``landuse.tif``) on the study grid.

    Parameters
    ----------
    source_path
        Raster of codes or polygon layer.
    dem_path
        The grid DEM (grid and nodata cells).
    out_path
        Output COG (uint8 or int16, nodata 0).
    name
        Factor name (``lithology``, ``landuse``).
    attribute
        Code attribute of a polygon layer.
    codes_path
        Code table CSV, or None (classes are then named ``class <code>``).
    chunk_size
        Chunk edge in cells.
    threads
        Threads for reading and writing.
    compress
        COG compression, ``"deflate"`` or ``"zstd"`` (``factors.compress``).

    Returns
    -------
    dict
        Code -> class name of the codes found in the study area.

    Raises
    ------
    InputDataError
        If a value is not an integer code >= 1 or is missing from the code table.
    """
    import json

    import dask.array as da

    from slidemap.raster import Grid, open_on_grid, write_cog

    key = f"layers.{name}"
    grid = Grid.from_raster(dem_path)
    dem = open_on_grid(dem_path, chunk_size=chunk_size).data
    data = categorical_on_grid(
        source_path, grid, attribute=attribute, key=key, chunk_size=chunk_size
    )
    present = _codes_present(data, dem, threads)
    bad = present[(present % 1 != 0) | (present < 1) | (present > MAX_CODE)]
    if bad.size:
        raise InputDataError(
            source_path,
            f"values {bad[:10].tolist()} inside the study area are not class codes "
            f"(integers from 1 to {MAX_CODE}; 0 is reserved for nodata).",
            "renumber the classes from 1, or declare the nodata value of the raster.",
        )
    present = present.astype(int)
    if codes_path:
        table = read_code_table(codes_path, key=f"{key}.codes")
        names = dict(zip(table["code"], table["name"], strict=True))
        missing = sorted(set(present.tolist()) - set(names))
        if missing:
            raise InputDataError(
                codes_path,
                f"codes {missing} of {os.path.basename(str(source_path))} are not in the "
                "code table.",
                "add a row code,name for each of them.",
                column="code",
            )
    else:
        names = {int(c): f"class {c}" for c in present}
    codes = {int(c): names[int(c)] for c in present}
    dtype = "uint8" if present.size == 0 or present.max() <= 255 else "int16"
    out = da.where(da.isnan(dem) | da.isnan(data), 0, data).astype(dtype)
    tags = {
        "factor": name,
        "kind": "categorical",
        "unit": "class",
        "method": (
            "raster, nearest-neighbour resampling to the grid"
            if is_raster(source_path)
            else f"polygons rasterised by attribute '{attribute}' (cell centre in polygon)"
        ),
        "source": os.path.basename(str(source_path)),
        "codes": json.dumps({str(k): v for k, v in codes.items()}),
    }
    write_cog(
        out,
        out_path,
        grid=grid,
        nodata=0,
        dtype=dtype,
        tags=tags,
        colormap=class_colormap(list(codes)) if dtype == "uint8" else None,
        resampling="nearest",
        threads=threads,
        compress=compress,
        level=1,
        predictor=True,
    )
    return codes


def write_hardness_factor(
    lithology_path: str | os.PathLike,
    codes_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    chunk_size: int = 1024,
    threads: int = 1,
    compress: str = "deflate",
) -> dict[int, str]:
    """Write ``hardness.tif`` (1 hard, 2 sub-hard, 3 sub-soft, 4 soft; 0 nodata) from lithology.

    Parameters
    ----------
    lithology_path
        ``factors/lithology.tif`` (codes on the study grid).
    codes_path
        The lithology code table with its ``hardness`` column.
    out_path
        Output COG (uint8).
    chunk_size
        Chunk edge in cells.
    threads
        Threads for reading and writing.
    compress
        COG compression, ``"deflate"`` or ``"zstd"`` (``factors.compress``).

    Returns
    -------
    dict
        Hardness code -> class name.
    """
    import json

    import rasterio

    from slidemap.raster import Grid, open_on_grid, write_cog

    table = read_code_table(codes_path, key="layers.lithology.codes", need_hardness=True)
    grid = Grid.from_raster(lithology_path)
    with rasterio.open(lithology_path) as src:
        lith_codes = json.loads(src.tags().get("codes", "{}"))
    lut = np.zeros(MAX_CODE + 1, dtype=np.uint8)
    lut[table["code"].to_numpy()] = table["hardness_code"].to_numpy(dtype=np.uint8)
    lith = open_on_grid(lithology_path, chunk_size=chunk_size).data
    out = lith.map_blocks(lambda b: lut[b.astype(np.int64)], dtype=np.uint8)
    tags = {
        "factor": "hardness",
        "kind": "categorical",
        "unit": "class",
        "method": "lithology grouped by the code table's hardness column (seed 002)",
        "source": f"lithology ({os.path.basename(str(codes_path))})",
        "codes": json.dumps({str(k): v for k, v in HARDNESS_CLASSES.items()}),
        "lithology_codes": json.dumps(lith_codes),
    }
    write_cog(
        out,
        out_path,
        grid=grid,
        nodata=0,
        dtype="uint8",
        tags=tags,
        colormap=class_colormap(list(HARDNESS_CLASSES)),
        resampling="nearest",
        threads=threads,
        compress=compress,
        level=1,
        predictor=True,
    )
    return dict(HARDNESS_CLASSES)


def write_extra_factor(
    source_path: str | os.PathLike,
    dem_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    name: str,
    chunk_size: int = 1024,
    threads: int = 1,
    compress: str = "deflate",
) -> None:
    """Write an extra continuous layer (rainfall, NDVI, PGA ...) resampled bilinearly to the grid.

    Parameters
    ----------
    source_path
        Any GDAL raster with a CRS (band 1; its nodata becomes NaN).
    dem_path
        The grid DEM (grid and nodata cells).
    out_path
        Output COG (float32, NaN nodata).
    name
        Factor name (the key under ``layers.extra``).
    chunk_size
        Chunk edge in cells.
    threads
        Threads for reading and writing.
    compress
        COG compression, ``"deflate"`` or ``"zstd"`` (``factors.compress``).
    """
    import rasterio

    from slidemap.factors.studygrid import mask_like_dem
    from slidemap.inputs import check_raster
    from slidemap.raster import Grid, open_on_grid, write_cog

    check_raster(source_path, f"layers.extra.{name}")
    grid = Grid.from_raster(dem_path)
    data = open_on_grid(source_path, grid, chunk_size=chunk_size, resampling="bilinear").data
    data = mask_like_dem(data, open_on_grid(dem_path, chunk_size=chunk_size).data, np.nan)
    with rasterio.open(source_path) as src:
        unit = src.units[0] or src.tags(1).get("unit", "") or "as source"
    tags = {
        "factor": name,
        "kind": "continuous",
        "unit": unit,
        "method": "bilinear resampling to the grid",
        "source": os.path.basename(str(source_path)),
    }
    write_cog(
        data,
        out_path,
        grid=grid,
        nodata=np.nan,
        dtype="float32",
        tags=tags,
        resampling="average",
        threads=threads,
        compress=compress,
        level=1,
        predictor=True,
    )
