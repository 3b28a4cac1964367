"""The column schema of an ingested InSAR batch (pandera), and its failures in plain words.

:func:`point_schema` builds a :class:`pandera.DataFrameSchema` over the *canonical* frame of
one batch (columns renamed to ``pid, x, y, velocity, velocity_std, coherence, height,
los_east, los_north, los_up, d_YYYYMMDD…``). :func:`validate_points` runs it lazily (every
failure is collected, vectorised per column) and turns pandera's failure table into
:class:`RowFailure` records that name the file line, the column as written in the file, the
offending value and the reason under which ``invalid_rows: drop`` counts the row. No pandera or
pandas error ever reaches the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

__all__ = [
    "DROP_REASONS",
    "displacement_schema",
    "failure_reasons",
    "INVALID_REASONS",
    "RowFailure",
    "point_schema",
    "validate_points",
    "reason_of",
]

#: Reasons a row can be dropped for, in the order they are checked (a row is counted once,
#: under the first that applies). They are the keys of ``dropped`` in summary.json.
DROP_REASONS = (
    "empty_row",
    "missing_id",
    "invalid_coordinates",
    "invalid_velocity",
    "invalid_displacement",
    "invalid_value",
    "duplicate_id",
    "conflicting_duplicate_id",
    "outside_study_area",
    "low_coherence",
)
#: The reasons ``invalid_rows`` governs (error or drop).
INVALID_REASONS = DROP_REASONS[1:6]

#: Physical ceiling on heights (m): anything beyond is a corrupt value, not a mountain.
MAX_ABS_HEIGHT_M = 10_000.0
#: Tolerance on the length of a LOS unit vector read from a file (EGMS rounds to 3-4 digits).
LOS_NORM_TOL = 0.02

_POSITION = ("x", "y")


def reason_of(column: str) -> str:
    """Return the drop reason of a failure in one canonical column.

    Parameters
    ----------
    column
        Canonical column name (``pid``, ``x``, ``velocity``, ``d_20200101``, …).

    Returns
    -------
    str
        One of :data:`INVALID_REASONS`.
    """
    if column == "pid":
        return "missing_id"
    if column in _POSITION:
        return "invalid_coordinates"
    if column == "velocity":
        return "invalid_velocity"
    if column.startswith("d_"):
        return "invalid_displacement"
    return "invalid_value"


@dataclass(frozen=True)
class RowFailure:
    """One failing value: where it is and what is wrong with it.

    Attributes
    ----------
    index
        Row label in the canonical frame (0-based data row; file line = index + 2).
    column
        Canonical column (``None`` for a check across columns).
    value
        The offending value as parsed (``None`` when missing).
    problem
        What is wrong, as a sentence fragment ("is not a number", "is missing", …).
    reason
        The drop reason (see :data:`INVALID_REASONS`).
    """

    index: int
    column: str | None
    value: object
    problem: str
    reason: str


def _check(fn, name: str, text: str) -> pa.Check:
    """Build a vectorised pandera check whose failure text is ``text``."""
    return pa.Check(fn, name=name, error=text)


def point_schema(
    *,
    position: str,
    has_los: bool,
    optional: tuple[str, ...],
    max_abs_velocity_mm_yr: float,
) -> pa.DataFrameSchema:
    """Build the schema of the per-point values of a canonical batch frame.

    Parameters
    ----------
    position
        ``"lonlat"`` (x = longitude in [-180, 180], y = latitude in [-90, 90], degrees) or
        ``"xy"`` (projected coordinates: finite).
    has_los
        Whether the frame carries ``los_east/north/up`` (components in [-1, 1], the vector
        of unit length within 0.02 and pointing up).
    optional
        Which of ``velocity_std`` (mm/yr, >= 0), ``coherence`` (0-1), ``height`` (m,
        |h| <= 10 km) the frame carries; empty cells are allowed there.
    max_abs_velocity_mm_yr
        Largest plausible |velocity| (mm/yr).

    Returns
    -------
    pandera.DataFrameSchema
        Non-strict (extra columns pass); numeric columns are coerced, so a non-numeric
        cell is a failure case naming its row.
    """
    f64 = "float64"
    if position == "lonlat":
        x_checks = [
            _check(lambda s: s.between(-180, 180), "lon_range", "is outside [-180, 180] degrees")
        ]
        y_checks = [
            _check(lambda s: s.between(-90, 90), "lat_range", "is outside [-90, 90] degrees")
        ]
    else:
        finite = _check(lambda s: s.abs() < np.inf, "finite", "is not a finite number")
        x_checks, y_checks = [finite], [finite]
    vmax = float(max_abs_velocity_mm_yr)
    columns: dict[str, pa.Column] = {
        "pid": pa.Column(nullable=False),
        "x": pa.Column(f64, x_checks, coerce=True, nullable=False),
        "y": pa.Column(f64, y_checks, coerce=True, nullable=False),
        "velocity": pa.Column(
            f64,
            _check(
                lambda s: s.abs() <= vmax,
                "velocity_range",
                f"is not finite or beyond ±{vmax:g} mm/yr (max_abs_velocity_mm_yr)",
            ),
            coerce=True,
            nullable=False,
        ),
    }
    if "velocity_std" in optional:
        columns["velocity_std"] = pa.Column(
            f64,
            _check(lambda s: (s >= 0) & (s < np.inf), "std_range", "is negative or not finite"),
            coerce=True,
            nullable=True,
        )
    if "coherence" in optional:
        columns["coherence"] = pa.Column(
            f64,
            _check(lambda s: s.between(0, 1), "coherence_range", "is outside [0, 1]"),
            coerce=True,
            nullable=True,
        )
    if "height" in optional:
        columns["height"] = pa.Column(
            f64,
            _check(
                lambda s: s.abs() <= MAX_ABS_HEIGHT_M,
                "height_range",
                f"is not finite or beyond ±{MAX_ABS_HEIGHT_M:g} m",
            ),
            coerce=True,
            nullable=True,
        )
    frame_checks = []
    if has_los:
        for c in ("los_east", "los_north", "los_up"):
            columns[c] = pa.Column(
                f64,
                _check(lambda s: s.between(-1, 1), "los_range", "is outside [-1, 1]"),
                coerce=True,
                nullable=False,
            )

        def unit_up(df: pd.DataFrame) -> pd.Series:
            e, n, u = (df[c].to_numpy(dtype=float) for c in ("los_east", "los_north", "los_up"))
            norm = np.sqrt(e * e + n * n + u * u)
            ok = (np.abs(norm - 1.0) <= LOS_NORM_TOL) & (u > 0)
            return pd.Series(ok | np.isnan(norm), index=df.index)

        frame_checks.append(
            _check(
                unit_up, "los_unit", "do not form a unit vector pointing up (ground to satellite)"
            )
        )
    return pa.DataFrameSchema(columns, checks=frame_checks, strict=False, coerce=False)


def displacement_schema(
    date_columns: tuple[str, ...], *, max_abs_displacement_mm: float
) -> pa.DataFrameSchema:
    """Build the schema of the displacement (time-series) columns of a batch.

    Parameters
    ----------
    date_columns
        Canonical names of the displacement columns (``d_YYYYMMDD``; LOS displacement, mm).
    max_abs_displacement_mm
        Largest plausible |displacement| (mm); float32 overflow (inf) fails too.

    Returns
    -------
    pandera.DataFrameSchema
        Every column float32 (coerced), no empty cell, within the bound.
    """
    dmax = float(max_abs_displacement_mm)
    d_check = _check(
        lambda s: s.abs() <= dmax,
        "displacement_range",
        f"is not finite or beyond ±{dmax:g} mm (max_abs_velocity_mm_yr × time span)",
    )
    columns = {
        name: pa.Column("float32", d_check, coerce=True, nullable=False) for name in date_columns
    }
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


_PROBLEM_NOT_NULL = "is missing (empty cell)"
_PROBLEM_NOT_NUMBER = "is not a number"


def _failures_from_table(table: pd.DataFrame) -> list[RowFailure]:
    """Translate pandera's ``failure_cases`` table into :class:`RowFailure` records."""
    out: list[RowFailure] = []
    table = table[table["index"].notna()]
    frame_level = table["schema_context"].astype(str) == "DataFrameSchema"
    # a check across columns lists every column of a failing row: keep one record per row
    for index, check in dict.fromkeys(
        zip(table.loc[frame_level, "index"], table.loc[frame_level, "check"], strict=True)
    ):
        out.append(RowFailure(int(index), "_los", None, str(check), reason_of("_los")))
    cols = table.loc[~frame_level]
    for check, column, value, index in zip(
        cols["check"].astype(str), cols["column"], cols["failure_case"], cols["index"], strict=True
    ):
        if check == "not_nullable":
            problem, value = _PROBLEM_NOT_NULL, None
        elif check.startswith("coerce_dtype"):
            problem = _PROBLEM_NOT_NUMBER
        elif check.startswith("dtype("):
            continue  # the coercion failure of the same cells is reported instead
        else:
            problem = check  # our checks carry their sentence as the error text
        out.append(RowFailure(int(index), str(column), value, problem, reason_of(str(column))))
    return out


