"""Hot-spot pass 1 per tile (trend classes, seasonal amplitude, k-th-neighbour distances) from
tile files == the whole track: the trend columns of ``analyse_points`` and a brute-force k-NN
over every point of the track."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from scipy.spatial import cKDTree
from test_hotspots_spatialtiles import demo_points

from slidemap.hotspots.pipeline import HotspotParams, analyse_points
from slidemap.hotspots.spatialtiles import knn_ranks
from slidemap.hotspots.tilejobs import pass1_tile_job
from slidemap.insar.partition import halo_tile_names, parse_tile_name, write_partitioned

TILE_M = 600.0


@pytest.fixture(scope="module")
def demo_track(root):
    return demo_points(root, "asc_018")


def run_pass1(points, params, folder, halo_m):
    """Partition the track, run pass 1 for every tile, return the outputs in pid order."""
    manifest = write_partitioned(points, folder / "tiles", TILE_M)
    files = {name: folder / "tiles" / f"{name}.parquet" for name in manifest["tiles"]}
    parts = []
    for name in sorted(files):
        near = set(halo_tile_names(parse_tile_name(name), TILE_M, halo_m))
        out = folder / "pass1" / f"{name}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        summary = pass1_tile_job(
            name,
            {n: f for n, f in files.items() if n in near},
            params,
            tile_size_m=TILE_M,
            halo_m=halo_m,
            out_path=out,
        )
        assert summary["points"] == manifest["tiles"][name]
        parts.append(pd.read_parquet(out))
    merged = pd.concat(parts, ignore_index=True)
    return merged.sort_values("pid", kind="stable", ignore_index=True), len(files)


def test_pass1_tiles_equal_the_whole_track(demo_track, tmp_path):
    params = HotspotParams()
    got, n_tiles = run_pass1(demo_track, params, tmp_path, halo_m=1500.0)
    assert n_tiles >= 12
    assert got["pid"].tolist() == demo_track["pid"].tolist()
    whole, _ = analyse_points(demo_track, params)
    trend_cols = [c for c in whole.columns if c.startswith("trend_")] + ["seasonal_mm"]
    # every column bit for bit (the fits are summed row by row, not by BLAS blocks)
    got["trend_break_date"] = got["trend_break_date"].astype("datetime64[s]")  # Parquet: ms
    assert_frame_equal(
        got[trend_cols].reset_index(drop=True),
        whole[trend_cols].reset_index(drop=True),
        check_exact=True,
    )
    for col in ("trend_class", "trend_nonlinear_model", "trend_break_date", "trend_n_dates"):
        assert got[col].equals(whole[col].reset_index(drop=True)), col
    xy = demo_track[["x_m", "y_m"]].to_numpy(np.float64)
    for k in knn_ranks(params):
        brute = np.sort(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)), axis=1)
        np.testing.assert_allclose(got[f"knn_{k}_m"], brute[:, k], rtol=0, atol=1e-9)
        tree = cKDTree(xy).query(xy, k=k + 1)[0][:, k]
        np.testing.assert_array_equal(got[f"knn_{k}_m"], tree)


def test_a_halo_shorter_than_a_neighbour_distance_is_refused(demo_track, tmp_path):
    with pytest.raises(ValueError, match="halo"):
        run_pass1(demo_track, HotspotParams(), tmp_path, halo_m=5.0)


def tile_trends(points, params, folder):
    """Partition a track, run pass 1 (trends only) per tile; return the output files."""
    manifest = write_partitioned(points, folder / "tiles", TILE_M)
    outs = []
    for name in sorted(manifest["tiles"]):
        out = folder / "trends" / f"{name}.trends.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        files = {name: folder / "tiles" / f"{name}.parquet"}
        pass1_tile_job(name, files, params, tile_size_m=TILE_M, halo_m=0.0, out_path=out, ranks=[])
        outs.append(out)
    return outs


def test_track_hotspots_from_tile_trends_equals_the_whole_track(root, demo_track, tmp_path):
    """The merge of the tiled DAG (trends from the tile jobs) == track_hotspots, bit for bit."""
    from slidemap.hotspots.density import grid_from_raster
    from slidemap.hotspots.pipeline import track_hotspots
    from slidemap.hotspots.tilejobs import join_trends

    params = HotspotParams()
    grid = grid_from_raster(root / "resources" / "demo" / "dem.tif", 20.0)
    files = tile_trends(demo_track, params, tmp_path)
    assert len(files) >= 12
    assert all(pd.read_parquet(f).columns[-1] == "seasonal_mm" for f in files)  # no k-NN
    # a copy of an id in another tile (what duplicate_ids: first leaves in a tile file) is
    # not the point's row: spoil one and add it to another tile's file
    first, last = pd.read_parquet(files[0]), pd.read_parquet(files[-1])
    stray = first.iloc[[0]].assign(trend_slope_mm_yr=99.0, seasonal_mm=-1.0)
    pd.concat([last, stray], ignore_index=True).to_parquet(files[-1], index=False)
    trends = join_trends(demo_track, files, TILE_M)
    got = track_hotspots(demo_track, grid, params, track="asc", trends=trends)
    want = track_hotspots(demo_track, grid, params, track="asc")
    assert_frame_equal(got[0], want[0], check_exact=True)
    np.testing.assert_array_equal(got[1], want[1])  # density (NaN == NaN)
    assert len(want[2]) >= 5 and want[3]["n_moving"] >= 100  # a test with content
    assert_frame_equal(got[2], want[2], check_exact=True)  # polygons
    for info in (got[3], want[3]):
        info.pop("timings_s")
    assert got[3] == want[3]


def test_a_point_missing_from_the_tile_trends_is_named(demo_track, tmp_path):
    from slidemap.errors import InputDataError
    from slidemap.hotspots.tilejobs import join_trends

    files = tile_trends(demo_track, HotspotParams(), tmp_path)
    part = pd.read_parquet(files[3])
    part.iloc[1:].to_parquet(files[3], index=False)
    with pytest.raises(InputDataError, match=f"point '{part['pid'].iloc[0]}'.*rerun"):
        join_trends(demo_track, files, TILE_M)
    # a tile without a file: its points are named and counted (the first in the points' order)
    part.to_parquet(files[3], index=False)
    last = pd.read_parquet(files[-1])
    with pytest.raises(
        InputDataError, match=rf"point '{last['pid'].iloc[0]}'.*\({len(last)} such points\)"
    ):
        join_trends(demo_track, files[:-1], TILE_M)
