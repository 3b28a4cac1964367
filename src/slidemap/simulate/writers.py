"""Write a simulation to disk: track CSVs, truth GeoPackages and JSON, demo layers.

Every file is written atomically (:mod:`slidemap.io`) and byte-reproducibly: numbers are
formatted by printf-style format strings after rounding, GeoPackages get a fixed
modification time (GDAL's ``OGR_CURRENT_DATE``), and nothing records the clock or the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from slidemap import __version__
from slidemap.io import atomic_path, write_gpkg, write_json
from slidemap.raster import write_cog
from slidemap.simulate.layers import LANDUSE_CODES, LITHOLOGY_CODES
from slidemap.simulate.result import Simulation
from slidemap.simulate.tracks import TrackResult

__all__ = [
    "EGMS_COLUMNS",
    "GENERIC_COLUMNS",
    "track_files",
    "write_simulation",
]

#: Fixed ``last_change`` time stamped into every GeoPackage (reproducible bytes).

#: EGMS L2b-like columns before the dates: (name, source column in TrackResult.points,
#: printf format).
EGMS_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("pid", "pid", "%s"),
    ("mp_type", "mp_type", "%s"),
    ("latitude", "latitude", "%.8f"),
    ("longitude", "longitude", "%.8f"),
    ("easting", "easting", "%.2f"),
    ("northing", "northing", "%.2f"),
    ("height", "height", "%.1f"),
    ("height_wgs84", "height_wgs84", "%.1f"),
    ("line", "line", "%d"),
    ("pixel", "pixel", "%d"),
    ("rmse", "rmse", "%.2f"),
    ("temporal_coherence", "temporal_coherence", "%.2f"),
    ("amplitude_dispersion", "amplitude_dispersion", "%.2f"),
    ("incidence_angle", "incidence_angle", "%.2f"),
    ("track_angle", "track_angle", "%.2f"),
    ("los_east", "los_east", "%.4f"),
    ("los_north", "los_north", "%.4f"),
    ("los_up", "los_up", "%.4f"),
    ("mean_velocity", "mean_velocity", "%.2f"),
    ("mean_velocity_std", "mean_velocity_std", "%.2f"),
    ("acceleration", "acceleration", "%.2f"),
    ("acceleration_std", "acceleration_std", "%.2f"),
    ("seasonality", "seasonality", "%.2f"),
    ("seasonality_std", "seasonality_std", "%.2f"),
)

#: Generic ``;``-separated layout before the ``D_YYYYMMDD`` columns.
GENERIC_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("CODE", "pid", "%s"),
    ("LON", "longitude", "%.8f"),
    ("LAT", "latitude", "%.8f"),
    ("VEL", "mean_velocity", "%.2f"),
    ("V_STDEV", "mean_velocity_std", "%.2f"),
    ("COHER", "temporal_coherence", "%.2f"),
    ("HEIGHT", "height", "%.1f"),
)

#: Displacement format (mm); the series are already rounded to 0.1 mm.
_DISP_FORMAT = "%.1f"


def _decimals(fmt: str) -> int | None:
    """Decimals of a ``%.Nf`` format, None for other formats."""
    if fmt.startswith("%.") and fmt.endswith("f"):
        return int(fmt[2:-1])
    return None


def _format(values: np.ndarray, fmt: str) -> np.ndarray:
    """Format a column; floats are rounded first and negative zero is avoided."""
    dec = _decimals(fmt)
    if dec is not None:
        values = np.round(np.asarray(values, dtype=float), dec) + 0.0
    return np.char.mod(fmt, np.asarray(values))


def _table_text(names: Sequence[str], cells: Sequence[np.ndarray], sep: str) -> str:
    """Join a header and one line per row, newline-terminated."""
    lines = [sep.join(names)]
    lines.extend(sep.join(row) for row in zip(*cells, strict=True))
    return "\n".join(lines) + "\n"


def _write_text(text: str, path: Path) -> None:
    """Write UTF-8 text with newline line ends, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)


