"""The schema of scenario files and the checker that applies it.

Every key of a scenario file (``resources/scenarios/<name>.yaml``, documented in
``resources/scenarios/README.md``) has a checker of its value and a default here
(``_MISSING`` marks a required key). :func:`_check` walks a parsed YAML mapping against the
schema (unknown keys, required keys, values, defaults) and raises a
:class:`~slidemap.errors.ConfigError` naming the file, the dotted key and the fix;
:func:`~slidemap.simulate.scenario.load_scenario` applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS

from slidemap.errors import ConfigError

__all__ = ["ROLES"]

#: Roles of a scenario: ``development`` scenarios may be looked at while choosing defaults,
#: ``held_out`` ones never are.
ROLES = ("development", "held_out")

_MISSING = object()


class _Bad(Exception):
    """A value is wrong: ``problem`` and ``fix`` in words."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


def _number(lo: float = -np.inf, hi: float = np.inf, *, integer: bool = False) -> Callable:
    """Checker of a number (an integer when ``integer``) in ``[lo, hi]``."""

    def check(v: Any) -> float | int:
        kind = "an integer" if integer else "a number"
        ok_type = isinstance(v, int) if integer else isinstance(v, int | float)
        if isinstance(v, bool) or not ok_type or not np.isfinite(v):
            raise _Bad(f"{v!r} is not {kind}.", f"give {kind} between {lo:g} and {hi:g}.")
        if not lo <= v <= hi:
            raise _Bad(f"{v!r} is outside [{lo:g}, {hi:g}].", f"give {kind} in that range.")
        return int(v) if integer else float(v)

    return check


def _range(lo: float = -np.inf, hi: float = np.inf) -> Callable:
    """Checker of a ``[low, high]`` pair of numbers with ``lo <= low <= high <= hi``."""

    def check(v: Any) -> tuple[float, float]:
        if not isinstance(v, list | tuple) or len(v) != 2:
            raise _Bad(f"{v!r} is not a pair.", "give [low, high].")
        a, b = (_number(lo, hi)(x) for x in v)
        if a > b:
            raise _Bad(f"{v!r} has low > high.", "give [low, high] with low <= high.")
        return (a, b)

    return check


def _choice(*options: str) -> Callable:
    """Checker of one of ``options``."""

    def check(v: Any) -> str:
        if v not in options:
            raise _Bad(f"{v!r} is not allowed.", f"use one of {', '.join(options)}.")
        return v

    return check


def _text(v: Any) -> str:
    """Checker of a non-empty one-line string."""
    if not isinstance(v, str) or not v.strip() or "\n" in v.strip():
        raise _Bad(f"{v!r} is not a non-empty one-line text.", "give one line of text.")
    return v.strip()


def _name(v: Any) -> str:
    """Checker of a name of letters, digits and underscores (a folder and study name)."""
    if not isinstance(v, str) or not v or not v.replace("_", "").isalnum() or not v[0].isalpha():
        raise _Bad(f"{v!r} is not a valid name.", "use letters, digits and _ (a letter first).")
    return v


def _crs(v: Any) -> str:
    """Checker of a projected CRS in metres."""
    try:
        crs = CRS.from_user_input(v)
    except Exception:  # pyproj raises CRSError with a long message
        raise _Bad(f"{v!r} is not a CRS pyproj understands.", "use e.g. 'EPSG:32612'.") from None
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in ("metre", "meter"):
        raise _Bad(f"{v!r} is not projected in metres.", "use the UTM zone of the area.")
    return str(v)


def _window(v: Any) -> tuple[float, float, float, float] | None:
    """Checker of null or ``[west, south, east, north]``."""
    if v is None:
        return None
    if not isinstance(v, list | tuple) or len(v) != 4:
        raise _Bad(f"{v!r} is not [west, south, east, north].", "give 4 numbers or null.")
    w, s, e, n = (_number()(x) for x in v)
    if not (w < e and s < n):
        raise _Bad(f"{v!r} is empty (west >= east or south >= north).", "fix the order.")
    return (w, s, e, n)


def _date(v: Any) -> str:
    """Checker of an ISO date (YAML may have parsed it already)."""
    from datetime import date

    try:
        return date.fromisoformat(str(v)).isoformat()
    except ValueError:
        raise _Bad(f"{v!r} is not an ISO date.", "write it as YYYY-MM-DD.") from None


def _shares(v: Any) -> tuple[float, float, float]:
    """Checker of the behaviour shares (linear, accelerating, step), summing to 1."""
    if not isinstance(v, Mapping) or set(v) != {"linear", "accelerating", "step"}:
        raise _Bad(f"{v!r} is not a mapping of linear, accelerating, step.", "give all three.")
    out = tuple(_number(0.0, 1.0)(v[k]) for k in ("linear", "accelerating", "step"))
    if abs(sum(out) - 1.0) > 1e-6:
        raise _Bad(f"the shares sum to {sum(out):g}.", "make them sum to 1.")
    return out  # type: ignore[return-value]


#: The scenario schema: key -> (checker, default) or a nested mapping; ``_MISSING`` marks a
#: required key.
_TRACK_SCHEMA: dict[str, Any] = {
    "name": (_name, _MISSING),
    "orbit": (_choice("ascending", "descending"), _MISSING),
    "relative_orbit": (_number(1, 175, integer=True), _MISSING),
    "heading_deg": (_number(-360, 360), _MISSING),
    "incidence_deg": (_number(15, 60), _MISSING),
    "layout": (_choice("egms", "generic"), _MISSING),
    "first_date": (_date, _MISSING),
    "n_dates": (_number(10, 400, integer=True), 61),
    "batches": (_number(1, 10, integer=True), 1),
    "batch_overlap_m": (_number(0, 5000), 300.0),
    "incidence_gradient_deg_per_km": (_number(0, 1), 0.068),
    "look": (_choice("right", "left"), "right"),
}

