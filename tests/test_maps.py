"""Map prediction over tiles, classes, frequency ratio, rate curves, uncertainty, zonal stats."""

from __future__ import annotations

import mapclassify
import numpy as np
import pandas as pd
import pytest
import rasterio
from maps_standins import (
    FACTORS,
    TRANSFORM,
    LogisticBundle,
    PatchMeanBundle,
    factor_stack,
    make_factors,
    make_samples,
    patches_at,
)
from numpy.testing import assert_allclose, assert_array_equal
from rasterio.windows import Window

from slidemap.errors import InputDataError
from slidemap.maps.classes import (
    CLASS_COLORS,
    classify,
    classify_raster,
    compute_breaks,
    natural_breaks,
    qml_style,
    raster_breaks,
    sample_raster,
)
from slidemap.maps.frequency_ratio import (
    curve_auc,
    frequency_ratio_table,
    raster_histogram,
    rate_curve,
    rate_curves_table,
    susceptibility_bins,
)
from slidemap.maps.potential import zonal_stats
from slidemap.maps.predict import (
    TileLayout,
    estimate_grid_shape,
    mosaic_tiles,
    predict_tile,
    tile_counts,
)
from slidemap.maps.uncertainty import uncertainty_raster
from slidemap.raster import Grid, read_stack, values_at, write_cog


@pytest.fixture(scope="module")
def factors(tmp_path_factory):
    folder = tmp_path_factory.mktemp("factors")
    arrays = make_factors(folder)
    return folder, arrays


def predict_map(bundle, folder, out, tile_size=16):
    """Run the tile jobs and the mosaic as the workflow does; return the tile layout."""
    h, w = estimate_grid_shape(folder / "dem.tif")
    n_rows, n_cols = tile_counts(h, w, tile_size)
    layout = TileLayout(h, w, n_rows, n_cols)
    tiles = []
    for tid in layout.tile_ids:
        path = out / "tiles" / f"{tid}.tif"
        predict_tile(bundle, folder, folder / "dem.tif", n_rows, n_cols, tid, path)
        tiles.append(path)
    mosaic_tiles(tiles, folder / "dem.tif", n_rows, n_cols, out / "susceptibility.tif")
    return layout


# --- tiling -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(37, 53), (1, 1), (256, 256), (1000, 7)])
@pytest.mark.parametrize("tile_size", [1, 16, 256, 5000])
def test_tiles_partition_the_grid(shape, tile_size):
    h, w = shape
    if h * w > 20000 and tile_size == 1:
        pytest.skip("too many tiles")
    n_rows, n_cols = tile_counts(h, w, tile_size)
    layout = TileLayout(h, w, n_rows, n_cols)
    cover = np.zeros((h, w), dtype=int)
    for tid in layout.tile_ids:
        win = layout.window(tid)
        assert win.height <= tile_size and win.width <= tile_size
        cover[win.row_off : win.row_off + win.height, win.col_off : win.col_off + win.width] += 1
    assert (cover == 1).all()


def test_layout_from_estimate_still_partitions_a_different_real_grid():
    layout = TileLayout(101, 97, *tile_counts(90, 90, 30))  # estimate 90x90, real 101x97
    cover = np.zeros((101, 97), dtype=int)
    for tid in layout.tile_ids:
        win = layout.window(tid)
        cover[win.row_off : win.row_off + win.height, win.col_off : win.col_off + win.width] += 1
    assert (cover == 1).all()


def test_read_stack_halo_matches_padded_array(factors):
    folder, arrays = factors
    ref = factor_stack(arrays)
    padded = np.pad(ref, ((0, 0), (4, 4), (4, 4)), constant_values=np.nan)
    paths = [folder / f"{n}.tif" for n in FACTORS]
    for win in (Window(0, 0, 10, 7), Window(45, 30, 8, 7), Window(20, 10, 5, 5)):
        got = read_stack(paths, win, halo=4)
        r, c = win.row_off, win.col_off
        want = padded[:, r : r + win.height + 8, c : c + win.width + 8]
        assert_array_equal(got, want)


