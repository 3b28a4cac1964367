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
