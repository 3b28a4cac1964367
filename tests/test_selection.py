"""Factor selection: VIF vs statsmodels, IGR vs the formula, Pearson/VIF pruning and overrides."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from slidemap.errors import ConfigError
from slidemap.selection import (
    entropy_bits,
    information_gain_ratio,
    pearson_matrix,
    plot_correlation,
    plot_importance,
    select_factors,
    vif,
)


def test_vif_matches_statsmodels():
    from statsmodels.stats.outliers_influence import variance_inflation_factor
    from statsmodels.tools.tools import add_constant

    rng = np.random.default_rng(0)
    n = 500
    a = rng.normal(size=n)
    b = 0.8 * a + 0.3 * rng.normal(size=n)
    c = rng.uniform(size=n) * 100
    d = a - 0.5 * b + 0.05 * rng.normal(size=n) + 1e4  # large offset: intercept matters
    x = np.column_stack([a, b, c, d])
    exog = add_constant(x)
    ref = [variance_inflation_factor(exog, i) for i in range(1, exog.shape[1])]
    assert_allclose(vif(x), ref, rtol=1e-9)
    assert vif(x)[3] > 10  # the collinear one


def test_vif_perfect_collinearity_is_inf():
    rng = np.random.default_rng(1)
    a = rng.normal(size=50)
    b = rng.normal(size=50)
    v = vif(np.column_stack([a, b, 2 * a - b]))
    assert np.all(np.isinf(v))


def test_igr_against_formula_on_small_table():
    # attribute with 3 values; classes per value (neg, pos): A:(3,1) B:(1,3) C:(2,2)
    groups = np.array(["A"] * 4 + ["B"] * 4 + ["C"] * 4)
    labels = np.array([0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1])
    h = lambda *p: -sum(x * math.log2(x) for x in p if x > 0)  # noqa: E731
    info_d = h(6 / 12, 6 / 12)  # Eq. 8 = 1 bit
    info_da = 4 / 12 * h(3 / 4, 1 / 4) + 4 / 12 * h(1 / 4, 3 / 4) + 4 / 12 * h(2 / 4, 2 / 4)
    split = h(4 / 12, 4 / 12, 4 / 12)  # Eq. 11 = log2 3
    expected = (info_d - info_da) / split  # Eq. 10
    assert information_gain_ratio(groups, labels) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx((1 - (2 * 0.8112781244591328 + 1) / 3) / math.log2(3))
    assert entropy_bits([5, 5]) == pytest.approx(1.0)
    assert information_gain_ratio(np.zeros(6), [0, 1, 0, 1, 1, 0]) == 0.0
    # a perfectly informative binary attribute with balanced classes has IGR 1
    assert information_gain_ratio([0, 0, 1, 1], [0, 0, 1, 1]) == pytest.approx(1.0)


def test_pearson_matches_pandas():
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.normal(size=(100, 4)), columns=list("abcd"))
    df["b"] += df["a"]
    assert_allclose(pearson_matrix(df.to_numpy()), df.corr().to_numpy(), atol=1e-12)


def _frame(seed: int = 0, n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    slope = rng.uniform(0, 45, n)
    tri = slope * 0.9 + rng.normal(0, 2, n)  # |r| ~ 0.99 with slope, less informative
    elev = rng.normal(2000, 300, n)
    twi = rng.normal(8, 2, n)
    noise = rng.normal(size=n)
    rain = rng.normal(1200, 200, n)
    # combo ~ elevation + twi + rain: every pairwise |r| ~ 0.57, but VIF ~ 100
    combo = 0.55 * ((elev - 2000) / 300 + (twi - 8) / 2 + (rain - 1200) / 200)
    combo += 0.1 * rng.normal(size=n)
    litho = rng.integers(1, 5, n).astype(float)
    logit = 0.12 * (slope - 22) + 0.8 * (litho == 3) + 0.5 * combo
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    split = np.where(rng.random(n) < 0.3, "test", "train")
    return pd.DataFrame(
        {
            "slope": slope,
            "tri": tri,
            "elevation": elev,
            "twi": twi,
            "rain": rain,
            "noise": noise,
            "combo": combo,
            "lithology": litho,
            "label": label,
            "split": split,
        }
    )


FACTORS = ["slope", "tri", "elevation", "twi", "rain", "noise", "combo", "lithology"]


def test_selection_drops_correlated_and_collinear():
    df = _frame()
    sel, rep = select_factors(df, FACTORS, ["lithology"], rf_trees=50, rf_repeats=3, seed=1)
    r = rep["factors"]
    # Pearson: slope/tri pair, the lower-IGR member goes
    loser = "tri" if r["tri"]["igr"] <= r["slope"]["igr"] else "slope"
    assert r[loser]["dropped"] and r[loser]["step"] == "pearson"
    assert "|r|" in r[loser]["reason"]
    # combo ~ elevation + twi: VIF above 10 (|r| of each pair below 0.7)
    assert r["combo"]["vif"] > 10
    vif_dropped = [f for f in FACTORS if r[f]["step"] == "vif"]
    assert len(vif_dropped) == 1 and vif_dropped[0] in {"combo", "elevation", "twi", "rain"}
    assert r["combo"]["pearson_max_abs_r"] < 0.7
    for f in sel["factors"]:
        assert not r[f]["dropped"]
        if f != "lithology":
            assert r[f]["vif_selected"] <= 10
    assert sel["categorical"] == ["lithology"]
    assert sel["factors"] == [f for f in FACTORS if f in sel["factors"]]  # input order
    # every factor reported with the required statistics
    for f in FACTORS:
        for key in ("pearson_max_abs_r", "vif", "tol", "igr", "rf_importance", "dropped", "reason"):
            assert key in r[f]
    assert r["lithology"]["vif"] is None and r["lithology"]["igr"] > 0
    json.dumps(rep, allow_nan=False)


def test_selection_uses_training_rows_only():
    df = _frame(3)
    _, rep = select_factors(df, FACTORS, ["lithology"], rf_trees=20, rf_repeats=2)
    changed = df.copy()
    test = changed["split"] == "test"
    changed.loc[test, FACTORS] = np.random.default_rng(9).normal(
        size=(int(test.sum()), len(FACTORS))
    )
    changed.loc[test, "label"] = 1 - changed.loc[test, "label"]
    _, rep2 = select_factors(changed, FACTORS, ["lithology"], rf_trees=20, rf_repeats=2)
    assert rep2 == rep


def test_keep_and_drop_overrides():
    df = _frame()
    sel, rep = select_factors(
        df, FACTORS, ["lithology"], keep=["tri", "slope"], drop=["noise"], rf_trees=20, rf_repeats=2
    )
    assert {"tri", "slope"} <= set(sel["factors"])
    assert "noise" not in sel["factors"]
    assert rep["factors"]["noise"]["reason"] == "named in selection.drop"
    with pytest.raises(ConfigError, match="selection.keep"):
        select_factors(df, FACTORS, keep=["nope"])
    with pytest.raises(ConfigError, match="both name"):
        select_factors(df, FACTORS, keep=["tri"], drop=["tri"])


def test_constant_factor_dropped():
    df = _frame()
    df["flat"] = 3.0
    sel, rep = select_factors(df, FACTORS + ["flat"], ["lithology"], rf_trees=20, rf_repeats=2)
    assert "flat" not in sel["factors"] and rep["factors"]["flat"]["step"] == "constant"


def test_plots_written(tmp_path):
    df = _frame()
    _, rep = select_factors(df, FACTORS, ["lithology"], rf_trees=20, rf_repeats=2)
    plot_correlation(rep, tmp_path / "c.png")
    plot_importance(rep, tmp_path / "i.png")
    for name in ("c.png", "i.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trend_proportions_summing_to_one_lose_one_member():
    # PLC features: p_uncorrelated + p_linear + p_nonlinear = 1 (perfectly collinear)
    rng = np.random.default_rng(4)
    n = 400
    p = rng.dirichlet([2, 2, 2], n)
    label = (rng.random(n) < 0.2 + 0.6 * p[:, 2]).astype(int)
    df = pd.DataFrame(
        {
            "p_uncorrelated": p[:, 0],
            "p_linear": p[:, 1],
            "p_nonlinear": p[:, 2],
            "slope_mean": rng.uniform(0, 40, n),
            "label": label,
            "split": "train",
        }
    )
    names = ["p_uncorrelated", "p_linear", "p_nonlinear", "slope_mean"]
    sel, rep = select_factors(df, names, rf_trees=30, rf_repeats=3, pearson_threshold=0.99)
    dropped = [f for f in names if rep["factors"][f]["step"] == "vif"]
    assert len(dropped) == 1 and "inf" in rep["factors"][dropped[0]]["reason"]
    assert rep["factors"]["p_linear"]["vif"] is None  # infinite, reported as null + note
    assert "infinite" in rep["factors"]["p_linear"]["note"]
    assert all(rep["factors"][f]["vif_selected"] < 10 for f in sel["factors"])
    json.dumps(rep, allow_nan=False)