def test_read_stack_in_threads_equals_serial(factors):
    folder, _ = factors
    paths = [folder / f"{n}.tif" for n in FACTORS]
    for win in (Window(0, 0, 10, 7), Window(45, 30, 8, 7)):
        assert_array_equal(read_stack(paths, win, 2, threads=3), read_stack(paths, win, 2))


@pytest.mark.parametrize("shape", [(300, 520), (7, 5)])  # tiled (256-cell blocks) and strip
def test_write_tiff_round_trips_values_grid_and_tags(tmp_path, shape):
    from affine import Affine

    rng = np.random.default_rng(4)
    data = rng.random(shape).astype(np.float32)
    data[0, :3] = np.nan
    transform = Affine(12.5, 0.0, 700_000.0, 0.0, -12.5, 9_600_000.0)
    path = tmp_path / "t.tif"
    write_cog(data, path, crs="EPSG:32717", transform=transform, nodata=np.nan,
              tags={"tile": "r000c001"}, layout="tiff")  # fmt: skip
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32717
        assert src.transform == transform
        assert np.isnan(src.nodata)
        assert src.tags()["tile"] == "r000c001"
        assert src.overviews(1) == []
        assert_array_equal(src.read(1), data)
    assert [p.name for p in tmp_path.iterdir()] == ["t.tif"]  # no temporary left


def test_passthrough_preprocessing_returns_valid_rows_unchanged():
    from slidemap.models.base import FactorPreprocessor

    rng = np.random.default_rng(5)
    X = rng.normal(0, 50, (400, 3)).astype(np.float32)
    X[:, 1] = rng.integers(1, 5, 400)  # categorical codes
    names, cat = ["a", "lith", "c"], ["lith"]
    pre = FactorPreprocessor(names, cat, standardize=False, onehot=False).fit(X)
    assert pre.passthrough  # the tree models' preprocessing
    assert_array_equal(pre.transform(X), X)
    assert not FactorPreprocessor(names, cat, standardize=True, onehot=False).passthrough
    assert not FactorPreprocessor(names, cat, standardize=False, onehot=True).passthrough
    bins = {"a": [0.0], "c": [0.0]}
    binned = FactorPreprocessor(names, cat, bins=bins, standardize=False, onehot=False)
    assert not binned.passthrough


# --- prediction equals predict_proba at the samples ---------------------------------------


@pytest.mark.parametrize("bundle_cls", [LogisticBundle, PatchMeanBundle])
@pytest.mark.parametrize("tile_size", [16, 1000])
def test_map_at_samples_equals_predict_proba(factors, tmp_path, bundle_cls, tile_size):
    folder, arrays = factors
    bundle = bundle_cls()
    predict_map(bundle, folder, tmp_path, tile_size)
    samples = make_samples(arrays)
    stack = factor_stack(arrays)
    k = getattr(bundle, "patch_size", None)
    if k:
        X = patches_at(stack, samples["row"], samples["col"], k)
    else:
        X = stack[:, samples["row"], samples["col"]].T
    want = bundle.predict_proba(X)
    with rasterio.open(tmp_path / "susceptibility.tif") as src:
        got = np.array([v[0] for v in src.sample(zip(samples["x_m"], samples["y_m"], strict=True))])
        assert src.dtypes[0] == "float32" and np.isnan(src.nodata)
        assert src.transform == TRANSFORM and (src.height, src.width) == (37, 53)
        full = src.read(1)
    assert np.isfinite(want).all()
    assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    # nodata cells of any factor are NaN in the map, every other cell is a probability
    nodata = np.isnan(stack).any(axis=0)
    assert np.isnan(full[nodata]).all()
    assert ((full[~nodata] >= 0) & (full[~nodata] <= 1)).all()


def test_tiled_patch_map_equals_untiled(factors, tmp_path):
    folder, _ = factors
    predict_map(PatchMeanBundle(), folder, tmp_path / "a", tile_size=7)
    predict_map(PatchMeanBundle(), folder, tmp_path / "b", tile_size=4096)
    with (
        rasterio.open(tmp_path / "a" / "susceptibility.tif") as a,
        rasterio.open(tmp_path / "b" / "susceptibility.tif") as b,
    ):
        assert_array_equal(a.read(1), b.read(1))


