"""Atomic writers: a process killed (SIGKILL) while writing a raster leaves no final file, the
next attempt removes what it left, and SIGTERM ends a job through its clean-up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import rasterio

from slidemap.raster import write_cog

WRITER = textwrap.dedent(
    """
    import sys, time
    import dask.array as da
    import numpy as np
    from rasterio.transform import from_origin
    from slidemap.raster import write_cog

    def slow(block):
        time.sleep(0.05)  # a chunk takes a while: the kill lands mid-write
        return block + 1.0

    data = da.zeros((2048, 2048), chunks=(128, 128), dtype="float32").map_blocks(slow)
    write_cog(data, sys.argv[1], crs="EPSG:32717",
              transform=from_origin(0, 20480, 10, 10), nodata=float("nan"))
    """
)


def test_sigkill_during_raster_write_leaves_no_final_file(tmp_path):
    final = tmp_path / "out" / "slope.tif"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(final)], env=env, start_new_session=True
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            temps = list(final.parent.glob(".slope.tif.*")) if final.parent.exists() else []
            if temps and temps[0].stat().st_size > 0:
                break
            assert proc.poll() is None, "the writer ended before the kill"
            time.sleep(0.05)
        else:
            raise AssertionError("the writer never started writing")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not final.exists()  # only the hidden temporary file is left, never slope.tif
    assert all(p.name.startswith(".") for p in final.parent.iterdir())

    # the rerun (what Snakemake does after --rerun-incomplete) writes the complete file
    write_cog(
        np.ones((64, 64), dtype="float32"),
        final,
        crs="EPSG:32717",
        transform=rasterio.transform.from_origin(0, 640, 10, 10),
        nodata=float("nan"),
    )
    with rasterio.open(final) as src:
        assert src.read(1).sum() == 64 * 64
    # ... and removes the hidden file the killed attempt staged (4.3 GB per factor at 32768²)
    assert [p.name for p in final.parent.iterdir()] == ["slope.tif"]


TERMINATED = WRITER.replace(
    "write_cog(data, sys.argv[1],",
    "from slidemap.logs import run_logged\nrun_logged(lambda: write_cog(data, sys.argv[1],",
).replace('nodata=float("nan"))', 'nodata=float("nan")), sys.argv[2])')


def test_sigterm_during_raster_write_removes_the_temporaries_and_says_so(tmp_path):
    final = tmp_path / "out" / "slope.tif"
    log = tmp_path / "logs" / "terrain_factors" / "terrain_factors.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", TERMINATED, str(final), str(log)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while not (final.parent.exists() and list(final.parent.glob(".slope.tif.*"))):
            assert proc.poll() is None, proc.stderr.read()
            assert time.time() < deadline, "the writer never started writing"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # what Snakemake, scancel and a time limit send
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert list(final.parent.iterdir()) == []  # no output, no temporary file
    assert "rule terrain_factors was stopped (SIGTERM" in err
    assert "Traceback" not in err
    assert "was stopped" in log.read_text()


def test_an_attempt_removes_only_its_own_outputs_dead_temporaries(tmp_path, caplog):
    from slidemap.io import atomic_path, remove_stale_temporaries

    names = {
        ".points.parquet.ab_12cd3.parquet": True,  # a killed atomic_path of points.parquet
        ".points.parquet.zz9_8y7x.parquet": True,
        ".points.parquet.ab_12cd3.parquet.aux.xml": True,
        ".points.parquet.ab_12cd3.raw.tif": False,  # staged by the raster writer: its own call
        ".points.parquet.ab_12cd.parquet": False,  # not mkstemp's 8 characters
        ".points.parquet.AB_12CD3.parquet": False,
        ".other.parquet.ab_12cd3.parquet": False,  # another output's
        ".points.parquet.keep": False,
        "points.parquet.ab_12cd3.parquet": False,  # not hidden: the user's
    }
    for name in names:
        (tmp_path / name).write_text("x")
    with atomic_path(tmp_path / "points.parquet") as tmp:
        tmp.write_text("new")
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {n for n, dead in names.items() if not dead} | {"points.parquet"}
    assert sum("left by an earlier attempt" in r.getMessage() for r in caplog.records) == 3
    # the raster writer also clears its own staged files (before it stages new ones)
    gone = remove_stale_temporaries(tmp_path / "points.parquet", staged=True)
    assert [p.name for p in gone] == [".points.parquet.ab_12cd3.raw.tif"]
    assert remove_stale_temporaries(tmp_path / "missing" / "x.tif") == []


def _frames():
    """A point track (float32 block, categorical, strings, NaN) and non-point tables."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    rng = np.random.default_rng(3)
    n = 500
    points = gpd.GeoDataFrame(
        {
            "pid": [f"p{i}" for i in range(n)],
            "velocity": rng.normal(0, 5, n),
            "d_20200101": rng.normal(0, 5, n).astype(np.float32),
            "batch": pd.Categorical(["a.csv"] * (n - 100) + ["b.csv"] * 100),
            "flag": np.where(rng.random(n) < 0.1, np.nan, 1.0),
        },
        geometry=gpd.points_from_xy(rng.uniform(4e5, 5e5, n), rng.uniform(5e6, 5.1e6, n)),
        crs="EPSG:32632",
    )
    points.index = np.arange(10, 10 + n)  # not written
    poly = points.iloc[:5].copy()
    poly["geometry"] = poly.buffer(10.0)
    point_z = points.iloc[:5].copy()
    point_z["geometry"] = shapely.points(np.c_[np.arange(5.0), np.arange(5.0), np.ones(5)])
    missing = points.iloc[:5].copy()
    missing.loc[missing.index[2], "geometry"] = None
    return points, {"polygons": poly, "3-D points": point_z, "a missing point": missing}


