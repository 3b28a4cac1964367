"""What each track's hot-spot analysis chose and why, for the user (figures, report table).

The per-track ``hotspots/<track>/summary.json`` holds the resolved settings of
:func:`slidemap.hotspots.pipeline.resolve_settings` (noise level, stability threshold, Gi*
band, kernel radius, each with the reason it has its value) and the warnings raised when the
data cannot support the settings. :func:`settings_notes` turns one summary into the lines
drawn on the track's velocity figure; :func:`settings_table` turns all of them into the
report's table ``hotspots/settings.csv``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

__all__ = ["SETTINGS_COLUMNS", "settings_notes", "settings_table"]

#: Columns of ``hotspots/settings.csv``, after ``track``.
SETTINGS_COLUMNS = [
    "method",
    "n_points",
    "points_per_km2",
    "noise_sigma_mm_yr",
    "highpass_radius_m",
    "stability_threshold_mm_yr",
    "stability_threshold_why",
    "search_radius_m",
    "search_radius_why",
    "kernel_radius_m",
    "kernel_radius_why",
    "n_moving",
    "n_polygons",
    "warnings",
]


def _num(value, digits: int = 1) -> str:
    """Format a number for a note (``–`` when missing)."""
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "–"


def settings_notes(summary: Mapping) -> list[str]:
    """Lines describing one track's resolved hot-spot settings (for its velocity figure).

    Parameters
    ----------
    summary
        The track's ``summary.json``.

    Returns
    -------
    list of str
        Method, noise level (mm/yr), threshold (mm/yr), Gi* band and kernel radius (m),
        point density (points/km²) and one ``WARNING:`` line per warning.
    """
    hp = summary.get("highpass_radius_m")
    lines = [
        f"method {summary.get('method', '–')}; high-pass " + (f"{_num(hp, 0)} m" if hp else "off"),
        f"noise {_num(summary.get('noise_sigma_mm_yr'), 2)} mm/yr; "
        f"moving at |v| ≥ {_num(summary.get('stability_threshold_mm_yr'), 2)} mm/yr",
        f"Gi* band {_num(summary.get('search_radius_m'), 0)} m, "
        f"kernel {_num(summary.get('kernel_radius_m'), 0)} m; "
        f"{_num(summary.get('points_per_km2'), 0)} points/km²",
    ]
    lines += [f"WARNING: {w}" for w in summary.get("warnings", [])]
    return lines


def settings_table(summaries: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per track: the settings its hot-spot analysis chose, why, and its warnings.

    Parameters
    ----------
    summaries
        Track name → its ``summary.json``.

    Returns
    -------
    pandas.DataFrame
        ``track`` and :data:`SETTINGS_COLUMNS` (radii in m, velocities in mm/yr, density in
        points/km²; ``warnings`` joined by `` | ``, empty when none).
    """
    rows = []
    for track, s in sorted(summaries.items()):
        row = {"track": track}
        for key in SETTINGS_COLUMNS:
            value = s.get(key)
            row[key] = " | ".join(value) if key == "warnings" else value
        rows.append(row)
    return pd.DataFrame(rows, columns=["track", *SETTINGS_COLUMNS])
