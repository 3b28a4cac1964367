"""The Sentinel-1 simulator: LOS physics, visibility, noise statistics, files and the demo.

References used: the EGMS LOS unit vectors of Sentinel-1 tracks (hard-coded numbers),
analytic planes (exact gradients and layover/shadow limits), GDAL's ``gdaldem`` (Horn
slope/aspect), numpy/scipy least squares, pyproj round trips and the closed-form
least-squares rate of a step and of a parabola.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from numpy.testing import assert_allclose
from pyproj import Transformer
from rasterio.transform import Affine
from scipy import ndimage, stats

from slidemap.raster import horn_gradient
from slidemap.simulate import (
    DETECT_THRESHOLD_MM_YR,
    SimulationParams,
    demo_tracks,
    fit_series,
    make_demo,
    read_inputs,
    simulate,
)
from slidemap.simulate.motion import slide_displacement_mm, subsidence_velocity_mm_yr
from slidemap.simulate.terrain import slope_aspect_deg
from slidemap.simulate.tracks import track_los

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo"
DEM = DEMO / "dem.tif"
POINTS = DEMO / "landslide_points.csv"
CRS = "EPSG:32717"

# Ground-to-satellite LOS of Sentinel-1 at 39 deg incidence as EGMS publishes it
# (los_east, los_north, los_up), ascending (heading -12) and descending (heading 192).
EGMS_LOS = {"asc_018": (-0.6153, -0.1308, 0.7771), "dsc_142": (0.6153, -0.1308, 0.7771)}

# A noise-free, dense simulation: only the deformation reaches the series.
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
    slide_fraction=1.0,
    tracks=demo_tracks(n_dates=31),
)


@pytest.fixture(scope="module")
def demo_sim():
    """The full demo simulation in memory (default parameters, as committed)."""
    return simulate(*read_inputs(DEM, POINTS))


def plane(slope_deg: float, aspect_deg: float = 90.0, n: int = 100, cell: float = 10.0):
    """An n x n planar DEM descending toward ``aspect_deg`` with ``slope_deg``."""
    rows, cols = np.mgrid[0:n, 0:n]
    x = (cols + 0.5) * cell
    y = -(rows + 0.5) * cell
    a = np.deg2rad(aspect_deg)
    z = 2500.0 - np.tan(np.deg2rad(slope_deg)) * (x * np.sin(a) + y * np.cos(a))
    transform = Affine(cell, 0.0, 700000.0, 0.0, -cell, 9560000.0)
    return z, transform


# ---------------------------------------------------------------------------------------
# LOS physics on analytic planes


@pytest.mark.parametrize("slope_deg", [20.0, 35.0])
def test_east_facing_slide_is_negative_ascending_positive_descending(slope_deg):
    """Downslope motion of an east-facing slope: away from the ascending satellite (west of
    it) and, while the slope is gentler than the incidence (so not in descending layover),
    toward the descending one: v (cos s * 0.6153 - sin s * 0.7771) > 0 for s < 38.4 deg."""
    z, t = plane(slope_deg)
    slide_xy = np.array([[t.c + 300.0, t.f - 500.0]])
    sim = simulate(z, t, CRS, slide_xy, SimulationParams(**QUIET))
    (slide,) = sim.slides.itertuples()
    assert slide.azimuth_deg == pytest.approx(90.0, abs=0.01)
    assert slide.plunge_deg == pytest.approx(slope_deg, abs=0.01)
    s = np.deg2rad(slope_deg)
    for tr in sim.tracks:
        le, ln, lu = EGMS_LOS[tr.spec.name]
        expected = slide.v_down_mm_yr * (np.cos(s) * le - np.sin(s) * lu)
        truth = getattr(sim.slides, f"v_los_{tr.spec.name}_mm_yr").iloc[0]
        assert truth == pytest.approx(expected, abs=0.01 * slide.v_down_mm_yr)
        core = tr.points[
            (tr.points["slide_id"] == 1) & np.isclose(tr.points["v_true_mm_yr"], truth, rtol=0.01)
        ]
        assert len(core) >= 10
        # noise-free linear motion: the written rate is the LOS projection at the point, up to
        # the 0.1 mm rounding of the written series (at most 0.05 mm x sum |LS weights|)
        t = np.array([(d - tr.dates[0]).days for d in tr.dates]) / 365.25
        bound = 0.05 * np.abs((t - t.mean()) / ((t - t.mean()) ** 2).sum()).sum()
        assert_allclose(core["mean_velocity"], core["v_true_mm_yr"], atol=bound)
        if tr.spec.orbit == "ascending":
            assert (core["mean_velocity"] < 0).all()
        else:
            assert (core["mean_velocity"] > 0).all()


@pytest.mark.parametrize(
    ("slope_deg", "asc_visible", "dsc_visible"),
    [(20.0, True, True), (35.0, True, True), (45.0, True, False), (58.0, False, False)],
)
def test_planes_lose_points_exactly_in_layover_and_shadow(slope_deg, asc_visible, dsc_visible):
    """East-facing planes: the descending radar (east of them) sees layover once the slope
    exceeds the incidence (39 deg, minus the 2 deg margin), the ascending one shadow once it
    exceeds the grazing angle (51 deg, minus the margin)."""
    z, t = plane(slope_deg)
    sim = simulate(z, t, CRS, np.empty((0, 2)), SimulationParams(**QUIET))
    got = {tr.spec.name: len(tr.points) for tr in sim.tracks}
    counts = {tr.spec.name: tr.counts for tr in sim.tracks}
    assert (got["asc_018"] > 0) == asc_visible, counts
    assert (got["dsc_142"] > 0) == dsc_visible, counts
    if not dsc_visible:
        assert counts["dsc_142"]["layover"] > 0
    if not asc_visible:
        assert counts["asc_018"]["shadow"] > 0


def test_demo_points_are_never_in_layover_or_shadow(demo_sim):
    """Re-derive each point's range-plane local incidence from the DEM (Horn kernels via
    scipy, the point's own cell, LOS and incidence) and check the visibility limits."""
    with rasterio.open(DEM) as src:
        z = src.read(1).astype(float)
        transform = src.transform
    h = transform.a
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / (8 * h)
    ky = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]) / (8 * h)
    gx = ndimage.correlate(z, kx, mode="constant", cval=np.nan)
    gy = ndimage.correlate(z, ky, mode="constant", cval=np.nan)
    margin = demo_sim.params.visibility_margin_deg
    for tr in demo_sim.tracks:
        p = tr.points
        rows, cols = rasterio.transform.rowcol(transform, p["x"], p["y"])
        ex, ny_ = gx[rows, cols], gy[rows, cols]
        assert np.isfinite(ex).all() and np.isfinite(ny_).all()
        le, ln = p["los_east"].to_numpy(), p["los_north"].to_numpy()
        facing = -np.degrees(np.arctan((ex * le + ny_ * ln) / np.hypot(le, ln)))
        local = p["incidence_angle"].to_numpy() - facing
        assert local.min() >= margin - 1e-9, tr.spec.name
        assert local.max() <= 90.0 - margin + 1e-9, tr.spec.name
        # and the masks did remove points (the test is not vacuous)
        assert tr.counts["layover"] > 50 and tr.counts["shadow"] > 5