def validate_points(
    frame: pd.DataFrame, schema: pa.DataFrameSchema
) -> tuple[pd.DataFrame, list[RowFailure]]:
    """Validate a canonical batch frame; return the coerced frame and every failing value.

    Parameters
    ----------
    frame
        Canonical frame (see module doc); its index labels are 0-based data-row numbers.
    schema
        From :func:`point_schema`.

    Returns
    -------
    frame : pandas.DataFrame
        The frame with numeric columns coerced (non-numeric cells become NaN).
    failures : list of RowFailure
        Every failing value (empty when the frame is valid). A non-numeric cell appears
        once, as "is not a number".
    """
    try:
        return schema.validate(frame, lazy=True, inplace=True), []
    except (SchemaErrors, SchemaError) as exc:
        table = exc.failure_cases if isinstance(exc, SchemaErrors) else None
    if table is None:  # pragma: no cover - lazy=True always raises SchemaErrors
        raise RuntimeError("pandera raised a non-lazy error")
    failures = _failures_from_table(table)
    coerce_failed = {f.column for f in failures if f.problem == _PROBLEM_NOT_NUMBER}
    if not coerce_failed:
        return frame, failures
    # A column that failed coercion could not be range-checked: coerce it (bad cells -> NaN)
    # and validate again; the cells reported as "not a number" are not reported twice.
    fixed = frame.copy()
    for col in coerce_failed:
        fixed[col] = pd.to_numeric(fixed[col].astype("object"), errors="coerce")
    seen = {(f.index, f.column) for f in failures if f.problem == _PROBLEM_NOT_NUMBER}
    try:
        fixed = schema.validate(fixed, lazy=True, inplace=True)
        again: list[RowFailure] = []
    except SchemaErrors as exc:
        again = _failures_from_table(exc.failure_cases)
    keep = [
        f for f in failures if f.column not in coerce_failed or f.problem == _PROBLEM_NOT_NUMBER
    ]
    keep += [f for f in again if (f.index, f.column) not in seen]
    # drop exact repeats (a column not coerced appears in both passes)
    uniq = list(dict.fromkeys((f.index, f.column, f.problem, f.reason) for f in keep))
    values = {(f.index, f.column, f.problem): f.value for f in keep}
    return fixed, [RowFailure(i, c, values[(i, c, p)], p, r) for i, c, p, r in uniq]


def failure_reasons(
    failures: list[RowFailure], order: Mapping[str, int] | None = None
) -> dict[int, RowFailure]:
    """Pick, for each failing row, the failure whose reason comes first in :data:`DROP_REASONS`.

    Parameters
    ----------
    failures
        From :func:`validate_points`.
    order
        Reason -> rank (default: the order of :data:`DROP_REASONS`).

    Returns
    -------
    dict
        Row index -> its deciding failure.
    """
    rank = order or {r: i for i, r in enumerate(DROP_REASONS)}
    best: dict[int, RowFailure] = {}
    for f in failures:
        cur = best.get(f.index)
        if cur is None or rank[f.reason] < rank[cur.reason]:
            best[f.index] = f
    return best