def track_files(track: TrackResult) -> list[tuple[str, np.ndarray]]:
    """File names of a track and the point rows each holds.

    An EGMS-layout track with ``batches > 1`` is cut along the northing into that many
    strips of equal point count; each file holds its strip widened by half the
    ``batch_overlap_m`` on either side, so neighbouring files share the points of the
    overlap (identical rows, as EGMS bursts do).

    Parameters
    ----------
    track
        A simulated track.

    Returns
    -------
    list of (str, numpy.ndarray)
        ``(file name, row indices into track.points)``, rows sorted as they are written.
    """
    spec = track.spec
    pts = track.points
    years = f"{track.dates[0].year}_{track.dates[-1].year}"
    if spec.layout == "egms":
        y = pts["y"].to_numpy()
        cuts = np.quantile(y, np.linspace(0, 1, spec.batches + 1))
        cuts[0], cuts[-1] = -np.inf, np.inf
        half = spec.batch_overlap_m / 2.0
        order = np.lexsort((pts["pixel"].to_numpy(), pts["line"].to_numpy()))
        out = []
        for b in range(spec.batches):
            # batch 1 is the northernmost strip
            hi, lo = cuts[spec.batches - b], cuts[spec.batches - b - 1]
            sel = order[(y[order] >= lo - half) & (y[order] < hi + half)]
            burst = 512 + b
            out.append(
                (f"EGMS_L2b_{spec.relative_orbit:03d}_{burst:04d}_IW2_VV_{years}_1.csv", sel)
            )
        return out
    order = np.argsort(pts["pid"].to_numpy().astype(str), kind="stable")
    return [(f"ps_{spec.name}_{years}.csv", order)]


def _track_text(track: TrackResult, rows: np.ndarray) -> str:
    """CSV text of some rows of a track, in its layout."""
    spec = track.spec
    if spec.layout == "egms":
        columns, sep, prefix = EGMS_COLUMNS, ",", ""
    else:
        columns, sep, prefix = GENERIC_COLUMNS, ";", "D_"
    pts = track.points.iloc[rows]
    names = [c[0] for c in columns]
    cells = [_format(pts[src].to_numpy(), fmt) for _, src, fmt in columns]
    disp = track.displacement[rows]
    for k, d in enumerate(track.dates):
        names.append(prefix + d.strftime("%Y%m%d"))
        cells.append(_format(disp[:, k], _DISP_FORMAT))
    return _table_text(names, cells, sep)


def _codes_text(rows: Sequence[tuple], header: Sequence[str]) -> str:
    """CSV text of a code table."""
    lines = [",".join(header)] + [",".join(str(v) for v in r) for r in rows]
    return "\n".join(lines) + "\n"


def _extras_summary(track: TrackResult) -> dict:
    """JSON-ready record of what the optional physics drew for one track."""
    ex = track.extras
    out: dict = {}
    if "aps_sd_mm" in ex:
        out["aps_powerlaw_sd_mm_per_date"] = np.round(ex["aps_sd_mm"], 3).tolist()
    if "ramp_azimuth_deg" in ex:
        out["ramp_azimuth_deg"] = round(float(ex["ramp_azimuth_deg"]), 2)
        out["ramp_mm_yr_per_km"] = float(ex["ramp_mm_yr_per_km"])
    out["unwrap_errors"] = int(ex.get("unwrap_errors", 0))
    return out


