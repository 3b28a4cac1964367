"""The adaptive hot-spot estimators and the candidate evidence, against brute-force references.

- robust noise level = scipy's normal-scaled median absolute deviation; the clipped noise
  level = a normal's standard deviation (its clip factor = scipy's truncated normal), a fixed
  point of its own definition, and blind to a fifth of the points moving;
- k-th neighbour radius = a dense distance matrix;
- local median field = the median of each node's disc computed point by point, interpolated
  bilinearly by hand; a planar field is removed exactly away from the edges;
- vertical and downslope motion models = numpy least squares on the same observations;
- the pre-classification rules on hand-made evidence rows;
- the radial decay = scipy's Spearman correlation per candidate on the distances from the
  speed-weighted centre computed point by point, and a bowl and a block by hand;
- resolved settings: thresholds and radii follow the data, warnings for sparse and noisy
  tracks, the seed002 preset replaces the keys it lists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from affine import Affine
from scipy import stats

from slidemap.errors import ConfigError
from slidemap.hotspots.adaptive import (
    CLIP_SIGMAS,
    clipped_noise,
    highpass_velocity,
    knn_radius,
    local_median_field,
    robust_sigma,
)
from slidemap.hotspots.evidence import (
    RULES,
    candidate_evidence,
    halo_labels,
    mogi_contrast,
    preclassify,
    radial_decay,
    sparse_upslope,
)
from slidemap.hotspots.gistar import gistar_scale
from slidemap.hotspots.pipeline import PRESETS, HotspotParams, noise_level, resolve_settings
from slidemap.hotspots.trend import seasonal_amplitude


def test_robust_sigma_equals_scipy_normal_mad():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(2.0, 1.5, 5000), rng.normal(40, 5, 100), [np.nan]])
    ref = stats.median_abs_deviation(x[np.isfinite(x)], scale="normal")
    assert robust_sigma(x) == pytest.approx(ref, rel=1e-12)
    assert 1.4 < robust_sigma(x) < 1.65  # the 2 % outliers barely move it
    assert np.isnan(robust_sigma(np.array([np.nan])))


def test_clipped_noise_of_normal_noise_is_its_standard_deviation():
    rng = np.random.default_rng(11)
    x = rng.normal(-1.0, 2.0, 200_000)
    centre, sigma = clipped_noise(x)
    assert sigma == pytest.approx(2.0, rel=0.01)
    assert centre == pytest.approx(-1.0, abs=0.02)
    # the clip factor: the MAD of a normal cut at +-3 sigma is scipy's truncated-normal quantile
    cut = x[np.abs(x - centre) < CLIP_SIGMAS * sigma]
    mad_cut = stats.truncnorm(-CLIP_SIGMAS, CLIP_SIGMAS).ppf(0.75)
    assert sigma == pytest.approx(np.median(np.abs(cut - np.median(cut))) / mad_cut, rel=1e-12)


def test_clipped_noise_ignores_a_fifth_of_the_points_moving():
    rng = np.random.default_rng(12)
    noise = rng.normal(0.0, 1.0, 40_000)
    moving = rng.normal(-7.0, 2.0, 10_000)  # 20 % of the points, mostly beyond 3 sigma
    x = np.concatenate([noise, moving, [np.nan, np.inf]])
    centre, sigma = clipped_noise(x)
    assert sigma == pytest.approx(1.0, rel=0.04)
    assert abs(centre) < 0.05
    assert robust_sigma(x) > 1.15  # the plain MAD reads the moving share as noise
    # a fixed point of its definition: the kept set re-drawn from the result is the same set
    f = x[np.isfinite(x)]
    kept = f[np.abs(f - centre) < CLIP_SIGMAS * sigma]
    ref = stats.median_abs_deviation(kept, scale="normal")
    factor = stats.norm.ppf(0.75) / stats.truncnorm(-CLIP_SIGMAS, CLIP_SIGMAS).ppf(0.75)
    assert centre == np.median(kept)
    assert sigma == pytest.approx(ref * factor, rel=1e-9)


def test_clipped_noise_edge_cases():
    assert all(np.isnan(clipped_noise(np.array([np.nan]))))
    assert clipped_noise(np.full(10, 3.0)) == (3.0, 0.0)
    with pytest.raises(ValueError, match="clip"):
        clipped_noise(np.ones(3), clip=0.0)


def test_noise_level_and_gistar_scale_follow_the_estimator():
    rng = np.random.default_rng(13)
    x = np.concatenate([rng.normal(0.0, 1.0, 4000), rng.normal(8.0, 1.0, 1000)])
    assert noise_level(x, "mad") == robust_sigma(x)
    assert noise_level(x, "clipped") == clipped_noise(x)[1]
    assert noise_level(x, "clipped") < 0.9 * noise_level(x, "mad")
    assert gistar_scale(x, "clipped") == clipped_noise(x)
    with pytest.raises(ValueError, match="estimator"):
        noise_level(x, "std")
    with pytest.raises(ValueError, match="scale"):
        gistar_scale(x, "trimmed")
    # resolve_settings takes the configured estimator (the default: clipped)
    track = _track(300, 1.0)
    s_mad, cols = resolve_settings(track, HotspotParams(noise_estimator="mad"))
    s_clip, _ = resolve_settings(track, HotspotParams())
    assert s_mad["noise_sigma_mm_yr"] == robust_sigma(cols["v_hp_mm_yr"])
    assert s_clip["noise_sigma_mm_yr"] == clipped_noise(cols["v_hp_mm_yr"])[1]
    assert (s_clip["noise_estimator"], s_mad["noise_estimator"]) == ("clipped", "mad")


def test_knn_radius_equals_dense_distances():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 1000, (400, 2))
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    d.sort(axis=1)  # column 0 is the point itself
    for k in (1, 4, 8):
        assert knn_radius(xy, k) == pytest.approx(np.median(d[:, k]), rel=1e-12)
    # uniform points at density rho: the k-th neighbour disc holds about k points
    rho = 400 / 1e6
    assert knn_radius(xy, 8) == pytest.approx(np.sqrt(8 / (np.pi * rho)), rel=0.2)
    assert np.isnan(knn_radius(xy[:3], 8))
    with pytest.raises(ValueError):
        knn_radius(xy, 0)


def _bilinear(grid, gx, gy, x, y):
    """Bilinear interpolation on a regular (gx, gy) node grid, written out point by point."""
    out = np.empty(x.size)
    sx, sy = gx[1] - gx[0], gy[1] - gy[0]
    for n, (px, py) in enumerate(zip(x, y, strict=True)):
        fx = min(max((px - gx[0]) / sx, 0), gx.size - 1)
        fy = min(max((py - gy[0]) / sy, 0), gy.size - 1)
        i, j = min(int(fx), gx.size - 2), min(int(fy), gy.size - 2)
        tx, ty = fx - i, fy - j
        out[n] = (
            grid[i, j] * (1 - tx) * (1 - ty)
            + grid[i + 1, j] * tx * (1 - ty)
            + grid[i, j + 1] * (1 - tx) * ty
            + grid[i + 1, j + 1] * tx * ty
        )
    return out


def test_local_median_field_equals_bruteforce_disc_medians():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 3000, (3000, 2))
    v = rng.normal(0, 2, 3000) + xy[:, 0] / 1000.0
    radius, spacing = 800.0, 400.0
    field = local_median_field(xy, v, radius, node_spacing_m=spacing, min_points=10)
    gx = xy[:, 0].min() + spacing * np.arange(int(np.ceil(np.ptp(xy[:, 0]) / spacing)) + 1)
    gy = xy[:, 1].min() + spacing * np.arange(int(np.ceil(np.ptp(xy[:, 1]) / spacing)) + 1)
    grid = np.empty((gx.size, gy.size))
    for i, x0 in enumerate(gx):
        for j, y0 in enumerate(gy):
            inside = np.hypot(xy[:, 0] - x0, xy[:, 1] - y0) <= radius
            grid[i, j] = np.median(v[inside])
    ref = _bilinear(grid, gx, gy, xy[:, 0], xy[:, 1])
    np.testing.assert_allclose(field, ref, rtol=0, atol=1e-12)


def test_highpass_removes_a_plane_and_keeps_a_slide():
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 6000, (20000, 2))
    plane = 1.5 * (xy[:, 0] - 3000) / 1000 - 0.8 * (xy[:, 1] - 3000) / 1000  # mm/yr per km
    slide = np.hypot(xy[:, 0] - 3000, xy[:, 1] - 3000) < 150
    v = plane + np.where(slide, -20.0, 0.0)
    hp, bg = highpass_velocity(xy, v, 1500.0)
    assert np.abs(hp[~slide]).max() < 0.05  # the plane is gone, up to the edges
    assert np.median(hp[slide]) == pytest.approx(-20.0, abs=0.5)  # the slide is kept
    np.testing.assert_allclose(hp + bg, v)
    # too few points to tell a background: nothing is removed
    hp2, bg2 = highpass_velocity(xy[:5], v[:5], 1500.0)
    np.testing.assert_array_equal(bg2, 0.0)


def test_seasonal_amplitude_equals_lstsq_per_series():
    rng = np.random.default_rng(5)
    t = np.arange(61) * 12 / 365.25
    amp = rng.uniform(0, 8, 50)
    phase = rng.uniform(0, 2 * np.pi, 50)
    d = 3.0 * t + amp[:, None] * np.cos(2 * np.pi * t - phase[:, None])
    d += rng.normal(0, 0.5, d.shape)
    d[3, 10] = np.nan
    out = seasonal_amplitude(d, t)
    for i in range(50):
        ok = np.isfinite(d[i])
        w = 2 * np.pi * t[ok]
        a = np.column_stack([np.ones(ok.sum()), t[ok], np.cos(w), np.sin(w)])
        c = np.linalg.lstsq(a, d[i, ok], rcond=None)[0]
        assert out[i] == pytest.approx(np.hypot(c[2], c[3]), rel=1e-9)
    np.testing.assert_allclose(out, amp, atol=0.5)


def _evidence_case():
    """Three candidates on a 10 m grid: cells of label 1, 2, 3; two tracks' points."""
    labels = np.zeros((30, 30), np.int32)
    labels[2:8, 2:8] = 1
    labels[12:18, 12:18] = 2
    labels[22:28, 22:28] = 3
    transform = Affine(10, 0, 0, 0, -10, 300)
    slope = np.full((30, 30), 30.0)
    slope[22:28, 22:28] = 2.0
    aspect = np.full((30, 30), 90.0)  # east-facing
    los = {"asc": (-0.61, -0.13, 0.78), "dsc": (0.61, -0.13, 0.78)}
    # candidate 1 slides east (downslope): asc away, dsc toward; 2 settles vertically;
    # 3 settles on flat ground
    v = {"asc": {1: -8.0, 2: -6.0, 3: -9.0}, "dsc": {1: 7.0, 2: -6.2, 3: -9.1}}
    points, point_labels = {}, {}
    for t, (e, n, u) in los.items():
        lab = np.repeat([1, 2, 3, 0], 5)
        vel = np.array([v[t].get(int(k), 0.0) for k in lab])
        xy = np.random.default_rng(len(t)).uniform(0, 120, (lab.size, 2))  # ~1400 per km2
        points[t] = pd.DataFrame(
            {
                "x_m": xy[:, 0],
                "y_m": xy[:, 1],
                "v_hp_mm_yr": vel,
                "los_e": e,
                "los_n": n,
                "los_u": u,
                "moving": lab > 0,
                "seasonal_mm": np.where(lab == 2, 1.0, 0.5),
            }
        )
        point_labels[t] = lab
    return labels, transform, slope, aspect, points, point_labels, los, v


