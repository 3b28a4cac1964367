"""Report assets: hillshade vs gdaldem, map figures and the interactive map."""

from __future__ import annotations

import shutil
import subprocess

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from maps_standins import TRANSFORM
from numpy.testing import assert_array_equal

from slidemap.raster import write_cog
from slidemap.report import hillshade, hillshade_raster, interactive_map, plot_map


def _dem(tmp_path, shape=(90, 70), seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    z = 1500 + 40 * np.sin(xx / 9) + 25 * np.cos(yy / 7) + 2 * xx + rng.normal(0, 1, shape)
    z = z.astype(np.float32)
    z[40:44, 30:33] = np.nan
    path = tmp_path / "dem.tif"
    write_cog(z, path, crs="EPSG:32717", transform=TRANSFORM, nodata=np.nan)
    return z, path


@pytest.mark.skipif(shutil.which("gdaldem") is None, reason="gdaldem not installed")
@pytest.mark.parametrize(("az", "alt", "z"), [(315, 45, 1), (200, 30, 2.5), (90, 60, 1)])
def test_hillshade_equals_gdaldem(tmp_path, az, alt, z):
    dem, path = _dem(tmp_path)
    ref_path = tmp_path / "ref.tif"
    subprocess.run(
        ["gdaldem", "hillshade", str(path), str(ref_path), "-q"]
        + ["-az", str(az), "-alt", str(alt), "-z", str(z)],
        check=True,
    )
    with rasterio.open(ref_path) as src:
        ref = src.read(1).astype(int)
    got = hillshade(dem, 10.0, 10.0, azimuth_deg=az, altitude_deg=alt, z_factor=z).astype(int)
    assert_array_equal(got == 0, ref == 0)  # same nodata (edges and around the hole)
    assert np.abs(got - ref).max() <= 1  # GDAL rounds its float shade; ties may differ
    assert (got != ref).mean() < 1e-3


def test_hillshade_raster_blockwise_equals_whole(tmp_path):
    dem, path = _dem(tmp_path)
    hillshade_raster(path, tmp_path / "hs.tif", block=16)
    with rasterio.open(tmp_path / "hs.tif") as src:
        got = src.read(1)
        assert src.nodata == 0
    want = hillshade(dem, 10.0, 10.0)
    assert_array_equal(got[1:-1, 1:-1], want[1:-1, 1:-1])


def _classes(tmp_path, shape=(90, 70)):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    cls = (1 + (xx + yy) * 5 // (shape[0] + shape[1])).astype(np.uint8)
    cls[:3] = 0
    path = tmp_path / "classes.tif"
    write_cog(cls, path, crs="EPSG:32717", transform=TRANSFORM, nodata=0)
    return cls, path


def _candidates():
    x0, y0 = TRANSFORM.c, TRANSFORM.f
    return gpd.GeoDataFrame(
        {
            "cand_id": ["c1", "c2"],
            "plc_probability": [0.91, 0.2],
            "plc_predicted": [1, 0],
            "susceptibility_mean": [0.7, 0.1],
        },
        geometry=[
            shapely.box(x0 + 100, y0 - 300, x0 + 200, y0 - 200),
            shapely.Point(x0 + 500, y0 - 600).buffer(50),
        ],
        crs="EPSG:32717",
    )


def test_plot_map_writes_png(tmp_path):
    _, dem = _dem(tmp_path)
    _, cls = _classes(tmp_path)
    hillshade_raster(dem, tmp_path / "hs.tif")
    for kind, path in (("classes", cls), ("susceptibility", dem)):
        out = tmp_path / f"{kind}.png"
        plot_map(path, out, kind=kind, hillshade_path=tmp_path / "hs.tif", candidates=_candidates())
        assert out.read_bytes()[:4] == b"\x89PNG"


def _map_page(tmp_path, basemap="OpenStreetMap"):
    """The interactive map of the test classes, hillshade and candidates; (page, classes)."""
    _, dem = _dem(tmp_path)
    _, cls_path = _classes(tmp_path)
    hillshade_raster(dem, tmp_path / "hs.tif")
    out = tmp_path / "map.html"
    interactive_map(
        out,
        classes_path=cls_path,
        hillshade_path=tmp_path / "hs.tif",
        candidates=_candidates(),
        model="rf",
        basemap=basemap,
    )
    return out, cls_path


def test_interactive_map_embeds_classes_hillshade_and_candidates(tmp_path):
    out, cls_path = _map_page(tmp_path, basemap=None)
    text = out.read_text(encoding="utf-8")
    assert text.count("L.imageOverlay(") == 2
    assert "data:image/png;base64" in text
    assert '"cand_id": "c1"' in text and "very high" in text
    assert "Susceptibility classes (rf)" in text
    # the overlay's bounds enclose the raster's footprint in lat/lon
    from pyproj import Transformer

    with rasterio.open(cls_path) as src:
        b = src.bounds
    lon, lat = Transformer.from_crs("EPSG:32717", "EPSG:4326", always_xy=True).transform(
        [b.left, b.right], [b.bottom, b.top]
    )
    import re

    m = re.search(
        r"L\.imageOverlay\(\s*\"data:image/png;base64,[^\"]+\",\s*(\[\[.*?\]\])", text, re.S
    )
    bounds = np.array(eval(m.group(1)))  # noqa: S307 - our own generated literal
    assert bounds[0, 0] <= min(lat) + 1e-6 and bounds[1, 0] >= max(lat) - 1e-6
    assert bounds[0, 1] <= min(lon) + 1e-6 and bounds[1, 1] >= max(lon) - 1e-6


def test_interactive_map_is_byte_reproducible(tmp_path):
    _, dem = _dem(tmp_path)
    _, cls_path = _classes(tmp_path)
    hillshade_raster(dem, tmp_path / "hs.tif")
    pages = []
    for name in ("a.html", "b.html"):
        interactive_map(
            tmp_path / name,
            classes_path=cls_path,
            hillshade_path=tmp_path / "hs.tif",
            candidates=_candidates(),
            model="rf",
            basemap="OpenStreetMap",
        )
        pages.append((tmp_path / name).read_bytes())
    assert pages[0] == pages[1]
    # folium's own random ids are back in place for other users of folium
    import folium

    assert folium.Map()._id != folium.Map()._id


def test_interactive_map_loads_no_script_or_style_from_the_network(tmp_path):
    import re

    text = _map_page(tmp_path)[0].read_text(encoding="utf-8")
    # Leaflet is embedded (no CDN): no <script src> / <link href> at all
    assert re.findall(r"<script[^>]*\bsrc=", text) == []
    assert re.findall(r"<link[^>]*\bhref=", text) == []
    assert "window.L=" in text and ".leaflet-container" in text
    # only the optional basemap's tiles come from the internet
    assert "tile.openstreetmap.org" in text


CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)


@pytest.mark.skipif(CHROMIUM is None, reason="no headless chromium (apt-get install chromium)")
def test_interactive_map_renders_offline_in_headless_chromium(tmp_path):
    out, _ = _map_page(tmp_path)
    # every network request goes to a dead proxy: only what the file holds can render
    proc = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu"]
        + ["--proxy-server=http://127.0.0.1:9", "--virtual-time-budget=10000"]
        + ["--user-data-dir=" + str(tmp_path / "profile"), "--dump-dom", out.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = proc.stdout
    assert "leaflet-container" in dom, proc.stderr[-2000:]
    assert dom.count('class="leaflet-image-layer') == 2  # classes and hillshade
    assert dom.count("leaflet-interactive") >= len(_candidates())  # the candidate polygons
    assert "leaflet-control-layers" in dom and "very high" in dom  # layer control, legend
