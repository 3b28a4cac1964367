"""Tiled hydrology in the workflow: the tile plan, the checks and the final mosaic.

With ``factors.hydrology.tile_size_cells`` set, the rule ``hydrology`` (one whole-array job,
~18 B per grid cell) is replaced by a chain of tile jobs and small merges (Barnes 2016, 2017)
whose peak memory follows the tile, not the grid; see ``docs/contracts.md`` and the modules
:mod:`~slidemap.factors.tiledfill`, :mod:`~slidemap.factors.tileddirs`,
:mod:`~slidemap.factors.tiledflow` and :mod:`~slidemap.factors.streams`. This module holds
what the workflow needs around them:

- :func:`plan_hydrology_tiles` decides the tile layout when the workflow is parsed, from the
  DEM's header and the ``study_area`` settings only (the same decision as rule
  ``study_grid``), so that a dry run lists every tile job without a checkpoint;
- :func:`check_tile_plan` lets each tile job refuse a grid DEM that is not the planned one;
- :func:`mosaic_hydrology_job` writes the final SCA/TWI/SPI COGs from the tile mosaics, with
  the tags the whole-array rule writes.

The tiled chain computes D8 routing (``factors.hydrology.method: d8``); MFD spreads flow to
several receivers, which the one-pass merge of Barnes (2017) cannot carry, so a tiled MFD is
refused with the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from slidemap.errors import ConfigError

__all__ = [
    "TILE_BASE_MB",
    "TILE_BYTES_PER_CELL",
    "HydrologyTiles",
    "check_tile_plan",
    "mosaic_hydrology_job",
    "plan_hydrology_tiles",
]

#: Peak memory of the largest tile job (SCA/TWI/SPI of a tile), bytes per tile cell; measured
#: 442 MB for 2048 x 2048 tiles with ~150 MB of interpreter and libraries
#: (benchmarks/flow_tiles.md), rounded up.
TILE_BYTES_PER_CELL = 80

#: Interpreter, numba and GDAL of one tile job (MB; measured 290 MB for a 256-cell tile).
TILE_BASE_MB = 400


@dataclass(frozen=True)
class HydrologyTiles:
    """The tile layout of the study grid for the tiled hydrology.

    Attributes
    ----------
    height, width
        Study grid size (cells).
    tile_size
        Tile edge (cells; edge tiles are smaller).
    tile_rows, tile_cols
        Layout size (tiles).
    windows
        ``(col_off, row_off, width, height)`` of each tile (cells), row-major.
    """

    height: int
    width: int
    tile_size: int
    tile_rows: int
    tile_cols: int
    windows: tuple[tuple[int, int, int, int], ...]

    @classmethod
    def layout(cls, height: int, width: int, tile_size: int) -> HydrologyTiles:
        """Cut a ``height`` x ``width``-cell grid into tiles of ``tile_size`` cells."""
        from slidemap.factors.tiledfill import tile_layout

        windows, tile_rows, tile_cols = tile_layout(height, width, tile_size)
        return cls(
            height=height,
            width=width,
            tile_size=tile_size,
            tile_rows=tile_rows,
            tile_cols=tile_cols,
            windows=tuple(
                (int(w.col_off), int(w.row_off), int(w.width), int(w.height)) for w in windows
            ),
        )

    @property
    def tiles(self) -> list[str]:
        """The tile ids (row-major indices as strings, the rules' ``{tile}`` wildcard)."""
        return [str(i) for i in range(len(self.windows))]

    def window(self, tile: int | str) -> Any:
        """Return the ``rasterio.windows.Window`` of a tile (cells)."""
        from rasterio.windows import Window

        return Window(*self.windows[int(tile)])

    def neighbours(self, tile: int | str) -> list[str]:
        """List the tile and its up to 8 neighbours (the tiles a one- or two-cell halo reads)."""
        r, c = divmod(int(tile), self.tile_cols)
        return [
            str(rr * self.tile_cols + cc)
            for rr in range(max(r - 1, 0), min(r + 2, self.tile_rows))
            for cc in range(max(c - 1, 0), min(c + 2, self.tile_cols))
        ]

    def job_mem_mb(self, attempt: int = 1) -> int:
        """Memory request of one tile job (MB), times the retry attempt."""
        cells = (self.tile_size + 4) ** 2
        return int((TILE_BASE_MB + TILE_BYTES_PER_CELL * cells / 2**20) * attempt)


def plan_hydrology_tiles(
    dem_path: str | os.PathLike,
    *,
    tile_size: int,
    method: str,
    crs: str | None = None,
    resolution_m: float | None = None,
    boundary: str | os.PathLike | None = None,
) -> HydrologyTiles:
    """Plan the tiles of the study grid that rule ``study_grid`` will build.

    Parameters
    ----------
    dem_path
        ``dem.path`` (read for its header only).
    tile_size
        ``factors.hydrology.tile_size_cells`` (cells).
    method
        ``factors.hydrology.method``; the tiled chain routes D8 only.
    crs, resolution_m, boundary
        The ``study_area`` settings, as rule ``study_grid`` gets them.

    Returns
    -------
    HydrologyTiles

    Raises
    ------
    ConfigError
        For ``method: mfd`` (with the two fixes) or a DEM that cannot be read.
    """
    from slidemap.factors.studygrid import define_grid

    if method != "d8":
        raise ConfigError(
            "config key 'factors.hydrology.tile_size_cells': tiled flow routing is D8 only, "
            f"and 'factors.hydrology.method' is {method!r}. Fix: set factors.hydrology.method: "
            "d8, or tile_size_cells: null to route the whole grid in one job (MFD)."
        )
    if not os.path.exists(dem_path):
        raise ConfigError(
            f"config key 'dem.path': {dem_path} does not exist (the tiled hydrology plans its "
            "tiles from the DEM's header when the workflow is read). Fix: the path."
        )
    grid, _ = define_grid(dem_path, crs=crs, resolution_m=resolution_m, boundary=boundary)
    return HydrologyTiles.layout(grid.height, grid.width, tile_size)


def check_tile_plan(dem_path: str | os.PathLike, height: int, width: int) -> None:
    """Refuse a grid DEM whose size is not the one the tiles were planned on.

    Parameters
    ----------
    dem_path
        The grid DEM (``grid/dem.tif``).
    height, width
        The planned grid size (cells).

    Raises
    ------
    ConfigError
        Naming both sizes and the fix (run the workflow again: it plans on the new grid).
    """
    import rasterio

    with rasterio.open(dem_path) as src:
        shape = (src.height, src.width)
    if shape != (height, width):
        raise ConfigError(
            f"{dem_path}: the study grid is {shape[0]} x {shape[1]} cells, but the hydrology "
            f"tiles were planned on {height} x {width} (the DEM or the study_area settings "
            "changed after the workflow was read). Fix: run snakemake again; it plans the "
            "tiles on the new grid."
        )


def mosaic_hydrology_job(
    vrt_paths: dict[str, str | os.PathLike],
    out_paths: dict[str, str | os.PathLike],
    *,
    min_tan_beta: float,
    tile_size: int,
    chunk_size: int = 1024,
    threads: int = 1,
    compress: str = "deflate",
) -> dict[str, Any]:
    """Write the SCA, TWI and SPI COGs of the grid from the mosaics of their tiles.

    Parameters
    ----------
    vrt_paths
        ``{"sca": ..., "twi": ..., "spi": ...}``: VRTs of the tile GeoTIFFs
        (:func:`~slidemap.factors.tiledflow.hydrology_factors_tile_job`, float32, NaN).
    out_paths
        The final COGs, same keys.
    min_tan_beta
        Floor of ``tan(beta)`` (dimensionless), for the tags.
    tile_size
        Tile edge (cells), for the tags.
    chunk_size
        Block edge (cells) of the copy: memory is ``threads`` blocks, not the grid.
    threads
        Threads of the copy and the compression.
    compress
        ``"deflate"`` or ``"zstd"`` (``factors.compress``).

    Returns
    -------
    dict
        Grid size and the number of layers written.
    """
    import numpy as np

    from slidemap.factors.hydrology import hydrology_tags
    from slidemap.raster import Grid, Layer, open_on_grid, write_cogs

    grid = Grid.from_raster(vrt_paths["sca"])
    routing = f"D8 steepest descent (tiled, {tile_size} x {tile_size}-cell tiles)"
    layers = [
        Layer(
            open_on_grid(vrt_paths[name], chunk_size=chunk_size).data,
            out_paths[name],
            nodata=np.nan,
            dtype="float32",
            tags=hydrology_tags(
                name, routing, min_tan_beta, memory_bytes_per_cell=TILE_BYTES_PER_CELL
            ),
            resampling="average",
        )
        for name in ("sca", "twi", "spi")
    ]
    write_cogs(layers, grid=grid, threads=threads, compress=compress, level=1, predictor=True)
    return {"cells": grid.height * grid.width, "layers": len(layers)}