def test_motion_models_equal_numpy_least_squares():
    labels, transform, slope, aspect, points, point_labels, los, v = _evidence_case()
    ev = candidate_evidence(
        labels,
        3,
        transform,
        points,
        point_labels,
        slope_deg=slope,
        aspect_deg=aspect,
        terrain_transform=transform,
    )
    np.testing.assert_allclose(ev["slope_mean_deg"], [30.0, 30.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(ev["downslope_azimuth_deg"], [90.0, 90.0, 90.0], atol=1e-9)
    for c in (1, 2, 3):
        s = np.deg2rad(ev["slope_mean_deg"][c - 1])
        d = np.array([np.cos(s), 0.0, -np.sin(s)])  # east, down the slope
        obs = np.array([v["asc"][c], v["dsc"][c]])
        lu = np.array([[los["asc"][2]], [los["dsc"][2]]])
        cos = np.array([[np.dot(los["asc"], d)], [np.dot(los["dsc"], d)]])
        for model, a in (("vertical", lu), ("downslope", cos)):
            coef, *_ = np.linalg.lstsq(a, obs, rcond=None)
            misfit = np.sqrt(np.mean((obs - a @ coef) ** 2))
            assert ev[f"v_{model}_mm_yr"][c - 1] == pytest.approx(coef[0], rel=1e-9)
            assert ev[f"misfit_{model}_mm_yr"][c - 1] == pytest.approx(misfit, abs=1e-9)
    assert list(ev["n_tracks_seen"]) == [2, 2, 2]
    np.testing.assert_allclose(ev["los_ratio_asc_dsc"], [-8.0 / 7.0, 6.0 / 6.2, 9.0 / 9.1])
    np.testing.assert_allclose(ev["seasonal_mm"], [0.5, 1.0, 0.5])
    np.testing.assert_allclose(ev["abs_v_moving_mm_yr"], [7.5, 6.1, 9.05])
    # 5 points of each track in each candidate's 36 cells of 100 m2; natural ground would
    # hold each track's typical density (8 points in the median 8th-neighbour disc) x area
    np.testing.assert_array_equal(ev["n_points_all"], [10, 10, 10])
    expected = 0.0
    for t in points:
        xy = points[t][["x_m", "y_m"]].to_numpy()
        d = np.sort(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)), axis=1)
        expected += 8 / (np.pi * np.median(d[:, 8]) ** 2) * 1e6 * 36 * 100 / 1e6
    np.testing.assert_allclose(ev["expected_points"], expected, rtol=1e-12)
    np.testing.assert_allclose(ev["density_ratio"], 10 / expected, rtol=1e-12)
    assert list(preclassify(ev)) == ["landslide", "vertical", "flat_ground"]


#: Evidence of a candidate that every rule leaves a landslide (downslope motion on a slope).
SLIDE_ROW = {
    "slope_mean_deg": 30.0,
    "n_tracks_seen": 2,
    "v_vertical_mm_yr": -5.0,
    "misfit_vertical_mm_yr": 3.0,
    "v_downslope_mm_yr": 10.0,
    "misfit_downslope_mm_yr": 0.5,
    "max_abs_cos_downslope": 0.8,
    "seasonal_mm": 1.0,
    "abs_v_moving_mm_yr": 8.0,
    "n_points_all": 20,
    "expected_points": 10.0,
}


