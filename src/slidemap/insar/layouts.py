"""CSV layouts of InSAR point exports: track settings, header sniffing and column mapping.

Two layouts are understood (``insar.tracks.<name>.format``):

``egms``
    European Ground Motion Service L2a/L2b exports: ``pid, mp_type, latitude, longitude,
    easting, northing, height, …, los_east, los_north, los_up, mean_velocity,
    mean_velocity_std, …`` then one displacement column per date named ``YYYYMMDD``.
    Positions come from ``easting``/``northing`` (EPSG:3035), else ``latitude``/``longitude``.
``generic``
    Any CSV whose columns the track's ``columns`` mapping names; date columns are named
    ``YYYYMMDD``, ``DYYYYMMDD`` or ``D_YYYYMMDD``.

The separator (``,``, ``;`` or tab) is detected from the header line; a ``;``-separated
file whose first data line holds numbers like ``12,5`` is read with a decimal comma.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slidemap.errors import ConfigError, InputDataError

__all__ = [
    "CANONICAL",
    "EGMS_COLUMNS",
    "TrackSettings",
    "Header",
    "Layout",
    "sniff_header",
    "resolve_layout",
    "parse_date_column",
]

#: Canonical names of the per-point values slidemap reads (keys of ``columns``).
CANONICAL = (
    "id",
    "x",
    "y",
    "lon",
    "lat",
    "velocity",
    "velocity_std",
    "coherence",
    "height",
    "los_east",
    "los_north",
    "los_up",
)

#: Column names of an EGMS L2a/L2b export (EPSG:3035 easting/northing).
EGMS_COLUMNS = {
    "id": "pid",
    "x": "easting",
    "y": "northing",
    "lon": "longitude",
    "lat": "latitude",
    "velocity": "mean_velocity",
    "velocity_std": "mean_velocity_std",
    "coherence": "temporal_coherence",
    "height": "height",
    "los_east": "los_east",
    "los_north": "los_north",
    "los_up": "los_up",
}
EGMS_CRS = "EPSG:3035"
#: LOS column names looked for in a generic layout when ``columns`` does not name them.
GENERIC_LOS = {"los_east": "los_east", "los_north": "los_north", "los_up": "los_up"}

_DATE_RE = re.compile(r"^[Dd]?_?(\d{8})$")
# Names that look like an attempt at a date column (D_2020011, 2020-01-01, D2020_01_01, and
# any of those with trailing characters such as 2020-02-09x or 20200209_v2): an error, never a
# column silently left out of the time series.
_DATE_LIKE_RE = re.compile(r"^(?:[Dd]_?\d|\d{4}[-_/]?\d{1,2}[-_/]?\d{1,2}|\d{5,})")
_SEPARATORS = (",", ";", "\t")
_DECIMAL_COMMA_RE = re.compile(r"^\s*[-+]?\d+,\d+(?:[eE][-+]?\d+)?\s*$")


@dataclass(frozen=True)
class TrackSettings:
    """The settings of one track (``insar.tracks.<name>``) with the schema's defaults.

    Attributes mirror the keys of ``$defs/track`` in ``workflow/schemas/config.schema.yaml``;
    ``tests/test_ingest.py`` checks that the defaults here equal the schema's.
    """

    name: str
    format: str
    path: str = ""
    orbit: str = "ascending"
    heading_deg: float | None = None
    incidence_deg: float | None = None
    look: str = "right"
    crs: str | None = None
    columns: Mapping[str, str | None] = field(default_factory=dict)
    velocity_positive: str = "toward_satellite"
    min_coherence: float | None = None
    invalid_rows: str = "error"
    duplicate_ids: str = "error"
    max_abs_velocity_mm_yr: float = 1000.0
    encoding: str = "utf-8"

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], name: str) -> TrackSettings:
        """Build the settings from a (validated) track config; missing keys take defaults.

        Parameters
        ----------
        cfg
            The track's mapping from the configuration.
        name
            The track name (used in messages: ``insar.tracks.<name>.<key>``).

        Returns
        -------
        TrackSettings
            The settings.

        Raises
        ------
        ConfigError
            If the combination of keys cannot describe a layout (see :meth:`check`).
        """
        known = {f for f in cls.__dataclass_fields__ if f != "name"}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(
                f"unknown config key 'insar.tracks.{name}.{unknown[0]}'. "
                f"Allowed keys: {', '.join(sorted(known))}."
            )
        kwargs = {k: v for k, v in cfg.items() if v is not None}
        columns = dict(kwargs.pop("columns", None) or {})
        bad = sorted(set(columns) - set(CANONICAL))
        if bad:
            raise ConfigError(
                f"unknown config key 'insar.tracks.{name}.columns.{bad[0]}'. "
                f"Allowed keys: {', '.join(CANONICAL)}."
            )
        settings = cls(name=name, columns=columns, **kwargs)
        settings.check()
        return settings

    def key(self, key: str) -> str:
        """Dotted config path of one of this track's keys (for messages)."""
        return f"insar.tracks.{self.name}.{key}"

    def check(self) -> None:
        """Check that the keys describe a readable layout, before any file is opened.

        Raises
        ------
        ConfigError
            Naming the key(s) to set: a generic layout needs ``columns.id``,
            ``columns.velocity`` and ``columns.x``/``columns.y`` (with ``crs``) or
            ``columns.lon``/``columns.lat``; ``heading_deg`` and ``incidence_deg`` go
            together; enumerations must hold one of their values.
        """
        enums = {
            "format": ("egms", "generic"),
            "look": ("right", "left"),
            "velocity_positive": ("toward_satellite", "away_from_satellite"),
            "invalid_rows": ("error", "drop"),
            "duplicate_ids": ("error", "first"),
        }
        for key, allowed in enums.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(
                    f"config key '{self.key(key)}': {getattr(self, key)!r} is not one of "
                    f"{', '.join(allowed)}."
                )
        if (self.heading_deg is None) != (self.incidence_deg is None):
            raise ConfigError(
                f"config keys '{self.key('heading_deg')}' and '{self.key('incidence_deg')}' "
                "go together: set both (the LOS vector needs the heading and the incidence "
                "angle) or neither."
            )
        if self.max_abs_velocity_mm_yr <= 0:
            raise ConfigError(f"config key '{self.key('max_abs_velocity_mm_yr')}' must be > 0.")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ConfigError(
                f"config key '{self.key('encoding')}': {self.encoding!r} is not a text "
                "encoding Python knows (use e.g. utf-8, latin-1, cp1252)."
            ) from None
        if self.format == "generic":
            cols = self.columns
            missing = [k for k in ("id", "velocity") if not cols.get(k)]
            has_xy = bool(cols.get("x")) and bool(cols.get("y"))
            has_ll = bool(cols.get("lon")) and bool(cols.get("lat"))
            if not (has_xy or has_ll):
                missing.append("x and y (with crs), or lon and lat")
            if missing:
                keys = ", ".join(f"'{self.key('columns')}.{m}'" for m in missing)
                raise ConfigError(
                    f"track '{self.name}' has format generic, so its column mapping must name "
                    f"the point id, the velocity and the position; missing: {keys}. Set them "
                    "to the column names of your CSV files (see config/README.md)."
                )
            if has_xy and not self.crs:
                raise ConfigError(
                    f"config key '{self.key('crs')}': columns.x/columns.y are set, so the "
                    "track needs the CRS of those coordinates, e.g. crs: 'EPSG:32633'."
                )
        if self.crs:
            from pyproj import CRS

            try:
                CRS.from_user_input(self.crs)
            except Exception:  # pyproj's CRSError text is long; ours names the key
                raise ConfigError(
                    f"config key '{self.key('crs')}': {self.crs!r} is not a CRS pyproj "
                    "understands. Use e.g. 'EPSG:3035'."
                ) from None


