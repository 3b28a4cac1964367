"""InSAR ingest: layouts, reprojection, LOS, duplicates, accounting and every bad-input case."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from ingest_helpers import (
    ASC,
    DSC,
    GENERIC_COLUMNS,
    WORKING_CRS,
    date_columns,
    egms_track,
    generic_track,
    make_points,
    study_area,
    to_egms,
    to_generic,
    write_csv,
)
from numpy.testing import assert_allclose, assert_array_equal
from pyproj import Transformer

from slidemap.errors import ConfigError, InputDataError
from slidemap.insar.geometry import los_unit_vector
from slidemap.insar.ingest import OUTPUT_COLUMNS, ingest_track, write_points
from slidemap.insar.layouts import CANONICAL, TrackSettings
from slidemap.insar.schema import DROP_REASONS

AREA = study_area()


def ingest(paths, cfg, **kw):
    return ingest_track(
        [str(p) for p in paths], cfg, track_name="t", working_crs=WORKING_CRS, study_area=AREA, **kw
    )


def assert_accounted(summary):
    assert summary["rows_read"] == summary["rows_kept"] + sum(summary["dropped"].values())
    assert set(summary["dropped"]) == set(DROP_REASONS)
    for f in summary["files"]:
        assert f["rows_read"] == f["rows_kept"] + sum(f["dropped"].values())


def error_of(paths, cfg) -> InputDataError:
    with pytest.raises(InputDataError) as info:
        ingest(paths, cfg)
    return info.value


# --------------------------------------------------------------------------- settings


def test_track_settings_defaults_match_the_schema(schema):
    track = schema["$defs"]["track"]["properties"]
    defaults = TrackSettings(name="t", format="egms")
    for key, node in track.items():
        if "default" in node:
            assert getattr(defaults, key) == node["default"], key
    assert set(track) == set(TrackSettings.__dataclass_fields__) - {"name"}
    assert set(track["columns"]["properties"]) == set(CANONICAL)


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"format": "generic", "columns": {"id": "a", "velocity": "v"}}, "columns"),
        ({"format": "generic", "columns": {"id": "a", "x": "x", "y": "y", "velocity": "v"}}, "crs"),
        ({"format": "egms", "heading_deg": 190.0}, "incidence_deg"),
        ({"format": "egms", "crs": "EPSG:99999999"}, "crs"),
        ({"format": "egms", "encoding": "no-such-codec"}, "encoding"),
    ],
)
def test_track_settings_that_cannot_work_name_the_key(cfg, key):
    with pytest.raises(ConfigError, match=rf"insar\.tracks\.t\.{key}"):
        TrackSettings.from_config(cfg, "t")


# --------------------------------------------------------------------------- layouts


def test_egms_layout_two_overlapping_batches(tmp_path):
    pts, days = make_points(40, seed=1)
    egms = to_egms(pts)
    a = write_csv(egms.iloc[:25], tmp_path / "b1.csv")
    b = write_csv(egms.iloc[15:], tmp_path / "b2.csv")  # rows 15..24 in both (burst overlap)
    points, summary = ingest([b, a], egms_track())

    assert list(points.columns) == [*OUTPUT_COLUMNS, *(f"d_{d:%Y%m%d}" for d in days), "geometry"]
    assert isinstance(points, gpd.GeoDataFrame) and points.crs == WORKING_CRS
    assert points["pid"].tolist() == sorted(pts["pid"])
    assert str(points["pid"].dtype) == "str"
    assert all(points[c].dtype == np.float32 for c in date_columns(points))
    # values preserved exactly (the first copy of the overlap comes from b1.csv)
    src = pts.set_index("pid").loc[points["pid"]]
    assert_array_equal(points["velocity_mm_yr"], src["velocity"])
    assert_array_equal(points["velocity_std_mm_yr"], src["velocity_std"])
    assert_array_equal(points["coherence"], src["coherence"])
    assert_array_equal(points["height_m"], src["height"])
    assert_array_equal(points[["los_e", "los_n", "los_u"]], src[["los_e", "los_n", "los_u"]])
    for c in date_columns(pts):
        assert_array_equal(points[c], src[c].to_numpy(dtype=np.float32))
    assert points.loc[points["pid"] == "P000020", "source_file"].item() == "b1.csv"
    # positions: EGMS easting/northing (EPSG:3035) reprojected, checked with pyproj directly
    tr = Transformer.from_crs("EPSG:3035", WORKING_CRS, always_xy=True)
    e = egms.set_index("pid").loc[points["pid"]]
    x, y = tr.transform(e["easting"].to_numpy(), e["northing"].to_numpy())
    assert_allclose(points["x_m"], x, rtol=0, atol=1e-6)
    assert_allclose(points["y_m"], y, rtol=0, atol=1e-6)
    assert_array_equal(points.geometry.x, points["x_m"])
    # accounting
    assert summary["rows_read"] == 50 and summary["rows_kept"] == 40
    assert summary["dropped"]["duplicate_id"] == 10
    assert_accounted(summary)
    assert summary["los_source"] == "columns"
    assert summary["dates"] == [d.isoformat() for d in days]
    assert [f["file"] for f in summary["files"]] == ["b1.csv", "b2.csv"]


@pytest.mark.parametrize("date_style", ["", "D", "D_"])
def test_generic_semicolon_layout_like_the_demo(tmp_path, date_style):
    pts, days = make_points(30, seed=2, geometry=DSC)
    path = write_csv(to_generic(pts, date_style=date_style), tmp_path / "dsc.csv", sep=";")
    points, summary = ingest([path], generic_track())
    assert summary["files"][0]["separator"] == ";"
    assert summary["los_source"] == "heading_incidence"
    src = pts.set_index("pid").loc[points["pid"]]
    assert_array_equal(points["velocity_mm_yr"], src["velocity"])
    for c in date_columns(pts):
        assert_array_equal(points[c], src[c].to_numpy(dtype=np.float32))
    x, y = Transformer.from_crs("EPSG:4326", WORKING_CRS, always_xy=True).transform(
        src["lon"].to_numpy(), src["lat"].to_numpy()
    )
    assert_allclose(points["x_m"], x, atol=1e-6)
    assert_allclose(points["y_m"], y, atol=1e-6)
    assert_accounted(summary)


def test_generic_xy_layout_with_decimal_comma_and_crlf(tmp_path):
    pts, _ = make_points(20, seed=3)
    frame = to_generic(pts, xy=True)
    path = write_csv(frame, tmp_path / "xy.csv", sep=";", decimal=",", newline="\r\n")
    cols = {k: v for k, v in GENERIC_COLUMNS.items() if k not in ("lon", "lat")}
    cfg = generic_track(columns={**cols, "x": "X", "y": "Y"}, crs=WORKING_CRS)
    points, summary = ingest([path], cfg)
    assert summary["files"][0]["decimal"] == ","
    f = frame.set_index("CODE").loc[points["pid"]]
    assert_array_equal(points["x_m"], f["X"])  # same CRS: no transformation at all
    assert_array_equal(points["velocity_mm_yr"], f["VEL"])


def test_bom_and_column_names_differing_in_case_and_spaces(tmp_path):
    pts, _ = make_points(10, seed=4)
    frame = to_generic(pts).rename(columns={"VEL": " vel ", "CODE": "code"})
    path = write_csv(frame, tmp_path / "b.csv", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    points, summary = ingest([path], generic_track())
    assert summary["files"][0]["byte_order_mark"] is True
    assert_array_equal(np.sort(points["velocity_mm_yr"]), np.sort(pts["velocity"]))


def test_reprojection_of_known_points(tmp_path):
    """Published definitions: EPSG:3035's natural origin (10E, 52N) is (4321000, 3210000);
    UTM 32N maps (9E, 0N) to (500000, 0)."""
    frame = pd.DataFrame(
        {"CODE": ["a", "b"], "LON": [10.0, 9.0], "LAT": [52.0, 0.0], "VEL": [1.0, 2.0]}
    )
    path = write_csv(frame, tmp_path / "k.csv")
    cfg = generic_track(columns={"id": "CODE", "lon": "LON", "lat": "LAT", "velocity": "VEL"})
    big = shapely.box(-1e7, -1e7, 1e7, 1e7)
    pts, _ = ingest_track([path], cfg, track_name="t", working_crs="EPSG:3035", study_area=big)
    assert_allclose(
        pts.loc[pts.pid == "a", ["x_m", "y_m"]].to_numpy(), [[4321000, 3210000]], atol=1e-6
    )
    pts, _ = ingest_track([path], cfg, track_name="t", working_crs="EPSG:32632", study_area=big)
    assert_allclose(pts.loc[pts.pid == "b", ["x_m", "y_m"]].to_numpy(), [[500000, 0]], atol=1e-6)


def test_los_from_heading_equals_los_from_columns(tmp_path):
    pts, _ = make_points(15, seed=5, geometry=ASC)
    with_los = write_csv(to_egms(pts), tmp_path / "a" / "b.csv")
    without = write_csv(to_egms(pts, los=False), tmp_path / "b" / "b.csv")
    a, sa = ingest([with_los], egms_track())
    b, sb = ingest([without], egms_track(heading_deg=ASC[0], incidence_deg=ASC[1]))
    assert (sa["los_source"], sb["los_source"]) == ("columns", "heading_incidence")
    # the columns carry 4 decimals; the vector from the heading is exact
    assert_allclose(a[["los_e", "los_n", "los_u"]], b[["los_e", "los_n", "los_u"]], atol=5e-5)
    assert_allclose(b[["los_e", "los_n", "los_u"]].iloc[0], los_unit_vector(*ASC), atol=1e-12)
    # Sentinel-1 ascending, right-looking: satellite to the west, above (EGMS signs)
    assert (b["los_e"] < 0).all() and (b["los_u"] > 0).all()


def test_sign_convention_away_from_satellite_is_flipped(tmp_path):
    pts, _ = make_points(10, seed=6)
    path = write_csv(to_egms(pts), tmp_path / "b.csv")
    a, _ = ingest([path], egms_track())
    b, s = ingest([path], egms_track(velocity_positive="away_from_satellite"))
    assert_array_equal(b["velocity_mm_yr"], -a["velocity_mm_yr"])
    for c in date_columns(a):
        assert_array_equal(b[c], -a[c])
    assert s["velocity_positive_in_files"] == "away_from_satellite"


def test_outside_study_area_and_low_coherence_are_counted(tmp_path):
    pts, _ = make_points(50, seed=7, outside=8)
    path = write_csv(to_egms(pts), tmp_path / "b.csv")
    points, summary = ingest([path], egms_track(min_coherence=0.6))
    inside = pts.iloc[:42]
    expected = inside[inside["coherence"] >= 0.6]
    assert points["pid"].tolist() == expected["pid"].tolist()
    assert summary["dropped"]["outside_study_area"] == 8
    assert summary["dropped"]["low_coherence"] == 42 - len(expected)
    assert_accounted(summary)


def test_empty_lines_are_counted_not_errors(tmp_path):
    pts, _ = make_points(5, seed=8)
    text = to_egms(pts).to_csv(index=False).splitlines()
    path = tmp_path / "b.csv"
    sep_only = "," * (len(text[0].split(",")) - 1)
    path.write_text("\n".join([*text[:3], "", sep_only, *text[3:], "", ""]) + "\n")
    points, summary = ingest([path], egms_track())
    assert len(points) == 5 and summary["dropped"]["empty_row"] == 4
    assert_accounted(summary)


def test_write_points_round_trip(tmp_path):
    pts, _ = make_points(12, seed=9)
    path = write_csv(to_egms(pts), tmp_path / "b.csv")
    points, summary = ingest([path], egms_track())
    write_points(points, summary, tmp_path / "out" / "points.parquet", tmp_path / "out" / "s.json")
    back = gpd.read_parquet(tmp_path / "out" / "points.parquet")
    assert back.crs == WORKING_CRS
    pd.testing.assert_frame_equal(
        pd.DataFrame(back.drop(columns="geometry")), pd.DataFrame(points.drop(columns="geometry"))
    )
    assert json.loads((tmp_path / "out" / "s.json").read_text())["rows_kept"] == 12
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left behind


# --------------------------------------------------------------------------- bad input


def _lines(frame, sep=","):
    return frame.to_csv(index=False, sep=sep).splitlines()


def _write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def egms_lines():
    pts, _ = make_points(8, seed=10)
    return _lines(to_egms(pts))


def _set_field(lines, line_no, column, value, sep=","):
    header = lines[0].split(sep)
    fields = lines[line_no - 1].split(sep)
    fields[header.index(column)] = value
    out = list(lines)
    out[line_no - 1] = sep.join(fields)
    return out


def _assert_names(err, path, *, row=None, column=None):
    text = str(err)
    assert str(path) in text
    assert err.path == str(path)
    if row is not None:
        assert err.row == row and f"line {row}" in text
    if column is not None:
        assert err.column == column and f"'{column}'" in text
    assert "Fix:" in text


def test_missing_required_column(tmp_path, egms_lines):
    frame = pd.read_csv(pd.io.common.StringIO("\n".join(egms_lines))).drop(columns="mean_velocity")
    path = write_csv(frame, tmp_path / "b.csv")
    err = error_of([path], egms_track())
    _assert_names(err, path, column="mean_velocity")
    assert "insar.tracks.t.columns.velocity" in str(err)


def test_missing_mapped_column_suggests_the_closest_name(tmp_path):
    pts, _ = make_points(4, seed=11)
    path = write_csv(to_generic(pts).rename(columns={"VEL": "VELO"}), tmp_path / "b.csv")
    err = error_of([path], generic_track())
    _assert_names(err, path, column="VEL")
    assert "Did you mean 'VELO'" in str(err)


def test_non_numeric_velocity(tmp_path, egms_lines):
    path = _write_lines(tmp_path / "b.csv", _set_field(egms_lines, 5, "mean_velocity", "n/a?"))
    err = error_of([path], egms_track())
    _assert_names(err, path, row=5, column="mean_velocity")
    assert "not a number" in str(err) and "invalid_rows: drop" in str(err)


def test_non_numeric_displacement(tmp_path, egms_lines):
    col = egms_lines[0].split(",")[-2]
    path = _write_lines(tmp_path / "b.csv", _set_field(egms_lines, 7, col, "1.2.3"))
    _assert_names(error_of([path], egms_track()), path, row=7, column=col)


@pytest.mark.parametrize("value", ["", "nan", "inf", "-inf", "1e400"])
def test_missing_or_infinite_coordinates(tmp_path, egms_lines, value):
    path = _write_lines(tmp_path / "b.csv", _set_field(egms_lines, 4, "easting", value))
    _assert_names(error_of([path], egms_track()), path, row=4, column="easting")


def test_latitude_out_of_range_says_swapped(tmp_path):
    pts, _ = make_points(6, seed=12)
    frame = to_generic(pts)
    frame.loc[2, ["LON", "LAT"]] = [45.2, 100.3]  # one row with a latitude beyond 90
    frame["LAT"] = frame["LAT"].where(frame.index == 2, frame["LON"] * 0 + 10.2)
    frame["LON"] = frame["LON"].where(frame.index == 2, 45.2)
    path = write_csv(frame, tmp_path / "b.csv")
    err = error_of([path], generic_track())
    _assert_names(err, path, row=4, column="LAT")
    assert "swapped" in str(err) and "[-90, 90]" in str(err)


def test_swapped_lat_lon_detected_from_the_study_area(tmp_path):
    pts, _ = make_points(20, seed=13)
    frame = to_generic(pts).rename(columns={"LON": "LAT", "LAT": "LON"})
    path = write_csv(frame, tmp_path / "b.csv")
    err = error_of([path], generic_track())
    _assert_names(err, path, column="LAT")
    assert "look swapped" in str(err) and "100%" in str(err)


@pytest.mark.parametrize(
    "name",
    [
        "20201345",
        "D_2020011",
        "2020-01-15",
        "D2020_01_15",
        "2020-02-09x",
        "20200209_v2",
        "D_20200209b",
    ],
)
def test_unparsable_date_column(tmp_path, egms_lines, name):
    header = egms_lines[0].split(",")
    header[-1] = name
    path = _write_lines(tmp_path / "b.csv", [",".join(header), *egms_lines[1:]])
    err = error_of([path], egms_track())
    _assert_names(err, path, row=1, column=name)
    assert "date" in str(err)


def test_empty_file(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"")
    err = error_of([path], egms_track())
    _assert_names(err, path)
    assert "empty" in str(err)


def test_header_only_file(tmp_path, egms_lines):
    path = _write_lines(tmp_path / "b.csv", egms_lines[:1])
    err = error_of([path], egms_track())
    _assert_names(err, path, row=2)
    assert "no data rows" in str(err)


def test_same_id_with_conflicting_values_names_both_files_and_lines(tmp_path):
    pts, _ = make_points(10, seed=14)
    egms = to_egms(pts)
    a = write_csv(egms.iloc[:6], tmp_path / "b1.csv")
    changed = egms.iloc[4:].copy()
    changed.loc[5, "mean_velocity"] += 0.5  # P000005: line 7 of b1.csv, line 3 of b2.csv
    b = write_csv(changed, tmp_path / "b2.csv")
    err = error_of([a, b], egms_track())
    _assert_names(err, b, row=3)
    assert f"{a} line 7" in str(err) and "P000005" in str(err) and "velocity_mm_yr" in str(err)
    assert "duplicate_ids: first" in str(err)
    points, summary = ingest([a, b], egms_track(duplicate_ids="first"))
    assert (
        points.loc[points.pid == "P000005", "velocity_mm_yr"].item() == egms.loc[5, "mean_velocity"]
    )
    assert summary["dropped"]["conflicting_duplicate_id"] == 1
    assert summary["dropped"]["duplicate_id"] == 1
    assert_accounted(summary)


def test_every_point_outside_the_study_area(tmp_path):
    pts, _ = make_points(10, seed=15, outside=10)
    path = write_csv(to_egms(pts), tmp_path / "b.csv")
    err = error_of([path], egms_track())
    assert err.path == str(tmp_path) and "b.csv" in str(err)
    assert "outside the study area" in str(err) and "Fix:" in str(err)


def test_no_los_columns_and_no_heading(tmp_path):
    pts, _ = make_points(5, seed=16)
    path = write_csv(to_egms(pts, los=False), tmp_path / "b.csv")
    err = error_of([path], egms_track())
    _assert_names(err, path)
    assert "insar.tracks.t.heading_deg" in str(err) and "L3" in str(err)


@pytest.mark.parametrize("column", ["pid", "mp_type"])
def test_non_utf8_bytes(tmp_path, egms_lines, column):
    lines = _set_field(egms_lines, 6, column, "P\udce9")  # a lone latin-1 byte 0xE9
    path = tmp_path / "b.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", errors="surrogateescape"))
    err = error_of([path], egms_track())
    _assert_names(err, path, row=6)
    assert "encoding" in str(err)
    points, _ = ingest([path], egms_track(encoding="latin-1"))
    assert len(points) == 8


def test_line_with_too_many_fields(tmp_path, egms_lines):
    lines = list(egms_lines)
    lines[3] += ",7"
    path = _write_lines(tmp_path / "b.csv", lines)
    err = error_of([path], egms_track())
    _assert_names(err, path, row=4)
    assert "fields" in str(err)


def test_truncated_last_line(tmp_path, egms_lines):
    path = tmp_path / "b.csv"
    text = "\n".join(egms_lines)
    path.write_text(text[: len(text) - 25], encoding="utf-8")
    err = error_of([path], egms_track())
    _assert_names(err, path, row=len(egms_lines))
    assert "truncated" in str(err)


def test_mixed_separators(tmp_path):
    pts, _ = make_points(6, seed=17)
    lines = _lines(to_generic(pts), sep=";")
    lines[4] = lines[4].replace(";", ",")
    path = _write_lines(tmp_path / "b.csv", lines)
    err = error_of([path], generic_track())
    _assert_names(err, path, row=5)
    assert "mixed separators" in str(err)


def test_batches_with_different_dates(tmp_path):
    a_pts, _ = make_points(5, seed=18, n_dates=4)
    b_pts, _ = make_points(5, seed=19, n_dates=5, prefix="Q")
    a = write_csv(to_egms(a_pts), tmp_path / "a.csv")
    b = write_csv(to_egms(b_pts), tmp_path / "b.csv")
    err = error_of([a, b], egms_track())
    _assert_names(err, b)
    assert str(a) in str(err) and "dates" in str(err)


def test_invalid_rows_drop_counts_each_reason(tmp_path, egms_lines):
    lines = _set_field(egms_lines, 2, "mean_velocity", "abc")
    lines = _set_field(lines, 3, "easting", "")
    lines = _set_field(lines, 4, "pid", "")
    lines = _set_field(lines, 5, egms_lines[0].split(",")[-1], "inf")
    lines = _set_field(lines, 6, "temporal_coherence", "1.7")
    path = _write_lines(tmp_path / "b.csv", lines)
    points, summary = ingest([path], egms_track(invalid_rows="drop"))
    assert len(points) == 3
    d = summary["dropped"]
    assert (d["invalid_velocity"], d["invalid_coordinates"], d["missing_id"]) == (1, 1, 1)
    assert (d["invalid_displacement"], d["invalid_value"]) == (1, 1)
    assert_accounted(summary)


def test_error_messages_carry_no_pandas_or_pandera_text(tmp_path, egms_lines):
    path = _write_lines(tmp_path / "b.csv", _set_field(egms_lines, 3, "mean_velocity", "x"))
    text = str(error_of([path], egms_track()))
    assert not re.search(r"pandera|SchemaError|coerce_dtype|Traceback|dtype\(", text)


# --------------------------------------------------------------------------- parallel parsing


@pytest.fixture()
def split_small_files(monkeypatch):
    """Make every file large enough to be parsed as several byte ranges."""
    import slidemap.insar.csvread as ing

    monkeypatch.setattr(ing, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(ing, "CHUNK_ROWS", 7)


def test_byte_range_parsing_equals_one_pass(tmp_path, split_small_files):
    pts, _ = make_points(100, seed=20, outside=5)
    path = write_csv(to_egms(pts), tmp_path / "b.csv")
    one, s1 = ingest([path], egms_track(), threads=1)
    three, s3 = ingest([path], egms_track(), threads=3)
    pd.testing.assert_frame_equal(pd.DataFrame(one), pd.DataFrame(three))
    assert s1 == s3


@pytest.mark.parametrize("kind", ["extra_field", "not_a_number", "unclosed_quote"])
def test_byte_range_parsing_reports_file_line_numbers(tmp_path, split_small_files, kind):
    pts, _ = make_points(60, seed=21)
    lines = _lines(to_egms(pts))
    k = 52  # line 53 of the file, in the last of three ranges
    if kind == "extra_field":
        lines[k] += ",9"
    elif kind == "not_a_number":
        lines = _set_field(lines, k + 1, "mean_velocity", "oops")
    else:
        lines[k] = '"' + lines[k]
    path = _write_lines(tmp_path / "b.csv", lines)
    with pytest.raises(InputDataError) as info:
        ingest([path], egms_track(), threads=3)
    _assert_names(info.value, path, row=k + 1)


def test_buffer_grows_when_the_head_underestimates_the_rows(tmp_path):
    pts, _ = make_points(3000, seed=22)
    pts["pid"] = [("L" * 400 if i < 200 else "s") + str(i) for i in range(len(pts))]
    path = write_csv(to_egms(pts), tmp_path / "b.csv")
    points, summary = ingest([path], egms_track())
    assert summary["rows_kept"] == 3000
    src = pts.set_index("pid").loc[points["pid"]]
    for c in date_columns(pts):
        assert_array_equal(points[c], src[c].to_numpy(dtype=np.float32))


def test_egms_without_easting_northing_uses_latitude_longitude(tmp_path):
    pts, _ = make_points(10, seed=23)
    egms = to_egms(pts).drop(columns=["easting", "northing"])
    points, summary = ingest([write_csv(egms, tmp_path / "b.csv")], egms_track())
    assert summary["files"][0]["source_crs"] == "EPSG:4326"
    src = pts.set_index("pid").loc[points["pid"]]
    x, y = Transformer.from_crs("EPSG:4326", WORKING_CRS, always_xy=True).transform(
        src["lon"].to_numpy(), src["lat"].to_numpy()
    )
    assert_allclose(points["x_m"], x, atol=1e-6)
    assert_allclose(points["y_m"], y, atol=1e-6)