def test_preclassify_rules_in_order():
    base = dict(SLIDE_ROW)
    rows = [
        base,
        {**base, "slope_mean_deg": 5.0, "seasonal_mm": 20.0},  # flat wins over seasonal
        {**base, "seasonal_mm": 17.0},
        {**base, "misfit_downslope_mm_yr": 8.0, "misfit_vertical_mm_yr": 0.5},
        {**base, "misfit_downslope_mm_yr": 8.0, "misfit_vertical_mm_yr": 0.5, "n_tracks_seen": 1},
        # the vertical model does not explain it either (misfit > 0.4 x 5 + 0.5)
        {**base, "misfit_downslope_mm_yr": 8.0, "misfit_vertical_mm_yr": 2.6},
        # a north-south slide: both models fit, it stays a landslide
        {**base, "misfit_downslope_mm_yr": 0.6, "misfit_vertical_mm_yr": 0.5},
        {**base, "slope_mean_deg": np.nan, "seasonal_mm": np.nan},  # missing never rejects
        # 60 points where natural ground holds 10: P(Poisson(25) >= 60) ~ 1e-9 -> dense
        {**base, "n_points_all": 60, "misfit_vertical_mm_yr": 0.5, "misfit_downslope_mm_yr": 0.6},
        # 40 of 10: P(Poisson(25) >= 40) ~ 0.004, not below 0.001 -> natural ground
        {**base, "n_points_all": 40, "misfit_vertical_mm_yr": 0.5, "misfit_downslope_mm_yr": 0.6},
        # dense but two tracks show downslope motion (base misfits 3.0 vs 0.5): a landslide
        {**base, "n_points_all": 60},
    ]
    got = list(preclassify(pd.DataFrame(rows)))
    assert got == [
        "landslide",
        "flat_ground",
        "seasonal",
        "vertical",
        "landslide",
        "landslide",
        "landslide",
        "landslide",
        "infrastructure",
        "landslide",
        "landslide",
    ]
    from scipy import stats

    assert stats.poisson.sf(59, 25.0) < 1e-3 < stats.poisson.sf(39, 25.0)
    assert list(preclassify(pd.DataFrame(rows[:1]), {"flat_slope_deg": 31.0})) == ["flat_ground"]
    assert set(RULES) == {
        "flat_slope_deg",
        "seasonal_ratio",
        "vertical_tolerance",
        "vertical_misfit_ratio",
        "misfit_floor_mm_yr",
        "dense_ratio",
        "downslope_noise_factor",
        "radial_rho",
        "radial_min_points",
        "mogi_ratio",
        "mogi_radial_rho",
        "mogi_min_points",
        "mogi_halo_ratio",
        "upslope_cos",
        "upslope_noise_factor",
    }


def test_downslope_exception_needs_more_than_the_noise_level():
    """A dense candidate whose tracks differ by about the noise level stays infrastructure.

    Hand-computed: vertical misfit 0.84, downslope 0.15 mm/yr; the exception needs
    0.84 > 2 x 0.15 + floor. Floor 0.5 (noise unknown or 0.3): 0.80 < 0.84, downslope ->
    landslide. Noise 0.79: floor 0.79, 1.09 > 0.84 -> infrastructure. Factor 0: the fixed
    floor again.
    """
    row = {
        "slope_mean_deg": 46.0,
        "n_tracks_seen": 2,
        "v_vertical_mm_yr": -7.7,
        "misfit_vertical_mm_yr": 0.84,
        "v_downslope_mm_yr": 7.6,
        "misfit_downslope_mm_yr": 0.15,
        "max_abs_cos_downslope": 0.8,
        "seasonal_mm": 1.4,
        "abs_v_moving_mm_yr": 6.6,
        "n_points_all": 74,
        "expected_points": 12.88,  # P(Poisson(32.2) >= 74) ~ 1e-9: dense
    }
    rows = pd.DataFrame(
        [
            row,
            {**row, "noise_mm_yr": np.nan},
            {**row, "noise_mm_yr": 0.3},
            {**row, "noise_mm_yr": 0.79},
            # clearly downslope (vertical misfit 3 > 2 x 0.15 + 0.79): a landslide
            {**row, "noise_mm_yr": 0.79, "misfit_vertical_mm_yr": 3.0},
        ]
    )
    assert list(preclassify(rows)) == [
        "landslide",
        "landslide",
        "landslide",
        "infrastructure",
        "landslide",
    ]
    fixed = preclassify(rows, {"downslope_noise_factor": 0.0})
    assert list(fixed) == ["landslide"] * 5
    # the vertical rule keeps its fixed floor: unchanged by the noise level
    vert = {**row, "n_points_all": 10, "misfit_vertical_mm_yr": 0.3, "misfit_downslope_mm_yr": 1.2}
    assert list(preclassify(pd.DataFrame([{**vert, "noise_mm_yr": 5.0}]))) == ["vertical"]


def test_evidence_noise_is_the_rms_of_the_seeing_tracks():
    labels, transform, slope, aspect, points, point_labels, _, _ = _evidence_case()
    # candidate 3 seen by asc only
    point_labels = {
        **point_labels,
        "dsc": np.where(point_labels["dsc"] == 3, 0, point_labels["dsc"]),
    }
    kw = dict(slope_deg=slope, aspect_deg=aspect, terrain_transform=transform)
    ev = candidate_evidence(
        labels, 3, transform, points, point_labels, noise={"asc": 3.0, "dsc": 4.0}, **kw
    )
    np.testing.assert_allclose(ev["noise_mm_yr"], [np.sqrt(12.5), np.sqrt(12.5), 3.0])
    ev = candidate_evidence(
        labels, 3, transform, points, point_labels, noise={"asc": None, "dsc": 4.0}, **kw
    )
    np.testing.assert_allclose(ev["noise_mm_yr"], [4.0, 4.0, np.nan])
    ev = candidate_evidence(labels, 3, transform, points, point_labels, **kw)
    assert ev["noise_mm_yr"].isna().all()


def _track(density_per_km2, noise_mm_yr, seed=6, side_m=4000.0):
    rng = np.random.default_rng(seed)
    n = rng.poisson(density_per_km2 * side_m**2 / 1e6)
    xy = rng.uniform(0, side_m, (n, 2))
    v = rng.normal(0, noise_mm_yr, n) + 2.0 * xy[:, 0] / 1000  # a 2 mm/yr/km ramp
    return pd.DataFrame({"x_m": xy[:, 0], "y_m": xy[:, 1], "velocity_mm_yr": v})