@dataclass(frozen=True)
class Header:
    """What :func:`sniff_header` learnt from the first line(s) of a CSV file.

    ``bytes_per_line`` is the mean length of the data lines in the file's first 64 KiB (to
    size buffers).
    """

    columns: list[str]
    sep: str
    decimal: str
    encoding: str
    has_bom: bool
    ends_with_newline: bool
    bytes_per_line: float = 100.0


@dataclass(frozen=True)
class Layout:
    """How one file's columns map to slidemap's canonical values.

    Attributes
    ----------
    columns
        Canonical name -> column name in the file, for every value the file provides.
    position
        ``"xy"`` (projected x/y in ``source_crs``) or ``"lonlat"`` (WGS84 degrees).
    source_crs
        CRS of the position columns.
    los_from_columns
        True when the file has the three LOS components.
    dates
        ``(column name in the file, datetime.date)`` of each displacement column, by date.
    """

    columns: dict[str, str]
    position: str
    source_crs: str
    los_from_columns: bool
    dates: list[tuple[str, dt.date]]

    @property
    def usecols(self) -> list[str]:
        """Every file column to read (mapped values, then the date columns)."""
        return list(dict.fromkeys([*self.columns.values(), *(c for c, _ in self.dates)]))


def _decode_error(
    path: Path, data: bytes, encoding: str, exc: UnicodeDecodeError
) -> InputDataError:
    """Build an :class:`InputDataError` pointing at the line of an undecodable byte."""
    line = data.count(b"\n", 0, exc.start) + 1
    bad = data[exc.start : exc.end]
    return InputDataError(
        path,
        f"the file is not valid {encoding} text (byte(s) {bad!r} cannot be decoded).",
        "save the file as UTF-8, or set the track's 'encoding' key to the file's encoding "
        "(e.g. latin-1 or cp1252).",
        row=line,
    )