def test_mosaic_rejects_missing_tile(factors, tmp_path):
    folder, _ = factors
    layout = predict_map(LogisticBundle(), folder, tmp_path, 16)
    tiles = [tmp_path / "tiles" / f"{t}.tif" for t in layout.tile_ids[:-1]]
    with pytest.raises(InputDataError, match="missing"):
        mosaic_tiles(tiles, folder / "dem.tif", layout.n_rows, layout.n_cols, tmp_path / "x.tif")


def test_predict_tile_rejects_factor_off_grid(factors, tmp_path):
    folder, arrays = factors
    bad = tmp_path / "f"
    bad.mkdir()
    for n in FACTORS:
        (bad / f"{n}.tif").write_bytes((folder / f"{n}.tif").read_bytes())
    write_cog(
        arrays["slope"][:-1],
        bad / "slope.tif",
        crs="EPSG:32717",
        transform=TRANSFORM,
        nodata=np.nan,
    )
    with pytest.raises(InputDataError, match="not on the study grid"):
        predict_tile(
            LogisticBundle(), bad, folder / "dem.tif", 1, 1, "r000c000", tmp_path / "t.tif"
        )


def test_values_at_matches_full_read(factors):
    folder, arrays = factors
    rng = np.random.default_rng(3)
    rows = rng.integers(-2, 40, 500)
    cols = rng.integers(-2, 56, 500)
    got = values_at(folder / "slope.tif", rows, cols, block=8)
    inside = (rows >= 0) & (rows < 37) & (cols >= 0) & (cols < 53)
    assert np.isnan(got[~inside]).all()
    assert_array_equal(got[inside], arrays["slope"][rows[inside], cols[inside]])


# --- classes ------------------------------------------------------------------------------


def test_natural_breaks_and_classify_match_mapclassify():
    rng = np.random.default_rng(5)
    y = rng.beta(2, 5, 3000)
    breaks = natural_breaks(y, 5)
    ref = mapclassify.FisherJenks(y, k=5)
    assert_allclose(breaks, ref.bins)
    assert_array_equal(classify(y, breaks), ref.yb + 1)
    for method, cls in (
        ("equal_interval", mapclassify.EqualInterval),
        ("quantile", mapclassify.Quantiles),
    ):
        b = compute_breaks(y, method, 5)
        r = cls(y, k=5)
        assert_allclose(b, r.bins)
        assert_array_equal(classify(y, b), r.yb + 1)


def test_classify_nan_and_out_of_range():
    cls = classify(np.array([np.nan, -1.0, 0.2, 0.2000001, 0.9, 5.0]), [0.2, 0.4, 0.6, 0.8, 1.0])
    assert_array_equal(cls, [0, 1, 1, 2, 5, 5])


def _susceptibility(tmp_path, seed=0, shape=(120, 90), nan_frac=0.1):
    rng = np.random.default_rng(seed)
    a = rng.beta(1.5, 4, shape).astype(np.float32)
    a[rng.random(shape) < nan_frac] = np.nan
    path = tmp_path / "s.tif"
    write_cog(a, path, crs="EPSG:32717", transform=TRANSFORM, nodata=np.nan)
    return a, path


def test_sample_raster_is_uniform_seeded_and_exact_when_small(tmp_path):
    a, path = _susceptibility(tmp_path)
    valid = a[np.isfinite(a)].astype(np.float64)
    full, stats = sample_raster(path, 10**9, seed=1, block=32)
    assert_array_equal(np.sort(full), np.sort(valid))
    assert stats["n_valid"] == valid.size
    assert stats["min"] == valid.min() and stats["max"] == valid.max()
    s1, _ = sample_raster(path, 2000, seed=7, block=32)
    s2, _ = sample_raster(path, 2000, seed=7, block=32)
    assert_array_equal(s1, s2)
    assert s1.size == 2000 and np.isin(s1, valid).all()
    assert len(np.unique(s1)) == len(s1)  # without replacement (values are distinct here)
    # a uniform sample: its mean is within 4 standard errors of the population mean
    assert abs(s1.mean() - valid.mean()) < 4 * valid.std() / np.sqrt(2000)


