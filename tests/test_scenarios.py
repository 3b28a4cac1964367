"""The scenario suite and the simulator's optional physics.

References used: the EGMS LOS unit vectors of Sentinel-1 (hard-coded numbers), analytic
planes and valleys, brute-force point-in-polygon counts with shapely, least-squares fits
with numpy (log-log spectrum slope, planes, rates), rasterio's reading of the written files
and scipy's Horn kernels.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import yaml
from numpy.testing import assert_allclose
from rasterio.transform import Affine
from scipy import ndimage

from slidemap.errors import ConfigError
from slidemap.simulate import SimulationParams, demo_tracks, simulate
from slidemap.simulate.decoys import place_embankments
from slidemap.simulate.fields import component_rng, powerlaw_screens_mm
from slidemap.simulate.scenario import load_scenario
from slidemap.simulate.sources import place_slides
from slidemap.simulate.study import make_scenario
from slidemap.simulate.terrain import smooth_dem

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "resources" / "scenarios"
ZION_DEM = SCENARIOS / "dem" / "zion_srtm.tif"
DEMO = ROOT / "resources" / "demo"
CRS = "EPSG:32717"
LAMBDA_MM = 55.47

# Ground-to-satellite LOS of Sentinel-1 at 39 deg incidence as EGMS publishes it.
EGMS_LOS = {"asc_018": (-0.6153, -0.1308, 0.7771), "dsc_142": (0.6153, -0.1308, 0.7771)}

# Only the deformation (or the one term under test) reaches the series.
QUIET = dict(
    white_noise=False,
    aps_sd_mm=0.0,
    aps_stratified_sd_mm_per_km=0.0,
    seasonal_sd_mm=0.0,
    slide_seasonal_share=0.0,
    n_subsidence=0,
    coherence_patch_share=0.0,
    behaviour_probabilities=(1.0, 0.0, 0.0),
    density_per_km2=3000.0,
    tracks=demo_tracks(n_dates=31),
)


def plane(slope_deg: float, aspect_deg: float, n: int = 100, cell: float = 10.0):
    """An n x n planar DEM descending toward ``aspect_deg`` with ``slope_deg``."""
    rows, cols = np.mgrid[0:n, 0:n]
    x = (cols + 0.5) * cell
    y = -(rows + 0.5) * cell
    a = np.deg2rad(aspect_deg)
    z = 2500.0 - np.tan(np.deg2rad(slope_deg)) * (x * np.sin(a) + y * np.cos(a))
    return z, Affine(cell, 0.0, 700000.0, 0.0, -cell, 9560000.0)


def valley(n: int = 150, cell: float = 10.0):
    """A gentle N-S valley (side slopes ~2.9 deg, floor rising 0.6 deg to the north)."""
    rows, cols = np.mgrid[0:n, 0:n]
    x = (cols + 0.5) * cell
    y = (n - rows - 0.5) * cell
    z = 2000.0 + 0.05 * np.abs(x - n * cell / 2.0) + 0.01 * y
    return z, Affine(cell, 0.0, 700000.0, 0.0, -cell, 9560000.0)


def _write_scenario(tmp_path: Path, base: str, **changes) -> Path:
    """A committed scenario with some keys changed (dotted names), written to tmp_path."""
    data = yaml.safe_load((SCENARIOS / base).read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    for key in ("dem", "inventory"):
        section = data["terrain"] if key == "dem" else data["slides"]
        if section.get(key):
            section[key] = str((SCENARIOS / section[key]).resolve())
    path = tmp_path / base
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------
# Scenario files


def test_every_committed_scenario_loads_and_spans_the_ranges():
    files = sorted(SCENARIOS.glob("*.yaml"))
    assert len(files) >= 8
    roles = {}
    for f in files:
        sc = load_scenario(f)
        p = sc.params
        assert sc.name == f.stem
        roles[sc.name] = sc.role
        if sc.role == "held_out":
            assert sc.name.startswith("held_")
            assert "never used to choose defaults" in sc.description
        else:
            assert sc.name.startswith("dev_")
        assert 20 <= p.n_slides <= 40
        assert 50 <= p.density_per_km2 <= 400
        assert 1.0 <= p.aps_sd_range_mm[0] <= p.aps_sd_range_mm[1] <= 5.0
        assert p.aps_model == "powerlaw"
        assert 0.2 <= p.slide_north_south_share <= 0.5
        assert 0.1 <= p.coherence_patch_share <= 0.4
        assert 0.001 <= p.unwrap_error_share <= 0.005
        assert p.slide_length_range_m == (100.0, 700.0)
        assert p.v_down_range_mm_yr == (5.0, 60.0)
        assert p.n_subsidence >= 1 and p.n_thermal >= 1 and p.n_embankment >= 1
        assert p.n_subsidence + p.n_thermal + p.n_embankment >= 4
        assert (p.detect_threshold_mm_yr, p.detect_min_points) == (5.0, 5)
        assert [t.layout for t in p.tracks] == ["egms", "generic"]
        assert p.tracks[0].batches == 2 and all(t.n_dates == 61 for t in p.tracks)
        if "zion" in sc.name:
            assert sc.dem_path == ZION_DEM.resolve() and 25 <= sc.cell_size_m <= 30
        else:
            assert sc.dem_path == (DEMO / "dem.tif").resolve() and sc.cell_size_m == 10
    dev = sum(r == "development" for r in roles.values())
    held = len(roles) - dev
    assert dev >= 4 and held >= 4
    assert sorted(roles.values()) == ["development"] * dev + ["held_out"] * held
    windows = [load_scenario(f).window for f in files if "zion" in f.name]
    assert len(set(windows)) == len(windows)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"sloppes": 1}, "sloppes", "unknown key"),
        ({"slides.cont": 3}, "slides.cont", "did you mean 'count'"),
        ({"points.density_per_km2": -5}, "points.density_per_km2", "outside"),
        ({"role": "training"}, "role", "development, held_out"),
        ({"terrain.window": [1, 2, 3]}, "terrain.window", "west, south, east, north"),
        ({"terrain.crs": "EPSG:4326"}, "terrain.crs", "not projected"),
        ({"atmosphere.sd_range_mm": [5, 1]}, "atmosphere.sd_range_mm", "low > high"),
        ({"slides.behaviour_shares": {"linear": 1, "accelerating": 1, "step": 0}},
         "slides.behaviour_shares", "sum"),
        ({"tracks": [{"name": "asc", "orbit": "up"}]}, "tracks.0.orbit", "not allowed"),
    ],
)  # fmt: skip
def test_bad_scenario_files_name_the_file_and_the_key(tmp_path, change, key, words):
    path = _write_scenario(tmp_path, "dev_zion_north.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for dotted, value in change.items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert str(path) in msg and f"key '{key}'" in msg and words in msg and "Fix:" in msg


def test_missing_required_key_and_site_rules(tmp_path):
    path = _write_scenario(tmp_path, "dev_zion_north.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["seed"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"key 'seed': required key is missing"):
        load_scenario(path)
    path = _write_scenario(tmp_path, "dev_ecuador_inventory.yaml", **{"slides.fraction": 0.5})
    with pytest.raises(ConfigError, match=r"key 'slides.count'.*exactly one"):
        load_scenario(path)


# ---------------------------------------------------------------------------------------
# LOS physics on analytic planes


@pytest.mark.parametrize("slope_deg", [20.0, 32.0])
def test_random_site_slides_los_sign_and_north_south_blindness(slope_deg):
    """An east-facing slide moves away from the ascending (right-looking, west-looking)
    satellite and toward the descending one below ~38 deg; a north-facing slide of the same
    slope is seen mostly through its vertical component, so its |v_los| per mm/yr of
    downslope rate is much smaller than the E-W slide's best geometry."""
    ratios = {}
    for aspect, share in ((90.0, 0.0), (0.0, 1.0)):
        z, t = plane(slope_deg, aspect)
        params = SimulationParams(
            **QUIET,
            slide_sites="random",
            n_slides=1,
            slide_north_south_share=share,
        )
        sim = simulate(z, t, CRS, np.empty((0, 2)), params)
        (slide,) = sim.slides.itertuples()
        assert slide.azimuth_deg == pytest.approx(aspect, abs=0.05)
        assert slide.plunge_deg == pytest.approx(slope_deg, abs=0.05)
        assert slide.north_south == (aspect == 0.0)
        s, a = np.deg2rad(slope_deg), np.deg2rad(aspect)
        motion = np.array([np.sin(a) * np.cos(s), np.cos(a) * np.cos(s), -np.sin(s)])
        for name, los in EGMS_LOS.items():
            expected = slide.v_down_mm_yr * motion @ np.array(los)
            truth = getattr(slide, f"v_los_{name}_mm_yr")
            assert truth == pytest.approx(expected, abs=0.01 * slide.v_down_mm_yr)
            ratios[(aspect, name)] = abs(truth) / slide.v_down_mm_yr
        if aspect == 90.0:
            assert slide.v_los_asc_018_mm_yr < 0 < slide.v_los_dsc_142_mm_yr
            for tr in sim.tracks:
                core = tr.points[tr.points["slide_id"] == 1]
                core = core[core["v_true_mm_yr"].abs() > 0.99 * core["v_true_mm_yr"].abs().max()]
                assert len(core) >= 5
                sign = -1 if tr.spec.orbit == "ascending" else 1
                assert (np.sign(core["mean_velocity"]) == sign).all()
    best_ew = max(ratios[(90.0, "asc_018")], ratios[(90.0, "dsc_142")])
    for name in EGMS_LOS:
        assert ratios[(0.0, name)] < 0.6 * best_ew
    # the horizontal part of the N-S motion barely projects (|los_north| = 0.13)
    s = np.deg2rad(slope_deg)
    assert ratios[(0.0, "asc_018")] == pytest.approx(
        abs(np.cos(s) * -0.1308 - np.sin(s) * 0.7771), abs=0.01
    )


