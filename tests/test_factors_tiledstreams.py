"""Tiled stream network: pieces per tile joined in a merge == the whole-array segments.

Reference: ``stream_segments`` of the whole-array routing (itself checked against pyflwdir,
GRASS and hand-made networks in test_factors_hydrology.py): same segments, ids, Strahler
orders, upstream areas and vertex-exact geometries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from slidemap.factors.hydrology import route_flow
from slidemap.factors.streams import (
    assemble_segments,
    segment_chunks,
    segments_frame,
    stream_pieces,
    stream_segments,
)

T = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 9_600_000.0)


def tiled_streams(flow, threshold, tile):
    dirs, acc = flow.dirs, flow.acc_cells
    height, width = dirs.shape
    dp = np.pad(dirs, 1, constant_values=255)
    ap = np.pad(acc, 1, constant_values=np.nan)
    pieces = []
    for r0 in range(0, height, tile):
        for c0 in range(0, width, tile):
            h, w = min(tile, height - r0), min(tile, width - c0)
            window = (slice(r0, r0 + h + 2), slice(c0, c0 + w + 2))
            pieces.append(stream_pieces(dp[window], ap[window], (r0, c0), width, threshold))
    return segments_frame(*assemble_segments(pieces), width, transform=T, crs="EPSG:32717")


def assert_same_streams(got, ref):
    assert len(got) == len(ref) > 0
    pd.testing.assert_frame_equal(
        got.drop(columns="geometry").reset_index(drop=True),
        ref.drop(columns="geometry").reset_index(drop=True),
    )
    assert all(a.equals_exact(b, 0.0) for a, b in zip(got.geometry, ref.geometry, strict=True))


@pytest.mark.parametrize("name", ["demo/dem.tif", "scenarios/dem/zion_srtm.tif"])
def test_tiled_streams_equal_the_whole_array_streams_on_real_dems(root, name):
    with rasterio.open(root / "resources" / name) as src:
        z = src.read(1, masked=True).astype(np.float32).filled(np.nan)
    flow = route_flow(z, ewres=10.0, nsres=-10.0)
    for threshold in (100, 1000):
        ref = stream_segments(flow, threshold, transform=T, crs="EPSG:32717")
        assert ref["strahler"].max() >= 3
        for tile in (37, 128):
            assert_same_streams(tiled_streams(flow, threshold, tile), ref)


@pytest.mark.parametrize("seed", range(3))
def test_tiled_streams_on_random_grids_with_many_confluences_on_seams(seed):
    rng = np.random.default_rng(seed)
    for _ in range(10):
        rows, cols = rng.integers(8, 40, 2)
        z = (rng.random((rows, cols)) * 20).astype(np.float32)
        if seed == 1:
            z[rng.random((rows, cols)) < 0.08] = np.nan
        flow = route_flow(z, ewres=10.0, nsres=-10.0)
        for threshold in (2, 5):
            ref = stream_segments(flow, threshold, transform=T, crs="EPSG:32717")
            if len(ref) == 0:
                continue
            for tile in (3, 5, int(rng.integers(6, 40))):
                assert_same_streams(tiled_streams(flow, threshold, tile), ref)


def test_a_piece_running_into_a_tile_without_a_stream_is_refused():
    dirs = np.full((3, 4), 255, dtype=np.uint8)
    dirs[1, 1] = 3  # east, out of this 1 x 1 tile
    acc = np.where(dirs == 255, np.nan, 50.0)
    piece = stream_pieces(dirs[:, :3], acc[:, :3], (0, 0), 2, 10)
    with pytest.raises(ValueError, match="no tile has one"):
        assemble_segments([piece])
    with pytest.raises(ValueError, match="differ"):
        stream_pieces(dirs, acc[:, :3], (0, 0), 2, 10)


@pytest.mark.parametrize("seed", range(2))
def test_streams_table_in_pieces_equals_the_whole_table_and_writes_the_same_layer(seed, tmp_path):
    import geopandas as gpd

    from slidemap.io import write_gpkg, write_gpkg_chunks

    rng = np.random.default_rng(seed)
    z = (rng.random((60, 50)) * 20).astype(np.float32)
    z[rng.random(z.shape) < 0.05] = np.nan  # outlets inside: single-cell streams, left out
    flow = route_flow(z, ewres=10.0, nsres=-10.0)
    height, width = z.shape
    dp = np.pad(flow.dirs, 1, constant_values=255)
    ap = np.pad(flow.acc_cells, 1, constant_values=np.nan)
    segments = assemble_segments([stream_pieces(dp, ap, (0, 0), width, 3)])
    whole = segments_frame(*segments, width, transform=T, crs="EPSG:32717")
    assert (np.diff(segments[1]) < 2).any() and len(whole) > 20
    for chunk in (1, 7, 100, 10**9):
        parts = list(
            segment_chunks(*segments, width, transform=T, crs="EPSG:32717", chunk_vertices=chunk)
        )
        vertices = [int(shapely_counts(p).sum()) for p in parts]
        assert all(v <= chunk or len(p) == 1 for v, p in zip(vertices, parts, strict=True))
        if chunk < 10:
            assert len(parts) > 10
        assert_same_streams(pd.concat(parts), whole)
        write_gpkg_chunks(iter(parts), tmp_path / "chunks.gpkg", "streams")
        write_gpkg(whole, tmp_path / "whole.gpkg", "streams")
        got = gpd.read_file(tmp_path / "chunks.gpkg", layer="streams")
        ref = gpd.read_file(tmp_path / "whole.gpkg", layer="streams")
        assert got.crs == ref.crs
        assert_same_streams(got, ref)
    # only a single-cell stream: one empty table, written as an empty layer
    one_cell = (np.array([5]), np.array([0, 1]), np.array([1], np.uint8), np.array([1.0]))
    (empty,) = segment_chunks(*one_cell, width, transform=T, crs="EPSG:32717", chunk_vertices=5)
    assert len(empty) == 0 and list(empty.columns) == list(whole.columns)
    write_gpkg_chunks(iter([empty, empty]), tmp_path / "empty.gpkg", "streams")
    assert len(gpd.read_file(tmp_path / "empty.gpkg")) == 0
    with pytest.raises(ValueError, match="no table to write"):
        write_gpkg_chunks(iter([]), tmp_path / "none.gpkg", "streams")
    assert not (tmp_path / "none.gpkg").exists()


def shapely_counts(frame):
    import shapely

    return shapely.get_num_coordinates(frame.geometry.to_numpy())