def test_classify_raster_counts_colours_and_qml(tmp_path):
    a, path = _susceptibility(tmp_path)
    info = raster_breaks(path, "natural_breaks", sample_size=10**9)
    breaks = info["breaks"]
    assert_allclose(breaks, mapclassify.FisherJenks(a[np.isfinite(a)].astype(float), 5).bins)
    counts = classify_raster(path, tmp_path / "c.tif", breaks, block=32)
    with rasterio.open(tmp_path / "c.tif") as src:
        cls = src.read(1)
        assert src.nodata == 0 and src.dtypes[0] == "uint8"
        assert src.colorinterp[0] == rasterio.enums.ColorInterp.palette
        cmap = src.colormap(1)
    assert_array_equal(cls, classify(a, breaks))
    assert_array_equal(counts, np.bincount(cls.ravel(), minlength=6)[1:])
    assert [cmap[i] for i in range(1, 6)] == list(CLASS_COLORS)
    qml = qml_style(breaks, info["min"])
    assert qml.count("<paletteEntry") == 5 and "#1a9641" in qml and "#d7191c" in qml


def test_constant_map_cannot_be_classified(tmp_path):
    path = tmp_path / "c.tif"
    write_cog(
        np.full((10, 10), 0.3, np.float32),
        path,
        crs="EPSG:32717",
        transform=TRANSFORM,
        nodata=np.nan,
    )
    with pytest.raises(InputDataError, match="distinct"):
        raster_breaks(path, "natural_breaks")


# --- frequency ratio and rate curves -------------------------------------------------------


def brute_rate_curve(cells, landslides):
    """Reference: cells sorted descending, ties grouped; cumulative area and landslide shares."""
    thresholds = np.unique(np.r_[cells, landslides])[::-1]
    x = [0.0] + [np.mean(cells >= t) for t in thresholds]
    y = [0.0] + [np.mean(landslides >= t) for t in thresholds]
    return np.array(x), np.array(y)


def mann_whitney_auc(cells, landslides):
    """P(s_landslide > s_cell) + P(tie)/2 over all (landslide, cell) pairs."""
    gt = (landslides[:, None] > cells[None, :]).mean()
    eq = (landslides[:, None] == cells[None, :]).mean()
    return gt + 0.5 * eq


def test_rate_curve_matches_brute_force_on_the_bin_grid():
    rng = np.random.default_rng(11)
    n_bins = 200
    cells = (rng.integers(0, n_bins, 4000) + 0.5) / n_bins  # on bin centres: binning is exact
    ls = (np.clip(rng.normal(140, 30, 150).astype(int), 0, n_bins - 1) + 0.5) / n_bins
    x, y = rate_curve(
        np.bincount(susceptibility_bins(cells, n_bins), minlength=n_bins),
        np.bincount(susceptibility_bins(ls, n_bins), minlength=n_bins),
    )
    bx, by = brute_rate_curve(cells, ls)
    keep = np.r_[True, np.diff(bx) > 0] | np.r_[True, np.diff(by) > 0]
    assert_allclose(np.interp(bx[keep], x, y), by[keep], atol=1e-12)
    assert_allclose(curve_auc(x, y), curve_auc(bx, by), atol=1e-12)
    assert_allclose(curve_auc(x, y), mann_whitney_auc(cells, ls), atol=1e-12)


def test_rate_auc_of_continuous_values_within_bin_resolution():
    rng = np.random.default_rng(12)
    cells = rng.random(5000)
    ls = rng.beta(4, 2, 300)
    hist = np.bincount(susceptibility_bins(cells), minlength=65536)
    lh = np.bincount(susceptibility_bins(ls), minlength=65536)
    table, auc = rate_curves_table(hist, lh, lh)
    assert abs(auc["success_auc"] - mann_whitney_auc(cells, ls)) < 1e-3
    assert table["area_fraction"].iloc[0] == 0 and table["success_rate"].iloc[-1] == 1
    # the threshold at area fraction a leaves about a of the cells above it
    for a, t in zip(table["area_fraction"], table["susceptibility_threshold"], strict=True):
        assert abs(np.mean(cells >= t) - a) < 2e-3


