"""The study area: working CRS and footprint polygon derived from the DEM and the config."""

from __future__ import annotations

from pathlib import Path

import rasterio
import shapely
from pyproj import CRS
from rasterio.warp import transform_bounds

from slidemap.errors import ConfigError, InputDataError

__all__ = ["utm_crs_for", "working_crs", "study_area_polygon"]


def utm_crs_for(lon_deg: float, lat_deg: float) -> CRS:
    """Return the WGS84 UTM zone CRS containing a point.

    Parameters
    ----------
    lon_deg, lat_deg
        Longitude and latitude in degrees (WGS84).

    Returns
    -------
    pyproj.CRS
        EPSG:326xx (north) or EPSG:327xx (south).
    """
    zone = int((lon_deg + 180.0) // 6.0) % 60 + 1
    return CRS.from_epsg((32600 if lat_deg >= 0 else 32700) + zone)


def working_crs(dem_path: str | Path, crs: str | None = None) -> CRS:
    """Decide the working CRS of a study (projected, metres).

    Parameters
    ----------
    dem_path
        The DEM.
    crs
        The configured CRS (``study_area.crs``), or None.

    Returns
    -------
    pyproj.CRS
        ``crs`` when given; else the DEM's CRS when it is projected in metres; else the UTM
        zone of the DEM's centre.

    Raises
    ------
    ConfigError
        If ``crs`` is not a valid, projected, metre-based CRS.
    InputDataError
        If the DEM has no CRS.
    """
    if crs is not None:
        try:
            out = CRS.from_user_input(crs)
        except Exception as exc:  # pyproj raises CRSError with a long message
            raise ConfigError(
                f"config key 'study_area.crs': {crs!r} is not a CRS pyproj understands "
                f"({exc}). Use e.g. 'EPSG:32717'."
            ) from None
        unit = out.axis_info[0].unit_name if out.axis_info else ""
        if not out.is_projected or unit not in ("metre", "meter"):
            raise ConfigError(
                f"config key 'study_area.crs': {crs!r} is not projected in metres. "
                "Use a projected CRS such as the UTM zone of the study area."
            )
        return out
    from slidemap.inputs import open_raster

    with open_raster(dem_path, "dem.path") as src:
        if src.crs is None:
            raise InputDataError(
                dem_path,
                "the DEM has no coordinate reference system.",
                "assign one (gdal_edit.py -a_srs EPSG:xxxx) or reproject the DEM, and "
                "point config key 'dem.path' to it.",
            )
        dem_crs = CRS.from_user_input(src.crs)
        if dem_crs.is_projected:
            return dem_crs
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    return utm_crs_for((west + east) / 2.0, (south + north) / 2.0)


def study_area_polygon(
    dem_path: str | Path, crs: CRS, boundary: str | Path | None = None
) -> shapely.Polygon | shapely.MultiPolygon:
    """Return the study area polygon in the working CRS.

    Parameters
    ----------
    dem_path
        The DEM; its bounding box (in the working CRS) is the default study area.
    crs
        The working CRS.
    boundary
        Optional polygon file restricting the study area; intersected with the DEM box.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        The study area, coordinates in metres of ``crs``.
    """
    with rasterio.open(dem_path) as src:
        box = shapely.box(*transform_bounds(src.crs, crs, *src.bounds, densify_pts=21))
    if boundary is None:
        return box
    from slidemap.inputs import read_vector

    gdf, _ = read_vector(
        boundary, "study_area.boundary", crs, types=("polygon",), what="boundary layer"
    )
    poly = shapely.union_all(gdf.geometry.values)
    area = shapely.intersection(box, poly)
    if area.is_empty:
        raise InputDataError(
            boundary,
            "the boundary does not overlap the DEM.",
            "check the boundary's CRS and that it covers the DEM.",
        )
    return area