def test_geoparquet_of_points_reads_back_as_geopandas_writes_it(tmp_path):
    import geopandas as gpd
    import pyarrow.parquet as pq
    import shapely
    from geopandas.testing import assert_geodataframe_equal

    from slidemap.io import write_geoparquet

    points, _ = _frames()
    write_geoparquet(points, tmp_path / "fast.parquet", compression="zstd")
    points.to_parquet(tmp_path / "ref.parquet", index=False, compression="zstd")  # reference
    fast, ref = (
        gpd.read_parquet(tmp_path / "fast.parquet"),
        gpd.read_parquet(tmp_path / "ref.parquet"),
    )
    assert_geodataframe_equal(fast, ref)
    assert (shapely.to_wkb(fast.geometry.values) == shapely.to_wkb(ref.geometry.values)).all()
    assert list(fast.columns) == list(points.columns) and fast.crs == points.crs
    # the WKB bytes are shapely's ISO WKB, the metadata GeoPandas' (bar the creator)
    a, b = pq.read_table(tmp_path / "fast.parquet"), pq.read_table(tmp_path / "ref.parquet")
    assert a.column("geometry").to_pylist() == list(
        shapely.to_wkb(points.geometry.values, flavor="iso")
    )
    assert a.schema.field("geometry").metadata == b.schema.field("geometry").metadata
    geo_a, geo_b = (json.loads(t.schema.metadata[b"geo"]) for t in (a, b))
    assert geo_a.pop("creator")["library"] == "slidemap"
    geo_b.pop("creator")
    assert geo_a == geo_b


def test_geoparquet_of_other_geometries_is_geopandas_own(tmp_path):
    import geopandas as gpd
    from geopandas.testing import assert_geodataframe_equal

    from slidemap.io import write_geoparquet

    _, others = _frames()
    for label, frame in others.items():
        write_geoparquet(frame, tmp_path / "x.parquet")
        frame.to_parquet(tmp_path / "ref.parquet", index=False)
        assert (tmp_path / "x.parquet").read_bytes() == (tmp_path / "ref.parquet").read_bytes(), (
            label
        )
        assert_geodataframe_equal(
            gpd.read_parquet(tmp_path / "x.parquet"), frame.reset_index(drop=True)
        )


def test_geoparquet_from_coordinate_columns_is_the_same_file(tmp_path):
    import geopandas as gpd
    from geopandas.testing import assert_geodataframe_equal

    from slidemap.io import write_geoparquet

    points, _ = _frames()
    points["x_m"], points["y_m"] = points.geometry.x, points.geometry.y
    write_geoparquet(points, tmp_path / "geom.parquet")
    write_geoparquet(points, tmp_path / "cols.parquet", xy_columns=("x_m", "y_m"))
    assert (tmp_path / "geom.parquet").read_bytes() == (tmp_path / "cols.parquet").read_bytes()
    # columns that are not the geometries' coordinates are not trusted: GeoPandas encodes
    points.loc[points.index[0], "x_m"] += 1.0
    write_geoparquet(points, tmp_path / "bad.parquet", xy_columns=("x_m", "y_m"))
    back = gpd.read_parquet(tmp_path / "bad.parquet")
    assert_geodataframe_equal(back, points.reset_index(drop=True))
    assert back.geometry.x.iloc[0] == points.geometry.x.iloc[0] != points["x_m"].iloc[0]


def test_write_json_writes_nan_and_infinity_as_null(tmp_path):
    """A figure that could not be computed (NaN) must not fail the job at its last write."""
    import math

    import numpy as np

    from slidemap.io import read_json, write_json

    obj = {
        "a": math.nan,
        "b": [math.inf, 1.5, (2, -math.inf)],
        "c": np.float64("nan"),
        "d": np.array([1.0, np.nan]),
        "e": {"f": np.float32(2.5), "g": 3, "h": "x", "i": None, "j": True},
    }
    write_json(obj, tmp_path / "s.json")
    assert read_json(tmp_path / "s.json") == {
        "a": None,
        "b": [None, 1.5, [2, None]],
        "c": None,
        "d": [1.0, None],
        "e": {"f": 2.5, "g": 3, "h": "x", "i": None, "j": True},
    }