def test_inventory_sites_keep_the_north_south_share():
    """Inventory mode with a count and a north-south share: exactly round(share * n)
    footprints face north or south (within 25 deg), each grown from an inventory point."""
    from slidemap.simulate import read_inputs

    dem, t, _crs, xy = read_inputs(DEMO / "dem.tif", DEMO / "landslide_points.csv")
    params = SimulationParams(n_slides=12, slide_north_south_share=0.5)
    slides = place_slides(component_rng(1, "slides"), dem, t, xy, params, 2.0)
    assert len(slides) == 12
    az = slides["azimuth_deg"].to_numpy() % 180.0
    ns = np.minimum(az, 180.0 - az) <= 25.0
    assert ns.sum() == 6 and (ns == slides["north_south"]).all()
    assert_allclose(xy[slides["point_index"]], slides[["point_x", "point_y"]].to_numpy())
    # off: the legacy placement (the demo's draws), no count and no sectors
    legacy = place_slides(component_rng(1, "slides"), dem, t, xy, SimulationParams(), 2.0)
    again = place_slides(
        component_rng(1, "slides"), dem, t, xy, SimulationParams(slide_north_south_share=0), 2.0
    )
    pd.testing.assert_frame_equal(legacy, again)


# ---------------------------------------------------------------------------------------
# Atmosphere, ramp, unwrapping errors