@pytest.mark.skipif(shutil.which("gdaldem") is None, reason="gdaldem (GDAL) not installed")
def test_horn_gradient_matches_gdaldem(tmp_path):
    out = {}
    for what in ("slope", "aspect"):
        subprocess.run(["gdaldem", what, "-q", str(DEM), str(tmp_path / f"{what}.tif")], check=True)
        with rasterio.open(tmp_path / f"{what}.tif") as src:
            out[what] = src.read(1, masked=True).astype(float).filled(np.nan)
    with rasterio.open(DEM) as src:
        z = src.read(1).astype(float)
    slope, aspect = slope_aspect_deg(*horn_gradient(z, 10.0))
    both = np.isfinite(slope) & np.isfinite(out["slope"])
    assert both.sum() > 0.9 * z.size
    # gdaldem works in float32
    assert_allclose(slope[both], out["slope"][both], atol=5e-3)
    steep = both & (slope > 1.0)
    diff = (aspect[steep] - out["aspect"][steep] + 180.0) % 360.0 - 180.0
    assert np.abs(diff).max() < 0.05


# ---------------------------------------------------------------------------------------
# Motion and noise models


def test_step_and_acceleration_keep_the_least_squares_rate():
    """The step size and the acceleration are chosen so that the least-squares rate over
    the period equals the slide's rate (checked against numpy's polyfit on a fine grid)."""
    span = 2.0
    slides = pd.DataFrame(
        {
            "v_down_mm_yr": [30.0, 30.0, 30.0, 30.0],
            "accel_share": [0.0, 0.8, 0.0, 0.0],
            "step_year": [np.nan, np.nan, 0.6, 1.4],
            "behaviour": ["linear", "accelerating", "step", "step"],
            "seasonal_mm": [0.0] * 4,
        }
    )
    t_s = slides["step_year"].to_numpy()
    slides["step_mm"] = np.where(
        np.isfinite(t_s), 0.8 * 30.0 * span**3 / (6 * t_s * (span - t_s)), 0.0
    )
    t = np.linspace(0.0, span, 200001)
    d = slide_displacement_mm(slides, t, span, np.zeros_like(t), 0.2)
    rates = np.polyfit(t, d.T, 1)[0]
    assert_allclose(rates, 30.0, rtol=1e-4)
    assert d[2, -1] > d[0, -1] * 0.2 + 10  # the step is there


