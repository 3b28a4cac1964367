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
