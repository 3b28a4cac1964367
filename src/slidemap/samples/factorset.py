"""The factor rasters of a study as one stack, and the columns all samples files share."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import rasterio
from pyproj import CRS
from rasterio.transform import Affine, rowcol
from rasterio.windows import Window

from slidemap.errors import InputDataError
from slidemap.io import read_json
from slidemap.raster import read_window

log = logging.getLogger(__name__)

#: Columns of every samples file that are not model features, in file order.
META_COLUMNS = [
    "unit_id",
    "unit",
    "label",
    "x_m",
    "y_m",
    "row",
    "col",
    "split",
    "fold",
    "fold_random",
    "source",
]

#: InSAR attributes of candidates.gpkg used as PLC features by default (seed 002 uses the
#: trend-class proportions; velocities describe the deformation).
PLC_ATTRIBUTES = [
    "mean_abs_v_mm_yr",
    "max_abs_v_mm_yr",
    "p_uncorrelated",
    "p_linear",
    "p_nonlinear",
    "v_slope_mm_yr",
]

#: Columns of the rule-based pre-classification (hot-spot stage) in candidates.gpkg; copied
#: to the PLC samples as metadata, never as features: for negatives drawn from the rule, a
#: classifier given them would only learn to copy the rule.
PRECLS_COLUMNS = ("precls", "precls_landslide")

#: Where a PLC label comes from (column ``label_source`` of the PLC samples).
LABEL_SOURCES = {
    "inventory": "overlaps an inventory feature (1 landslide, 0 mapped non-landslide)",
    "rule": "matches no inventory feature and the rule-based pre-classification rejects it "
    "(precls_landslide = 0), with an inventory that maps no non-landslide",
    "unmatched": "matches no inventory feature, and sampling.plc_unmatched is negative",
    "none": "unlabelled (-1), classified only",
}


@dataclass
class FactorSet:
    """The factor rasters of a study: names, kinds, paths and the common grid.

    Attributes
    ----------
    names
        Factor names (catalog order).
    paths
        One single-band raster per factor.
    kinds
        name -> ``"continuous"`` or ``"categorical"``.
    crs
        Grid CRS (projected, metres).
    transform
        Affine of the grid (cell size in metres).
    height, width
        Grid shape in cells.
    """

    names: list[str]
    paths: list[Path]
    kinds: dict[str, str]
    crs: CRS
    transform: Affine
    height: int
    width: int
    codes: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def open(
        cls, catalog: str | PathLike, paths: Mapping[str, str | PathLike] | None = None
    ) -> FactorSet:
        """Read ``factors.json`` and check that every factor is on one grid.

        Parameters
        ----------
        catalog
            ``factors.json`` (``{"factors": [{"name", "kind", "path", …}]}``).
        paths
            Optional name -> raster path overriding the catalog's ``path`` (the workflow
            passes its declared inputs). Without it a catalog path that does not exist is
            looked up as ``<catalog folder>/<name>.tif``.

        Returns
        -------
        FactorSet
        """
        entries = read_json(catalog).get("factors")
        if not entries:
            raise InputDataError(
                catalog, "the factor catalog lists no factors.", "rerun rule factor_catalog."
            )
        names, files, kinds, codes = [], [], {}, {}
        for i, e in enumerate(entries):
            try:
                name, kind = str(e["name"]), str(e["kind"])
            except KeyError as exc:
                raise InputDataError(
                    catalog, f"factor entry {i} has no {exc} field.", "rerun rule factor_catalog."
                ) from None
            if kind not in ("continuous", "categorical"):
                raise InputDataError(
                    catalog,
                    f"factor {name!r} has kind {kind!r}.",
                    "use 'continuous' or 'categorical'.",
                )
            if paths is not None and name in paths:
                p = Path(paths[name])
            else:
                p = Path(e.get("path") or "")
                if not p.is_file():
                    p = Path(catalog).parent / f"{name}.tif"
            if not p.is_file():
                raise InputDataError(
                    catalog,
                    f"factor {name!r}: raster {p} does not exist.",
                    "rerun the factor rules.",
                )
            names.append(name)
            files.append(p)
            kinds[name] = kind
            if e.get("codes"):
                codes[name] = dict(e["codes"])
        if paths is not None:
            unlisted = sorted(set(paths) - set(names))
            if unlisted:
                log.warning(
                    "factor(s) %s have rasters but are not in %s; not used", unlisted, catalog
                )
        with rasterio.open(files[0]) as ref:
            crs, transform, height, width = ref.crs, ref.transform, ref.height, ref.width
        for name, p in zip(names[1:], files[1:], strict=True):
            with rasterio.open(p) as src:
                if (
                    (src.height, src.width) != (height, width)
                    or not src.transform.almost_equals(transform)
                    or src.crs != crs
                ):
                    raise InputDataError(
                        p,
                        f"factor {name!r} is not on the grid of {names[0]!r}.",
                        "rerun the factor rules so that every factor uses R/grid/dem.tif's grid.",
                    )
        return cls(names, files, kinds, CRS.from_user_input(crs), transform, height, width, codes)

    @property
    def continuous(self) -> list[str]:
        """Names of the continuous factors."""
        return [n for n in self.names if self.kinds[n] == "continuous"]

    @property
    def categorical(self) -> list[str]:
        """Names of the categorical factors."""
        return [n for n in self.names if self.kinds[n] == "categorical"]

    @property
    def cell_size_m(self) -> float:
        """Cell edge in metres (the larger of the two)."""
        return float(max(abs(self.transform.a), abs(self.transform.e)))

    def cells_of(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cells holding points (may lie outside the grid).

        Parameters
        ----------
        x_m, y_m
            Coordinates in metres of the grid CRS.

        Returns
        -------
        tuple of numpy.ndarray
            int64 rows and columns.
        """
        x = np.asarray(x_m, dtype=np.float64)
        y = np.asarray(y_m, dtype=np.float64)
        if x.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        r, c = rowcol(self.transform, x, y, op=np.floor)
        return np.asarray(r, dtype=np.int64).ravel(), np.asarray(c, dtype=np.int64).ravel()

    def centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates (metres) of cell centres.

        Parameters
        ----------
        rows, cols
            Cell indices.

        Returns
        -------
        tuple of numpy.ndarray
            float64 x and y.
        """
        t = self.transform
        c = np.asarray(cols, dtype=np.float64) + 0.5
        r = np.asarray(rows, dtype=np.float64) + 0.5
        return t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f

    def inside(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Return True for cells inside the grid."""
        return (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)

    def read_cells(self, rows: np.ndarray, cols: np.ndarray, block: int = 512) -> np.ndarray:
        """Factor values at cells, read block by block (never whole rasters).

        Parameters
        ----------
        rows, cols
            Cell indices, shape (n,); cells outside the grid give NaN.
        block
            Edge in cells of the windows read.

        Returns
        -------
        numpy.ndarray
            float64 (n, F) in catalog order; NaN on nodata (categorical nodata 0 included).
        """
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        out = np.full((rows.size, len(self.names)), np.nan)
        ok = np.flatnonzero(self.inside(rows, cols))
        if ok.size == 0:
            return out
        br, bc = rows[ok] // block, cols[ok] // block
        keys = br * (1 << 32) + bc
        srcs = [rasterio.open(p) for p in self.paths]
        try:
            for key in np.unique(keys):
                sel = ok[keys == key]
                r0, c0 = int(key >> 32) * block, int(key & 0xFFFFFFFF) * block
                for f, src in enumerate(srcs):
                    win = read_window(src, Window(c0, r0, block, block))
                    out[sel, f] = win[rows[sel] - r0, cols[sel] - c0]
        finally:
            for src in srcs:
                src.close()
        return out

    def read_window_all(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """Read a window of every factor (float32 (F, height, width), NaN outside/nodata)."""
        out = np.empty((len(self.names), height, width), dtype=np.float32)
        for f, p in enumerate(self.paths):
            with rasterio.open(p) as src:
                out[f] = read_window(src, Window(col0, row0, width, height))
        return out
