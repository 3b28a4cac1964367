"""Seeded synthetic layers around the demo DEM for the factor tests (faults, roads, ...)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parents[1]
DEMO_DEM = ROOT / "resources" / "demo" / "dem.tif"

LITHOLOGY_CODES = """code,name,hardness
1,granite,hard
2,gneiss,hard
3,sandstone,sub-hard
4,mudstone,Sub-soft
5,quaternary sediments,soft
"""
LANDUSE_CODES = """code,name
1,trees
2,grass
3,crops
"""


def make_layers(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Write faults/roads (lines), lithology (raster + codes), land use (polygons + codes), rain.

    Faults are written in WGS84 (reprojected by slidemap), roads in the DEM's CRS; the
    lithology raster is on a coarser 30 m grid offset from the DEM's; the rain raster is in
    WGS84.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(DEMO_DEM) as src:
        b = src.bounds
        crs = src.crs
    out: dict[str, Path] = {}

    def polyline(n: int) -> shapely.LineString:
        start = np.array([rng.uniform(b.left, b.right), rng.uniform(b.bottom, b.top)])
        steps = rng.normal(0, 250, (n, 2)) + rng.normal(0, 200, 2)
        return shapely.LineString(start + np.cumsum(steps, axis=0))

    faults = gpd.GeoDataFrame({"name": ["f1", "f2"]}, geometry=[polyline(6), polyline(8)], crs=crs)
    out["faults"] = folder / "faults.gpkg"
    faults.to_crs("EPSG:4326").to_file(out["faults"], driver="GPKG")
    roads = gpd.GeoDataFrame({"id": [1, 2, 3]}, geometry=[polyline(10) for _ in range(3)], crs=crs)
    out["roads"] = folder / "roads.gpkg"
    roads.to_file(out["roads"], driver="GPKG")

    # lithology: 30 m raster, 5 codes, nodata 255, larger than the DEM on the west side
    res = 30.0
    west, north = b.left - 500.0 + 7.0, b.top + 11.0
    width, height = int((b.right - west) // res) + 3, int((north - b.bottom) // res) + 3
    yy, xx = np.mgrid[0:height, 0:width]
    lith = (1 + (xx // 25 + yy // 30) % 5).astype(np.uint8)
    lith[:3, :3] = 255
    out["lithology"] = folder / "lithology.tif"
    with rasterio.open(
        out["lithology"],
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="uint8",
        crs=crs,
        transform=from_origin(west, north, res, res),
        nodata=255,
    ) as dst:
        dst.write(lith, 1)
    out["lithology_codes"] = folder / "lithology_codes.csv"
    out["lithology_codes"].write_text(LITHOLOGY_CODES, encoding="utf-8")

    # land use: three polygons covering the DEM (code attribute "lu")
    xm = (b.left + b.right) / 2 + 3.3  # no cell centre on a polygon edge
    ym = (b.bottom + b.top) / 2 + 2.7
    polys = [
        shapely.box(b.left - 100, b.bottom - 100, xm, b.top + 100),
        shapely.box(xm, ym, b.right + 100, b.top + 100),
        shapely.box(xm, b.bottom - 100, b.right + 100, ym),
    ]
    landuse = gpd.GeoDataFrame({"lu": [1, 2, 3]}, geometry=polys, crs=crs)
    out["landuse"] = folder / "landuse.gpkg"
    landuse.to_file(out["landuse"], driver="GPKG")
    out["landuse_codes"] = folder / "landuse_codes.csv"
    out["landuse_codes"].write_text(LANDUSE_CODES, encoding="utf-8")

    # rain: a smooth field in WGS84 (mm/yr)
    lon0, lat0 = -79.1, -3.96
    rain = 2000 + 300 * np.sin(np.arange(60)[:, None] / 9.0) * np.cos(np.arange(60) / 7.0)
    out["rain"] = folder / "rain.tif"
    with rasterio.open(
        out["rain"],
        "w",
        driver="GTiff",
        width=60,
        height=60,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(lon0, lat0, 0.0015, 0.0015),
        nodata=-1,
    ) as dst:
        dst.write(rain.astype("float32"), 1)
        dst.set_band_unit(1, "mm/yr")
    return out
