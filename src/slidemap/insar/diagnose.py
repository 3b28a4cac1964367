"""Plain-language diagnoses of bad CSV input: which line, which column, what to do.

Every function here builds an :class:`~slidemap.errors.InputDataError` (or the text of one)
from what went wrong while reading a batch, looking at the raw line where that helps
(field count, a second separator, a cut-off last line, swapped coordinates).
"""

from __future__ import annotations

import codecs
import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from slidemap.errors import InputDataError
from slidemap.insar.layouts import Header, Layout, TrackSettings
from slidemap.insar.schema import RowFailure

__all__ = [
    "locate_decode_error",
    "line_hint",
    "parse_error",
    "row_error",
    "file_column",
    "value_text",
]

_LOS = ("los_east", "los_north", "los_up")
_DESCRIPTION = {
    "pid": "point id",
    "velocity": "velocity (mm/yr)",
    "velocity_std": "velocity standard deviation (mm/yr)",
    "coherence": "coherence",
    "height": "height (m)",
    "los_east": "LOS east component",
    "los_north": "LOS north component",
    "los_up": "LOS up component",
    "_los": "LOS components",
}


def locate_decode_error(path: Path, encoding: str) -> InputDataError:
    """Find the line of the first byte that is not valid ``encoding`` text.

    Parameters
    ----------
    path
        The CSV file (read in 1 MiB blocks).
    encoding
        The text encoding it was read with.

    Returns
    -------
    InputDataError
        Naming the line (1-based) and the undecodable bytes.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line += block.count(b"\n", 0, max(exc.start, 0))
                bad = block[max(exc.start, 0) : exc.end]
                return InputDataError(
                    path,
                    f"the file is not valid {encoding} text (byte(s) {bad!r} cannot be decoded).",
                    "save the file as UTF-8, or set the track's 'encoding' key to the file's "
                    "encoding (e.g. latin-1 or cp1252).",
                    row=line,
                )
            line += block.count(b"\n")
    return InputDataError(  # pragma: no cover - pandas and the codec disagree
        path,
        f"the file is not valid {encoding} text.",
        "save the file as UTF-8 or set the track's 'encoding' key.",
    )


def _raw_line(path: Path, line_no: int, encoding: str) -> tuple[str | None, bool]:
    """Return the text of line ``line_no`` (1-based) and whether it is the file's last line."""
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh, start=1):
            if i == line_no:
                rest = fh.read(1 << 16)
                is_last = not rest.strip()
                text = raw.decode(encoding, errors="replace").rstrip("\r\n")
                return text, is_last
    return None, False


def line_hint(path: Path, header: Header, line_no: int) -> tuple[str, bool, list[str]]:
    """Explain a bad line from its raw text: field count, other separators, truncation.

    Parameters
    ----------
    path
        The CSV file.
    header
        Its sniffed header (separator, encoding, number of columns).
    line_no
        1-based line number (header = line 1).

    Returns
    -------
    hint : str
        Extra sentences for the error message ('' when nothing stands out).
    truncated : bool
        True when the line is the file's last one and lacks fields (a cut-off download or
        export).
    fields : list of str
        The raw fields of the line (to quote the offending value as written).
    """
    text, is_last = _raw_line(path, line_no, header.encoding)
    if text is None:
        return "", False, []
    n_header = len(header.columns)
    fields = next(csv.reader([text], delimiter=header.sep)) if text else []
    hints = []
    truncated = False
    if len(fields) != n_header:
        hints.append(f"The line has {len(fields)} field(s) but the header has {n_header}.")
        others = [s for s in (",", ";", "\t") if s != header.sep and s in text]
        if len(fields) < n_header and others and header.decimal != others[0]:
            hints.append(
                f"It seems to use {others[0]!r} as separator while the header uses "
                f"{header.sep!r} (mixed separators)."
            )
        if is_last and len(fields) < n_header:
            truncated = True
            hints.append(
                "It is the last line of the file: the file looks truncated"
                + (" (it does not end with a newline)." if not header.ends_with_newline else ".")
            )
    return (" " + " ".join(hints)) if hints else "", truncated, fields


def parse_error(
    path: Path, header: Header, exc: Exception, *, line_offset: int = 0
) -> InputDataError:
    """Translate an exception of pandas' CSV parser into an :class:`InputDataError`.

    Parameters
    ----------
    path
        The CSV file.
    header
        Its sniffed header.
    exc
        pandas' exception (ParserError, UnicodeDecodeError, ValueError …).
    line_offset
        Lines of the file before the part pandas parsed (0 when it read the whole file).

    Returns
    -------
    InputDataError
        Naming the line where pandas' message gives one.
    """
    if isinstance(exc, UnicodeDecodeError):
        return locate_decode_error(path, header.encoding)
    msg = " ".join(str(exc).split())
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        expected, line, saw = (int(g) for g in m.groups())
        line += line_offset
        hint, _, _ = line_hint(path, header, line)
        hint = hint.replace(f" The line has {saw} field(s) but the header has {expected}.", "")
        return InputDataError(
            path,
            f"the line has {saw} fields but the header has {expected}.{hint}",
            f"a value containing the separator {header.sep!r} must be quoted; remove stray "
            "separators (or a trailing one) so every line has as many fields as the header.",
            row=line,
        )
    m = re.search(r"(?:row|line) (\d+)", msg)
    return InputDataError(
        path,
        f"the file cannot be parsed as CSV ({msg}).",
        'check the quoting near that place (an unclosed " quote swallows the rest of the '
        "file) and that the file is a plain-text CSV export.",
        row=int(m.group(1)) + 1 + line_offset if m else None,
    )