def test_resolved_settings_follow_the_data():
    dense, sparse = _track(300, 1.0), _track(60, 1.0)
    s_dense, cols = resolve_settings(dense, HotspotParams())
    s_sparse, _ = resolve_settings(sparse, HotspotParams())
    # noise level of the ramp-free velocities and a threshold of 3 of it
    assert s_dense["noise_sigma_mm_yr"] == pytest.approx(1.0, abs=0.08)
    assert s_dense["stability_threshold_mm_yr"] == pytest.approx(3 * s_dense["noise_sigma_mm_yr"])
    # the band holds ~8 points: radius ~ sqrt(8 / (pi rho))
    for s, rho in ((s_dense, 300), (s_sparse, 60)):
        assert s["search_radius_m"] == pytest.approx(np.sqrt(8 / (np.pi * rho * 1e-6)), rel=0.2)
        assert s["kernel_radius_m"] == s["search_radius_m"]  # same neighbour count by default
        assert s["points_per_km2"] == pytest.approx(rho, rel=0.25)
    assert not s_dense["warnings"]
    assert any("sparse" in w for w in s_sparse["warnings"])
    noisy, _ = resolve_settings(_track(300, 8.0), HotspotParams())
    assert any("noisy" in w for w in noisy["warnings"])
    np.testing.assert_allclose(
        cols["v_hp_mm_yr"] + cols["v_background_mm_yr"], dense["velocity_mm_yr"]
    )
    # a fixed threshold below twice the noise gets a warning; seed002 takes the raw velocity
    low, _ = resolve_settings(dense, HotspotParams(stability_threshold_mm_yr=1.0))
    assert any("below twice" in w for w in low["warnings"])
    paper = HotspotParams.from_config({"preset": "seed002", "search_radius_m": 75})
    s_paper, cols_paper = resolve_settings(dense, paper)
    assert s_paper["search_radius_m"] == 200.0 and s_paper["stability_threshold_mm_yr"] == 10.0
    np.testing.assert_array_equal(cols_paper["v_hp_mm_yr"], dense["velocity_mm_yr"])


def test_presets_and_config_errors():
    p = HotspotParams.from_config({"preset": "seed002"})
    for key, value in PRESETS["seed002"]["params"].items():
        assert getattr(p, key) == value
    with pytest.raises(ConfigError, match="hotspots.preset"):
        HotspotParams.from_config({"preset": "seed003"})
    with pytest.raises(ConfigError, match="search_radius_m"):
        HotspotParams.from_config({"search_radius_m": "wide"})
    with pytest.raises(ConfigError, match="outline"):
        HotspotParams.from_config({"outline": "alpha"})
    with pytest.raises(ConfigError, match="hotspots.noise_estimator"):
        HotspotParams.from_config({"noise_estimator": "std"})
    with pytest.raises(ConfigError, match="hotspots.gi_scale"):
        HotspotParams.from_config({"gi_scale": "trimmed"})
    defaults = HotspotParams.from_config({})
    assert (defaults.noise_estimator, defaults.gi_scale) == ("clipped", "robust")
    assert defaults.sparse_upslope_noise_factor == 2.0
    assert HotspotParams.from_config({"preset": "seed002"}).sparse_upslope_noise_factor is None


def test_robust_plane_equals_linear_programming_lad():
    """Least absolute deviations by linear programming (an independent solver) = the IRLS."""
    from scipy.optimize import linprog

    from slidemap.hotspots.adaptive import robust_plane

    rng = np.random.default_rng(7)
    n = 150
    xy = rng.uniform(0, 5000, (n, 2))
    v = 1.0 + 0.002 * xy[:, 0] - 0.001 * xy[:, 1] + rng.laplace(0, 0.5, n)
    v[:8] += 40.0  # moving points
    a = np.column_stack([np.ones(n), xy])
    # min sum(u + w) s.t. a c + u - w = v, u, w >= 0
    cost = np.concatenate([np.zeros(3), np.ones(2 * n)])
    eq = np.hstack([a, np.eye(n), -np.eye(n)])
    bounds = [(None, None)] * 3 + [(0, None)] * (2 * n)
    sol = linprog(cost, A_eq=eq, b_eq=v, bounds=bounds, method="highs")
    ref = a @ sol.x[:3]
    got = robust_plane(xy, v, iterations=200)
    assert np.abs(v - got).sum() == pytest.approx(np.abs(v - ref).sum(), rel=1e-4)
    np.testing.assert_allclose(got, ref, atol=0.05)


def test_decoy_scores_on_boxes():
    import geopandas as gpd
    import shapely

    from slidemap.hotspots.accuracy import decoy_scores

    box = shapely.box
    decoys = gpd.GeoDataFrame(
        {"kind": ["subsidence", "thermal", "embankment", "subsidence"]},
        geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10), box(40, 0, 50, 10), box(60, 0, 70, 10)],
    )
    cands = gpd.GeoDataFrame(
        geometry=[
            box(5, 5, 15, 15),  # touches decoy 0
            box(25, 5, 35, 15),  # touches decoy 1
            box(45, 5, 55, 15),  # touches decoy 2 ...
            box(48, 8, 49, 9),  # ... twice
            box(70, 0, 80, 10),  # shares an edge with decoy 3 only: not a touch
        ]
    )
    out = decoy_scores(cands, decoys, is_landslide=np.array([False, True, False, True, True]))
    assert out["n_decoys"] == 4 and out["touched"] == 3
    # decoy 0: only a rejected candidate; 1 and 2: a landslide candidate; 3: untouched
    assert out["rejected"] == 2 and out["rejected_share"] == 0.5
    assert out["by_kind"]["subsidence"] == {"n": 2, "touched": 1, "rejected": 2}
    assert out["by_kind"]["embankment"] == {"n": 1, "touched": 1, "rejected": 0}
    everything = decoy_scores(cands, decoys)
    assert everything["rejected"] == 1
    with pytest.raises(ValueError):
        decoy_scores(cands, decoys, is_landslide=np.ones(2, bool))


def test_settings_notes_and_table():
    from slidemap.hotspots.settings import SETTINGS_COLUMNS, settings_notes, settings_table

    summary = {
        "method": "adaptive",
        "highpass_radius_m": 1500.0,
        "noise_sigma_mm_yr": 0.853,
        "stability_threshold_mm_yr": 2.56,
        "search_radius_m": 107.3,
        "kernel_radius_m": 107.3,
        "points_per_km2": 252.0,
        "warnings": ["sparse points: few"],
    }
    notes = settings_notes(summary)
    assert notes[0] == "method adaptive; high-pass 1500 m"
    assert notes[1] == "noise 0.85 mm/yr; moving at |v| ≥ 2.56 mm/yr"
    assert notes[2] == "Gi* band 107 m, kernel 107 m; 252 points/km²"
    assert notes[3] == "WARNING: sparse points: few"
    paper = settings_notes({"method": "seed002", "highpass_radius_m": None})
    assert paper[0] == "method seed002; high-pass off" and "noise – mm/yr" in paper[1]
    table = settings_table({"b": summary, "a": {**summary, "warnings": []}})
    assert list(table.columns) == ["track", *SETTINGS_COLUMNS]
    assert list(table["track"]) == ["a", "b"]
    assert list(table["warnings"]) == ["", "sparse points: few"]


def test_every_track_setting_reaches_the_track_rule():
    """Each HotspotParams field the per-track stage reads is a param of `track_hotspots`.

    A key missing from TRACK_HOTSPOT_KEYS in workflow/rules/hotspots.smk would be silently
    replaced by its default in the job (and a change of it would not rerun the job).
    """
    import ast
    import dataclasses
    from pathlib import Path

    smk = (Path(__file__).resolve().parents[1] / "workflow/rules/hotspots.smk").read_text()
    lists = {}
    for name in ("TRACK_HOTSPOT_KEYS", "CANDIDATE_KEYS", "ACCURACY_KEYS"):
        start = smk.index(f"{name} = [")
        lists[name] = set(ast.literal_eval(smk[start + len(name) + 3 : smk.index("]", start) + 1]))
    fields = {f.name for f in dataclasses.fields(HotspotParams)} - {"extra"}
    later = {
        "merge_tolerance_m",
        "downslope_min_cosine",
        "sparse_upslope_noise_factor",
        "preclassify",
    }
    reference = {k for k in fields if k.startswith("reference")}
    missing = fields - later - reference - lists["TRACK_HOTSPOT_KEYS"]
    assert not missing, f"not passed to track_hotspots: {sorted(missing)}"
    assert later <= lists["CANDIDATE_KEYS"]