def test_mogi_subsidence_closed_form():
    src = pd.DataFrame({"cx": [0.0], "cy": [0.0], "depth_m": [100.0], "v_up_max_mm_yr": [-20.0]})
    r = np.array([0.0, 50.0, 100.0, 300.0])
    ve, vn, vu = subsidence_velocity_mm_yr(src, r, np.zeros_like(r))
    f = (1 + (r / 100.0) ** 2) ** -1.5
    assert_allclose(vu, -20.0 * f)
    assert_allclose(ve, -20.0 * (r / 100.0) * f)  # inward (toward the bowl centre)
    assert_allclose(vn, 0.0, atol=1e-12)


def test_fit_series_against_numpy_and_scipy():
    rng = np.random.default_rng(0)
    t = np.arange(61) * 12 / 365.25
    d = (
        rng.normal(0, 2, (50, 1)) * t
        + rng.normal(0, 3, (50, 1)) * t**2
        + 2.5 * np.cos(2 * np.pi * t - 0.7)
        + rng.normal(0, 1.5, (50, 61))
    )
    fit = fit_series(t, d)
    lin = np.polyfit(t, d.T, 1)
    quad = np.polyfit(t, d.T, 2)
    assert_allclose(fit["mean_velocity"], lin[0], atol=1e-10)
    assert_allclose(fit["acceleration"], 2 * quad[0], atol=1e-9)
    stderr = [stats.linregress(t, row).stderr for row in d]
    assert_allclose(fit["mean_velocity_std"], stderr, rtol=1e-9)
    design = np.column_stack([np.ones_like(t), t, np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)])
    coef = np.linalg.lstsq(design, d.T, rcond=None)[0]
    assert_allclose(fit["seasonality"], np.hypot(coef[2], coef[3]), atol=1e-10)
    assert np.abs(fit["seasonality"] - 2.5).mean() < 0.5


def test_point_density_is_about_250_per_km2_on_good_ground(demo_sim):
    scene = demo_sim.scene
    rr, cc = np.mgrid[0 : scene.dem.shape[0], 0 : scene.dem.shape[1]]
    xc = scene.transform.c + (cc + 0.5) * scene.cell_m
    yc = scene.transform.f - (rr + 0.5) * scene.cell_m
    from slidemap.simulate.terrain import visibility

    for tr in demo_sim.tracks:
        inc, los = track_los(tr.spec, scene, xc, yc)
        layover, shadow = visibility(
            scene.gx, scene.gy, los, inc, demo_sim.params.visibility_margin_deg
        )
        ok = np.isfinite(scene.gx) & ~layover & ~shadow
        good = ok & (scene.coherence >= 0.85)
        bad = ok & (scene.coherence <= 0.6)
        p = tr.points
        rows, cols = p["row"].to_numpy(), p["col"].to_numpy()
        km2 = scene.cell_m**2 / 1e6
        density_good = good[rows, cols].sum() / (good.sum() * km2)
        density_bad = bad[rows, cols].sum() / (bad.sum() * km2)
        assert density_good == pytest.approx(250.0, rel=0.07), tr.spec.name
        assert density_bad < 0.5 * density_good  # patchy loss of coherence
        assert p["temporal_coherence"].min() >= demo_sim.params.coherence_min