def file_column(layout: Layout, canonical: str | None) -> str | None:
    """Return the file's column name of a canonical column (for messages).

    Parameters
    ----------
    layout
        The file's layout.
    canonical
        Canonical column (``pid``, ``x``, ``velocity``, ``d_YYYYMMDD``, ``_los`` …).

    Returns
    -------
    str or None
        The name as written in the file's header (``los_east/los_north/los_up`` for the
        LOS vector as a whole).
    """
    if canonical is None:
        return None
    if canonical == "_los":
        return "/".join(layout.columns.get(k, k) for k in ("los_east", "los_north", "los_up"))
    if canonical.startswith("d_"):
        for col, day in layout.dates:
            if f"d_{day:%Y%m%d}" == canonical:
                return col
    back = {"pid": "id", "x": "x" if layout.position == "xy" else "lon"}
    back["y"] = "y" if layout.position == "xy" else "lat"
    return layout.columns.get(back.get(canonical, canonical), canonical)


def _describe(layout: Layout, canonical: str) -> str:
    """Human name of a canonical column."""
    if canonical in ("x", "y"):
        if layout.position == "lonlat":
            return "longitude" if canonical == "x" else "latitude"
        return f"{canonical} coordinate ({layout.source_crs})"
    if canonical.startswith("d_"):
        return f"displacement of {canonical[2:6]}-{canonical[6:8]}-{canonical[8:]} (mm)"
    return _DESCRIPTION.get(canonical, canonical)


def value_text(value: object) -> str:
    """Return a short text of an offending value.

    Parameters
    ----------
    value
        A parsed value (number or text).

    Returns
    -------
    str
        Numbers in ``%g`` form, text quoted and cut at 40 characters.
    """
    if isinstance(value, str):
        return repr(value[:40])
    try:
        return f"{float(value):g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return repr(value)


def _swap_hint(frame: pd.DataFrame, layout: Layout) -> str:
    """Say so when the latitude column holds longitudes (values beyond ±90) and vice versa."""
    if layout.position != "lonlat":
        return ""
    lon = pd.to_numeric(frame["x"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(frame["y"], errors="coerce").to_numpy(dtype=float)
    if np.nanmax(np.abs(lat), initial=0) > 90 and np.nanmax(np.abs(lon), initial=0) <= 90:
        return (
            f" The latitude column '{layout.columns['lat']}' holds values beyond ±90 while the "
            f"longitude column '{layout.columns['lon']}' holds none: latitude and longitude "
            "look swapped."
        )
    return ""


def row_error(
    path: Path,
    settings: TrackSettings,
    header: Header,
    layout: Layout,
    failure: RowFailure,
    frame: pd.DataFrame,
) -> InputDataError:
    """Build the error of the first failing row of a file, with hints from its raw line.

    Parameters
    ----------
    path
        The CSV file.
    settings
        The track's settings (for the config keys named in the fix).
    header
        The file's sniffed header.
    layout
        The file's layout.
    failure
        The failing value (its row index is the 0-based data row).
    frame
        The canonical frame (for the swapped-coordinates and LOS hints).

    Returns
    -------
    InputDataError
        Naming the line, the column as written in the file, the value as written, what is
        wrong, and the fix (``invalid_rows: drop`` where a drop is possible).
    """
    line = failure.index + 2
    column = failure.column or "_los"
    what = _describe(layout, column)
    hint, truncated, fields = line_hint(path, header, line)
    if column == "_los":
        try:
            vec = ", ".join(value_text(frame.at[failure.index, c]) for c in _LOS)
        except (KeyError, TypeError, ValueError):  # pragma: no cover - defensive
            vec = "?"
        problem = f"the LOS components ({vec}) {failure.problem}."
    elif failure.value is None or failure.problem.startswith("is missing"):
        problem = f"the {what} is missing ({'the line is cut off' if truncated else 'empty cell'})."
    else:
        shown = value_text(failure.value)
        raw_name = file_column(layout, column)
        if raw_name in header.columns and header.columns.index(raw_name) < len(fields):
            raw = fields[header.columns.index(raw_name)].strip()
            if raw:  # as written in the file (e.g. 1e300, which overflows float32 to inf)
                try:
                    float(raw.replace(header.decimal, "."))
                    shown = raw[:40]
                except ValueError:
                    shown = repr(raw[:40])
        problem = f"the {what} {shown} {failure.problem}."
    swap = _swap_hint(frame, layout) if column in ("x", "y") else ""
    if swap:
        fix = (
            f"exchange '{settings.key('columns')}.lon' and '{settings.key('columns')}.lat' "
            "(or fix the export's column headers)."
        )
    elif truncated:
        fix = "re-export or re-download the file."
    else:
        fix = (
            f"correct or delete line {line}, or set '{settings.key('invalid_rows')}: drop' to "
            "drop such rows (each is counted in summary.json)."
        )
    col = file_column(layout, failure.column)
    return InputDataError(path, problem + swap + hint, fix, row=line, column=col)