_SCHEMA: dict[str, Any] = {
    "name": (_name, _MISSING),
    "role": (_choice(*ROLES), _MISSING),
    "description": (_text, _MISSING),
    "seed": (_number(0, 2**63 - 1, integer=True), _MISSING),
    "terrain": {
        "dem": (_text, _MISSING),
        "window": (_window, None),
        "crs": (_crs, _MISSING),
        "cell_size_m": (_number(1, 500), _MISSING),
    },
    "slides": {
        "sites": (_choice("inventory", "random"), _MISSING),
        "inventory": (_text, None),
        "inventory_label_column": (_text, "lslpts"),
        "inventory_label_value": (_number(integer=True), 1),
        "count": (_number(0, 10000, integer=True), None),
        "fraction": (_number(0, 1), None),
        "min_site_slope_deg": (_number(0, 80), 10.0),
        "length_median_m": (_number(10, 5000), _MISSING),
        "length_sigma_ln": (_number(0, 3), _MISSING),
        "length_range_m": (_range(10, 5000), _MISSING),
        "width_ratio_range": (_range(0.05, 1), (0.5, 0.75)),
        "v_down_median_mm_yr": (_number(0, 10000), _MISSING),
        "v_down_sigma_ln": (_number(0, 3), _MISSING),
        "v_down_range_mm_yr": (_range(0, 10000), _MISSING),
        "behaviour_shares": (_shares, (0.5, 0.25, 0.25)),
        "north_south_share": (_number(0, 1), 0.0),
        "north_south_tolerance_deg": (_number(0, 90), 25.0),
    },
    "points": {
        "density_per_km2": (_number(1, 100000), _MISSING),
        "forest_share": (_number(0, 0.95), _MISSING),
    },
    "atmosphere": {
        "model": (_choice("gaussian", "powerlaw"), "powerlaw"),
        "sd_range_mm": (_range(0, 100), (1.0, 5.0)),
        "sd_mm": (_number(0, 100), 2.5),
        "beta": (_number(0.1, 6), 8.0 / 3.0),
        "stratified_sd_mm_per_km": (_number(0, 100), 3.0),
        "ramp_mm_yr_per_km": (_number(0, 100), 0.0),
    },
    "unwrapping": {"error_share": (_number(0, 1), 0.0)},
    "decoys": {
        "subsidence": {
            "count": (_number(0, 1000, integer=True), 0),
            "depth_range_m": (_range(1, 10000), (60.0, 120.0)),
            "rate_range_mm_yr": (_range(-10000, 0), (-30.0, -12.0)),
            "max_slope_deg": (_number(0, 90), 15.0),
        },
        "thermal": {
            "count": (_number(0, 1000, integer=True), 0),
            "radius_range_m": (_range(1, 5000), (80.0, 250.0)),
            "amplitude_range_mm": (_range(0, 1000), (3.0, 10.0)),
            "density_per_km2": (_number(0, 100000), 1500.0),
            "max_slope_deg": (_number(0, 90), 10.0),
            "peak_doy": (_number(1, 366), 200.0),
        },
        "embankment": {
            "count": (_number(0, 1000, integer=True), 0),
            "length_range_m": (_range(10, 100000), (400.0, 1200.0)),
            "rate_range_mm_yr": (_range(0, 10000), (5.0, 15.0)),
            "density_per_km2": (_number(0, 100000), 2000.0),
        },
        "min_distance_m": (_number(0, 100000), 150.0),
    },
    "tracks": ([_TRACK_SCHEMA], _MISSING),
    "detectability": {
        "threshold_mm_yr": (_number(0, 10000), 10.0),
        "min_points": (_number(1, 100000, integer=True), 6),
    },
    "inventory_output": {"share": (_number(0, 1), 0.6)},
}


def _fail(path: Path, key: str, problem: str, fix: str) -> ConfigError:
    """Build the error of one key of a scenario file."""
    return ConfigError(f"scenario file {path}: key '{key}': {problem} Fix: {fix}")


def _check(path: Path, data: Any, schema: Mapping, prefix: str = "") -> dict:
    """Check ``data`` against ``schema`` (unknown keys, required keys, values, defaults)."""
    where = prefix.rstrip(".") or "<top level>"
    if not isinstance(data, Mapping):
        raise _fail(path, where, f"{data!r} is not a mapping.", "write 'key: value' lines.")
    for key in data:
        if key not in schema:
            import difflib

            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise _fail(
                path,
                f"{prefix}{key}",
                "unknown key.",
                f"{hint}allowed keys here: {', '.join(schema)}.",
            )
    out: dict = {}
    for key, spec in schema.items():
        full = f"{prefix}{key}"
        if isinstance(spec, Mapping):
            out[key] = _check(path, data.get(key) or {}, spec, full + ".")
            continue
        checker, default = spec
        if key not in data:
            if default is _MISSING:
                raise _fail(path, full, "required key is missing.", "add it (see the README).")
            out[key] = default
            continue
        value = data[key]
        if isinstance(checker, list):  # a list of mappings
            if not isinstance(value, list) or not value:
                raise _fail(path, full, f"{value!r} is not a list.", "give a list of mappings.")
            out[key] = [
                _check(path, item, checker[0], f"{full}.{i}.") for i, item in enumerate(value)
            ]
            continue
        if value is None and default is None:
            out[key] = None
            continue
        try:
            out[key] = checker(value)
        except _Bad as bad:
            raise _fail(path, full, bad.problem, bad.fix) from None
    return out
