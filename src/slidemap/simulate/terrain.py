"""Terrain derivatives the simulator needs: gradient, slope, aspect, SAR visibility.

The gradient is Horn's (1981) 3 x 3 estimate (:func:`slidemap.raster.horn_gradient`), the
one ``gdaldem slope/aspect`` uses, so a check with GDAL sees the same terrain. Arrays are
north-up (row 0 is the northern edge).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = [
    "slope_aspect_deg",
    "range_facing_slope_deg",
    "visibility",
    "fill_nan_nearest",
    "smooth_dem",
]


def slope_aspect_deg(dzdx: np.ndarray, dzdy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slope and aspect from a gradient.

    Parameters
    ----------
    dzdx, dzdy
        Gradient toward east and north (m/m).

    Returns
    -------
    tuple of numpy.ndarray
        Slope (degrees from horizontal) and aspect (azimuth of the downslope direction,
        degrees clockwise from north, in [0, 360)).
    """
    slope = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    aspect = np.degrees(np.arctan2(-dzdx, -dzdy)) % 360.0
    return slope, aspect


def range_facing_slope_deg(
    dzdx: np.ndarray, dzdy: np.ndarray, los_e: float | np.ndarray, los_n: float | np.ndarray
) -> np.ndarray:
    """Terrain slope in the range plane, positive where the ground faces the satellite.

    Parameters
    ----------
    dzdx, dzdy
        Gradient toward east and north (m/m).
    los_e, los_n
        Horizontal components of the ground-to-satellite LOS unit vector.

    Returns
    -------
    numpy.ndarray
        Angle (degrees) of the terrain in the vertical plane holding the LOS: positive when
        the ground descends toward the satellite (faces it), negative when it faces away.
    """
    norm = np.hypot(los_e, los_n)
    rise_toward_sat = (dzdx * los_e + dzdy * los_n) / norm
    return -np.degrees(np.arctan(rise_toward_sat))


def visibility(
    dzdx: np.ndarray,
    dzdy: np.ndarray,
    los: tuple[np.ndarray, np.ndarray, np.ndarray],
    incidence_deg: float | np.ndarray,
    margin_deg: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Layover and shadow masks from the local incidence angle in the range plane.

    The local incidence in the range plane is ``incidence - facing_slope``. Layover starts
    where it reaches 0 (the slope facing the radar is as steep as the incidence angle) and
    shadow where it reaches 90 degrees (the slope facing away is as steep as the grazing
    angle). ``margin_deg`` widens both masks to drop the extreme foreshortening and grazing
    next to them, where real processing keeps no usable scatterers either.

    Parameters
    ----------
    dzdx, dzdy
        Gradient toward east and north (m/m).
    los
        Ground-to-satellite LOS unit vector ``(e, n, u)`` (scalars or arrays like dzdx).
    incidence_deg
        Ellipsoidal incidence angle (degrees).
    margin_deg
        Safety margin (degrees) added to both limits.

    Returns
    -------
    tuple of numpy.ndarray
        Boolean ``(layover, shadow)`` masks; NaN gradients are in neither (test them apart).
    """
    facing = range_facing_slope_deg(dzdx, dzdy, los[0], los[1])
    local = np.asarray(incidence_deg) - facing
    with np.errstate(invalid="ignore"):
        layover = local < margin_deg
        shadow = local > 90.0 - margin_deg
    return layover, shadow


def fill_nan_nearest(z: np.ndarray) -> np.ndarray:
    """Fill NaN cells with the value of the nearest valid cell.

    Parameters
    ----------
    z
        2-D array with NaN holes (at least one valid cell).

    Returns
    -------
    numpy.ndarray
        A copy without NaN.
    """
    nan = ~np.isfinite(z)
    if not nan.any():
        return np.array(z, dtype=float)
    idx = ndimage.distance_transform_edt(nan, return_distances=False, return_indices=True)
    return np.asarray(z, dtype=float)[tuple(idx)]


def smooth_dem(z: np.ndarray, sigma_cells: float) -> np.ndarray:
    """Gaussian-smoothed DEM (nodata filled with the nearest value first, then restored).

    Parameters
    ----------
    z
        Elevation (m) with NaN nodata.
    sigma_cells
        Standard deviation of the Gaussian kernel (cells).

    Returns
    -------
    numpy.ndarray
        Smoothed elevation (m), NaN where ``z`` is NaN.
    """
    out = ndimage.gaussian_filter(fill_nan_nearest(z), sigma_cells, mode="nearest")
    out[~np.isfinite(z)] = np.nan
    return out
