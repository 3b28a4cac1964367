"""Seeded synthetic stand-ins for the maps tests: factor rasters on a study grid and two model
bundles with the ModelBundle interface (a per-cell logistic model and a 3 x 3 patch model).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from affine import Affine
from numpy.lib.stride_tricks import sliding_window_view
from rasterio.crs import CRS

from slidemap.raster import write_cog

CRS_UTM = CRS.from_epsg(32717)
TRANSFORM = Affine(10.0, 0.0, 700000.0, 0.0, -10.0, 9560000.0)
CONTINUOUS = ["elevation", "slope", "twi"]
CATEGORICAL = ["lithology"]
FACTORS = CONTINUOUS + CATEGORICAL


def make_factors(folder: Path, height: int = 37, width: int = 53, seed: int = 0) -> dict:
    """Write seeded factor COGs (float32 NaN nodata; lithology uint8 codes 1-4, nodata 0)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:height, 0:width]
    arrays = {
        "elevation": 2000 + 3.0 * yy + 2.0 * xx + rng.normal(0, 5, (height, width)),
        "slope": 30 + 15 * np.sin(xx / 6.0) * np.cos(yy / 5.0) + rng.normal(0, 2, (height, width)),
        "twi": rng.gamma(2.0, 2.0, (height, width)),
    }
    for name, arr in arrays.items():
        arr = arr.astype(np.float32)
        holes = rng.random(arr.shape) < 0.02
        arr[holes] = np.nan
        arrays[name] = arr
        write_cog(arr, folder / f"{name}.tif", crs=CRS_UTM, transform=TRANSFORM, nodata=np.nan)
    lith = (1 + (xx // 14 + yy // 10) % 4).astype(np.uint8)
    lith[rng.random(lith.shape) < 0.02] = 0
    arrays["lithology"] = lith
    write_cog(lith, folder / "lithology.tif", crs=CRS_UTM, transform=TRANSFORM, nodata=0)
    dem = arrays["elevation"]
    write_cog(dem, folder / "dem.tif", crs=CRS_UTM, transform=TRANSFORM, nodata=np.nan)
    return arrays


def factor_stack(arrays: dict, factors=FACTORS) -> np.ndarray:
    """[F, H, W] float32 with categorical 0 -> NaN (the reference for the tests)."""
    out = []
    for name in factors:
        a = np.asarray(arrays[name], dtype=np.float32)
        if name in CATEGORICAL:
            a = np.where(a == 0, np.nan, a)
        out.append(a)
    return np.stack(out)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class LogisticBundle:
    """P = sigmoid(b + sum_j w_j x_j + effect[lithology]); NaN if any factor is NaN."""

    factors = FACTORS
    categorical = CATEGORICAL

    def __init__(self):
        self.w = np.array([0.004, 0.08, -0.15])
        self.b = -11.0
        self.effect = np.array([0.0, -0.5, 0.3, 0.8, -0.2])  # by code 0..4

    def _score(self, cont, lith):
        z = self.b + cont @ self.w
        code = np.nan_to_num(lith, nan=0).astype(int)
        z = z + self.effect[code]
        z[np.isnan(lith) | np.isnan(cont).any(axis=-1)] = np.nan
        return z

    def predict_proba(self, X):
        X = np.asarray(X, dtype=np.float64)
        return _sigmoid(self._score(X[:, :3], X[:, 3]))

    def predict_grid(self, stack):
        F, H, W = stack.shape
        X = stack.reshape(F, -1).T
        return self.predict_proba(X).reshape(H, W).astype(np.float32)


class PatchMeanBundle(LogisticBundle):
    """A 3 x 3 patch model: sigmoid of the NaN-mean of the logistic score over the patch;
    NaN when the centre cell is nodata."""

    patch_size = 3

    def predict_proba(self, P):
        P = np.asarray(P, dtype=np.float64)  # [n, F, k, k]
        n, F, k, _ = P.shape
        cells = P.transpose(0, 2, 3, 1).reshape(-1, F)
        z = self._score(cells[:, :3], cells[:, 3]).reshape(n, k * k)
        centre = z[:, (k * k) // 2]
        with np.errstate(all="ignore"):
            m = np.nanmean(np.where(np.isnan(z), np.nan, z), axis=1)
        out = _sigmoid(m)
        out[np.isnan(centre)] = np.nan
        return out

    def predict_grid(self, stack):
        F, H2, W2 = stack.shape
        h = self.patch_size // 2
        X = stack.reshape(F, -1).T.astype(np.float64)
        z = self._score(X[:, :3], X[:, 3]).reshape(H2, W2)
        win = sliding_window_view(z, (self.patch_size, self.patch_size))
        with np.errstate(all="ignore"):
            m = np.nanmean(win, axis=(-1, -2))
        out = _sigmoid(m)
        out[np.isnan(z[h : H2 - h, h : W2 - h])] = np.nan
        return out.astype(np.float32)


def patches_at(stack: np.ndarray, rows, cols, k: int) -> np.ndarray:
    """k x k patches [n, F, k, k] around cells, NaN-padded beyond the grid."""
    h = k // 2
    padded = np.pad(stack, ((0, 0), (h, h), (h, h)), constant_values=np.nan)
    return np.stack([padded[:, r : r + k, c : c + k] for r, c in zip(rows, cols, strict=True)])


def make_samples(arrays: dict, n: int = 120, seed: int = 1, edge: bool = True) -> pd.DataFrame:
    """Samples at random valid cells (some on the grid edge): row, col, x_m, y_m, label, split."""
    rng = np.random.default_rng(seed)
    stack = factor_stack(arrays)
    H, W = stack.shape[1:]
    valid = ~np.isnan(stack).any(axis=0)
    rr, cc = np.nonzero(valid)
    pick = rng.choice(rr.size, n, replace=False)
    rows, cols = rr[pick], cc[pick]
    if edge:
        extra = [(0, 0), (0, W - 1), (H - 1, 0), (H - 1, W - 1), (0, W // 2), (H // 2, 0)]
        extra = [(r, c) for r, c in extra if valid[r, c]]
        rows = np.r_[rows, [r for r, _ in extra]]
        cols = np.r_[cols, [c for _, c in extra]]
    x, y = TRANSFORM * (cols + 0.5, rows + 0.5)
    m = rows.size
    return pd.DataFrame(
        {
            "unit_id": np.arange(m),
            "row": rows,
            "col": cols,
            "x_m": x,
            "y_m": y,
            "label": rng.integers(0, 2, m),
            "split": np.where(rng.random(m) < 0.7, "train", "test"),
        }
    )


def write_study_results(root: Path, factor_names, *, height=60, width=70, seed=0, tracks=False):
    """A synthetic results tree of the stages before the maps (grid, factors, samples,
    candidates): what the maps rules read. Returns the sample frame."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    dem = (1800 + 4.0 * yy + 30 * np.sin(xx / 8.0) + rng.normal(0, 1, (height, width))).astype(
        np.float32
    )
    dem[:2, :3] = np.nan
    (root / "grid").mkdir(parents=True, exist_ok=True)
    write_cog(dem, root / "grid" / "dem.tif", crs=CRS_UTM, transform=TRANSFORM, nodata=np.nan)
    arrays = {}
    for i, name in enumerate(factor_names):
        a = (np.sin(xx / (5.0 + i) + i) * np.cos(yy / (7.0 + i)) * (i + 1)).astype(np.float32)
        a += rng.normal(0, 0.2, a.shape).astype(np.float32)
        a[np.isnan(dem)] = np.nan
        arrays[name] = a
        write_cog(
            a, root / "factors" / f"{name}.tif", crs=CRS_UTM, transform=TRANSFORM, nodata=np.nan
        )
    stack = np.stack([arrays[n] for n in factor_names])
    valid = np.argwhere(np.isfinite(stack).all(axis=0))
    risk = stack[0] + 0.5 * stack[1]
    score = risk[valid[:, 0], valid[:, 1]]
    p = np.exp(2 * (score - score.max()))
    pos = rng.choice(len(valid), 90, replace=False, p=p / p.sum())
    rest = np.setdiff1d(np.arange(len(valid)), pos)
    neg = rng.choice(rest, 90, replace=False)
    cells = valid[np.r_[pos, neg]]
    rows, cols = cells[:, 0], cells[:, 1]
    x, y = TRANSFORM * (cols + 0.5, rows + 0.5)
    n = rows.size
    df = pd.DataFrame(
        {
            "unit_id": np.arange(n),
            "unit": "pixel",
            "label": np.r_[np.ones(90, int), np.zeros(90, int)],
            "x_m": x,
            "y_m": y,
            "row": rows,
            "col": cols,
            "split": np.where(rng.random(n) < 0.7, "train", "test"),
            "fold": 0,
            "fold_random": 0,
            "source": np.r_[["inventory"] * 90, ["negative"] * 90],
        }
    )
    for i, name in enumerate(factor_names):
        df[name] = stack[i, rows, cols].astype(np.float64)
    (root / "samples").mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(x, y), crs=CRS_UTM).to_parquet(
        root / "samples" / "pixels.parquet"
    )
    if tracks:
        x0, y0 = TRANSFORM.c, TRANSFORM.f
        polys = [
            shapely.box(x0 + 100, y0 - 200, x0 + 180, y0 - 130),
            shapely.Point(x0 + 400, y0 - 400).buffer(35),
            shapely.box(x0 + 550, y0 - 520, x0 + 640, y0 - 450),
        ]
        cands = gpd.GeoDataFrame(
            {"cand_id": ["p1", "p2", "p3"], "area_m2": [p.area for p in polys]},
            geometry=polys,
            crs=CRS_UTM,
        )
        (root / "hotspots").mkdir(parents=True, exist_ok=True)
        cands.to_file(root / "hotspots" / "candidates.gpkg", layer="candidates")
        pd.DataFrame(
            {"cand_id": ["p1", "p2", "p3"], "probability": [0.9, 0.3, 0.7], "predicted": [1, 0, 1]}
        ).to_parquet(root / "hotspots" / "candidates_classified.parquet")
    return df, stack
