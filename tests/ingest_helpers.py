"""Seeded synthetic InSAR exports (EGMS and generic layouts) for the ingest tests.

A study area of about 39 x 56 km in the Italian Alps (lon 10.0-10.5, lat 45.0-45.5) with
the working CRS UTM 32N; points carry LOS vectors from a Sentinel-1 geometry, and values
rounded the way real exports print them, so that a CSV round trip is exact.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from slidemap.insar.geometry import los_unit_vector

WORKING_CRS = "EPSG:32632"
LON = (10.0, 10.5)
LAT = (45.0, 45.5)
ASC = (-12.0, 39.0)  # heading, incidence (deg)
DSC = (192.0, 39.0)

_TO_UTM = Transformer.from_crs("EPSG:4326", WORKING_CRS, always_xy=True)
_TO_LAEA = Transformer.from_crs("EPSG:4326", "EPSG:3035", always_xy=True)


def study_area() -> shapely.Polygon:
    """The lon/lat box of the tests as a polygon in the working CRS (edges densified)."""
    box = shapely.box(LON[0], LAT[0], LON[1], LAT[1]).segmentize(0.01)
    return shapely.transform(box, lambda c: np.column_stack(_TO_UTM.transform(c[:, 0], c[:, 1])))


def dates(n: int, start: dt.date = dt.date(2020, 1, 3)) -> list[dt.date]:
    """``n`` acquisition dates on the 12-day Sentinel-1 cadence."""
    return [start + dt.timedelta(days=12 * i) for i in range(n)]


def make_points(
    n: int,
    *,
    seed: int = 0,
    n_dates: int = 6,
    outside: int = 0,
    geometry: tuple[float, float] = ASC,
    prefix: str = "P",
) -> tuple[pd.DataFrame, list[dt.date]]:
    """Canonical values of ``n`` points (the last ``outside`` of them west of the area).

    Returns a frame with pid, lon, lat, velocity, velocity_std, coherence, height, los_e,
    los_n, los_u and one column per date (``d_YYYYMMDD``, mm), and the dates.
    """
    rng = np.random.default_rng(seed)
    lon = np.round(rng.uniform(LON[0] + 0.01, LON[1] - 0.01, n), 6)
    lat = np.round(rng.uniform(LAT[0] + 0.01, LAT[1] - 0.01, n), 6)
    if outside:
        lon[n - outside :] = np.round(rng.uniform(8.0, 9.0, outside), 6)
    e, nn, u = los_unit_vector(geometry[0], geometry[1])
    days = dates(n_dates)
    frame = pd.DataFrame(
        {
            "pid": [f"{prefix}{i:06d}" for i in range(n)],
            "lon": lon,
            "lat": lat,
            "velocity": np.round(rng.normal(0, 8, n), 2),
            "velocity_std": np.round(rng.uniform(0.1, 2.0, n), 2),
            "coherence": np.round(rng.uniform(0.3, 1.0, n), 3),
            "height": np.round(rng.uniform(200, 3000, n), 1),
            "los_e": np.round(np.full(n, float(e)), 4),
            "los_n": np.round(np.full(n, float(nn)), 4),
            "los_u": np.round(np.full(n, float(u)), 4),
        }
    )
    t = np.array([(d - days[0]).days / 365.25 for d in days])
    disp = frame["velocity"].to_numpy()[:, None] * t[None, :] + rng.normal(0, 2, (n, len(t)))
    for j, d in enumerate(days):
        frame[f"d_{d:%Y%m%d}"] = np.round(disp[:, j], 1)
    return frame, days


def date_columns(frame: pd.DataFrame) -> list[str]:
    """The ``d_YYYYMMDD`` columns of a canonical frame."""
    return [c for c in frame.columns if c.startswith("d_")]


def to_egms(frame: pd.DataFrame, *, los: bool = True) -> pd.DataFrame:
    """Lay canonical points out as an EGMS L2b export (easting/northing in EPSG:3035)."""
    east, north = _TO_LAEA.transform(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    out = pd.DataFrame(
        {
            "pid": frame["pid"],
            "mp_type": "DS",
            "latitude": frame["lat"],
            "longitude": frame["lon"],
            "easting": np.round(east, 2),
            "northing": np.round(north, 2),
            "height": frame["height"],
            "height_wgs84": frame["height"] + 48.0,
            "line": np.arange(len(frame)) % 977,
            "pixel": np.arange(len(frame)) % 4001,
            "rmse": 1.1,
            "temporal_coherence": frame["coherence"],
            "amplitude_dispersion": 0.21,
            "incidence_angle": 39.0,
            "track_angle": -12.0,
        }
    )
    if los:
        out["los_east"] = frame["los_e"]
        out["los_north"] = frame["los_n"]
        out["los_up"] = frame["los_u"]
    out["mean_velocity"] = frame["velocity"]
    out["mean_velocity_std"] = frame["velocity_std"]
    for name in ("acceleration", "acceleration_std", "seasonality", "seasonality_std"):
        out[name] = 0.5
    for c in date_columns(frame):
        out[c[2:]] = frame[c]
    return out


GENERIC_COLUMNS = {
    "id": "CODE",
    "lon": "LON",
    "lat": "LAT",
    "velocity": "VEL",
    "velocity_std": "V_STDEV",
    "coherence": "COHER",
    "height": "HEIGHT",
}


def to_generic(frame: pd.DataFrame, *, date_style: str = "D_", xy: bool = False) -> pd.DataFrame:
    """Lay canonical points out like the demo's descending track (CODE, LON, LAT, VEL, …).

    ``date_style`` is the prefix of the date columns ('', 'D' or 'D_'); with ``xy`` the
    positions are UTM 32N columns X, Y instead of LON, LAT.
    """
    out = pd.DataFrame({"CODE": frame["pid"]})
    if xy:
        x, y = _TO_UTM.transform(frame["lon"].to_numpy(), frame["lat"].to_numpy())
        out["X"], out["Y"] = np.round(x, 2), np.round(y, 2)
    else:
        out["LON"], out["LAT"] = frame["lon"], frame["lat"]
    out["VEL"] = frame["velocity"]
    out["V_STDEV"] = frame["velocity_std"]
    out["COHER"] = frame["coherence"]
    out["HEIGHT"] = frame["height"]
    for c in date_columns(frame):
        out[f"{date_style}{c[2:]}"] = frame[c]
    return out


def write_csv(
    frame: pd.DataFrame,
    path: Path,
    *,
    sep: str = ",",
    decimal: str = ".",
    newline: str = "\n",
    encoding: str = "utf-8",
) -> Path:
    """Write an export like the field's tools do (no index; ``repr`` floats)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = frame.to_csv(index=False, sep=sep, decimal=decimal, lineterminator=newline)
    path.write_bytes(text.encode(encoding))
    return path


def egms_track(**extra) -> dict:
    """Track settings of an EGMS track."""
    return {"path": "unused", "format": "egms", **extra}


def generic_track(geometry: tuple[float, float] | None = DSC, **extra) -> dict:
    """Track settings of a generic track like the demo's descending one."""
    cfg = {"path": "unused", "format": "generic", "columns": dict(GENERIC_COLUMNS)}
    if geometry is not None:
        cfg["heading_deg"], cfg["incidence_deg"] = geometry
    cfg.update(extra)
    return cfg