def test_raster_histogram_counts_valid_cells(tmp_path):
    a, path = _susceptibility(tmp_path)
    hist = raster_histogram(path, n_bins=100, block=16)
    v = a[np.isfinite(a)]
    assert_array_equal(hist, np.histogram(np.minimum(v, 0.999999), bins=100, range=(0, 1))[0])


def test_frequency_ratio_table_matches_hand_computation():
    counts = [500, 300, 100, 60, 40]  # 1000 cells
    ls_all = np.array([1] * 2 + [2] * 3 + [3] * 5 + [4] * 10 + [5] * 20 + [0] * 4)  # 40 on map
    ls_test = np.array([3, 4, 5, 5])
    fr = frequency_ratio_table(counts, ls_all, ls_test)
    assert_allclose(fr["area_share"], [0.5, 0.3, 0.1, 0.06, 0.04])
    assert_array_equal(fr["landslide_cells"], [2, 3, 5, 10, 20])
    assert_allclose(fr["fr"], np.array([2, 3, 5, 10, 20]) / 40 / fr["area_share"])
    assert_allclose(fr["fr_test"], np.array([0, 0, 0.25, 0.25, 0.5]) / fr["area_share"])
    assert (np.diff(fr["fr"]) > 0).all()


# --- uncertainty --------------------------------------------------------------------------


def test_uncertainty_std_and_range(tmp_path):
    rng = np.random.default_rng(2)
    maps = []
    for i in range(3):
        a = rng.random((40, 30)).astype(np.float32)
        a[i, :] = np.nan
        p = tmp_path / f"m{i}.tif"
        write_cog(a, p, crs="EPSG:32717", transform=TRANSFORM, nodata=np.nan)
        maps.append((p, a))
    stats = uncertainty_raster(
        [p for p, _ in maps], tmp_path / "u.tif", names=["a", "b", "c"], block=16
    )
    stack = np.stack([a for _, a in maps]).astype(np.float64)
    with rasterio.open(tmp_path / "u.tif") as src:
        std, rng_, mean = src.read()
        assert src.descriptions == ("std", "range", "mean")
    assert_allclose(std, np.std(stack, axis=0), rtol=1e-6)  # NaN where any map is NaN
    assert_allclose(rng_, np.ptp(stack, axis=0), rtol=1e-6)
    assert_allclose(mean, np.mean(stack, axis=0), rtol=1e-6)
    assert np.isnan(std[:3]).all() and stats["valid_cells"] == 37 * 30


# --- zonal statistics ---------------------------------------------------------------------


def test_zonal_stats_match_cell_centre_brute_force(tmp_path):
    import shapely

    a, path = _susceptibility(tmp_path, shape=(60, 50))
    x0, y0 = TRANSFORM.c, TRANSFORM.f
    polys = [
        shapely.Polygon(
            [(x0 + 33.3, y0 - 41.7), (x0 + 260.2, y0 - 80.9), (x0 + 150.6, y0 - 330.1)]
        ),
        shapely.box(x0 + 300, y0 - 400, x0 + 471, y0 - 222).buffer(30),
        shapely.box(x0 + 101, y0 - 109, x0 + 104, y0 - 106),  # smaller than a cell
        shapely.box(x0 - 1000, y0 + 500, x0 - 900, y0 + 600),  # off the grid
    ]
    got = zonal_stats(path, polys)
    rows, cols = np.mgrid[0:60, 0:50]
    cx, cy = TRANSFORM * (cols + 0.5, rows + 0.5)
    for i, poly in enumerate(polys[:2]):
        inside = shapely.contains_xy(poly, cx, cy) & np.isfinite(a)
        assert got.loc[i, "n_cells"] == inside.sum()
        assert_allclose(got.loc[i, "mean"], a[inside].mean(), rtol=1e-6)
        assert_allclose(got.loc[i, "max"], a[inside].max(), rtol=1e-6)
    assert got.loc[2, "all_touched"] and got.loc[2, "n_cells"] <= 1
    assert got.loc[3, "n_cells"] == 0 and np.isnan(got.loc[3, "mean"])