def test_background_is_stable_and_slides_move(demo_sim):
    """Points off every source scatter well inside the +-10 mm/yr stability threshold;
    detectable slides carry moving points."""
    for tr in demo_sim.tracks:
        p = tr.points
        off = (p["slide_id"] == 0) & (p["source_id"] == 0)
        assert p.loc[off, "mean_velocity"].abs().max() < DETECT_THRESHOLD_MM_YR
        assert 0.3 < p.loc[off, "mean_velocity"].std() < 2.0
        on = p["slide_id"] > 0
        err = p.loc[on, "mean_velocity"] - p.loc[on, "v_true_mm_yr"]
        assert abs(err.mean()) < 0.5 and err.std() < 2.0


# ---------------------------------------------------------------------------------------
# Files


def _crop_inputs(tmp_path: Path) -> tuple[Path, Path]:
    col0, row0, n = 120, 140, 140
    with rasterio.open(DEM) as src:
        z = src.read(1, window=rasterio.windows.Window(col0, row0, n, n))
        t = src.transform
        crop_t = Affine(t.a, 0.0, t.c + col0 * t.a, 0.0, t.e, t.f + row0 * t.e)
        profile = src.profile | {"width": n, "height": n, "transform": crop_t}
    dem = tmp_path / "crop.tif"
    with rasterio.open(dem, "w", **profile) as dst:
        dst.write(z, 1)
    pts = pd.read_csv(POINTS)
    west, north = crop_t.c, crop_t.f
    inside = pts["x"].between(west, west + n * t.a) & pts["y"].between(north - n * t.a, north)
    path = tmp_path / "points.csv"
    pts[inside].to_csv(path, index=False)
    return dem, path


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_files(tmp_path):
    dem, pts = _crop_inputs(tmp_path)
    params = SimulationParams(tracks=demo_tracks(n_dates=13))
    make_demo(dem, pts, tmp_path / "a", params)
    make_demo(dem, pts, tmp_path / "b", params)
    make_demo(dem, pts, tmp_path / "c", params.replace(seed=params.seed + 1))
    a, b, c = (_digest(tmp_path / k) for k in "abc")
    assert len(a) == 12
    assert a == b
    changed = {k for k in a if a[k] != c[k]}
    assert any(k.startswith("tracks/") for k in changed)


def _read_track(path: Path) -> tuple[pd.DataFrame, list[str], str]:
    sep = ";" if "dsc" in path.parent.name else ","
    df = pd.read_csv(path, sep=sep)
    dates = [c for c in df.columns if re.fullmatch(r"(D_)?\d{8}", c)]
    return df, dates, sep


def _committed_tracks() -> list[Path]:
    files = sorted((DEMO / "tracks").rglob("*.csv"))
    assert files, "run python scripts/make_demo.py"
    return files


def test_mean_velocity_is_the_least_squares_rate_of_the_written_series():
    for path in _committed_tracks():
        df, dates, _ = _read_track(path)
        days = [date(int(c[-8:-4]), int(c[-4:-2]), int(c[-2:])) for c in dates]
        t = np.array([(d - days[0]).days for d in days]) / 365.25
        rate = np.polyfit(t, df[dates].to_numpy(float).T, 1)[0]
        vel = df["mean_velocity" if "mean_velocity" in df else "VEL"].to_numpy(float)
        assert np.abs(rate - vel).max() <= 0.005 + 1e-9, path.name
        assert (df[dates[0]] == 0).all()