def sniff_header(path: str | Path, encoding: str = "utf-8") -> Header:
    """Read the header of a CSV export and detect its separator and decimal mark.

    Parameters
    ----------
    path
        The CSV file.
    encoding
        Text encoding of the file (a UTF-8 byte-order mark is always accepted).

    Returns
    -------
    Header
        Column names (as written), separator, decimal mark, encoding to read with.

    Raises
    ------
    InputDataError
        If the file is empty, is not text in ``encoding``, has a header with a single
        column (unknown separator), empty or duplicate column names.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
        size = fh.seek(0, 2)
        if size:
            fh.seek(size - 1)
            last = fh.read(1)
        else:
            last = b""
    if not head.strip():
        raise InputDataError(
            path,
            "the file is empty (no header line, no data).",
            "re-export the batch, or remove the empty file from the track folder.",
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputDataError(
            path,
            "the file is UTF-16 text.",
            "save it as UTF-8 (most tools offer 'CSV UTF-8'), or set the track's "
            "'encoding' key to utf-16.",
            row=1,
        )
    has_bom = head.startswith(codecs.BOM_UTF8)
    if has_bom and codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    first, _, rest = head.partition(b"\n")
    second = rest.partition(b"\n")[0]
    try:
        text = first.decode(encoding).rstrip("\r")
    except UnicodeDecodeError as exc:
        raise _decode_error(path, head, encoding, exc) from None
    counts = {s: text.count(s) for s in _SEPARATORS}
    sep = max(_SEPARATORS, key=lambda s: counts[s])
    if counts[sep] == 0:
        raise InputDataError(
            path,
            f"the header line has a single column ({text[:80]!r}): its separator is none of "
            "',', ';' or tab.",
            "export the file with ',' or ';' between columns and a header line of column names.",
            row=1,
        )
    columns = next(csv.reader([text], delimiter=sep))
    stripped = [c.strip() for c in columns]
    seen: dict[str, int] = {}
    for i, name in enumerate(stripped):
        if name and name in seen:
            raise InputDataError(
                path,
                f"the header names column '{name}' twice (columns {seen[name] + 1} and {i + 1}).",
                "give each column a unique name.",
                row=1,
                column=name,
            )
        seen[name] = i
    decimal = "."
    if sep == ";":
        try:
            fields = second.decode(encoding, errors="replace").rstrip("\r").split(";")
        except LookupError:  # pragma: no cover - encoding was checked above
            fields = []
        if any(_DECIMAL_COMMA_RE.match(f) for f in fields):
            decimal = ","
    # complete data lines of the head (the last one may be cut at 64 KiB); a line holds at
    # least one separator per column, which bounds the estimate from below
    data_lines = rest.split(b"\n")[:-1]
    measured = sum(len(x) + 1 for x in data_lines) / len(data_lines) if data_lines else 100.0
    bytes_per_line = max(measured, float(len(columns)))
    return Header(
        bytes_per_line=bytes_per_line,
        columns=columns,
        sep=sep,
        decimal=decimal,
        encoding=encoding,
        has_bom=has_bom,
        ends_with_newline=last == b"\n",
    )


def parse_date_column(name: str) -> dt.date | None:
    """Return the date a displacement column stands for, or None if it is no date column.

    Parameters
    ----------
    name
        A column name: ``YYYYMMDD``, ``DYYYYMMDD`` or ``D_YYYYMMDD`` are date columns.

    Returns
    -------
    datetime.date or None
        The acquisition date.

    Raises
    ------
    ValueError
        If the name looks like a date column but is not a valid date in one of those forms.
    """
    s = name.strip()
    m = _DATE_RE.match(s)
    if m:
        try:
            return dt.datetime.strptime(m.group(1), "%Y%m%d").date()
        except ValueError:
            raise ValueError(f"'{name}' is not a valid date YYYYMMDD") from None
    if _DATE_LIKE_RE.match(s):
        raise ValueError(
            f"'{name}' looks like a date column but is not named YYYYMMDD, DYYYYMMDD or D_YYYYMMDD"
        )
    return None


def _find(header: list[str], wanted: str) -> str | None:
    """Return the header column matching ``wanted`` exactly, else ignoring case and spaces."""
    if wanted in header:
        return wanted
    folded = {c.strip().casefold(): c for c in header}
    return folded.get(wanted.strip().casefold())


def _missing_column(path: Path, settings: TrackSettings, key: str, wanted: str, header: list[str]):
    """InputDataError for a required column the file does not have."""
    hint = difflib.get_close_matches(wanted, [c.strip() for c in header], n=1, cutoff=0.5)
    guess = f" Did you mean '{hint[0]}'?" if hint else ""
    shown = ", ".join(c.strip() for c in header[:30]) + (" …" if len(header) > 30 else "")
    return InputDataError(
        path,
        f"the file has no column '{wanted}' (the {key.replace('_', ' ')} of each point).{guess} "
        f"Its columns are: {shown}.",
        f"set config key '{settings.key('columns')}.{key}' to the column that holds it "
        "(or re-export the file with that column).",
        column=wanted,
    )


def resolve_layout(path: str | Path, header: Header, settings: TrackSettings) -> Layout:
    """Map a file's header onto slidemap's canonical values.

    Parameters
    ----------
    path
        The CSV file (for messages).
    header
        Its sniffed header.
    settings
        The track settings.

    Returns
    -------
    Layout
        Column mapping, position columns and CRS, LOS source, date columns.

    Raises
    ------
    InputDataError
        For a missing required column (naming it and the config key to set), an
        unparsable or duplicated date column, or a file without LOS columns on a track
        without ``heading_deg``/``incidence_deg``.
    """
    path = Path(path)
    names = header.columns
    egms = settings.format == "egms"
    wanted: dict[str, str] = dict(EGMS_COLUMNS) if egms else dict(GENERIC_LOS)
    explicit = {k: v for k, v in settings.columns.items() if v}
    wanted.update(explicit)

    found: dict[str, str] = {}
    for key, col in wanted.items():
        actual = _find(names, col)
        if actual is not None:
            found[key] = actual
        elif key in explicit and key not in ("x", "y", "lon", "lat"):
            raise _missing_column(path, settings, key, col, names)

    for key in ("id", "velocity"):
        if key not in found:
            raise _missing_column(path, settings, key, wanted[key], names)

    if "x" in found and "y" in found:
        position, source_crs = "xy", settings.crs or EGMS_CRS
        for k in ("lon", "lat"):
            found.pop(k, None)
    elif "lon" in found and "lat" in found:
        position, source_crs = "lonlat", "EPSG:4326"
        for k in ("x", "y"):
            found.pop(k, None)
    else:
        pairs = [p for p in (("x", "y"), ("lon", "lat")) if p[0] in wanted or p[1] in wanted]
        absent = [wanted[k] for p in pairs for k in p if k not in found]
        key = next(k for p in pairs for k in p if k not in found)
        raise _missing_column(path, settings, key, absent[0], names)

    los = [k for k in ("los_east", "los_north", "los_up") if k in found]
    if 0 < len(los) < 3:
        lacking = [wanted[k] for k in ("los_east", "los_north", "los_up") if k not in found]
        raise InputDataError(
            path,
            f"the file has only some of the LOS columns (no '{', '.join(lacking)}').",
            "export all three LOS components (east, north, up), or none of them and set "
            f"'{settings.key('heading_deg')}' and '{settings.key('incidence_deg')}'.",
            column=lacking[0],
        )
    los_from_columns = len(los) == 3
    if not los_from_columns and settings.heading_deg is None:
        l3 = (
            " If this is an EGMS L3 (Ortho: vertical or east-west) product, its velocities "
            "are not along the line of sight: use the L2a/L2b (basic/calibrated) products."
            if egms
            else ""
        )
        raise InputDataError(
            path,
            "the file has no los_east/los_north/los_up columns and the track has no "
            f"heading_deg/incidence_deg, so the line-of-sight direction is unknown.{l3}",
            f"set '{settings.key('heading_deg')}' and '{settings.key('incidence_deg')}' "
            "(Sentinel-1: heading about -12 ascending, 192 descending; incidence 30-45), or "
            f"map the LOS columns with '{settings.key('columns')}.los_east' etc.",
        )

    dates: list[tuple[str, dt.date]] = []
    used = set(found.values())
    seen: dict[dt.date, str] = {}
    for col in names:
        if col in used:
            continue
        try:
            day = parse_date_column(col)
        except ValueError as exc:
            raise InputDataError(
                path,
                f"unparsable date column: {exc}.",
                "name displacement columns YYYYMMDD, DYYYYMMDD or D_YYYYMMDD with a valid "
                "date (e.g. 20210317 or D_20210317), or remove the column.",
                row=1,
                column=col,
            ) from None
        if day is None:
            continue
        if day in seen:
            raise InputDataError(
                path,
                f"date {day.isoformat()} has two displacement columns ('{seen[day]}' and '{col}').",
                "keep one displacement column per acquisition date.",
                row=1,
                column=col,
            )
        seen[day] = col
        dates.append((col, day))
    dates.sort(key=lambda item: item[1])
    return Layout(
        columns=found,
        position=position,
        source_crs=source_crs,
        los_from_columns=los_from_columns,
        dates=dates,
    )