def test_plane_coefficients_in_blocks_equal_the_weighted_least_squares():
    """The blockwise normal equations = IRLS by lstsq on the whole weighted design matrix.

    The reference is the textbook form (one lstsq of the sqrt-weighted n × 3 design per
    step); the blocks (7 points), the default and the memory layout of xy must agree.
    """
    from slidemap.hotspots.adaptive import evaluate_plane, plane_coefficients

    rng = np.random.default_rng(11)
    n = 400
    xy = rng.uniform(0, 8000, (n, 2)) + [4.1e5, 2.7e6]
    v = 2.0 - 3e-4 * xy[:, 0] + 1e-4 * xy[:, 1] + rng.normal(0, 1.0, n)
    v[:20] += 25.0
    centre = xy.mean(axis=0)
    scale = float(np.abs(xy - centre).max())
    design = np.column_stack([np.ones(n), (xy - centre) / scale])
    coef = np.linalg.lstsq(design, v, rcond=None)[0]
    eps = 1e-6 * float(np.abs(v).max())
    for _ in range(5):
        sw = np.sqrt(1.0 / np.maximum(np.abs(v - design @ coef), eps))
        coef = np.linalg.lstsq(design * sw[:, None], v * sw, rcond=None)[0]
    got = plane_coefficients(xy, v, iterations=5)
    np.testing.assert_allclose(got[:3], [*centre, scale], rtol=1e-12)
    np.testing.assert_allclose(got[3:], coef, rtol=1e-7, atol=1e-8)  # mm/yr
    blocks = plane_coefficients(xy, v, iterations=5, chunk=7)
    np.testing.assert_allclose(blocks, got, rtol=1e-7, atol=1e-8)
    assert plane_coefficients(np.asfortranarray(xy), v) == plane_coefficients(xy, v)
    ref = design @ coef
    np.testing.assert_allclose(evaluate_plane(xy, got), ref, rtol=1e-7, atol=1e-8)


def test_radial_decay_equals_scipy_spearman_per_candidate():
    """Brute force: per candidate, the centre by a Python loop, then scipy.stats.spearmanr."""
    rng = np.random.default_rng(11)
    n_lab = 7
    lab = rng.integers(-1, n_lab + 1, 600)
    x, y = rng.uniform(0, 500, 600), rng.uniform(0, 500, 600)
    speed = np.round(rng.uniform(2, 12, 600))  # rounded: ties in the ranks
    speed[lab == 5] = 4.0  # all equal: no correlation
    keep = lab != 6
    lab, x, y, speed = lab[keep], x[keep], y[keep], speed[keep]  # label 6: no points
    speed[3] = np.nan  # ignored
    rho, count = radial_decay(lab, x, y, speed, n_lab)
    for k in range(1, n_lab + 1):
        sel = (lab == k) & np.isfinite(speed)
        assert count[k - 1] == sel.sum()
        if k in (5, 6):
            assert np.isnan(rho[k - 1])
            continue
        w = speed[sel]
        cx = sum(wi * xi for wi, xi in zip(w, x[sel], strict=True)) / w.sum()
        cy = sum(wi * yi for wi, yi in zip(w, y[sel], strict=True)) / w.sum()
        d = [np.hypot(xi - cx, yi - cy) for xi, yi in zip(x[sel], y[sel], strict=True)]
        ref = stats.spearmanr(d, w).statistic
        assert rho[k - 1] == pytest.approx(ref, abs=1e-12)


def test_radial_decay_tells_a_bowl_from_a_block_by_hand():
    """A bowl: 10 mm/yr at the centre, 8 at 10 m, 6 at 20 m ... -> exactly -1.

    A uniform block (8 mm/yr on a 20 m grid, +-1 mm/yr of noise): no steady decay (|rho| small).
    Fewer than 3 points: NaN.
    """
    r = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    ang = np.deg2rad([0, 45, 135, 225, 315])
    x, y = 100 + r * np.cos(ang), 200 + r * np.sin(ang)
    bowl = np.array([10.0, 8.0, 6.0, 4.0, 2.0])
    # the weighted centre of the bowl is not the geometric one: the ranks still decay
    rho, count = radial_decay(np.ones(5, int), x, y, bowl, 1)
    assert count[0] == 5 and rho[0] == pytest.approx(-1.0)
    # two points cannot show a decay: NaN
    rho, count = radial_decay(np.ones(2, int), x[:2], y[:2], bowl[:2], 1)
    assert count[0] == 2 and np.isnan(rho[0])
    # a uniform block: no steady decay
    rng = np.random.default_rng(0)
    gx, gy = np.meshgrid(np.arange(0, 200, 20.0), np.arange(0, 100, 20.0))
    block = 8.0 + rng.choice([-1.0, 1.0], gx.size)
    rho, _ = radial_decay(np.ones(gx.size, int), gx.ravel(), gy.ravel(), block, 1)
    assert abs(rho[0]) < 0.3


def test_radial_rule_needs_enough_points_and_a_steady_decay():
    base = {**SLIDE_ROW, "radial_rho": -0.85, "radial_n_points": 22}
    rows = pd.DataFrame(
        [
            base,
            {**base, "radial_n_points": 19},  # too few to tell a decay from chance
            {**base, "radial_rho": -0.75},  # not steady enough
            {**base, "radial_rho": np.nan},  # missing never rejects
            {**base, "slope_mean_deg": 3.0},  # flat ground decides first
        ]
    )
    want = ["radial", "landslide", "landslide", "landslide", "flat_ground"]
    assert list(preclassify(rows)) == want
    assert list(preclassify(rows, {"radial_rho": -1.0})) == ["landslide"] * 4 + ["flat_ground"]
    assert list(preclassify(rows, {"radial_min_points": 19}))[:2] == ["radial", "radial"]
    # older evidence tables without the columns: the rule cannot apply
    old = rows.drop(columns=["radial_rho", "radial_n_points"])
    assert list(preclassify(old))[:4] == ["landslide"] * 4


def test_evidence_radial_columns_pool_the_moving_points_of_every_track():
    """The moving points of both tracks, with their measured velocity (not the high-passed)."""
    labels, transform, slope, aspect, points, point_labels, _, _ = _evidence_case()
    kw = dict(slope_deg=slope, aspect_deg=aspect, terrain_transform=transform)
    ev = candidate_evidence(labels, 3, transform, points, point_labels, **kw)
    # without velocity_mm_yr the analysed velocity (constant per candidate and track)
    assert ev["radial_n_points"].tolist() == [10, 10, 10]
    rng = np.random.default_rng(3)
    for t in points:  # the measured velocity: the analysed one plus a bowl-like background
        p = points[t]
        r = np.hypot(p["x_m"] - 60.0, p["y_m"] - 60.0)
        points[t] = p.assign(velocity_mm_yr=p["v_hp_mm_yr"] - 20.0 * np.exp(-r / 30.0))
        points[t].loc[rng.random(len(p)) < 0.2, "moving"] = False
    ev = candidate_evidence(labels, 3, transform, points, point_labels, **kw)
    lab = np.concatenate([point_labels[t] for t in sorted(points)])
    frame = pd.concat([points[t] for t in sorted(points)], ignore_index=True)
    mov = frame["moving"].to_numpy() & (lab > 0)
    rho, count = radial_decay(
        lab[mov],
        frame["x_m"].to_numpy()[mov],
        frame["y_m"].to_numpy()[mov],
        frame["velocity_mm_yr"].abs().to_numpy()[mov],
        3,
    )
    np.testing.assert_array_equal(ev["radial_n_points"], count)
    assert count.sum() == mov.sum() < 30
    np.testing.assert_allclose(ev["radial_rho"], rho)
    rho_hp, _ = radial_decay(
        lab[mov],
        frame["x_m"].to_numpy()[mov],
        frame["y_m"].to_numpy()[mov],
        frame["v_hp_mm_yr"].abs().to_numpy()[mov],
        3,
    )
    assert np.abs(rho - rho_hp).max() > 0.3  # the measured velocity, not the analysed one