def _radial_spectrum_slope(field: np.ndarray) -> float:
    """Slope of the log-log radially averaged power spectrum (Hann window)."""
    n = field.shape[0]
    w = np.hanning(n)[:, None] * np.hanning(n)[None, :]
    power = np.abs(np.fft.fft2((field - field.mean()) * w)) ** 2
    ky, kx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")
    k = np.hypot(ky, kx).ravel()
    edges = np.logspace(np.log10(4.0 / n), np.log10(0.25), 16)
    idx = np.digitize(k, edges)
    kb = [k[idx == i].mean() for i in range(1, len(edges))]
    pb = [power.ravel()[idx == i].mean() for i in range(1, len(edges))]
    return float(np.polyfit(np.log(kb), np.log(pb), 1)[0])


@pytest.mark.parametrize("beta", [8.0 / 3.0, 2.0])
def test_powerlaw_screen_spectrum_and_sd(beta):
    rng = np.random.default_rng(7)
    screens, sd = powerlaw_screens_mm(rng, (256, 256), beta, (1.0, 5.0), 6)
    slopes = [_radial_spectrum_slope(s) for s in screens]
    assert np.mean(slopes) == pytest.approx(-beta, abs=0.2)
    assert_allclose(screens.std(axis=(1, 2)), sd, rtol=1e-9)
    assert_allclose(screens.mean(axis=(1, 2)), 0.0, atol=1e-9)
    assert ((sd >= 1.0) & (sd <= 5.0)).all() and np.ptp(sd) > 0.5


