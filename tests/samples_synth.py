"""Seeded synthetic factor rasters, inventory and candidates for the samples-stage tests."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.transform import from_origin

from slidemap.io import write_json
from slidemap.raster import write_cog

CRS = "EPSG:32717"
X0, Y0, CELL = 700_000.0, 9_560_000.0, 10.0
HEIGHT, WIDTH = 120, 100
TRANSFORM = from_origin(X0, Y0, CELL, CELL)


def centre(row: int, col: int) -> tuple[float, float]:
    """Cell centre coordinates."""
    return X0 + (col + 0.5) * CELL, Y0 - (row + 0.5) * CELL


def make_factors(folder: Path, seed: int = 0, height: int = HEIGHT, width: int = WIDTH) -> dict:
    """Write four continuous and one categorical factor COG plus factors.json.

    Nodata: a NaN hole in elevation (rows 10-19, cols 10-19), and lithology code 0 (nodata)
    in rows 100-104. Returns {name: array}.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rr, cc = np.mgrid[0:height, 0:width].astype(np.float64)
    elev = 1500 + 3.0 * rr + 2.0 * cc + 20 * np.sin(rr / 7) + rng.normal(0, 1, (height, width))
    elev[10:20, 10:20] = np.nan
    slope = np.clip(25 + 15 * np.sin(cc / 9) * np.cos(rr / 11) + rng.normal(0, 2, rr.shape), 0, 80)
    twi = 6 + 3 * np.cos(cc / 13) + rng.normal(0, 0.5, rr.shape)
    dist = np.abs(cc - 50) * CELL + rng.uniform(0, 5, rr.shape)
    litho = (1 + (rr // 30) + (cc > 60)).astype(np.int16)
    litho[100:105] = 0
    arrays = {"elevation": elev, "slope": slope, "twi": twi, "dist_roads": dist, "lithology": litho}
    entries = []
    for name, arr in arrays.items():
        cat = name == "lithology"
        path = folder / f"{name}.tif"
        write_cog(
            arr.astype(np.int16 if cat else np.float32),
            path,
            crs=CRS,
            transform=from_origin(X0, Y0, CELL, CELL),
            nodata=0 if cat else np.nan,
        )
        e = {
            "name": name,
            "kind": "categorical" if cat else "continuous",
            "unit": "-",
            "method": "synthetic",
            "source": "test",
            "path": str(path),
        }
        if cat:
            e["codes"] = {str(k): f"unit{k}" for k in range(1, 7)}
        entries.append(e)
    write_json({"factors": entries}, folder / "factors.json")
    return {k: (v.astype(np.float32) if k != "lithology" else v) for k, v in arrays.items()}


def valid_cells(arrays: dict) -> np.ndarray:
    """bool grid: every factor valid."""
    ok = np.ones(arrays["elevation"].shape, dtype=bool)
    for name, a in arrays.items():
        ok &= (a != 0) if name == "lithology" else np.isfinite(a)
    return ok


def make_inventory(path: Path, arrays: dict, seed: int = 1, n_pos: int = 40, n_neg: int = 80):
    """CSV inventory (x, y, lslpts): positives and negatives on valid cells (jittered within
    the cell), plus 2 points outside the grid, 3 on nodata and 1 duplicate cell (positives).
    Returns (frame, expected exclusion counts)."""
    rng = np.random.default_rng(seed)
    ok = np.argwhere(valid_cells(arrays))
    pick = ok[rng.choice(len(ok), n_pos + n_neg, replace=False)]
    xs, ys = [], []
    for r, c in pick:
        x, y = centre(r, c)
        xs.append(x + rng.uniform(-4, 4))
        ys.append(y + rng.uniform(-4, 4))
    lab = [1] * n_pos + [0] * n_neg
    extra = [
        (X0 - 50.0, Y0 - 100.0),  # west of the grid
        (X0 + 100.0, Y0 + 30.0),  # north of the grid
        centre(12, 12),  # elevation hole
        centre(15, 18),  # elevation hole
        centre(102, 40),  # lithology nodata
    ]
    r0, c0 = pick[0]
    x_dup, y_dup = centre(r0, c0)
    extra.append((x_dup + 1.0, y_dup - 1.0))  # same cell as the first positive
    for x, y in extra:
        xs.append(x)
        ys.append(y)
        lab.append(1)
    df = pd.DataFrame({"x": np.round(xs, 3), "y": np.round(ys, 3), "lslpts": lab})
    df.to_csv(path, index=False)
    return df, {"outside_grid": 2, "nodata": 3, "duplicate_cell": 1}


def make_candidates(path: Path, seed: int = 2, n: int = 12) -> gpd.GeoDataFrame:
    """Candidate polygons (discs and boxes) with cand_id and InSAR attributes."""
    rng = np.random.default_rng(seed)
    geoms = []
    for i in range(n):
        x = X0 + rng.uniform(80, WIDTH * CELL - 80)
        y = Y0 - rng.uniform(80, HEIGHT * CELL - 80)
        if i % 2:
            geoms.append(shapely.Point(x, y).buffer(rng.uniform(15, 60)))
        else:
            geoms.append(shapely.box(x - 30, y - 20, x + rng.uniform(10, 50), y + 25))
    p = rng.dirichlet([1, 1, 1], n)
    gdf = gpd.GeoDataFrame(
        {
            "cand_id": np.arange(1, n + 1, dtype=np.int64),
            "area_m2": [g.area for g in geoms],
            "tracks": ["asc_018"] * n,
            "n_points_asc_018": rng.integers(3, 40, n),
            "n_moving_asc_018": rng.integers(1, 3, n),
            "mean_abs_v_mm_yr": rng.uniform(10, 30, n),
            "max_abs_v_mm_yr": rng.uniform(30, 60, n),
            "p_uncorrelated": p[:, 0],
            "p_linear": p[:, 1],
            "p_nonlinear": p[:, 2],
            "v_slope_mm_yr": rng.uniform(5, 40, n),
        },
        geometry=geoms,
        crs=CRS,
    )
    gdf.to_file(path, layer="candidates", driver="GPKG")
    return gdf


def make_study(root: Path, names: list[str], *, with_tracks: bool, seed: int = 0) -> dict:
    """A small study folder for workflow tests: DEM, one COG per planned factor (under
    results/synth/factors/), factors.json, an inventory CSV, optionally a track folder and
    candidates.gpkg. Returns a config dict."""
    rng = np.random.default_rng(seed)
    height, width = 90, 80
    inputs = root / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    rr, cc = np.mgrid[0:height, 0:width].astype(np.float64)
    dem = 1500 + 4.0 * rr + 2.0 * cc + 25 * np.sin(rr / 6) * np.cos(cc / 9)
    write_cog(
        dem.astype(np.float32), inputs / "dem.tif", crs=CRS, transform=TRANSFORM, nodata=np.nan
    )
    folder = root / "results" / "synth" / "factors"
    folder.mkdir(parents=True, exist_ok=True)
    base = {
        "slope": 25 + 15 * np.sin(cc / 9) * np.cos(rr / 11),
        "twi": 6 + 3 * np.cos(cc / 13),
    }
    entries = []
    for i, name in enumerate(names):
        if name in base:
            arr = base[name]
        elif name in ("tri", "roughness"):  # strongly correlated with slope
            arr = base["slope"] * (0.5 + 0.1 * i)
        elif name == "elevation":
            arr = dem
        else:
            arr = np.sin(rr / (5 + i) + i) * np.cos(cc / (7 + i)) * (i + 1)
        arr = arr + rng.normal(0, 0.3, arr.shape)
        arr[:3, :3] = np.nan  # a nodata corner in every factor
        write_cog(
            arr.astype(np.float32),
            folder / f"{name}.tif",
            crs=CRS,
            transform=TRANSFORM,
            nodata=np.nan,
        )
        entries.append(
            {
                "name": name,
                "kind": "continuous",
                "unit": "-",
                "method": "synthetic",
                "source": "test",
                "path": str(folder / f"{name}.tif"),
            }
        )
    write_json({"factors": entries}, folder / "factors.json")
    # inventory: landslides where slope is high, non-landslides elsewhere
    slope = base["slope"]
    hi = np.argwhere((slope > 30) & (rr > 3))
    lo = np.argwhere((slope < 20) & (rr > 3))
    pos = hi[rng.choice(len(hi), 70, replace=False)]
    neg = lo[rng.choice(len(lo), 90, replace=False)]
    xy = [centre(r, c) for r, c in np.vstack([pos, neg])]
    labels = [1] * len(pos) + [0] * len(neg)
    config = {
        "study_area": {"name": "synth"},
        "dem": {"path": "inputs/dem.tif"},
        "inventory": {
            "path": "inputs/inventory.csv",
            "crs": CRS,
            "label_column": "lslpts",
            "label_value": 1,
        },
        "validation": {"folds": 3, "block_size_m": 200},
        "selection": {"rf_trees": 20, "rf_repeats": 2},
        "tiles": {"size": 5},
    }
    if with_tracks:
        track = inputs / "tracks" / "asc"
        track.mkdir(parents=True, exist_ok=True)
        (track / "batch.csv").write_text("pid,latitude,longitude\n")
        config["insar"] = {"tracks": {"asc": {"path": "inputs/tracks/asc", "format": "egms"}}}
        # candidates: discs around 24 landslide and 24 non-landslide points, 12 elsewhere
        geoms, ids = [], []
        for k, (x, y) in enumerate(xy[:24] + xy[70:94]):
            geoms.append(shapely.Point(x, y).buffer(25.0))
            ids.append(k + 1)
        for k in range(12):
            x, y = centre(int(rng.integers(10, 80)), int(rng.integers(10, 70)))
            geoms.append(shapely.Point(x + 3, y + 3).buffer(15.0))
            ids.append(100 + k)
        n = len(geoms)
        p = rng.dirichlet([1, 1, 1], n)
        cands = gpd.GeoDataFrame(
            {
                "cand_id": ids,
                "area_m2": [g.area for g in geoms],
                "tracks": ["asc"] * n,
                "mean_abs_v_mm_yr": rng.uniform(10, 30, n),
                "max_abs_v_mm_yr": rng.uniform(30, 60, n),
                "p_uncorrelated": p[:, 0],
                "p_linear": p[:, 1],
                "p_nonlinear": p[:, 2],
                "v_slope_mm_yr": rng.uniform(5, 40, n),
            },
            geometry=geoms,
            crs=CRS,
        )
        hot = root / "results" / "synth" / "hotspots"
        hot.mkdir(parents=True, exist_ok=True)
        cands.to_file(hot / "candidates.gpkg", layer="candidates", driver="GPKG")
    pd.DataFrame({"x": [x for x, _ in xy], "y": [y for _, y in xy], "lslpts": labels}).to_csv(
        inputs / "inventory.csv", index=False
    )
    return config
