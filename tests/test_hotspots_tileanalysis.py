"""The track's analysed points from per-tile files (hotspots/tileanalysis.py) == the analysed
table written whole: the streamed writer against ``write_analysed_points`` of the same table,
the columns put back into the track's order against the table itself, and stale tile files
(a row missing, one too many, two ids swapped) refused by name."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

from slidemap.errors import InputDataError
from slidemap.hotspots.pointio import write_analysed_points
from slidemap.hotspots.tileanalysis import read_tile_columns, write_points_from_tiles
from slidemap.insar.partition import point_tiles, tile_name

TILE_M = 100.0
ADDED = ["trend_class", "trend_break_date", "v_hp_mm_yr", "moving", "gi_z", "gi_n"]


@pytest.fixture
def track(tmp_path):
    """A track of 157 points over 3 × 2 tiles (pid order), and its analysed columns."""
    rng = np.random.default_rng(4)
    n = 157
    x, y = rng.uniform(0, 300, n), rng.uniform(0, 200, n)
    points = gpd.GeoDataFrame(
        {
            "pid": [f"P{i:04d}" for i in range(n)],
            "x_m": x,
            "y_m": y,
            "velocity_mm_yr": rng.normal(0, 5, n),
            "d_20200101": rng.normal(0, 2, n).astype(np.float32),
            "d_20200113": rng.normal(0, 2, n).astype(np.float32),
        },
        geometry=gpd.points_from_xy(x, y),
        crs="EPSG:32617",
    )
    source = tmp_path / "points.parquet"
    points.to_parquet(source, index=False)
    classes = np.array(["linear", "nonlinear", "uncorrelated", None], dtype=object)
    added = pd.DataFrame(
        {
            "trend_class": pd.Series(classes[rng.integers(0, 4, n)], dtype="str"),
            "trend_break_date": pd.to_datetime(rng.integers(1.5e9, 1.7e9, n), unit="s").astype(
                "datetime64[s]"
            ),
            "v_hp_mm_yr": rng.normal(0, 5, n),
            "moving": rng.random(n) < 0.3,
            "gi_z": rng.normal(0, 2, n),
            "gi_n": rng.integers(1, 40, n).astype(np.int32),
        }
    )
    analysed = pd.concat([points.drop(columns="geometry"), added], axis=1)
    return source, points, analysed


def write_tiles(points, analysed, folder, row_group_size=4):
    """The tile files as hotspot_tile_points writes them: pid + added columns, file order."""
    tiles = point_tiles(points[["x_m", "y_m"]].to_numpy(), TILE_M)
    names = np.array([tile_name((int(i), int(j))) for i, j in tiles])
    files = []
    for name in sorted(set(names)):
        part = analysed.loc[names == name, ["pid", *ADDED]]
        table = pa.Table.from_pandas(part, preserve_index=False)
        path = folder / f"{name}.points.parquet"
        pq.write_table(table, path, row_group_size=row_group_size)
        files.append(path)
    return files


@pytest.mark.parametrize("batch_rows", [7, 1000])
def test_streamed_from_tiles_equals_the_whole_table(track, tmp_path, batch_rows):
    source, points, analysed = track
    files = write_tiles(points, analysed, tmp_path)
    assert len(files) == 6
    want, got = tmp_path / "want.parquet", tmp_path / "got.parquet"
    write_analysed_points(source, analysed, want, batch_rows=batch_rows)
    write_points_from_tiles(source, files, TILE_M, got, batch_rows=batch_rows)
    a, b = gpd.read_parquet(want), gpd.read_parquet(got)
    assert list(b.columns) == list(points.columns) + ADDED
    assert_frame_equal(b, a, check_exact=True)
    assert (
        pq.ParquetFile(got).metadata.num_row_groups == pq.ParquetFile(want).metadata.num_row_groups
    )


def test_tile_columns_come_back_in_the_track_order(track, tmp_path):
    _, points, analysed = track
    files = write_tiles(points, analysed, tmp_path)
    cols = ["trend_class", "gi_z", "gi_n", "moving"]
    got = read_tile_columns(points[["x_m", "y_m"]].to_numpy(), files, TILE_M, cols)
    assert_frame_equal(got, analysed[cols].reset_index(drop=True), check_exact=True)


def test_stale_tile_files_are_refused(track, tmp_path):
    source, points, analysed = track
    files = write_tiles(points, analysed, tmp_path)
    xy = points[["x_m", "y_m"]].to_numpy()
    good = pd.read_parquet(files[2])
    # a row missing
    good.iloc[:-1].to_parquet(files[2], index=False)
    with pytest.raises(InputDataError, match=f"{len(good) - 1} rows for the tile's {len(good)}"):
        read_tile_columns(xy, files, TILE_M, ["gi_z"])
    with pytest.raises(InputDataError, match="more points in this tile.*forcerun"):
        write_points_from_tiles(source, files, TILE_M, tmp_path / "out.parquet")
    # a row too many
    pd.concat([good, good.iloc[[0]]]).to_parquet(files[2], index=False)
    with pytest.raises(InputDataError, match="more rows than the track has points"):
        write_points_from_tiles(source, files, TILE_M, tmp_path / "out.parquet")
    # two ids swapped: the counts hold, the ids do not
    good.iloc[[1, 0, *range(2, len(good))]].to_parquet(files[2], index=False)
    with pytest.raises(InputDataError, match=f"point '{good['pid'].iloc[0]}' out of place"):
        write_points_from_tiles(source, files, TILE_M, tmp_path / "out.parquet")
    # a tile without its file
    with pytest.raises(InputDataError, match="has no tile file"):
        read_tile_columns(xy, files[:2] + files[3:], TILE_M, ["gi_z"])
    assert not (tmp_path / "out.parquet").exists()  # nothing half-written