def test_powerlaw_atmosphere_in_a_track_has_the_drawn_sd():
    """Only the power-law screens reach the series: the scatter of a date's delays over the
    points (minus the first date's) follows the drawn per-date sds."""
    z, t = plane(5.0, 90.0, n=120)
    params = SimulationParams(
        **QUIET | {"density_per_km2": 2000.0, "tracks": demo_tracks(n_dates=13)},
        aps_model="powerlaw",
        aps_sd_range_mm=(1.0, 5.0),
    )
    sim = simulate(z, t, CRS, np.empty((0, 2)), params)
    for tr in sim.tracks:
        sd = tr.extras["aps_sd_mm"]
        assert len(sd) == 13 and ((sd >= 1.0) & (sd <= 5.0)).all()
        d = tr.displacement
        # delay(date k) - delay(date 0): independent screens, sd^2 adds (sampled at points)
        got = d[:, 1:].std(axis=0)
        expected = np.sqrt(sd[1:] ** 2 + sd[0] ** 2)
        assert np.corrcoef(got, expected)[0, 1] > 0.8
        assert np.median(got / expected) == pytest.approx(1.0, abs=0.25)


@pytest.mark.parametrize("rate", [0.25, 2.0])
def test_ramp_rate_is_the_requested_mm_yr_per_km(rate):
    """A plane fitted to the noise-free rates of the ramp has the requested gradient. The
    written series are rounded to 0.1 mm, too coarse for the 0.4 mm a 0.25 mm/yr/km ramp
    spans here, so the written rates are checked on a steeper ramp and the point rates of
    the ramp (``v_ramp_mm_yr``) on both."""
    z, t = plane(5.0, 90.0, n=150)
    params = SimulationParams(**QUIET, ramp_mm_yr_per_km=rate)
    sim = simulate(z, t, CRS, np.empty((0, 2)), params)
    for tr in sim.tracks:
        p = tr.points
        xkm, ykm = p["x"].to_numpy() / 1e3, p["y"].to_numpy() / 1e3
        design = np.column_stack([np.ones_like(xkm), xkm, ykm])
        columns = ["v_ramp_mm_yr"] + (["mean_velocity"] if rate >= 1.0 else [])
        for col in columns:
            coef = np.linalg.lstsq(design, p[col].to_numpy(), rcond=None)[0]
            assert np.hypot(coef[1], coef[2]) == pytest.approx(rate, rel=0.01), col
            az = np.degrees(np.arctan2(coef[1], coef[2])) % 360.0
            diff = (az - tr.extras["ramp_azimuth_deg"] + 180.0) % 360.0 - 180.0
            assert abs(diff) < 1.0
        if rate >= 1.0:  # up to the 0.1 mm rounding of the written series
            t = np.array([(d - tr.dates[0]).days for d in tr.dates]) / 365.25
            bound = 0.05 * np.abs((t - t.mean()) / ((t - t.mean()) ** 2).sum()).sum()
            assert_allclose(p["mean_velocity"], p["v_ramp_mm_yr"], atol=bound)
        assert (p["v_true_mm_yr"] == 0).all()  # a ramp is not deformation
    a1, a2 = (tr.extras["ramp_azimuth_deg"] for tr in sim.tracks)
    assert a1 != a2  # a direction per track


def test_unwrapping_errors_share_and_size():
    z, t = plane(5.0, 90.0, n=150)
    params = SimulationParams(**QUIET, unwrap_error_share=0.004)
    sim = simulate(z, t, CRS, np.empty((0, 2)), params)
    for tr in sim.tracks:
        d = tr.displacement
        jumps = np.diff(d, axis=1)
        has = np.abs(jumps).max(axis=1) > 10.0
        assert has.sum() == round(0.004 * len(d))
        assert has.mean() == pytest.approx(0.004, abs=0.5 / len(d))
        rows = np.flatnonzero(has)
        k = np.abs(jumps[rows]).argmax(axis=1)
        step = jumps[rows, k]
        assert_allclose(np.abs(step), LAMBDA_MM / 2.0, atol=0.1)
        assert set(np.sign(step)) <= {-1.0, 1.0}
        assert_allclose(k + 1, tr.points["unwrap_index"].to_numpy()[rows])
        # after the step the series stays offset (a cycle slip, not a spike)
        assert (np.abs(d[rows, -1]) > 27.0).all()


# ---------------------------------------------------------------------------------------
# Decoys