def test_tracks_follow_the_12_day_cadence_and_the_layouts():
    expected_first = {"asc_018": date(2022, 1, 9), "dsc_142": date(2022, 1, 6)}
    for path in _committed_tracks():
        df, dates, sep = _read_track(path)
        days = [date(int(c[-8:-4]), int(c[-4:-2]), int(c[-2:])) for c in dates]
        assert days[0] == expected_first[path.parent.name]
        assert len(days) == 61
        assert (np.diff(np.array(days, dtype="datetime64[D]")) == np.timedelta64(12, "D")).all()
        if sep == ",":
            assert list(df.columns[:24]) == [
                "pid",
                "mp_type",
                "latitude",
                "longitude",
                "easting",
                "northing",
                "height",
                "height_wgs84",
                "line",
                "pixel",
                "rmse",
                "temporal_coherence",
                "amplitude_dispersion",
                "incidence_angle",
                "track_angle",
                "los_east",
                "los_north",
                "los_up",
                "mean_velocity",
                "mean_velocity_std",
                "acceleration",
                "acceleration_std",
                "seasonality",
                "seasonality_std",
            ]
            assert all(re.fullmatch(r"\d{8}", c) for c in dates)
        else:
            assert list(df.columns[:7]) == [
                "CODE",
                "LON",
                "LAT",
                "VEL",
                "V_STDEV",
                "COHER",
                "HEIGHT",
            ]
            assert all(c.startswith("D_") for c in dates)
            assert not any(c.startswith("los_") for c in df.columns)


def test_egms_batches_overlap_with_identical_rows():
    files = sorted((DEMO / "tracks" / "asc_018").glob("*.csv"))
    assert len(files) == 2
    lines = [p.read_text(encoding="utf-8").splitlines() for p in files]
    assert lines[0][0] == lines[1][0]
    rows = [{ln.split(",", 1)[0]: ln for ln in f[1:]} for f in lines]
    shared = rows[0].keys() & rows[1].keys()
    assert len(shared) > 50
    assert all(rows[0][k] == rows[1][k] for k in shared)
    assert len(rows[0].keys() - shared) > 500 and len(rows[1].keys() - shared) > 500


def test_coordinates_and_los_columns_are_consistent():
    from slidemap.insar.geometry import los_unit_vector

    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    laea_to_utm = Transformer.from_crs("EPSG:3035", CRS, always_xy=True)
    with rasterio.open(DEM) as src:
        b = src.bounds
    for path in _committed_tracks():
        df, _, sep = _read_track(path)
        lon, lat = (df["longitude"], df["latitude"]) if sep == "," else (df["LON"], df["LAT"])
        x, y = to_utm.transform(lon.to_numpy(), lat.to_numpy())
        assert (x > b.left).all() and (x < b.right).all()
        assert (y > b.bottom).all() and (y < b.top).all()
        if sep == ",":
            x2, y2 = laea_to_utm.transform(df["easting"].to_numpy(), df["northing"].to_numpy())
            assert np.hypot(x2 - x, y2 - y).max() < 0.05
            e, n, u = los_unit_vector(df["track_angle"], df["incidence_angle"])
            assert_allclose(
                df[["los_east", "los_north", "los_up"]].to_numpy(),
                np.column_stack([e, n, u]),
                atol=2e-4,
            )
            assert_allclose(
                df[["los_east", "los_north", "los_up"]].mean(), EGMS_LOS["asc_018"], atol=2e-3
            )
            assert df["pid"].is_unique


def test_truth_layers(demo_sim):
    slides = gpd.read_file(DEMO / "truth" / "moving_slopes.gpkg", layer="moving_slopes")
    other = gpd.read_file(DEMO / "truth" / "other_sources.gpkg", layer="other_sources")
    assert slides.crs.to_epsg() == 32717 and other.crs.to_epsg() == 32717
    assert set(slides["behaviour"]) == {"linear", "accelerating", "step"}
    # footprints never overlap; about half of the landslide points lie on them
    geoms = slides.geometry.to_numpy()
    assert shapely.union_all(geoms).area == pytest.approx(sum(g.area for g in geoms))
    pts = pd.read_csv(POINTS).query("lslpts == 1")
    inside = shapely.contains_xy(shapely.union_all(geoms), pts["x"], pts["y"])
    assert 0.45 <= inside.mean() <= 0.55
    # motion vector: unit direction times the rate, downward
    v = np.sqrt(
        slides["v_east_mm_yr"] ** 2 + slides["v_north_mm_yr"] ** 2 + slides["v_up_mm_yr"] ** 2
    )
    assert_allclose(v, slides["v_down_mm_yr"], atol=0.02)
    assert (slides["v_up_mm_yr"] < 0).all()
    assert slides["detectable"].mean() >= 0.8
    for name, los in EGMS_LOS.items():
        v_los = slides[["v_east_mm_yr", "v_north_mm_yr", "v_up_mm_yr"]].to_numpy() @ np.array(los)
        assert_allclose(slides[f"v_los_{name}_mm_yr"], v_los, atol=0.02 * 150)
    # subsidence: away from the slides, on gentle ground
    assert len(other) >= 2 and (other["kind"] == "subsidence").all()
    assert not shapely.intersects(
        shapely.union_all(geoms), shapely.points(other["cx"], other["cy"])
    ).any()
    assert (other["v_up_max_mm_yr"] < 0).all()
    assert (other["n_points_asc_018"] > 5).all() and (other["n_points_dsc_142"] > 5).all()
    assert len(slides) == len(demo_sim.slides)


