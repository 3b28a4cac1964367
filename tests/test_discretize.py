"""ChiMerge against a hand-computed example and a naive exact reference; leak-free fold bins."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from scipy.stats import chi2 as chi2_dist

from slidemap.discretize import (
    _chi2_general,
    _chi2_two,
    apply_bins,
    fit_chimerge,
    fit_fold_bins,
)

# ---------------------------------------------------------------- naive exact reference


def naive_chi2(a, b):
    """Kerber's statistic written literally, in exact rational arithmetic.

    Expected counts of zero are 0.1 (Kerber); other expected counts below 0.5 are 0.5.
    """
    rows = [a, b]
    r = [sum(a), sum(b)]
    n = r[0] + r[1]
    c = [a[j] + b[j] for j in range(len(a))]
    total = Fraction(0)
    for i in range(2):
        for j in range(len(a)):
            e = Fraction(r[i] * c[j], n)
            if e == 0:
                e = Fraction(1, 10)
            elif e < Fraction(1, 2):
                e = Fraction(1, 2)
            total += (rows[i][j] - e) ** 2 / e
    return total


def naive_chimerge(values, labels, max_intervals, min_intervals, significance):
    """Recompute every adjacent χ² after each merge; merge the leftmost smallest pair."""
    classes = sorted(set(labels.tolist()))
    distinct = sorted(set(values.tolist()))
    intervals = [[v] for v in distinct]
    counts = [[int(((values == v) & (labels == k)).sum()) for k in classes] for v in distinct]
    threshold = chi2_dist.ppf(significance, max(len(classes) - 1, 1)) if significance else None
    while len(counts) > min_intervals:
        stats = [naive_chi2(counts[i], counts[i + 1]) for i in range(len(counts) - 1)]
        best = min(stats)
        if (max_intervals is None or len(counts) <= max_intervals) and (
            threshold is None or best >= threshold
        ):
            break
        i = stats.index(best)  # leftmost of the smallest
        counts[i] = [x + y for x, y in zip(counts[i], counts[i + 1], strict=True)]
        intervals[i] = intervals[i] + intervals[i + 1]
        del counts[i + 1], intervals[i + 1]
    return np.array(
        [(intervals[k - 1][-1] + intervals[k][0]) / 2 for k in range(1, len(intervals))]
    )


# ------------------------------------------------------------------------------ tests


def test_hand_computed_example():
    # six values, two samples each; class counts (class 0, class 1) per value:
    #   1:(2,0) 2:(2,0) 3:(1,1) 4:(0,2) 5:(0,2) 6:(1,1)
    # pair statistics, chi2 = N (a0 b1 - a1 b0)^2 / (R0 R1 C0 C1), 0.1 per empty expected cell:
    #   (1,2)=0.2 (2,3)=4*4/(2*2*3*1)=4/3 (3,4)=4/3 (4,5)=0.2 (5,6)=4/3
    # merge (1,2) -> [4,0]; ([1,2],3): 6*16/(4*2*5*1)=2.4
    # merge (4,5) -> [0,4]; (3,[4,5]): 6*16/(2*4*1*5)=2.4; ([4,5],6): 2.4
    # three ties at 2.4 < 2.706 (chi2 0.90, 1 dof): merge the leftmost -> [1,2,3] = [5,1]
    # ([1,2,3],[4,5]) = 10*400/(6*4*5*5) = 6.67; ([4,5],6) = 2.4 -> merge -> [4,5,6] = [1,5]
    # ([1,2,3],[4,5,6]) = 12*24^2/(6*6*6*6) = 5.33 >= 2.706: stop. One cut, midway 3 | 4.
    v = np.repeat([1.0, 2, 3, 4, 5, 6], 2)
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1])
    assert chi2_dist.ppf(0.90, 1) == pytest.approx(2.7055, abs=1e-4)
    cuts = fit_chimerge(v, y, significance=0.90, max_intervals=None, min_intervals=1)
    assert_array_equal(cuts, [3.5])
    # with max_intervals = 3 and no chi2 rule the merging stops at three intervals:
    # after [1,2,3] the pairs are 6.67 and 2.4 -> [4,5,6] would make two: stop before it
    cuts3 = fit_chimerge(v, y, significance=None, max_intervals=3)
    assert_array_equal(cuts3, [3.5, 5.5])


@pytest.mark.parametrize(
    ("column", "lower_bounds"),
    [
        (0, [4.3, 5.5, 5.8, 6.3, 7.1]),  # sepal length
        (1, [2.0, 2.5, 3.0, 3.4]),  # sepal width
        (2, [1.0, 3.0, 4.8, 5.2]),  # petal length
        (3, [0.1, 1.0, 1.4, 1.8]),  # petal width
    ],
)
def test_iris_reproduces_kerber_at_the_090_level(column, lower_bounds):
    # Kerber (1992), the Iris example: chi2 threshold at 0.90 with 2 degrees of freedom
    # (4.61), no interval limits; the published intervals by their lower bounds
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    v = x[:, column]
    cuts = fit_chimerge(v, y, significance=0.90, max_intervals=None, min_intervals=1)
    lows = [v.min()] + [v[v > c].min() for c in cuts]
    assert_array_equal(lows, lower_bounds)


def test_small_expected_counts_are_raised_to_one_half():
    # [3, 0] | [0, 1]: expected counts 9/4, 3/4 | 3/4, 1/4 -> the last one counts as 1/2:
    # (3 - 9/4)^2/(9/4) + (0 - 3/4)^2/(3/4) + (0 - 3/4)^2/(3/4) + (1 - 1/2)^2/(1/2) = 9/4
    assert _chi2_two(3, 0, 0, 1) == pytest.approx(1 / 4 + 3 / 4 + 3 / 4 + 1 / 2, rel=1e-15)
    assert _chi2_general([3, 0], [0, 1]) == _chi2_two(3, 0, 0, 1)
    # no expected count below 1/2: the closed form N (a0 b1 - a1 b0)^2 / (R0 R1 C0 C1)
    assert _chi2_two(2, 0, 1, 1) == 4 * 4 / (2 * 2 * 3 * 1)


def test_chi2_formulas_match_kerber_literal():
    rng = np.random.default_rng(1)
    for _ in range(300):
        a = rng.integers(0, 6, size=2).tolist()
        b = rng.integers(0, 6, size=2).tolist()
        if sum(a) == 0 or sum(b) == 0:
            continue
        exact = naive_chi2(a, b)
        # two classes: the exact rational rounded once, so equal to the literal formula's float
        assert _chi2_two(*a, *b) == float(exact)
        assert _chi2_general(a, b) == pytest.approx(float(exact), rel=1e-12)
    for _ in range(100):
        a = rng.integers(0, 5, size=3).tolist()
        b = rng.integers(0, 5, size=3).tolist()
        if sum(a) and sum(b):
            assert _chi2_general(a, b) == pytest.approx(float(naive_chi2(a, b)), rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("max_intervals", "significance", "min_intervals"),
    [(8, 0.95, 2), (None, 0.95, 2), (5, None, 2), (8, 0.99, 3), (12, 0.90, 1)],
)
def test_identical_to_naive_reference(seed, max_intervals, significance, min_intervals):
    rng = np.random.default_rng(seed)
    n = 400
    values = rng.integers(0, 60, size=n).astype(float) / 4.0
    p = 1.0 / (1.0 + np.exp(-(values - 7.0)))
    labels = (rng.random(n) < p).astype(int)
    got = fit_chimerge(
        values,
        labels,
        max_intervals=max_intervals,
        min_intervals=min_intervals,
        significance=significance,
    )
    ref = naive_chimerge(values, labels, max_intervals, min_intervals, significance)
    assert_array_equal(got, ref)


def test_identical_to_naive_reference_three_classes():
    rng = np.random.default_rng(7)
    values = rng.integers(0, 40, size=300).astype(float)
    labels = np.minimum((values / 15 + rng.normal(0, 0.7, 300)).astype(int).clip(0), 2)
    got = fit_chimerge(values, labels, max_intervals=6)
    assert_array_equal(got, naive_chimerge(values, labels, 6, 2, 0.95))


def test_limits_and_edge_cases():
    rng = np.random.default_rng(3)
    v = rng.normal(size=2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-3 * v))).astype(int)
    cuts = fit_chimerge(v, y, max_intervals=8)
    assert 1 <= cuts.size <= 7 and np.all(np.diff(cuts) > 0)
    # NaN values are ignored
    v2 = v.copy()
    v2[::10] = np.nan
    assert_array_equal(fit_chimerge(v2, y), fit_chimerge(v[np.isfinite(v2)], y[np.isfinite(v2)]))
    # a single distinct value: no cut; two values: one cut between them
    assert fit_chimerge(np.ones(5), [0, 1, 0, 1, 1]).size == 0
    assert_array_equal(fit_chimerge([1.0, 1, 3, 3], [0, 0, 1, 1]), [2.0])
    # min_intervals stops the merging of identical distributions
    same = fit_chimerge(np.arange(10.0), np.tile([0, 1], 5), min_intervals=4, max_intervals=8)
    assert same.size == 3
    with pytest.raises(ValueError):
        fit_chimerge([1.0, 2.0], [0, 1], max_intervals=None, significance=None)


def test_apply_bins_edges_and_nan():
    cuts = np.array([1.0, 2.0, 5.0])
    v = np.array([-100.0, 0.99, 1.0, 1.5, 2.0, 4.99, 5.0, 1e9, np.nan])
    assert_array_equal(apply_bins(v, cuts), [0, 0, 1, 1, 2, 2, 3, 3, -1])
    assert_array_equal(apply_bins(v[:-1], cuts), np.searchsorted(cuts, v[:-1], side="right"))
    assert apply_bins(np.zeros((2, 3)), cuts).shape == (2, 3)


def _fold_frame(seed: int = 0, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.gamma(2.0, size=n)
    label = (rng.random(n) < 1 / (1 + np.exp(-2 * a))).astype(int)
    split = np.where(rng.random(n) < 0.3, "test", "train")
    fold = np.where(split == "train", rng.integers(0, 4, n), -1)
    fold_r = np.where(split == "train", rng.integers(0, 4, n), -1)
    return pd.DataFrame(
        {"a": a, "b": b, "label": label, "split": split, "fold": fold, "fold_random": fold_r}
    )


def test_fold_bins_structure_and_training_rows_only():
    df = _fold_frame()
    bins = fit_fold_bins(df, ["a", "b"])
    assert set(bins) == {"all", "spatial", "random"}
    assert sorted(bins["spatial"]) == ["0", "1", "2", "3"] == sorted(bins["random"])
    train = df[df["split"] == "train"]
    assert bins["all"]["a"] == fit_chimerge(train["a"], train["label"]).tolist()
    inner = train[train["fold"] != 2]
    assert bins["spatial"]["2"]["b"] == fit_chimerge(inner["b"], inner["label"]).tolist()
    inner = train[train["fold_random"] != 1]
    assert bins["random"]["1"]["a"] == fit_chimerge(inner["a"], inner["label"]).tolist()


def test_no_leakage_from_held_out_labels():
    """Changing the labels of test rows, or of the rows of fold k, leaves the bins fitted
    without them unchanged."""
    df = _fold_frame(5)
    bins = fit_fold_bins(df, ["a", "b"])
    flipped = df.copy()
    test = flipped["split"] == "test"
    flipped.loc[test, "label"] = 1 - flipped.loc[test, "label"]
    assert fit_fold_bins(flipped, ["a", "b"]) == bins
    for k in range(4):
        f2 = df.copy()
        held = f2["fold"] == k
        f2.loc[held, "label"] = 1 - f2.loc[held, "label"]
        again = fit_fold_bins(f2, ["a", "b"])
        assert again["spatial"][str(k)] == bins["spatial"][str(k)]
    # and the flipped test labels do change a fit that (wrongly) used them
    assert fit_chimerge(flipped["a"], flipped["label"]).tolist() != bins["all"]["a"]
