"""k × k patches: the centre equals the pixel read by coordinates; edges and nodata masked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from numpy.testing import assert_array_equal
from samples_synth import CELL, X0, Y0, make_factors

from slidemap.tiles import extract_patches, patch_stats, write_tiles


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiles")
    # 300 x 280 cells: more than one 256-cell block, so grouping by blocks is exercised
    arrays = make_factors(root, seed=4, height=300, width=280)
    names = ["elevation", "slope", "twi", "dist_roads", "lithology"]
    return root, arrays, names, [root / f"{n}.tif" for n in names]


def test_centre_equals_pixel_read_by_coordinates(grid):
    root, arrays, names, paths = grid
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 300, 500)
    cols = rng.integers(0, 280, 500)
    patches, mask = extract_patches(paths, rows, cols, 9, block_cells=64)
    assert patches.shape == (500, 5, 9, 9) and patches.dtype == np.float32
    x = X0 + (cols + 0.5) * CELL
    y = Y0 - (rows + 0.5) * CELL
    for f, p in enumerate(paths):
        with rasterio.open(p) as src:
            ref = np.array([v[0] for v in src.sample(zip(x, y, strict=True))], dtype=np.float64)
            if src.nodata is not None and not np.isnan(src.nodata):
                ref[ref == src.nodata] = np.nan
        assert_array_equal(patches[:, f, 4, 4], ref.astype(np.float32))


def test_patches_equal_padded_array_slices(grid):
    root, arrays, names, paths = grid
    rows = np.array([0, 3, 150, 299, 255, 256, 17])
    cols = np.array([0, 279, 140, 5, 255, 256, 15])
    for k in (1, 5, 9):
        patches, mask = extract_patches(paths, rows, cols, k, block_cells=128)
        h = k // 2
        for f, name in enumerate(names):
            a = arrays[name].astype(np.float32)
            if name == "lithology":
                a = np.where(a == 0, np.nan, a)
            padded = np.pad(a, h, constant_values=np.nan)
            for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
                assert_array_equal(patches[i, f], padded[r : r + k, c : c + k])
        valid = np.all(np.isfinite(patches), axis=1)
        assert_array_equal(mask, valid)
    # the corner patch is half outside the raster; sample 6 touches the elevation hole
    p, m = extract_patches(paths, rows, cols, 9)
    assert not m[0, :4].any() and m[0, 4:, 4:].all()
    assert not m[6].all() and np.isnan(p[6, 0]).any() and np.isfinite(p[6, 1]).all()


def test_patch_stats_training_rows_only(grid):
    root, arrays, names, paths = grid
    rows = np.array([50, 60, 70, 80])
    cols = np.array([50, 60, 70, 80])
    patches, _ = extract_patches(paths, rows, cols, 3)
    train = np.array([True, True, False, False])
    stats = patch_stats(patches, train, names)
    ref = patches[:2, 1].astype(np.float64)
    assert stats["mean"]["slope"] == pytest.approx(ref.mean())
    assert stats["std"]["slope"] == pytest.approx(ref.std())
    assert stats["n_rows"] == 2
    patches[2:] = 1e6  # test rows never enter the statistics
    assert patch_stats(patches, train, names) == stats


def test_write_tiles_roundtrip(grid, tmp_path):
    root, arrays, names, paths = grid
    rows, cols = np.array([5, 6]), np.array([7, 8])
    patches, mask = extract_patches(paths, rows, cols, 9)
    index = pd.DataFrame(
        {
            "unit_id": [10, 11],
            "row": rows,
            "col": cols,
            "label": [1, 0],
            "split": ["train", "test"],
            "fold": [0, -1],
            "fold_random": [1, -1],
        }
    )
    stats = patch_stats(patches, np.array([True, False]), names)
    write_tiles(
        patches,
        mask,
        index,
        names,
        stats,
        patches_path=tmp_path / "p.npz",
        index_path=tmp_path / "i.parquet",
        stats_path=tmp_path / "s.json",
    )
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        assert_array_equal(z["patches"], patches)
        assert_array_equal(z["mask"], mask)
        assert_array_equal(z["unit_id"], [10, 11])
        assert z["factors"].tolist() == names
    assert pd.read_parquet(tmp_path / "i.parquet")["unit_id"].tolist() == [10, 11]
