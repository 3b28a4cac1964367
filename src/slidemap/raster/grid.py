"""The one raster grid type of slidemap: CRS, affine transform and shape.

Every raster stage (study grid, factors, hot-spot density, maps, report, explanations) works
on :class:`Grid`. Study grids are north-up with square cells in metres of a projected CRS
(:func:`slidemap.factors.studygrid.define_grid` only makes such grids); rasters read with
:meth:`Grid.from_raster` may be anything rasterio reads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from slidemap.errors import InputDataError

__all__ = ["Grid", "check_same_grid"]


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS, affine transform and shape (cells).

    Each raster on a grid keeps its own nodata value (NaN for continuous factors and maps,
    0 or 255 for class codes), so the grid itself carries none.

    Parameters
    ----------
    crs
        The CRS (``rasterio.crs.CRS``; projected, metres, for a study grid), or None.
    transform
        Affine transform of the grid (cell size in metres of ``crs``).
    width, height
        Number of columns and rows (cells).
    """

    crs: Any
    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) in cells."""
        return (self.height, self.width)

    @property
    def resolution_m(self) -> float:
        """Cell edge in metres (the transform's ``a``; study-grid cells are square)."""
        return float(abs(self.transform.a))

    @property
    def cell_area_m2(self) -> float:
        """Area of one cell in square metres (|a·e − b·d| of the affine)."""
        t = self.transform
        return float(abs(t.a * t.e - t.b * t.d))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in metres of the CRS (north-up grids)."""
        west, north = self.transform.c, self.transform.f
        east = west + self.width * self.transform.a
        south = north + self.height * self.transform.e
        return (west, south, east, north)

    def require_north_up_square(self) -> Grid:
        """Return the grid itself; raise ``ValueError`` unless it is north-up with square cells.

        Raises
        ------
        ValueError
            If the transform is rotated, flipped or has non-square cells.
        """
        t = self.transform
        if t.b != 0 or t.d != 0 or t.a <= 0 or not math.isclose(t.e, -t.a, rel_tol=1e-9):
            raise ValueError(f"only north-up grids with square cells are supported, got {t}")
        return self

    def coords(self) -> dict[str, np.ndarray]:
        """Cell-centre coordinates ``{"y": (height,), "x": (width,)}`` in metres of the CRS."""
        t = self.transform
        return {
            "y": t.f + (np.arange(self.height) + 0.5) * t.e,
            "x": t.c + (np.arange(self.width) + 0.5) * t.a,
        }

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and inside-mask of the cells holding points (north-up square grids).

        Parameters
        ----------
        x, y
            Point coordinates in metres of the grid's CRS.

        Returns
        -------
        tuple of numpy.ndarray
            ``(row, col, inside)``; row/col are clipped into the grid where ``inside`` is False.
        """
        t = self.transform
        col = np.floor((np.asarray(x) - t.c) / t.a).astype(np.int64)
        row = np.floor((t.f - np.asarray(y)) / t.a).astype(np.int64)
        inside = (row >= 0) & (row < self.height) & (col >= 0) & (col < self.width)
        return np.clip(row, 0, self.height - 1), np.clip(col, 0, self.width - 1), inside

    def to_json(self) -> dict[str, Any]:
        """Return the ``grid.json`` keys (crs_wkt, epsg, transform, width, height, resolution_m)."""
        t = self.transform
        return {
            "crs_wkt": self.crs.to_wkt(),
            "epsg": self.crs.to_epsg(),
            "transform": [t.a, t.b, t.c, t.d, t.e, t.f],
            "width": int(self.width),
            "height": int(self.height),
            "resolution_m": self.resolution_m,
            "bounds": list(self.bounds),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Grid:
        """Rebuild a grid from :meth:`to_json` output (or a ``grid.json`` file's content)."""
        return cls(
            crs=CRS.from_wkt(obj["crs_wkt"]),
            transform=Affine(*obj["transform"]),
            width=int(obj["width"]),
            height=int(obj["height"]),
        )

    @classmethod
    def from_raster(cls, path: str | os.PathLike) -> Grid:
        """Read the grid of a raster file (e.g. ``grid/dem.tif``)."""
        with rasterio.open(path) as src:
            return cls.of(src)

    @classmethod
    def of(cls, src: Any) -> Grid:
        """Return the grid of an open rasterio dataset."""
        return cls(crs=src.crs, transform=src.transform, width=src.width, height=src.height)

    def with_resolution(self, cell_size_m: float | None) -> Grid:
        """Return a north-up grid with cells of ``cell_size_m`` metres over at least this extent.

        Parameters
        ----------
        cell_size_m
            Cell edge in metres; None (or this grid's size) returns this grid. Another size
            keeps the top-left corner and covers at least the grid's extent.
        """
        t = self.transform
        if cell_size_m is None or math.isclose(cell_size_m, t.a, rel_tol=1e-9):
            return self
        new = Affine(cell_size_m, 0.0, t.c, 0.0, -cell_size_m, t.f)
        w = int(math.ceil(self.width * t.a / cell_size_m - 1e-9))
        h = int(math.ceil(self.height * abs(t.e) / cell_size_m - 1e-9))
        return Grid(crs=self.crs, transform=new, width=w, height=h)

    def window(self, window: Any) -> Grid:
        """Return the grid of a window (``rasterio.windows.Window``, cells) of this grid."""
        return Grid(
            crs=self.crs,
            transform=self.transform @ Affine.translation(window.col_off, window.row_off),
            width=int(window.width),
            height=int(window.height),
        )

    def same_as(self, other: Grid, *, tol: float = 1e-9) -> bool:
        """Tell whether both grids have the same CRS, shape and transform (to ``tol`` metres)."""
        return (
            self.crs == other.crs
            and self.shape == other.shape
            and all(
                abs(a - b) <= tol
                for a, b in zip(self.transform[:6], other.transform[:6], strict=True)
            )
        )


def check_same_grid(paths: Iterable[str | os.PathLike], reference: Grid) -> None:
    """Check that every raster lies exactly on the reference grid.

    Parameters
    ----------
    paths
        Rasters to check.
    reference
        The study grid.

    Raises
    ------
    InputDataError
        Naming the first raster whose shape, CRS or transform differs.
    """
    for path in paths:
        g = Grid.from_raster(path)
        problems = []
        if g.shape != reference.shape:
            problems.append(
                f"shape {g.height}x{g.width} instead of {reference.height}x{reference.width}"
            )
        if g.crs != reference.crs:
            problems.append(f"CRS {g.crs} instead of {reference.crs}")
        if not g.transform.almost_equals(reference.transform, precision=1e-6):
            problems.append(f"transform {tuple(g.transform)[:6]} differs from the study grid")
        if problems:
            raise InputDataError(
                path,
                "the raster is not on the study grid: " + "; ".join(problems) + ".",
                "rebuild it from the study grid (results/<study>/grid/dem.tif); every factor "
                "and map must share its shape, CRS and transform.",
            )
