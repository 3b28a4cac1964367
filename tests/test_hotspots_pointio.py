"""The hot-spot job's streamed points (light columns whole, series batch by batch) == reading,
analysing and writing the whole table at once, on the demo's ascending track."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal
from test_hotspots_spatialtiles import demo_points

from slidemap.hotspots.pipeline import HotspotParams, analyse_points
from slidemap.hotspots.pointio import (
    REQUIRED_POINT_COLUMNS,
    count_dates,
    read_track_points,
    stream_trends,
    write_analysed_points,
)
from slidemap.hotspots.trend import date_columns
from slidemap.io import write_geoparquet


@pytest.fixture(scope="module")
def track_file(root, tmp_path_factory):
    """The demo's ascending track written as the ingest writes it."""
    from slidemap.insar.ingest import write_points

    points = demo_points(root, "asc_018")
    folder = tmp_path_factory.mktemp("track")
    write_points(points, {"track": "asc"}, folder / "points.parquet", folder / "summary.json")
    return folder / "points.parquet"


def test_streamed_analysis_equals_the_whole_table(track_file, tmp_path):
    params = HotspotParams()
    whole = read_track_points(track_file)
    assert count_dates(track_file) == len(date_columns(whole.columns)) > 20
    ref, ref_info = analyse_points(whole, params)
    write_geoparquet(ref, tmp_path / "ref.parquet")

    light = read_track_points(track_file, time_series=False)
    assert not date_columns(light.columns) and "geometry" not in light.columns
    assert len(light.columns) > len(REQUIRED_POINT_COLUMNS)
    # what track_hotspots reads: only the columns the analysis needs (the output copies the
    # others from the file)
    light = read_track_points(track_file, time_series=False, columns=REQUIRED_POINT_COLUMNS)
    assert sorted(light.columns) == sorted(REQUIRED_POINT_COLUMNS)
    trends = stream_trends(track_file, params, batch_rows=997)  # many uneven batches
    got, info = analyse_points(light, params, trends=trends)
    write_analysed_points(track_file, got, tmp_path / "got.parquet", batch_rows=1234)

    a, b = gpd.read_parquet(tmp_path / "got.parquet"), gpd.read_parquet(tmp_path / "ref.parquet")
    assert list(a.columns) == list(b.columns)
    assert_frame_equal(a, b, check_exact=True)
    assert a.crs == b.crs
    geo = [
        json.loads(pq.read_schema(tmp_path / f).metadata[b"geo"])
        for f in ("got.parquet", "ref.parquet")
    ]
    assert geo[0]["columns"]["geometry"]["bbox"] == geo[1]["columns"]["geometry"]["bbox"]
    info.pop("timings_s"), ref_info.pop("timings_s")
    assert info == ref_info
    assert pq.ParquetFile(tmp_path / "got.parquet").metadata.num_row_groups > 1


def test_stream_trends_without_series_leaves_the_classes_missing(track_file, tmp_path):
    whole = read_track_points(track_file)
    whole.drop(columns=date_columns(whole.columns)).to_parquet(tmp_path / "p.parquet")
    trend, seasonal, n_dates = stream_trends(tmp_path / "p.parquet", HotspotParams())
    assert n_dates == 0 and len(trend) == len(whole)
    assert trend["trend_class"].isna().all() and np.isnan(seasonal).all()


def test_write_analysed_points_refuses_a_row_count_mismatch(track_file, tmp_path):
    light = read_track_points(track_file, time_series=False)
    with pytest.raises(ValueError, match="analysed rows"):
        write_analysed_points(track_file, light.iloc[:-1], tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_read_where_keeps_the_rows_of_the_whole_read(track_file, monkeypatch):
    """`where` reads batch by batch and keeps the rows it passes: the whole read's rows."""
    from slidemap.hotspots import pointio

    monkeypatch.setattr(pointio, "BATCH_ROWS", 1000)  # many batches
    cols = ["x_m", "y_m", "velocity_mm_yr", "los_u"]
    whole = read_track_points(track_file, time_series=False, columns=cols, only=True)
    median_x = float(np.median(whole["x_m"]))
    east = read_track_points(
        track_file,
        time_series=False,
        columns=cols,
        only=True,
        where=lambda f: f["x_m"].to_numpy() > median_x,
    )
    keep = whole["x_m"].to_numpy() > median_x
    assert 0 < len(east) < len(whole)
    assert_frame_equal(east, whole[keep].reset_index(drop=True), check_exact=True)
    none = read_track_points(
        track_file, time_series=False, columns=cols, only=True, where=lambda f: np.zeros(len(f))
    )
    assert len(none) == 0 and list(none.columns) == list(whole.columns)


def test_read_where_refuses_a_missing_value_in_any_batch(track_file, tmp_path, monkeypatch):
    """The checks of the whole read hold batch by batch: a NaN velocity in a later batch,
    in a row `where` would drop, is refused with its row."""
    from slidemap.errors import InputDataError
    from slidemap.hotspots import pointio

    monkeypatch.setattr(pointio, "BATCH_ROWS", 1000)
    table = pq.read_table(track_file)
    v = table.column("velocity_mm_yr").to_numpy().copy()
    v[2500] = np.nan
    bad = tmp_path / "bad.parquet"
    pq.write_table(
        table.set_column(table.column_names.index("velocity_mm_yr"), "velocity_mm_yr", [v]), bad
    )
    with pytest.raises(InputDataError, match="row 2500") as err:
        read_track_points(
            bad,
            time_series=False,
            columns=["x_m", "y_m", "velocity_mm_yr"],
            only=True,
            where=lambda f: np.zeros(len(f), bool),
        )
    assert "velocity_mm_yr" in str(err.value) and "bad.parquet" in str(err.value)