#: Unit LOS vectors (east, north, up) of an ascending and a descending Sentinel-1 track.
LOS_ASC = np.array([-0.61, -0.13, 0.78])
LOS_DSC = np.array([0.61, -0.13, 0.78])


def _mogi_reference(lab, track, x, y, v, los, down, moving, n, depths, n_centres):
    """mogi_contrast by brute force: per label, per centre and depth, numpy.linalg.lstsq."""
    ratio = np.full(n, np.nan)
    for k in range(1, n + 1):
        sel = lab == k
        if not sel.any():
            continue
        xs, ys, vs, ls, ms, ts = x[sel], y[sel], v[sel], los[sel], moving[sel], track[sel]
        tracks = sorted(set(ts.tolist()))
        sp = np.abs(vs) * ms
        if sel.sum() < len(tracks) + 2 or sp.sum() <= 0 or not np.isfinite(down[k - 1]).all():
            continue
        centres = [((sp * xs).sum() / sp.sum(), (sp * ys).sum() / sp.sum())]
        for i in sorted(np.flatnonzero(ms), key=lambda i: -abs(vs[i]))[:n_centres]:
            centres.append((xs[i], ys[i]))
        offsets = np.column_stack([(ts == t).astype(float) for t in tracks])
        rss0 = float(np.sum((vs - offsets @ np.linalg.lstsq(offsets, vs, rcond=None)[0]) ** 2))
        best = {"mogi": np.inf, "slide": np.inf}
        for cx, cy in centres:
            for d in depths:
                big_r = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2 + d * d)
                u = np.column_stack(
                    [-(xs - cx) * d * d, -(ys - cy) * d * d, -np.full(len(xs), d**3)]
                )
                bases = {
                    "mogi": np.einsum("ij,ij->i", ls, u) / big_r**3,
                    "slide": (ls @ down[k - 1]) * d**3 / big_r**3,
                }
                for name, b in bases.items():
                    a = np.column_stack([offsets, b])
                    coef = np.linalg.lstsq(a, vs, rcond=None)[0]
                    rss = float(np.sum((vs - a @ coef) ** 2)) if coef[-1] > 0 else rss0
                    best[name] = min(best[name], rss)
        ratio[k - 1] = best["slide"] / best["mogi"]
    return ratio


def test_mogi_contrast_equals_brute_force_least_squares():
    rng = np.random.default_rng(21)
    n_lab, m = 6, 700
    lab = rng.integers(0, n_lab + 1, m)
    track = rng.integers(0, 2, m)
    x, y = rng.uniform(0, 600, m), rng.uniform(0, 600, m)
    v = rng.normal(-3.0, 4.0, m)
    los = np.where(track[:, None] == 0, LOS_ASC, LOS_DSC) + rng.normal(0, 0.01, (m, 3))
    moving = rng.random(m) < 0.6
    az, sl = rng.uniform(0, 2 * np.pi, n_lab), np.deg2rad(rng.uniform(10, 40, n_lab))
    down = np.column_stack([np.sin(az) * np.cos(sl), np.cos(az) * np.cos(sl), -np.sin(sl)])
    down[2] = np.nan  # label 3 has no downslope direction: NaN
    moving[lab == 4] = False  # label 4 has no moving point: NaN
    keep = ~((lab == 5) & (np.cumsum(lab == 5) > 3))  # label 5: 3 points on 2 tracks: NaN
    lab, track, x, y, v, los, moving = (a[keep] for a in (lab, track, x, y, v, los, moving))
    track[lab == 5] = [0, 1, 0]
    v[0] = np.nan  # ignored
    depths = (30.0, 90.0, 250.0)
    ratio, count = mogi_contrast(
        lab, track, x, y, v, los, down, moving, n_lab, depths=depths, n_centres=3
    )
    ok = np.isfinite(v)
    ref = _mogi_reference(
        lab[ok], track[ok], x[ok], y[ok], v[ok], los[ok], down, moving[ok], n_lab, depths, 3
    )
    np.testing.assert_array_equal(count, np.bincount(lab[ok], minlength=n_lab + 1)[1:])
    assert np.isnan(ratio[[2, 3, 4]]).all() and count[4] == 3
    np.testing.assert_allclose(ratio, ref, rtol=1e-9, equal_nan=True)
    assert np.isfinite(ratio[[0, 1, 5]]).all()


def test_mogi_contrast_tells_a_bowl_from_a_slide_on_a_north_facing_slope():
    """On a north-facing 30 deg slope both geometries see a slide and vertical motion alike.

    A deflating source 80 m deep (15 mm/yr down at its centre, inward around it) and a slide
    whose speed has the same bell but moves down the slope, on the same 20 m grid of points
    (out to twice the depth: the moving ground a candidate covers) seen by both tracks, with
    1 mm/yr of noise and an offset per track: the bowl's inward pull
    makes the Mogi model fit several times better; the slide is fitted better moving
    downslope.
    """
    rng = np.random.default_rng(5)
    gx, gy = np.meshgrid(np.arange(-160, 161, 20.0), np.arange(-160, 161, 20.0))
    x, y = np.tile(gx.ravel(), 2), np.tile(gy.ravel(), 2)
    track = np.repeat([0, 1], gx.size)
    los = np.where(track[:, None] == 0, LOS_ASC, LOS_DSC)
    sl = np.deg2rad(30.0)
    down = np.array([[0.0, np.cos(sl), -np.sin(sl)]])  # facing north
    d = 80.0
    big_r = np.sqrt(x**2 + y**2 + d * d)
    bowl = (
        15.0
        * np.column_stack([-x * d * d, -y * d * d, -np.full(x.size, d**3)])
        / big_r[:, None] ** 3
    )
    slide = 15.0 * (d**3 / big_r**3)[:, None] * down
    noise = rng.normal(0, 1.0, x.size) + np.where(track == 0, 2.0, -1.0)
    lab = np.ones(x.size, int)
    for motion, want in ((bowl, "bowl"), (slide, "slide")):
        v = np.einsum("ij,ij->i", los, motion) + noise
        moving = np.abs(v) > 3.0
        ratio, count = mogi_contrast(lab, track, x, y, v, los, down, moving, 1)
        assert count[0] == x.size
        if want == "bowl":
            assert ratio[0] > 3.0
        else:
            assert ratio[0] < 1.0


