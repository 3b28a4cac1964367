"""Spatial folds are spatially disjoint; random folds are stratified; splits are seeded."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import shapely

from slidemap.errors import ConfigError
from slidemap.folds import (
    assign_splits,
    block_folds,
    block_ids,
    fold_summary,
    holdout_split,
    kmeans_folds,
    random_folds,
)


def _points(seed=0, n=900):
    rng = np.random.default_rng(seed)
    # clustered, like landslide inventories, in UTM-sized coordinates
    centres = rng.uniform(0, 5000, size=(12, 2)) + [700_000, 9_550_000]
    idx = rng.integers(0, 12, n)
    xy = centres[idx] + rng.normal(0, 300, size=(n, 2))
    label = (rng.random(n) < 0.3).astype(int)
    return xy[:, 0], xy[:, 1], label


def test_kmeans_folds_are_spatially_disjoint_voronoi_cells():
    x, y, _ = _points()
    k = 5
    fold = kmeans_folds(x, y, k, seed=3)
    assert sorted(np.unique(fold)) == list(range(k))
    hulls = [
        shapely.MultiPoint(np.column_stack([x[fold == f], y[fold == f]])).convex_hull
        for f in range(k)
    ]
    for a, b in itertools.combinations(hulls, 2):
        assert a.intersection(b).area == pytest.approx(0.0, abs=1e-6)
    # every point is nearest to the centre of its own fold (Voronoi partition)
    centres = np.array([[x[fold == f].mean(), y[fold == f].mean()] for f in range(k)])
    d = np.hypot(x[:, None] - centres[None, :, 0], y[:, None] - centres[None, :, 1])
    assert (np.argmin(d, axis=1) == fold).all()
    # numbered west to east; same seed same folds
    assert np.all(np.diff(centres[:, 0]) > 0)
    np.testing.assert_array_equal(fold, kmeans_folds(x, y, k, seed=3))


def test_block_folds_never_split_a_block():
    x, y, _ = _points(1)
    fold = block_folds(x, y, 4, block_size_m=700, seed=2)
    blocks = block_ids(x, y, 700, origin=(x.min(), y.min()))
    per_block = pd.Series(fold).groupby(blocks).nunique()
    assert (per_block == 1).all()
    counts = np.bincount(fold)
    assert counts.size == 4 and counts.min() > 0.5 * counts.max()  # roughly balanced
    # blocks of different folds do not overlap: rebuild the block squares and intersect
    for f, g in itertools.combinations(range(4), 2):
        bf = set(blocks[fold == f])
        bg = set(blocks[fold == g])
        assert not bf & bg
    with pytest.raises(ConfigError, match="block_size_m"):
        block_folds(x, y, 4, block_size_m=1e6, seed=0)


def test_random_folds_stratified():
    _, _, label = _points(2)
    fold = random_folds(label, 5, seed=0)
    rates = [label[fold == f].mean() for f in range(5)]
    assert max(rates) - min(rates) < 0.02
    assert np.bincount(fold).max() - np.bincount(fold).min() <= 1


def test_random_holdout_is_stratified_70_30():
    x, y, label = _points(3)
    test = holdout_split(x, y, label, method="random", fraction=0.3, block_size_m=500, seed=1)
    assert test.mean() == pytest.approx(0.3, abs=0.002)
    assert label[test].mean() == pytest.approx(label[~test].mean(), abs=0.01)


def test_spatial_holdout_uses_whole_blocks():
    x, y, label = _points(4)
    test = holdout_split(x, y, label, method="spatial", fraction=0.3, block_size_m=600, seed=5)
    assert 0.2 < test.mean() < 0.4
    blocks = block_ids(x, y, 600, origin=(x.min(), y.min()))
    assert (pd.Series(test).groupby(blocks).nunique() == 1).all()
    assert not holdout_split(x, y, label, method="none", fraction=0.3, block_size_m=1, seed=0).any()


def test_assign_splits_columns_and_unlabelled_rows():
    x, y, label = _points(5, n=400)
    label[:30] = -1
    df = pd.DataFrame({"x_m": x, "y_m": y, "label": label})
    out = assign_splits(
        df,
        test_split_method="random",
        test_fraction=0.3,
        folds=5,
        spatial_folds="kmeans",
        block_size_m=500,
        seed=9,
    )
    assert (out.loc[:29, "split"] == "predict").all()
    assert (out.loc[:29, ["fold", "fold_random"]] == -1).all().all()
    test = out["split"] == "test"
    assert (out.loc[test, ["fold", "fold_random"]] == -1).all().all()
    train = out["split"] == "train"
    assert set(out.loc[train, "fold"]) == set(range(5)) == set(out.loc[train, "fold_random"])
    summary = fold_summary(out)
    assert sum(v["rows"] for v in summary["fold"].values()) == train.sum()
    again = assign_splits(
        df,
        test_split_method="random",
        test_fraction=0.3,
        folds=5,
        spatial_folds="kmeans",
        block_size_m=500,
        seed=9,
    )
    pd.testing.assert_frame_equal(out, again)
    with pytest.raises(ConfigError, match="single|only class"):
        assign_splits(
            df.assign(label=1),
            test_split_method="random",
            test_fraction=0.3,
            folds=5,
            spatial_folds="kmeans",
            block_size_m=500,
            seed=9,
        )