@pytest.fixture(scope="module")
def decoy_sim():
    z, t = valley()
    params = SimulationParams(
        **QUIET | {"density_per_km2": 600.0},
        n_thermal=1,
        thermal_radius_range_m=(120.0, 150.0),
        n_embankment=1,
        embankment_length_range_m=(400.0, 600.0),
        thermal_density_per_km2=1500.0,
        embankment_density_per_km2=2000.0,
    )
    return simulate(z, t, CRS, np.empty((0, 2)), params)


def test_thermal_points_have_no_trend_and_the_seasonal_amplitude(decoy_sim):
    src = decoy_sim.sources
    (th,) = src[src["kind"] == "thermal"].itertuples()
    assert 3.0 <= th.seasonal_mm <= 10.0 and 120.0 <= th.radius_m <= 150.0
    assert th.v_up_max_mm_yr == 0.0
    for tr in decoy_sim.tracks:
        p = tr.points
        inside = np.hypot(p["x"] - th.cx, p["y"] - th.cy) <= th.radius_m
        assert (p.loc[inside, "source_id"] == th.source_id).all()
        assert (p.loc[inside, "v_true_mm_yr"] == 0.0).all()
        assert_allclose(p.loc[inside, "seasonality"], th.seasonal_mm, atol=0.3)
        # the annual cosine peaks in mid-summer: fit cos/sin over day of year
        doy = np.array([d.timetuple().tm_yday for d in tr.dates], dtype=float)
        w = 2 * np.pi * doy / 365.25
        design = np.column_stack([np.ones_like(w), np.cos(w), np.sin(w)])
        coef = np.linalg.lstsq(design, tr.displacement[inside.to_numpy()].T, rcond=None)[0]
        peak = np.degrees(np.arctan2(coef[2], coef[1])) % 360 / 360 * 365.25
        assert_allclose(peak, 200.0, atol=3.0)
        # extra strong scatterers: about (1500 + 600) points/km^2 over the disc
        area_km2 = np.pi * th.radius_m**2 / 1e6
        assert inside.sum() == pytest.approx(2100.0 * area_km2, rel=0.35)
        assert p.loc[inside, "decoy_extra"].sum() > p.loc[inside, "decoy_extra"].size * 0.5


def test_embankment_points_settle_vertically_at_the_drawn_rate(decoy_sim):
    src = decoy_sim.sources
    (emb,) = src[src["kind"] == "embankment"].itertuples()
    r = -emb.v_up_max_mm_yr
    assert 5.0 <= r <= 15.0 and emb.placement == "road"
    assert 400.0 <= emb.length_m <= 600.0
    roads = decoy_sim.roads.geometry
    centre = shapely.Point(emb.cx, emb.cy)
    assert min(g.distance(centre) for g in roads) < 1.0  # on a road
    for tr in decoy_sim.tracks:
        p = tr.points
        sel = p["source_id"] == emb.source_id
        assert sel.sum() > 30
        # every point within 20 m of the centre line and only those: within the buffer
        inside = shapely.contains_xy(emb.geometry.buffer(0.5), p["x"], p["y"])
        assert (inside[sel.to_numpy()]).all()
        rate = p.loc[sel, "v_true_mm_yr"] / p.loc[sel, "los_up"]
        assert_allclose(rate, -r, atol=1e-9)
        t = np.array([(d - tr.dates[0]).days for d in tr.dates]) / 365.25
        bound = 0.05 * np.abs((t - t.mean()) / ((t - t.mean()) ** 2).sum()).sum()
        assert_allclose(p.loc[sel, "mean_velocity"], p.loc[sel, "v_true_mm_yr"], atol=bound)
        assert (p.loc[sel, "mean_velocity"] < 0).all()
        assert getattr(emb, f"v_los_{tr.spec.name}_mm_yr") < 0
    # other_moving: the decoys with a trend only
    assert set(decoy_sim.other_moving["kind"]) == {"embankment"}


def test_embankment_falls_back_to_a_straight_segment_without_roads():
    z, t = valley()
    params = SimulationParams(n_embankment=2, embankment_length_range_m=(400.0, 500.0))
    no_roads = pd.DataFrame({"geometry": []})
    out = place_embankments(component_rng(3, "embankment"), z, t, no_roads, [], params)
    assert len(out) == 2
    assert (out["placement"] == "straight segment on gentle ground").all()
    for line in out["line"]:
        assert len(line.coords) == 2 and 400.0 <= line.length <= 500.0
    assert out.geometry.iloc[0].distance(out.geometry.iloc[1]) >= params.decoy_min_distance_m


