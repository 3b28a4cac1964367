"""Property-based tests of CSV ingest (hypothesis): valid exports round-trip exactly, corrupted
exports give a clear InputDataError or a documented, counted drop — never a pandas traceback,
never a silently lost row."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from ingest_helpers import DSC, LAT, LON, WORKING_CRS, study_area

from slidemap.errors import InputDataError
from slidemap.insar.ingest import ingest_track

AREA = study_area()
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EGMS_META = ["pid", "mp_type", "latitude", "longitude", "height"]
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-."


def _num(scale: int, lo: int, hi: int):
    """Numbers printed with ``scale`` decimals, as exports print them."""
    return st.integers(lo, hi).map(lambda i: i / 10**scale)


@st.composite
def exports(draw):
    """A random valid export: layout, separator, rows (some outside the study area), dates."""
    layout = draw(st.sampled_from(["egms", "generic"]))
    sep = "," if layout == "egms" else draw(st.sampled_from([",", ";", "\t"]))
    n = draw(st.integers(1, 25))
    n_dates = draw(st.integers(0, 4))
    specials = draw(
        st.lists(
            st.sampled_from(["NA", "nan", "null", "None", "N/A", "1e5", "007"]),
            unique=True,
            max_size=min(n, 3),
        )
    )  # ids pandas would read as missing or as numbers by default
    texts = draw(st.lists(st.text(ID_ALPHABET, max_size=8), min_size=n, max_size=n))
    ids = draw(st.permutations([*specials, *(f"{t}_{i}" for i, t in enumerate(texts))][:n]))
    rows = []
    for pid in ids:
        inside = draw(st.integers(0, 4)) > 0 if n > 2 else True  # 80 % inside
        lon = draw(_num(6, int(LON[0] * 1e6) + 10_000, int(LON[1] * 1e6) - 10_000))
        lat = draw(_num(6, int(LAT[0] * 1e6) + 10_000, int(LAT[1] * 1e6) - 10_000))
        if not inside:
            lon = draw(_num(6, 5_000_000, 9_000_000))
        rows.append(
            {
                "pid": pid,
                "lon": lon,
                "lat": lat,
                "velocity": draw(_num(2, -99_999, 99_999)),
                "velocity_std": draw(_num(2, 0, 999)),
                "coherence": draw(_num(3, 0, 1000)),
                "height": draw(_num(1, -4000, 40000)),
                "disp": [draw(_num(1, -9999, 9999)) for _ in range(n_dates)],
                "inside": inside,
            }
        )
    start = dt.date(2019, 1, 1) + dt.timedelta(days=draw(st.integers(0, 2000)))
    dates = [start + dt.timedelta(days=12 * i) for i in range(n_dates)]
    return {
        "layout": layout,
        "sep": sep,
        "rows": rows,
        "dates": dates,
        "date_style": draw(st.sampled_from(["", "D", "D_"])),
    }


LOS = ("-0.6156", "-0.1308", "0.7771")


def render(export) -> tuple[list[str], list[list[str]]]:
    """Header and data fields of an export (values printed with ``repr``)."""
    d = export["dates"]
    if export["layout"] == "egms":
        header = [
            *EGMS_META,
            "los_east",
            "los_north",
            "los_up",
            "mean_velocity",
            "mean_velocity_std",
            "temporal_coherence",
            *(f"{x:%Y%m%d}" for x in d),
        ]
        body = [
            [
                r["pid"],
                "PS",
                repr(r["lat"]),
                repr(r["lon"]),
                repr(r["height"]),
                *LOS,
                repr(r["velocity"]),
                repr(r["velocity_std"]),
                repr(r["coherence"]),
                *(repr(v) for v in r["disp"]),
            ]
            for r in export["rows"]
        ]
    else:
        style = export["date_style"]
        header = [
            "CODE",
            "LON",
            "LAT",
            "VEL",
            "V_STDEV",
            "COHER",
            "HEIGHT",
            *(f"{style}{x:%Y%m%d}" for x in d),
        ]
        body = [
            [
                r["pid"],
                repr(r["lon"]),
                repr(r["lat"]),
                repr(r["velocity"]),
                repr(r["velocity_std"]),
                repr(r["coherence"]),
                repr(r["height"]),
                *(repr(v) for v in r["disp"]),
            ]
            for r in export["rows"]
        ]
    return header, body


def text_of(export, header=None, body=None, newline="\n") -> str:
    h, b = render(export)
    header, body = header or h, body if body is not None else b
    sep = export["sep"]
    return newline.join(sep.join(f) for f in [header, *body]) + newline


def cfg_of(export, **extra):
    if export["layout"] == "egms":
        return {"path": "x", "format": "egms", **extra}
    cols = {
        "id": "CODE",
        "lon": "LON",
        "lat": "LAT",
        "velocity": "VEL",
        "velocity_std": "V_STDEV",
        "coherence": "COHER",
        "height": "HEIGHT",
    }
    return {
        "path": "x",
        "format": "generic",
        "columns": cols,
        "heading_deg": DSC[0],
        "incidence_deg": DSC[1],
        **extra,
    }


def run(files: dict[str, bytes], cfg):
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, data in files.items():
            p = Path(tmp) / name
            p.write_bytes(data)
            paths.append(p)
        try:
            return ingest_track(
                paths, cfg, track_name="t", working_crs=WORKING_CRS, study_area=AREA
            ), None
        except InputDataError as exc:  # any other exception fails the test
            return None, (exc, paths)


def assert_clear(err_paths, *, line=None, needle=None):
    err, paths = err_paths
    text = str(err)
    assert any(str(p) in text for p in paths) or str(paths[0].parent) in text, text
    assert "Fix:" in text, text
    if line is not None:
        assert f"line {line}" in text, text
    else:
        assert re.search(r"line \d+|column '|empty|outside the study area|swapped", text), text
    if needle is not None:
        assert re.search(needle, text), text
    assert not re.search(r"Traceback|pandera|SchemaError|coerce_dtype", text), text


def assert_round_trip(export, points, summary):
    """Every row is kept with its exact values, or dropped as outside the study area."""
    rows = export["rows"]
    inside = [r for r in rows if r["inside"]]
    assert summary["rows_read"] == len(rows)
    assert summary["rows_kept"] == len(inside) == len(points)
    assert summary["dropped"]["outside_study_area"] == len(rows) - len(inside)
    assert summary["rows_read"] == summary["rows_kept"] + sum(summary["dropped"].values())
    by_id = {r["pid"]: r for r in inside}
    assert points["pid"].tolist() == sorted(by_id)
    for k, pid in enumerate(points["pid"]):
        r = by_id[pid]
        assert points["velocity_mm_yr"].iat[k] == r["velocity"]
        assert points["velocity_std_mm_yr"].iat[k] == r["velocity_std"]
        assert points["coherence"].iat[k] == r["coherence"]
        assert points["height_m"].iat[k] == r["height"]
        for day, v in zip(export["dates"], r["disp"], strict=True):
            assert points[f"d_{day:%Y%m%d}"].iat[k] == np.float32(v)


@SETTINGS
@given(export=exports(), newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans())
def test_valid_exports_round_trip_exactly(export, newline, bom):
    assume(any(r["inside"] for r in export["rows"]))
    data = text_of(export, newline=newline).encode()
    if bom:
        data = b"\xef\xbb\xbf" + data
    (result, err) = run({"b.csv": data}, cfg_of(export))
    assert err is None, err and str(err[0])
    assert_round_trip(export, *result)


@SETTINGS
@given(export=exports(), split=st.data())
def test_batches_overlapping_with_identical_rows_round_trip(export, split):
    """Two batches share rows b..a-1 (an EGMS burst overlap): each shared row is kept once."""
    assume(any(r["inside"] for r in export["rows"]))
    n = len(export["rows"])
    a = split.draw(st.integers(1, n))
    b = split.draw(st.integers(0, a - 1))
    header, body = render(export)
    files = {
        "b1.csv": text_of(export, header, body[:a]).encode(),
        "b2.csv": text_of(export, header, body[b:]).encode(),
    }
    result, err = run(files, cfg_of(export))
    assert err is None, err and str(err[0])
    points, summary = result
    overlap = a - b
    assert summary["rows_read"] == n + overlap
    assert summary["dropped"]["duplicate_id"] == overlap
    rest = dict(summary, rows_read=n, dropped=dict(summary["dropped"], duplicate_id=0))
    assert_round_trip(export, points, rest)


CORRUPTIONS = [
    "truncate",
    "mixed_separator",
    "non_utf8",
    "bad_number",
    "swap_lat_lon",
    "conflicting_duplicate",
    "empty",
    "header_only",
]


@pytest.mark.parametrize("kind", CORRUPTIONS)
@settings(SETTINGS, max_examples=14)
@given(export=exports(), drop=st.booleans(), data=st.data())
def test_corrupted_exports_fail_clearly_or_drop_with_a_count(kind, export, drop, data):
    assume(sum(r["inside"] for r in export["rows"]) > len(export["rows"]) / 2)
    header, body = render(export)
    sep = export["sep"]
    n = len(body)
    cfg = cfg_of(export, invalid_rows="drop" if drop else "error")
    clean = text_of(export).encode()
    expect_line = None
    needle = None
    dropped_reason = None

    if kind == "truncate":
        cut = data.draw(st.integers(1, len(sep.join(body[-1])) - 1))
        raw = clean.rstrip(b"\n")[:-cut]
        files = {"b.csv": raw}
        cut_fields = sep.join(body[-1])[: len(sep.join(body[-1])) - cut].count(sep) + 1
        if cut_fields < len(header):
            expect_line, needle = n + 1, "truncated"
            dropped_reason = "invalid"
    elif kind == "mixed_separator":
        other = ";" if sep != ";" else ","
        k = data.draw(st.integers(0, n - 1))
        lines = text_of(export).split("\n")
        lines[k + 1] = other.join(body[k])
        files = {"b.csv": "\n".join(lines).encode()}
        expect_line, needle, dropped_reason = k + 2, "mixed separators", "invalid"
    elif kind == "non_utf8":
        k = data.draw(st.integers(0, n - 1))
        lines = clean.split(b"\n")
        pos = data.draw(st.integers(0, len(lines[k + 1])))
        lines[k + 1] = lines[k + 1][:pos] + b"\xff" + lines[k + 1][pos:]
        files = {"b.csv": b"\n".join(lines)}
        expect_line, needle = k + 2, "utf-8"
    elif kind == "bad_number":
        k = data.draw(st.integers(0, n - 1))
        numeric = [
            i
            for i, h in enumerate(header)
            if h in ("latitude", "longitude", "mean_velocity", "LON", "LAT", "VEL")
            or h[-8:].isdigit()
        ]
        col = data.draw(st.sampled_from(numeric))
        value = data.draw(st.sampled_from(["inf", "-inf", "nan", "", "1e400", "1e300", "x1"]))
        body = [list(f) for f in body]
        body[k][col] = value
        files = {"b.csv": text_of(export, header, body).encode()}
        expect_line, dropped_reason = k + 2, "invalid"
        needle = re.escape(f"column '{header[col]}'")
    elif kind == "swap_lat_lon":
        assume(export["layout"] == "generic")
        header = ["CODE", "LAT", "LON", *header[3:]]
        files = {"b.csv": text_of(export, header, body).encode()}
        needle = "swapped|outside the study area"
    elif kind == "conflicting_duplicate":
        k = data.draw(st.integers(0, n - 1))
        assume(export["rows"][k]["inside"])
        body2 = [list(body[k])]
        vcol = header.index("mean_velocity" if export["layout"] == "egms" else "VEL")
        body2[0][vcol] = repr(float(body2[0][vcol]) + 0.01)
        files = {"b1.csv": clean, "b2.csv": text_of(export, header, body2).encode()}
        expect_line, needle = 2, "also appears in .*b1.csv line " + str(k + 2)
    elif kind == "empty":
        files = {"b.csv": data.draw(st.sampled_from([b"", b"\n", b"  \r\n"]))}
        needle = "empty"
    else:  # header_only
        files = {"b.csv": (sep.join(header) + "\n").encode()}
        needle = "no data rows"

    result, err = run(files, cfg)
    event(f"{kind}: {'error' if err else 'accounted drop or warning'}")
    if err is not None:
        if drop and dropped_reason == "invalid":
            # with invalid_rows: drop a bad row is only an error if nothing else is left
            assert "no valid point" in str(err[0]) or "outside the study area" in str(err[0])
            return
        assert_clear(err, line=expect_line, needle=needle)
        return
    # no error: only an allowed outcome, fully accounted
    points, summary = result
    assert summary["rows_read"] == summary["rows_kept"] + sum(summary["dropped"].values())
    if kind == "truncate":
        # the cut left every field of the last line: only its last value can differ; the
        # summary says the file does not end with a newline (a warning is logged)
        assert dropped_reason is None or drop
        assert summary["files"][0]["ends_with_newline"] is False
        return
    assert drop and dropped_reason == "invalid", (kind, summary)
    invalid = sum(
        summary["dropped"][r]
        for r in (
            "missing_id",
            "invalid_coordinates",
            "invalid_velocity",
            "invalid_displacement",
            "invalid_value",
        )
    )
    assert invalid == 1
    assert summary["rows_read"] == n


@pytest.mark.parametrize("value", ["1e400", "-1e400", "inf", "NaN"])
def test_huge_and_non_finite_velocity_is_an_error_naming_line_and_column(tmp_path, value):
    text = "CODE,LON,LAT,VEL\na,10.2,45.2,1.5\nb,10.3,45.3," + value + "\n"
    (tmp_path / "b.csv").write_text(text)
    cfg = {
        "path": "x",
        "format": "generic",
        "heading_deg": DSC[0],
        "incidence_deg": DSC[1],
        "columns": {"id": "CODE", "lon": "LON", "lat": "LAT", "velocity": "VEL"},
    }
    with pytest.raises(InputDataError, match=r"b\.csv, line 3, column 'VEL'"):
        ingest_track(
            [tmp_path / "b.csv"], cfg, track_name="t", working_crs=WORKING_CRS, study_area=AREA
        )


@pytest.mark.parametrize("drop", [False, True])
def test_last_line_cut_before_an_optional_column_is_not_read_as_empty(drop):
    """Found by the property test above: a file cut off right after a separator-free field
    lost its last (optional) column, which pandas read as empty (coherence NaN, no error)."""
    row = {"pid": "_0", "lon": 10.01, "lat": 45.01, "velocity": 0.0, "velocity_std": 0.0}
    rows = [
        {**row, "pid": f"_{k}", "coherence": 0.5, "height": 1.0, "disp": [], "inside": True}
        for k in range(3)
    ]
    export = {"layout": "egms", "sep": ",", "rows": rows, "dates": [], "date_style": ""}
    clean = text_of(export).encode().rstrip(b"\n")
    raw = clean[: clean.rindex(b",")]  # the last line lacks temporal_coherence
    result, err = run({"b.csv": raw}, cfg_of(export, invalid_rows="drop" if drop else "error"))
    if not drop:
        assert result is None
        assert_clear(err, line=4, needle="cut off.*truncated")
        return
    points, summary = result
    assert err is None
    assert summary["rows_read"] == 3 and summary["rows_kept"] == 2
    assert summary["dropped"]["invalid_value"] == 1
    assert points["coherence"].tolist() == [0.5, 0.5]
