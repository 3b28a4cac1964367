"""Hydrology: analytic flow accumulation (plane, V-valley, cone), pyflwdir on the Ecuador DEM.

Agreement with pyflwdir 0.5.12 on the demo (Ecuador) DEM (383 x 415, 10 m), measured when
these tests were written:

* depression-filled DEM: identical (both Priority-Flood from the edge of the valid cells);
* accumulation computed by pyflwdir from *our* D8 directions: identical, cell for cell;
* flow directions: 61 % identical. pyflwdir drains each cell to the lowest neighbour reached
  by the flood (no distance weighting), slidemap to the steepest descent (drop / distance,
  as ArcGIS), so diagonal and cardinal choices differ on planar slopes;
* stream cells (accumulation >= 1000 cells): 98.5 % of ours lie within one cell of
  pyflwdir's and 98.2 % of pyflwdir's within one cell of ours; at 100 cells 89 % / 92 %;
  the largest accumulation differs by 16 cells (144 903 vs 144 919).
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyflwdir
import pytest
import rasterio
from scipy import ndimage

from slidemap.errors import ConfigError
from slidemap.factors.hydrology import (
    accumulate_mfd,
    route_flow,
    specific_catchment_area,
    stream_segments,
    twi_spi,
    write_hydrology,
)
from slidemap.io import write_cog

L = 10.0
# our direction codes 1..8 (N, NE, E, SE, S, SW, W, NW) -> pyflwdir d8 codes
OURS_TO_PYFLWDIR = np.array([0, 64, 128, 1, 2, 4, 8, 16, 32] + [247] * 247, dtype=np.uint8)
DR = np.array([-1, -1, 0, 1, 1, 1, 0, -1])
DC = np.array([0, 1, 1, 1, 0, -1, -1, -1])


@pytest.fixture(scope="module")
def ecuador(root):
    with rasterio.open(root / "resources" / "demo" / "dem.tif") as src:
        dem, t = src.read(1), src.transform
    return dem, t, route_flow(dem, ewres=t.a, nsres=t.e)


def test_plane_d8_accumulation_is_the_distance_from_the_ridge():
    rows, cols = np.mgrid[0:40, 0:30]
    z = (100 - 0.5 * cols).astype(np.float32)  # falls towards the east
    flow = route_flow(z, ewres=L, nsres=-L)
    np.testing.assert_array_equal(flow.acc_cells, cols + 1.0)
    assert (flow.dirs[:, :-1] == 3).all()  # east


def test_v_valley_d8_accumulation():
    nr, nc, xc = 50, 21, 10
    rows, cols = np.mgrid[0:nr, 0:nc]
    # side slopes 0.3 towards the axis, the axis falls 0.05 to the south
    z = (3.0 * np.abs(cols - xc) + 0.5 * (nr - 1 - rows)).astype(np.float32)
    flow = route_flow(z, ewres=L, nsres=-L)
    np.testing.assert_array_equal(flow.acc_cells[:, xc], (np.arange(nr) + 1.0) * nc)
    side = np.abs(cols - xc)
    off_axis = cols != xc
    np.testing.assert_array_equal(flow.acc_cells[off_axis], xc - side[off_axis] + 1.0)
    assert flow.acc_cells[-1, xc] == nr * nc  # everything leaves through one outlet


def test_mfd_plane_conserves_flow_and_is_exact_away_from_the_edges():
    nr, nc = 40, 15
    rows, cols = np.mgrid[0:nr, 0:nc]
    z = (100 - 0.5 * cols).astype(np.float32)
    flow = route_flow(z, ewres=L, nsres=-L)
    acc = accumulate_mfd(flow, ewres=L, nsres=-L)
    # every cell of column c drains into column c + 1 only
    np.testing.assert_allclose(acc.sum(axis=0), nr * (np.arange(nc) + 1.0))
    interior = np.minimum(rows, nr - 1 - rows) > cols
    np.testing.assert_allclose(acc[interior], (cols + 1.0)[interior], rtol=1e-12)


def test_cone_specific_catchment_area_is_half_the_radius():
    """On a cone, a = (pi r^2) / (2 pi r) = r / 2; MFD approaches it, D8 only on average."""
    n, c = 161, 80
    rows, cols = np.mgrid[0:n, 0:n]
    r = np.hypot(rows - c, cols - c) * L
    z = (1000 - 0.3 * r).astype(np.float32)
    flow = route_flow(z, ewres=L, nsres=-L)
    mfd = specific_catchment_area(accumulate_mfd(flow, ewres=L, nsres=-L), ewres=L, nsres=-L)
    d8 = specific_catchment_area(flow.acc_cells, ewres=L, nsres=-L)
    for radius in (200.0, 400.0, 600.0):
        ring = np.abs(r - radius) <= L / 2
        rel = np.abs(mfd[ring] - r[ring] / 2) / (r[ring] / 2)
        assert np.median(rel) < 0.12
        assert abs(mfd[ring].mean() / (radius / 2) - 1) < 0.12
        assert abs(d8[ring].mean() / (radius / 2) - 1) < 0.15


def test_depressions_are_filled_to_their_spill_point():
    z = np.full((7, 7), 10.0, dtype=np.float32)
    z[1:6, 1:6] = 12.0
    z[2:5, 2:5] = 3.0  # a pit surrounded by a 12 m rim
    z[3, 0] = 2.0  # the lowest edge cell
    z[3, 1] = 11.0  # the rim's lowest point
    flow = route_flow(z, ewres=L, nsres=-L)
    np.testing.assert_array_equal(flow.filled[2:5, 2:5], 11.0)
    assert flow.acc_cells[3, 0] >= 1 + 1 + 9  # the pit drains through the spill point
    assert np.nansum(flow.acc_cells[flow.dirs == 0]) == z.size  # all flow reaches an outlet


def test_filled_dem_equals_pyflwdir(ecuador):
    dem, _, flow = ecuador
    filled, _ = pyflwdir.dem.fill_depressions(dem, nodata=np.nan)
    np.testing.assert_array_equal(flow.filled, filled)
    assert (flow.filled > dem).sum() > 100  # the DEM has depressions


def test_accumulation_equals_pyflwdir_for_the_same_directions(ecuador):
    dem, t, flow = ecuador
    flw = pyflwdir.from_array(OURS_TO_PYFLWDIR[flow.dirs], ftype="d8", transform=t)
    ref = flw.upstream_area(unit="cell").astype(float)
    valid = ~np.isnan(dem)
    np.testing.assert_array_equal(flow.acc_cells[valid], ref[valid])
    assert np.isnan(flow.acc_cells[~valid]).all()


def test_directions_are_the_steepest_descent_brute_force(ecuador):
    dem, t, flow = ecuador
    z = np.pad(flow.filled.astype(np.float64), 1, constant_values=np.nan)
    dist = np.array([L, L * np.sqrt(2)] * 4)
    slopes = np.stack(
        [
            (
                z[1:-1, 1:-1]
                - z[1 + DR[k] : z.shape[0] - 1 + DR[k], 1 + DC[k] : z.shape[1] - 1 + DC[k]]
            )
            / dist[k]
            for k in range(8)
        ]
    )
    slopes = np.where(np.isnan(slopes), -np.inf, slopes)
    best = slopes.max(axis=0)
    has_lower = best > 0
    expected = slopes.argmax(axis=0) + 1  # first maximum in N, NE, E ... order
    np.testing.assert_array_equal(flow.dirs[has_lower], expected[has_lower])
    # the other valid cells (flats, filled pits, outlets) drain to an equal-height neighbour
    flat = ~has_lower & ~np.isnan(dem)
    k = flow.dirs[flat].astype(int) - 1
    rr, cc = np.nonzero(flat)
    inside = k >= 0
    np.testing.assert_array_equal(
        flow.filled[rr[inside] + DR[k[inside]], cc[inside] + DC[k[inside]]],
        flow.filled[rr[inside], cc[inside]],
    )


def test_stream_network_agrees_with_pyflwdir(ecuador):
    dem, t, flow = ecuador
    flw = pyflwdir.from_dem(dem, nodata=np.nan, transform=t)
    ref = flw.upstream_area(unit="cell")
    ours = flow.acc_cells >= 1000
    theirs = ref >= 1000
    assert (ours & ndimage.binary_dilation(theirs)).sum() / ours.sum() > 0.95
    assert (theirs & ndimage.binary_dilation(ours)).sum() / theirs.sum() > 0.95
    assert abs(np.nanmax(flow.acc_cells) - ref.max()) / ref.max() < 0.01


def test_twi_and_spi_formulas_with_floor():
    sca = np.array([10.0, 100.0, 1000.0, np.nan])
    tan_beta = np.array([0.5, 0.0, 1e-5, 0.2])
    twi, spi = twi_spi(sca, tan_beta, 0.001)
    np.testing.assert_allclose(twi[:3], np.log([10 / 0.5, 100 / 0.001, 1000 / 0.001]))
    np.testing.assert_allclose(spi[:3], [5.0, 0.1, 1.0])
    assert np.isnan(twi[3]) and np.isnan(spi[3])


def test_stream_segments_split_at_confluences_with_strahler_order():
    # two valleys joining: a Y draining south
    nr, nc = 41, 41
    rows, cols = np.mgrid[0:nr, 0:nc]
    xa = np.where(rows < 20, np.where(cols < 20, 10 + rows / 2, 30 - rows / 2), 20)
    z = (2.0 * np.abs(cols - xa) + 0.3 * (nr - rows)).astype(np.float32)
    from affine import Affine

    t = Affine(L, 0, 500000, 0, -L, 9000000)
    flow = route_flow(z, ewres=L, nsres=-L)
    streams = stream_segments(flow, 150, transform=t, crs="EPSG:32717")
    assert streams.geometry.geom_type.eq("LineString").all()
    assert set(streams["strahler"]) == {1, 2}
    lower = streams[streams["strahler"] == 2]
    assert len(lower) == 1
    # the order-2 segment ends at the outlet, the largest accumulation
    end = lower.geometry.iloc[0].coords[-1]
    col, row = ~t @ end
    assert flow.acc_cells[int(row), int(col)] == np.nanmax(flow.acc_cells)
    np.testing.assert_allclose(streams["length_m"], streams.geometry.length)


def test_write_hydrology_outputs_and_threshold_error(tmp_path, root):
    with rasterio.open(root / "tests" / "data" / "gdaldem" / "dem_crop.tif") as src:
        dem, t, crs = src.read(1), src.transform, src.crs
    grid_dem = tmp_path / "dem.tif"
    write_cog(dem, grid_dem, crs=crs, transform=t, nodata=np.nan)
    out = {k: tmp_path / f"{k}.tif" for k in ("sca", "twi", "spi")}
    summary = write_hydrology(
        grid_dem,
        sca_path=out["sca"],
        twi_path=out["twi"],
        spi_path=out["spi"],
        streams_path=tmp_path / "streams.gpkg",
        method="mfd",
        stream_threshold_cells=200,
        chunk_size=64,
        threads=2,
    )
    assert summary["streams"] > 0
    streams = gpd.read_file(tmp_path / "streams.gpkg", layer="streams")
    assert streams.crs == crs and len(streams) == summary["streams"]
    with rasterio.open(out["twi"]) as src:
        twi = src.read(1)
        assert src.tags()["kind"] == "continuous" and "MFD" in src.tags()["method"]
    with rasterio.open(out["sca"]) as src:
        sca = src.read(1)
    with rasterio.open(root / "tests" / "data" / "gdaldem" / "slope.tif") as src:
        slope = np.where(src.read(1) == src.nodata, np.nan, src.read(1))
    expected = np.log(sca / np.maximum(np.tan(np.radians(slope)), 0.001))
    np.testing.assert_allclose(twi, expected, rtol=1e-5)
    assert np.isnan(sca).sum() == np.isnan(dem).sum()
    with pytest.raises(ConfigError, match="stream_threshold_cells"):
        write_hydrology(
            grid_dem,
            sca_path=out["sca"],
            twi_path=out["twi"],
            spi_path=out["spi"],
            streams_path=tmp_path / "s2.gpkg",
            stream_threshold_cells=10**9,
        )
    json.dumps(summary)


@pytest.mark.parametrize("threshold", [20, 100, 500])
def test_single_cell_outlet_streams_are_left_out_consistently(ecuador, threshold):
    """At these thresholds the Ecuador DEM has stream heads that are also edge outlets."""
    from affine import Affine

    dem, t, flow = ecuador
    streams = stream_segments(flow, threshold, transform=Affine(*t[:6]), crs="EPSG:32717")
    assert streams.geometry.geom_type.eq("LineString").all()
    assert (streams.geometry.apply(lambda g: len(g.coords)) >= 2).all()
    np.testing.assert_array_equal(streams["segment_id"], np.arange(1, len(streams) + 1))
    # every stream cell except single-cell outlets is a vertex of some segment
    col, row = ~Affine(*t[:6]) @ np.concatenate([np.asarray(g.coords) for g in streams.geometry]).T
    cells = set(zip(np.floor(row).astype(int), np.floor(col).astype(int), strict=True))
    stream_cells = set(zip(*np.nonzero(flow.acc_cells >= threshold), strict=True))
    assert len(stream_cells - cells) <= 5