# ---------------------------------------------------------------------------------------
# A small Zion scenario written to disk


ZION_SMALL = {
    "terrain.window": [-113.000, 37.300, -112.960, 37.332],
    "terrain.cell_size_m": 30,
    "slides.count": 8,
    "slides.north_south_share": 0.25,
    "points.density_per_km2": 300,
    "decoys.thermal.count": 1,
    "decoys.embankment.count": 1,
    "decoys.subsidence.count": 1,
}


@pytest.fixture(scope="module")
def zion_small(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zion")
    path = _write_scenario(tmp, "held_zion_east.yaml", **ZION_SMALL)
    sim, files = make_scenario(path, tmp / "a")
    return load_scenario(path), sim, files, tmp


def test_zion_dem_is_written_in_its_original_form(zion_small):
    scenario, sim, files, tmp = zion_small
    with rasterio.open(tmp / "a" / "dem.tif") as src, rasterio.open(ZION_DEM) as orig:
        assert src.crs.to_epsg() == 4326 and src.dtypes[0] == "uint16"
        assert src.nodata == 65535
        cell = orig.res[0]
        assert_allclose(tuple(src.bounds), scenario.window, atol=cell)
        # the same cells as the original file
        win = rasterio.windows.from_bounds(*src.bounds, orig.transform)
        assert (orig.read(1, window=win.round_offsets().round_lengths()) == src.read(1)).all()
    # the simulation ran on the warped grid: UTM 12N, 30 m, NaN nodata
    assert sim.scene.crs.to_epsg() == 32612 and sim.scene.cell_m == 30.0
    assert np.isfinite(sim.scene.dem).mean() > 0.9


def test_random_sites_place_the_count_on_steep_slopes(zion_small):
    scenario, sim, _files, _tmp = zion_small
    slides = sim.slides
    p = scenario.params
    assert len(slides) == 8
    assert (slides["point_index"] == -1).all()
    assert (slides["plunge_deg"] >= p.slide_site_min_slope_deg).all()
    # independent slope at each site: Horn kernels (scipy) on the smoothed DEM
    zs = smooth_dem(sim.scene.dem, p.smoothing_sigma_m / sim.scene.cell_m)
    h = sim.scene.cell_m
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / (8 * h)
    ky = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]) / (8 * h)
    gx = ndimage.correlate(zs, kx, mode="constant", cval=np.nan)
    gy = ndimage.correlate(zs, ky, mode="constant", cval=np.nan)
    rows, cols = rasterio.transform.rowcol(
        sim.scene.transform, slides["point_x"].to_numpy(), slides["point_y"].to_numpy()
    )
    slope = np.degrees(np.arctan(np.hypot(gx[rows, cols], gy[rows, cols])))
    assert (slope >= p.slide_site_min_slope_deg - 1e-6).all()
    assert slides["north_south"].sum() == 2
    geoms = slides.geometry.to_numpy()
    assert shapely.union_all(geoms).area == pytest.approx(sum(g.area for g in geoms))
    assert slides["length_m"].between(100.0 * 0.7, 700.0).all()
    assert slides["v_down_mm_yr"].between(5.0, 60.0).all()


def _written_points(folder: Path, track: str) -> pd.DataFrame:
    frames = []
    for f in sorted((folder / "tracks" / track).glob("*.csv")):
        sep = ";" if track.startswith("dsc") else ","
        frames.append(pd.read_csv(f, sep=sep))
    df = pd.concat(frames, ignore_index=True)
    pid = "pid" if "pid" in df else "CODE"
    return df.drop_duplicates(subset=pid).rename(columns={pid: "pid"})