def write_simulation(
    sim: Simulation,
    out_dir: Path,
    *,
    command: str = "python scripts/make_demo.py",
    summary_extra: dict | None = None,
    other_moving: bool | None = None,
) -> list[Path]:
    """Write the tracks, the truth and the layers of a simulation under ``out_dir``.

    Layout: ``tracks/<track>/*.csv``, ``truth/moving_slopes.gpkg`` (layer
    ``moving_slopes``), ``truth/other_sources.gpkg`` (layer ``other_sources``),
    ``truth/simulation.json``, ``layers/{faults,roads}.gpkg``,
    ``layers/{lithology,landuse}.tif`` and their ``*_codes.csv``; with ``other_moving``
    also ``truth/other_moving.gpkg`` (layer ``other_moving``: the other sources with a
    trend, i.e. subsidence bowls and embankments, not thermal discs).

    Parameters
    ----------
    sim
        The simulation.
    out_dir
        Output folder (created if needed). Existing track CSVs of the simulated tracks are
        removed first, so a folder never mixes two simulations.
    command
        Command recorded in ``simulation.json``.
    summary_extra
        Extra top-level entries of ``simulation.json`` (e.g. the scenario's name).
    other_moving
        Write ``truth/other_moving.gpkg``; None = when the parameters use any optional
        physics (never for the demo).

    Returns
    -------
    list of pathlib.Path
        The files written, sorted.
    """
    params = sim.params
    optional = params.uses_optional
    if other_moving is None:
        other_moving = optional
    out_dir = Path(out_dir)
    written: list[Path] = []
    track_info = {}
    for tr in sim.tracks:
        folder = out_dir / "tracks" / tr.spec.name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.csv"):
            old.unlink()
        names = []
        for name, rows in track_files(tr):
            _write_text(_track_text(tr, rows), folder / name)
            written.append(folder / name)
            names.append({"file": name, "rows": int(len(rows))})
        track_info[tr.spec.name] = {
            "layout": tr.spec.layout,
            "orbit": tr.spec.orbit,
            "relative_orbit": tr.spec.relative_orbit,
            "heading_deg": tr.spec.heading_deg,
            "incidence_deg_at_centre": tr.spec.incidence_deg,
            "first_date": tr.dates[0].isoformat(),
            "last_date": tr.dates[-1].isoformat(),
            "n_dates": len(tr.dates),
            "files": names,
            "points": int(len(tr.points)),
            "point_counts": tr.counts,
            "points_per_km2_kept_over_dem": round(
                len(tr.points) / (np.isfinite(sim.scene.dem).sum() * sim.scene.cell_m**2 / 1e6), 1
            ),
        }
        if optional:
            track_info[tr.spec.name]["optional_physics"] = _extras_summary(tr)

    truth = out_dir / "truth"
    write_gpkg(sim.slides, truth / "moving_slopes.gpkg", "moving_slopes")
    write_gpkg(sim.sources, truth / "other_sources.gpkg", "other_sources")
    written += [truth / "moving_slopes.gpkg", truth / "other_sources.gpkg"]
    if other_moving:
        write_gpkg(sim.other_moving, truth / "other_moving.gpkg", "other_moving")
        written.append(truth / "other_moving.gpkg")

    layers = out_dir / "layers"
    write_gpkg(sim.faults, layers / "faults.gpkg", "faults")
    write_gpkg(sim.roads, layers / "roads.gpkg", "roads")
    crs_wkt = sim.scene.crs.to_wkt()
    write_cog(
        sim.lithology,
        layers / "lithology.tif",
        crs=crs_wkt,
        transform=sim.lithology_transform,
        nodata=0,
        dtype="uint8",
        tags={"description": "illustrative lithology codes (simulated, not real geology)"},
    )
    write_cog(
        sim.landuse,
        layers / "landuse.tif",
        crs=crs_wkt,
        transform=sim.scene.transform,
        nodata=0,
        dtype="uint8",
        tags={"description": "illustrative land-use codes (simulated, not real land cover)"},
    )
    _write_text(
        _codes_text(LITHOLOGY_CODES, ("code", "name", "hardness")), layers / "lithology_codes.csv"
    )
    _write_text(_codes_text(LANDUSE_CODES, ("code", "name")), layers / "landuse_codes.csv")
    written += [
        layers / n
        for n in (
            "faults.gpkg",
            "roads.gpkg",
            "lithology.tif",
            "landuse.tif",
            "lithology_codes.csv",
            "landuse_codes.csv",
        )
    ]

    slides = sim.slides
    behaviours = {
        b: int((slides["behaviour"] == b).sum()) for b in ("linear", "accelerating", "step")
    }
    summary = {
        "generator": f"slidemap.simulate (slidemap {__version__})",
        "command": command,
        "seed": sim.params.seed,
        "params": sim.params.to_dict(),
        "period": {
            "start": sim.scene.epoch.isoformat(),
            "span_years": round(sim.scene.span_years, 4),
        },
        "tracks": track_info,
        "moving_slopes": {
            "file": "truth/moving_slopes.gpkg",
            "layer": "moving_slopes",
            "count": int(len(slides)),
            "behaviours": behaviours,
            "detectable": int(slides["detectable"].sum()) if len(slides) else 0,
            "detectability_rule": (
                f"a footprint is detectable in a track when at least "
                f"{params.detect_min_points} of its delivered points have a noise-free "
                f"|LOS rate| >= {params.detect_threshold_mm_yr:g} mm/yr; 'detectable' = in at "
                "least one track"
            ),
            "v_down_mm_yr_quantiles_5_50_95": (
                np.round(np.quantile(slides["v_down_mm_yr"], [0.05, 0.5, 0.95]), 1).tolist()
                if len(slides)
                else []
            ),
        },
        "other_sources": {
            "file": "truth/other_sources.gpkg",
            "layer": "other_sources",
            "count": int(len(sim.sources)),
        },
    }
    if optional:
        kinds = sim.sources["kind"].astype(str)
        summary["other_sources"]["by_kind"] = {
            k: int((kinds == k).sum()) for k in ("subsidence", "thermal", "embankment")
        }
        summary["moving_slopes"]["north_south"] = int(slides["north_south"].sum())
        summary["moving_slopes"]["detectable_per_track"] = {
            tr.spec.name: int(slides[f"detectable_{tr.spec.name}"].sum()) for tr in sim.tracks
        }
    if other_moving:
        summary["other_moving"] = {
            "file": "truth/other_moving.gpkg",
            "layer": "other_moving",
            "count": int(len(sim.other_moving)),
            "kinds": "subsidence and embankment (the other sources with a trend)",
        }
    if summary_extra:
        summary.update(summary_extra)
    write_json(summary, truth / "simulation.json")
    written.append(truth / "simulation.json")
    return sorted(written)