def test_demo_layers_are_valid_and_illustrative():
    codes = pd.read_csv(DEMO / "layers" / "lithology_codes.csv")
    assert list(codes.columns) == ["code", "name", "hardness"]
    assert set(codes["hardness"]) <= {"hard", "sub-hard", "sub-soft", "soft"}
    land = pd.read_csv(DEMO / "layers" / "landuse_codes.csv")
    assert list(land.columns) == ["code", "name"]
    for tif, table, cell in (("lithology.tif", codes, 30.0), ("landuse.tif", land, 10.0)):
        with rasterio.open(DEMO / "layers" / tif) as src:
            a = src.read(1)
            assert src.crs.to_epsg() == 32717 and src.nodata == 0 and src.res == (cell, cell)
            assert src.dtypes[0] == "uint8"
        assert set(np.unique(a)) - {0} <= set(table["code"])
        assert len(set(np.unique(a)) - {0}) >= 4
    with rasterio.open(DEM) as src:
        z = src.read(1)
        b = src.bounds
        box = shapely.box(b.left, b.bottom, b.right, b.top)
        roads = gpd.read_file(DEMO / "layers" / "roads.gpkg")
        main = roads.geometry.iloc[0]
        xy = shapely.get_coordinates(main.segmentize(10.0))
        rows, cols = rasterio.transform.rowcol(src.transform, xy[:, 0], xy[:, 1])
    # the valley road runs on the lowest fifth of the terrain
    assert np.nanmedian(
        z[np.clip(rows, 0, z.shape[0] - 1), np.clip(cols, 0, z.shape[1] - 1)]
    ) < np.nanpercentile(z, 20)
    faults = gpd.read_file(DEMO / "layers" / "faults.gpkg")
    assert len(faults) == 2 and faults.geometry.within(box.buffer(1.0)).all()
    assert faults["kind"].str.contains("illustrative").all()


def test_committed_demo_equals_regeneration(tmp_path):
    """``python scripts/make_demo.py`` reproduces the committed files: text files byte for
    byte; GeoPackages and GeoTIFFs byte for byte or, under another GDAL version, in content."""
    written = make_demo(DEM, POINTS, tmp_path)
    rel = {p.relative_to(tmp_path) for p in written}
    committed = {
        p.relative_to(DEMO)
        for sub in ("tracks", "truth", "layers")
        for p in (DEMO / sub).rglob("*")
        if p.is_file()
    }
    assert rel == committed, "stale or missing demo files: run python scripts/make_demo.py"
    for r in sorted(rel):
        new, old = (tmp_path / r).read_bytes(), (DEMO / r).read_bytes()
        if new == old:
            continue
        assert r.suffix in (".gpkg", ".tif"), f"{r} differs: run python scripts/make_demo.py"
        if r.suffix == ".gpkg":
            a, b = gpd.read_file(tmp_path / r), gpd.read_file(DEMO / r)
            pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
            assert a.geometry.geom_equals_exact(b.geometry, 0.0).all()
        else:
            with rasterio.open(tmp_path / r) as s1, rasterio.open(DEMO / r) as s2:
                assert (s1.read() == s2.read()).all()
                assert s1.transform == s2.transform and s1.crs == s2.crs
