"""Line-of-sight (LOS) geometry of a side-looking SAR such as Sentinel-1.

Conventions used everywhere in slidemap:

- The LOS unit vector points from the ground **to the satellite**, with east, north, up
  components (``los_e``, ``los_n``, ``los_u``), as in EGMS (``los_east/north/up``).
- A LOS velocity is the projection of the 3-D ground velocity on that vector, so positive
  means motion **toward** the satellite.
- Heading is the azimuth of the flight direction in degrees clockwise from north
  (Sentinel-1: about -12 deg ascending, about 192 deg descending); incidence is measured from
  the vertical at the ground point.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["los_unit_vector", "project_on_los"]


def los_unit_vector(
    heading_deg: ArrayLike, incidence_deg: ArrayLike, look: str = "right"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground-to-satellite LOS unit vector from heading and incidence angle.

    Parameters
    ----------
    heading_deg
        Flight direction, degrees clockwise from north.
    incidence_deg
        Incidence angle at the ground point, degrees from the vertical (0–90).
    look
        ``"right"`` (Sentinel-1) or ``"left"``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(e, n, u)`` components (dimensionless, unit length). For a right-looking sensor the
        satellite lies at azimuth heading − 90° as seen from the ground.
    """
    if look not in ("right", "left"):
        raise ValueError(f"look must be 'right' or 'left', got {look!r}")
    alpha = np.deg2rad(np.asarray(heading_deg, dtype=float))
    theta = np.deg2rad(np.asarray(incidence_deg, dtype=float))
    sign = 1.0 if look == "right" else -1.0
    # look direction (ground range, away from the satellite) has azimuth heading + 90 deg for a
    # right-looking radar; the vector to the satellite is its opposite, tilted up by 90-theta.
    e = -sign * np.sin(theta) * np.cos(alpha)
    n = sign * np.sin(theta) * np.sin(alpha)
    u = np.cos(theta)
    return np.asarray(e), np.asarray(n), np.asarray(u)


def project_on_los(
    v_e: ArrayLike, v_n: ArrayLike, v_u: ArrayLike, los: tuple[ArrayLike, ArrayLike, ArrayLike]
) -> np.ndarray:
    """Project a 3-D ground motion on the LOS (positive toward the satellite).

    Parameters
    ----------
    v_e, v_n, v_u
        East, north, up components of the motion (any unit, e.g. mm/yr).
    los
        Ground-to-satellite LOS unit vector ``(e, n, u)``.

    Returns
    -------
    numpy.ndarray
        LOS component in the unit of the input.
    """
    le, ln, lu = (np.asarray(c, dtype=float) for c in los)
    return np.asarray(v_e) * le + np.asarray(v_n) * ln + np.asarray(v_u) * lu