def test_write_cog_blocks_fills_unwritten_with_nodata(tmp_path):
    from rasterio.crs import CRS

    grid = Grid(crs=CRS.from_epsg(32717), transform=TRANSFORM, width=280, height=300)
    write_cog(
        [(Window(10, 20, 50, 40), np.ones((40, 50)))],
        tmp_path / "a.tif",
        grid=grid,
        dtype="float32",
        nodata=np.nan,
    )
    with rasterio.open(tmp_path / "a.tif") as src:
        a = src.read(1)
        assert src.profile["tiled"]
    assert np.nansum(a) == 2000 and np.isnan(a).sum() == 300 * 280 - 2000
    assert pd.isna(a[0, 0]) and a[20, 10] == 1


def test_validate_map_matches_brute_force(tmp_path):
    from slidemap.maps.frequency_ratio import landslide_cells, validate_map

    a, path = _susceptibility(tmp_path, seed=4, shape=(80, 60))
    rng = np.random.default_rng(9)
    valid = np.argwhere(np.isfinite(a))
    # landslides prefer susceptible cells; a few fall on nodata cells (off the map)
    w = np.where(np.isfinite(a), a, 0).ravel() ** 2
    flat = rng.choice(a.size, 150, replace=False, p=w / w.sum())
    nanc = np.flatnonzero(np.isnan(a).ravel())[:3]
    flat = np.r_[flat, nanc]
    rows, cols = np.unravel_index(flat, a.shape)
    x, y = TRANSFORM * (cols + 0.5, rows + 0.5)
    samples = pd.DataFrame(
        {
            "unit_id": np.arange(rows.size),
            "row": rows,
            "col": cols,
            "x_m": x,
            "y_m": y,
            "label": 1,
            "split": np.where(rng.random(rows.size) < 0.7, "train", "test"),
            "source": "inventory",
        }
    )
    # a negative and a PLC-derived positive are not inventory landslides
    extra = samples.iloc[:2].copy()
    extra["label"] = [0, 1]
    extra["source"] = ["negative", "plc"]
    cells = landslide_cells(pd.concat([samples, extra]), TRANSFORM)
    assert len(cells) == rows.size
    breaks = compute_breaks(a, "natural_breaks")
    fr, curves, summary, _ = validate_map(path, breaks, cells)
    # brute force on the full arrays
    cls = classify(a, breaks)
    n = np.array([(cls == k).sum() for k in range(1, 6)])
    ls = cls[rows, cols]
    share_ls = np.array([(ls == k).sum() for k in range(1, 6)]) / (ls > 0).sum()
    assert_allclose(fr["fr"], share_ls / (n / n.sum()))
    test = samples["split"].to_numpy() == "test"
    lst = ls[test]
    assert_allclose(
        fr["fr_test"],
        np.array([(lst == k).sum() for k in range(1, 6)]) / (lst > 0).sum() / (n / n.sum()),
    )
    assert summary["landslide_cells_off_map"] == 3
    cells_v = a[np.isfinite(a)]
    s = a[rows, cols]
    train = ~test & np.isfinite(s)
    assert abs(summary["success_auc"] - mann_whitney_auc(cells_v, s[train])) < 1e-3
    assert (
        abs(summary["prediction_auc"] - mann_whitney_auc(cells_v, s[test & np.isfinite(s)])) < 1e-3
    )
    assert summary["fr_increasing"] == bool(np.all(np.diff(fr["fr"]) > 0))
    assert valid.size


def test_landslide_cells_rejects_rows_off_their_coordinates():
    from slidemap.maps.frequency_ratio import landslide_cells

    df = pd.DataFrame(
        {"unit_id": [0], "row": [3], "col": [4], "x_m": [TRANSFORM.c + 45.0],
         "y_m": [TRANSFORM.f - 95.0], "label": [1], "split": ["train"]}
    )  # fmt: skip
    with pytest.raises(InputDataError, match="do not match"):
        landslide_cells(df, TRANSFORM)