def test_detectability_by_brute_force(zion_small):
    _scenario, sim, _files, tmp = zion_small
    folder = tmp / "a"
    truth = gpd.read_file(folder / "truth" / "moving_slopes.gpkg")
    summary = json.loads((folder / "truth" / "simulation.json").read_text())
    assert "at least 5 of" in summary["moving_slopes"]["detectability_rule"]
    assert ">= 5 mm/yr" in summary["moving_slopes"]["detectability_rule"]
    detectable = np.zeros(len(truth), dtype=bool)
    for tr in sim.tracks:
        name = tr.spec.name
        written = _written_points(folder, name)
        mem = tr.points.set_index("pid")
        assert len(written) == len(mem)
        v_true = mem.loc[written["pid"], "v_true_mm_yr"].to_numpy()
        x = mem.loc[written["pid"], "x"].to_numpy()
        y = mem.loc[written["pid"], "y"].to_numpy()
        n_points = [int(shapely.contains_xy(g, x, y).sum()) for g in truth.geometry]
        n_moving = [
            int((shapely.contains_xy(g, x, y) & (np.abs(v_true) >= 5.0)).sum())
            for g in truth.geometry
        ]
        assert_allclose(truth[f"n_points_{name}"], n_points, atol=1)
        assert list(truth[f"n_moving_{name}"]) == n_moving
        det = np.array(n_moving) >= 5
        assert (truth[f"detectable_{name}"] == det).all()
        detectable |= det
    assert (truth["detectable"] == detectable).all()
    assert summary["moving_slopes"]["detectable"] == int(detectable.sum())


def test_scenario_truth_inventory_and_config(zion_small, schema):
    scenario, sim, files, tmp = zion_small
    folder = tmp / "a"
    rel = {f.relative_to(folder).as_posix() for f in files}
    for name in (
        "dem.tif",
        "config.yaml",
        "inventory.gpkg",
        "truth/moving_slopes.gpkg",
        "truth/other_sources.gpkg",
        "truth/other_moving.gpkg",
        "truth/simulation.json",
        "layers/roads.gpkg",
        "layers/faults.gpkg",
        "layers/lithology.tif",
        "layers/landuse.tif",
        "tracks/dsc_142/ps_dsc_142_2022_2023.csv",
    ):
        assert name in rel, name
    assert len([r for r in rel if r.startswith("tracks/asc_018/")]) == 2
    other = gpd.read_file(folder / "truth" / "other_sources.gpkg")
    moving = gpd.read_file(folder / "truth" / "other_moving.gpkg")
    assert set(other["kind"]) <= {"subsidence", "thermal", "embankment"}
    assert set(moving["kind"]) <= {"subsidence", "embankment"}
    assert len(moving) == (other["kind"] != "thermal").sum()
    for name in EGMS_LOS:  # trends are subsidence or settlement: away from both satellites
        assert (moving[f"v_los_{name}_mm_yr"] < 0).all()
        assert (other.loc[other["kind"] == "thermal", f"v_los_{name}_mm_yr"] == 0).all()
    inv = gpd.read_file(folder / "inventory.gpkg")
    slides = gpd.read_file(folder / "truth" / "moving_slopes.gpkg")
    assert (inv.geom_type == "Polygon").all() and (inv["kind"] == "landslide").all()
    assert len(inv) == round(0.6 * len(slides)) == slides["in_inventory"].sum()
    mapped = slides[slides["in_inventory"]].geometry
    assert all(any(g.equals_exact(m, 1e-6) for m in mapped) for g in inv.geometry)
    summary = json.loads((folder / "truth" / "simulation.json").read_text())
    assert summary["scenario"]["name"] == scenario.name
    assert summary["scenario"]["role"] == "held_out"
    # a valid slidemap configuration whose files exist
    from slidemap.config import check_paths, validate_config

    config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    filled = validate_config(config, schema)
    check_paths(filled, ROOT)
    assert filled["study_area"]["name"] == scenario.name
    assert filled["study_area"]["crs"] == "EPSG:32612"
    assert filled["hotspots"]["reference_query"] == "detectable"
    dsc = filled["insar"]["tracks"]["dsc_142"]
    assert dsc["format"] == "generic" and dsc["heading_deg"] == 192.0
    assert dsc["columns"]["velocity"] == "VEL"


def _digest(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.name == "config.yaml":
                data = data.replace(str(folder.resolve()).encode(), b"<folder>")
            out[str(p.relative_to(folder))] = hashlib.sha256(data).hexdigest()
    return out


def test_same_scenario_gives_identical_files(zion_small):
    scenario, _sim, _files, tmp = zion_small
    make_scenario(scenario, tmp / "b")
    a, b = _digest(tmp / "a"), _digest(tmp / "b")
    assert len(a) == 16 and a == b
    assert re.search(rb"/b/dem.tif", (tmp / "b" / "config.yaml").read_bytes())