def test_mogi_rule_needs_two_tracks_enough_points_a_clear_contrast_and_a_decay():
    base = {**SLIDE_ROW, "mogi_ratio": 2.6, "mogi_n_points": 15, "radial_rho": -0.65}
    base["radial_n_points"] = 12  # too few for the radial rule
    rows = pd.DataFrame(
        [
            base,
            {**base, "mogi_n_points": 14},  # too few: a source fits a slide's points by chance
            {**base, "mogi_ratio": 2.4},  # not clearly better than a slide
            {**base, "radial_rho": -0.55},  # no steady decay from one centre
            {**base, "n_tracks_seen": 1},  # one geometry cannot show the inward pull
            {**base, "mogi_ratio": np.nan},  # missing never rejects
            {**base, "radial_rho": np.nan},
            {**base, "radial_rho": -0.9, "radial_n_points": 25},  # the radial rule decides first
            {**base, "n_points_all": 60},  # before the dense-scatterer rule
        ]
    )
    want = ["mogi"] + ["landslide"] * 6 + ["radial", "mogi"]
    assert list(preclassify(rows)) == want
    off = ["landslide"] * 7 + ["radial", "landslide"]
    assert list(preclassify(rows, {"mogi_ratio": 1e9})) == off
    assert list(preclassify(rows, {"mogi_min_points": 14}))[:2] == ["mogi", "mogi"]
    assert list(preclassify(rows, {"mogi_radial_rho": -0.5}))[3] == "mogi"
    old = rows.drop(columns=["mogi_ratio", "mogi_n_points"])  # older evidence tables
    assert list(preclassify(old)) == off


def test_halo_labels_join_the_nearest_candidate_closer_than_the_halo():
    # hand case: cells of label 1 at (5, 5) and of label 2 at (105, 5), halo 30 m
    cl, cx, cy = np.array([1, 2]), np.array([5.0, 105.0]), np.array([5.0, 5.0])
    x = np.array([30.0, 35.0, 80.0, 55.0, 95.0, np.nan, 75.0])
    y = np.full(x.size, 5.0)
    lab = np.array([0, 0, 0, 0, 1, 0, 0])  # point 4: inside label 1, nearer label 2's cell
    got = halo_labels(lab, x, y, cl, cx, cy, 30.0)
    # 25 m from 1; 30 m (not closer); 25 m from 2; 50 from both; inside; NaN; exactly 30 m
    assert list(got) == [1, 0, 2, 0, 1, 0, 0]
    assert list(halo_labels(lab, x, y, cl, cx, cy, 0.0)) == list(lab)
    assert list(halo_labels(lab, x, y, cl[:0], cx[:0], cy[:0], 30.0)) == list(lab)
    # random cells and points against every distance
    rng = np.random.default_rng(11)
    cl = rng.integers(1, 5, 300)
    cx, cy = rng.uniform(0, 1000, 300), rng.uniform(0, 1000, 300)
    x, y = rng.uniform(-100, 1100, 2000), rng.uniform(-100, 1100, 2000)
    lab = np.where(rng.random(2000) < 0.2, rng.integers(1, 5, 2000), 0)
    got = halo_labels(lab, x, y, cl, cx, cy, 45.0)
    dist = np.hypot(x[:, None] - cx[None, :], y[:, None] - cy[None, :])
    ref = np.where(dist.min(1) < 45.0, cl[dist.argmin(1)], 0)
    ref = np.where(lab > 0, lab, ref)
    np.testing.assert_array_equal(got, ref)
    assert ((got > 0) & (lab == 0)).sum() > 100


def test_halo_evidence_sees_a_bowl_whose_core_alone_is_a_candidate():
    """A bowl's core is too small a candidate for the Mogi evidence; its halo is not.

    A deflating source 80 m deep (15 mm/yr down at its centre) under a north-facing 30 deg
    slope, points on a 20 m grid seen by both tracks (1 mm/yr of noise, an offset per
    track); the candidate is the core within 20 m of the centre (the cells of a 10 m grid):
    fewer than 15 points inside, while the points closer than 100 m to its cells hold the
    inward pull. The same bell moving down the slope (a slide) is no bowl with the halo. The
    halo columns equal :func:`mogi_contrast` over the brute-force halo labels.
    """
    rng = np.random.default_rng(5)
    gx, gy = np.meshgrid(np.arange(-300, 301, 20.0), np.arange(-300, 301, 20.0))
    x, y = gx.ravel() + 3.0, gy.ravel() + 3.0  # off the cell corners
    transform = Affine(10, 0, -305, 0, -10, 305)
    cc, rr = np.meshgrid(np.arange(61), np.arange(61))
    labels = (np.hypot(-300 + 10 * cc, 300 - 10 * rr) <= 20.0).astype(np.int32)
    slope, aspect = np.full((61, 61), 30.0), np.full((61, 61), 0.0)  # facing north
    sl = np.deg2rad(30.0)
    down = np.array([0.0, np.cos(sl), -np.sin(sl)])
    d = 80.0
    big_r = np.sqrt(x**2 + y**2 + d * d)
    bowl = 15.0 * np.column_stack([-x * d * d, -y * d * d, -np.full(x.size, d**3)])
    bowl /= big_r[:, None] ** 3
    slide = 15.0 * (d**3 / big_r**3)[:, None] * down
    col = np.floor((x + 305) / 10).astype(int)
    row = np.floor((305 - y) / 10).astype(int)
    lab = labels[row, col]
    for motion, want in ((bowl, "bowl"), (slide, "slide")):
        points, point_labels = {}, {}
        for k, (t, los) in enumerate((("asc", LOS_ASC), ("dsc", LOS_DSC))):
            v = motion @ los + rng.normal(0, 1.0, x.size) + (2.0 if k == 0 else -1.0)
            points[t] = pd.DataFrame(
                {
                    "x_m": x,
                    "y_m": y,
                    "v_hp_mm_yr": v,
                    "velocity_mm_yr": v,
                    "los_e": los[0],
                    "los_n": los[1],
                    "los_u": los[2],
                    "moving": np.abs(v) > 3.0,
                }
            )
            point_labels[t] = lab
        terrain = dict(slope_deg=slope, aspect_deg=aspect, terrain_transform=transform)
        ev = candidate_evidence(labels, 1, transform, points, point_labels, **terrain)
        assert ev["mogi_n_points"][0] < 15
        # brute force: every point closer than 100 m to a labelled cell centre
        ci, cj = np.nonzero(labels)
        cx, cy = -300 + 10.0 * cj, 300 - 10.0 * ci
        dist = np.hypot(x[:, None] - cx[None, :], y[:, None] - cy[None, :]).min(1)
        hl = np.where((lab > 0) | (dist < 100.0), 1, 0)
        both = np.concatenate([hl, hl])
        frame = pd.concat([points["asc"], points["dsc"]], ignore_index=True)
        ratio, count = mogi_contrast(
            both,
            np.repeat([0, 1], x.size),
            frame["x_m"].to_numpy(),
            frame["y_m"].to_numpy(),
            frame["velocity_mm_yr"].to_numpy(),
            frame[["los_e", "los_n", "los_u"]].to_numpy(),
            down[None, :],
            frame["moving"].to_numpy(bool) & (both > 0),
            1,
        )
        assert ev["mogi_halo_n_points"][0] == count[0] >= 15
        np.testing.assert_allclose(ev["mogi_halo_ratio"], ratio, rtol=1e-9)
        cls = preclassify(ev.assign(noise_mm_yr=1.0))[0]
        if want == "bowl":
            assert ev["mogi_halo_ratio"][0] > 3.5 and cls == "mogi"
        else:
            assert ev["mogi_halo_ratio"][0] < 1.5 and cls == "landslide"


def test_mogi_halo_rule_needs_enough_points_and_a_clear_contrast():
    base = {**SLIDE_ROW, "mogi_halo_ratio": 3.6, "mogi_halo_n_points": 15}
    rows = pd.DataFrame(
        [
            base,
            {**base, "mogi_halo_n_points": 14},  # too few: a source fits a few points by chance
            {**base, "mogi_halo_ratio": 3.5},  # not clearly better than a slide
            {**base, "mogi_halo_ratio": np.nan},  # missing never rejects
            {**base, "n_tracks_seen": 1},  # one track: opposite LOS signs across the centre
            {**base, "radial_rho": 0.5},  # no condition on the decay
            {**base, "radial_rho": -0.9, "radial_n_points": 25},  # the radial rule decides first
            {**base, "misfit_downslope_mm_yr": 8.0, "misfit_vertical_mm_yr": 0.5},  # vertical
        ]
    )
    want = ["mogi", "landslide", "landslide", "landslide", "mogi", "mogi", "radial", "vertical"]
    assert list(preclassify(rows)) == want
    off = ["landslide"] * 6 + ["radial", "vertical"]
    assert list(preclassify(rows, {"mogi_halo_ratio": 1e9})) == off
    assert list(preclassify(rows, {"mogi_min_points": 14}))[1] == "mogi"
    assert list(preclassify(rows, {"mogi_halo_ratio": 3.4}))[2] == "mogi"
    old = rows.drop(columns=["mogi_halo_ratio", "mogi_halo_n_points"])  # older tables
    assert list(preclassify(old)) == off


def test_upslope_rule_needs_a_seen_direction_and_a_speed_clearly_up_the_slope():
    """Hand-computed thresholds: noise 0.8 mm/yr -> limit -max(0.5, 4 x 0.8) = -3.2 mm/yr.

    Without a noise level the floor 0.5 mm/yr decides. A direction no track sees well
    (|cos| < 0.7: a slide moving north or south) or one track leaves the sign to noise.
    """
    base = {**SLIDE_ROW, "noise_mm_yr": 0.8, "v_downslope_mm_yr": -3.3}
    rows = pd.DataFrame(
        [
            base,
            {**base, "v_downslope_mm_yr": -3.1},  # within 4 noise levels of zero
            {**base, "noise_mm_yr": np.nan, "v_downslope_mm_yr": -0.6},  # fixed floor
            {**base, "noise_mm_yr": np.nan, "v_downslope_mm_yr": -0.4},
            {**base, "max_abs_cos_downslope": 0.69},  # direction not seen: sign is noise
            {**base, "n_tracks_seen": 1},
            {**base, "v_downslope_mm_yr": np.nan},  # missing never rejects
            # the vertical rule decides first
            {**base, "misfit_downslope_mm_yr": 8.0, "misfit_vertical_mm_yr": 0.5},
            # before the radial rule
            {**base, "radial_rho": -0.9, "radial_n_points": 25},
            {**SLIDE_ROW, "noise_mm_yr": 0.8},  # moving down the slope
        ]
    )
    want = ["upslope", "landslide", "upslope"] + ["landslide"] * 4 + ["vertical", "upslope"]
    assert list(preclassify(rows)) == want + ["landslide"]
    off = ["landslide"] * 7 + ["vertical", "radial", "landslide"]
    assert list(preclassify(rows, {"upslope_cos": 1.01})) == off
    assert list(preclassify(rows, {"upslope_noise_factor": 3.0}))[1] == "upslope"
    assert list(preclassify(rows, {"upslope_cos": 0.65}))[4] == "upslope"


def test_evidence_mogi_columns_use_every_point_and_the_measured_velocity():
    labels, transform, slope, aspect, points, point_labels, _, _ = _evidence_case()
    kw = dict(slope_deg=slope, aspect_deg=aspect, terrain_transform=transform)
    rng = np.random.default_rng(8)
    for t in points:
        p = points[t]
        r = np.hypot(p["x_m"] - 60.0, p["y_m"] - 60.0)
        points[t] = p.assign(velocity_mm_yr=p["v_hp_mm_yr"] - 20.0 * np.exp(-r / 30.0))
        points[t].loc[rng.random(len(p)) < 0.3, "moving"] = False
    ev = candidate_evidence(labels, 3, transform, points, point_labels, **kw)
    tracks = sorted(points)
    lab = np.concatenate([point_labels[t] for t in tracks])
    trk = np.concatenate([np.full(len(points[t]), k) for k, t in enumerate(tracks)])
    frame = pd.concat([points[t] for t in tracks], ignore_index=True)
    az, sl = np.deg2rad(ev["downslope_azimuth_deg"]), np.deg2rad(ev["slope_mean_deg"])
    down = np.column_stack([np.sin(az) * np.cos(sl), np.cos(az) * np.cos(sl), -np.sin(sl)])
    ratio, count = mogi_contrast(
        lab,
        trk,
        frame["x_m"].to_numpy(),
        frame["y_m"].to_numpy(),
        frame["velocity_mm_yr"].to_numpy(),
        frame[["los_e", "los_n", "los_u"]].to_numpy(),
        down,
        frame["moving"].to_numpy(bool) & (lab > 0),
        3,
    )
    np.testing.assert_array_equal(ev["mogi_n_points"], count)
    assert count.sum() == (lab > 0).sum()  # moving or not
    finite = np.isfinite(ratio)
    assert finite.any()
    # uniform slope and aspect: the mean downslope vector is the one of the mean slope
    np.testing.assert_allclose(ev["mogi_ratio"], ratio, rtol=1e-12)


def test_sparse_upslope_flags_few_one_track_points_moving_up_the_slope_by_hand():
    """Hand-computed: noise 1.5 mm/yr, factor 2 -> the line-of-sight speed must be < -3.

    ``v_downslope × max_abs_cos``: -8 × 0.5 = -4 (flagged), -5 × 0.5 = -2.5 (not).
    """
    base = {
        "n_moving": 4,
        "n_moving_asc": 4,
        "n_moving_dsc": 0,
        "v_downslope_mm_yr": -8.0,
        "max_abs_cos_downslope": 0.5,
        "noise_mm_yr": 1.5,
    }
    rows = pd.DataFrame(
        [
            base,
            {**base, "v_downslope_mm_yr": -5.0},  # 2.5 mm/yr: within 2 noise levels
            {**base, "n_moving": 5, "n_moving_asc": 5},  # more than the least evidence
            {**base, "n_moving_dsc": 1, "n_moving": 5},  # the other geometry moves too
            {**base, "n_moving": 3, "n_moving_asc": 3},  # fewer still: flagged
            {**base, "v_downslope_mm_yr": 8.0},  # down the slope
            {**base, "noise_mm_yr": np.nan},  # missing evidence never flags
            {**base, "max_abs_cos_downslope": np.nan},
            {**base, "n_moving_asc": 0, "n_moving_dsc": 4},  # the other track alone: flagged
        ]
    )
    want = [True, False, False, False, True, False, False, False, True]
    assert sparse_upslope(rows, ["asc", "dsc"], 4, 2.0).tolist() == want
    # a larger allowance or a smaller factor by hand
    assert sparse_upslope(rows, ["asc", "dsc"], 5, 2.0).tolist()[2] is True
    assert sparse_upslope(rows, ["asc", "dsc"], 4, 1.5).tolist()[1] is True
    assert sparse_upslope(rows.iloc[:0], ["asc", "dsc"], 4, 2.0).tolist() == []
