"""Benchmark of the factor stage on a synthetic 8192 x 8192 DEM (67 M cells), against gdaldem.

Usage::

    PYTHONPATH=src python benchmarks/factors.py [--size 8192] [--threads 2] [--chunk-size 1024]

It makes a seeded synthetic DEM (sum of sinusoids + a regional slope, float32, 10 m, NaN
nodata in one corner), then times, in the same run and each in its own process (as
Snakemake runs jobs), printing wall time and peak resident memory of each process:

1. ``gdaldem slope``, ``aspect``, ``TRI -alg Riley`` and ``TPI``: once writing gdaldem's
   default (uncompressed GeoTIFF, no overviews), once writing COGs like slidemap's
   (``-of COG``, DEFLATE level 1, predictor, overviews);
2. slidemap's ``write_terrain_factors`` for the same four factors (one fused kernel, dask
   with ``--threads`` threads, COGs with overviews), with DEFLATE (the default) and ZSTD;
3. the whole factor stack as the workflow runs it: study grid, the ten terrain factors,
   hydrology (Priority-Flood + D8, SCA/TWI/SPI, streams) and the distance to the derived
   streams.

Targets (issue 4): (2) <= 2 x (1); every process of (3) <= 3 GB peak. Timings on a shared
machine are noisy; run it on an idle one for figures you want to quote.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_dem(path: Path, size: int, chunk: int, threads: int) -> None:
    """Write a seeded synthetic DEM, block by block (sinusoid octaves + a regional slope)."""
    import dask.array as da
    from rasterio.transform import from_origin

    from slidemap.raster import Layer, write_cogs

    rng = np.random.default_rng(42)
    waves = [
        (amp, *rng.uniform(0.5, 1.5, 2) * 2 * np.pi / wl, *rng.uniform(0, 2 * np.pi, 2))
        for amp, wl in [(300, 40000), (150, 12000), (60, 4000), (25, 1500), (8, 400), (2, 90)]
    ]

    def block(block_info=None):
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        y = (np.arange(r0, r1, dtype=np.float64)[:, None]) * 10.0
        x = (np.arange(c0, c1, dtype=np.float64)[None, :]) * 10.0
        z = 1500.0 + 0.02 * x + 0.01 * y
        for amp, fx, fy, px, py in waves:
            z = z + amp * np.sin(fx * x + px) * np.cos(fy * y + py)
        z = z.astype(np.float32)
        # a nodata corner, as a real DEM clipped to a footprint
        z[(x + y + 0 * z) < size * 10.0 * 0.05] = np.nan
        return z

    dem = da.map_blocks(
        block,
        chunks=da.core.normalize_chunks(chunk, (size, size)),
        dtype=np.float32,
        meta=np.empty((0, 0), np.float32),
    )
    # gdaldem input: a plain tiled GeoTIFF (what a user's DEM usually is)
    write_cogs(
        [Layer(dem, path, nodata=np.nan, dtype="float32")],
        crs="EPSG:32717",
        transform=from_origin(500000.0, 9600000.0, 10.0, 10.0),
        threads=threads,
    )


def timed(cmd: list[str], *, env: dict | None = None) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MB) of that process.

    The peak is ``ru_maxrss``, which on Linux starts at the parent's peak: :func:`main` keeps
    the parent small (the DEM is made in a child) so that it is the command's own.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out = proc.stdout.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out}")
    return wall, usage.ru_maxrss / 1024.0


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=8192, help="DEM edge in cells")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="slidemap-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{os.environ.get('PYTHONPATH', '')}"}
    n, th, cs = args.size, args.threads, args.chunk_size
    print(
        f"DEM {n} x {n} = {n * n / 1e6:.1f} M cells, {th} threads, chunk {cs}, "
        f"{os.cpu_count()} CPUs visible; workdir {work}"
    )
    dem = work / "dem.tif"
    # in a child process: a child's ru_maxrss starts at its parent's peak on Linux (it
    # survives fork and exec), so the parent must stay small for the peaks below to be the
    # jobs' own
    made = (
        f"import runpy\nfrom pathlib import Path\nmake_dem = runpy.run_path({__file__!r})"
        f"['make_dem']\nmake_dem(Path({str(dem)!r}), {n}, {cs}, {th})\n"
    )
    wall, _ = timed(py(made), env=env)
    print(f"synthetic DEM written in {wall:.1f} s")

    # warm the numba caches so that compilation is not timed
    warm = (
        "import numpy as np\n"
        "from slidemap.factors.terrain import terrain_numpy\n"
        "from slidemap.factors.hydrology import route_flow\n"
        "from slidemap.factors.distance import edt\n"
        "z = np.random.default_rng(0).random((20, 20)).astype('float32')\n"
        "terrain_numpy(z, ewres=10.0, nsres=-10.0)\n"
        "route_flow(z, ewres=10.0, nsres=-10.0)\n"
        "edt(z > 0.5)\n"
    )
    timed(py(warm), env=env)

    four = {"slope": "slope", "aspect": "aspect", "TRI": "tri", "TPI": "tpi"}
    cog = [
        "-of",
        "COG",
        "-co",
        "COMPRESS=DEFLATE",
        "-co",
        "LEVEL=1",
        "-co",
        "PREDICTOR=YES",
        "-co",
        f"NUM_THREADS={th}",
        "-co",
        "BLOCKSIZE=256",
    ]
    rows = []
    for label, extra in (("gdaldem (GeoTIFF, default)", []), ("gdaldem (COG like ours)", cog)):
        total, peak = 0.0, 0.0
        for alg, name in four.items():
            cmd = ["gdaldem", alg, str(dem), str(work / f"gdal_{name}.tif"), "-q", *extra]
            if alg == "TRI":
                cmd += ["-alg", "Riley"]
            wall, rss = timed(cmd)
            total += wall
            peak = max(peak, rss)
        rows.append((label, total, peak))
    for compress in ("deflate", "zstd"):
        outputs = {name: str(work / f"ours_{compress}_{name}.tif") for name in four.values()}
        code = (
            "from slidemap.factors.terrain import write_terrain_factors\n"
            f"write_terrain_factors({str(dem)!r}, {outputs!r}, chunk_size={cs}, threads={th}, "
            f"compress={compress!r})\n"
        )
        wall, rss = timed(py(code), env=env)
        rows.append((f"slidemap (4 COGs, {compress})", wall, rss))
    print("\nslope + aspect + TRI + TPI")
    print(f"{'':32s} {'wall s':>8s} {'peak MB':>9s}")
    for label, wall, rss in rows:
        print(f"{label:32s} {wall:8.1f} {rss:9.0f}")
    for k, comp in ((2, "deflate, the default"), (3, "zstd")):
        print(
            f"ratio slidemap ({comp}) / gdaldem (default GeoTIFF): "
            f"{rows[k][1] / rows[0][1]:.2f} (target <= 2); / gdaldem (COG like ours): "
            f"{rows[k][1] / rows[1][1]:.2f}"
        )

    # check that both agree (slope, TRI bit-exact; aspect to float rounding)
    check = (
        "import numpy as np, rasterio\n"
        "from rasterio.windows import Window\n"
        f"w = Window({n // 8}, {n // 8}, {n // 4}, {n // 4})\n"
        "for a, b in [('slope','slope'), ('tri','tri'), ('tpi','tpi')]:\n"
        f"    g = rasterio.open({str(work)!r} + f'/gdal_{{a}}.tif').read(1, window=w)\n"
        f"    o = rasterio.open({str(work)!r} + f'/ours_deflate_{{b}}.tif').read(1, window=w)\n"
        "    g = np.where(g == -9999, np.nan, g)\n"
        "    print(f'  {a}: max |ours - gdaldem| = {np.nanmax(np.abs(o - g)):.2e}')\n"
    )
    subprocess.run(py(check), env=env, check=True)

    grid = work / "stack"
    f = grid / "factors"
    stages = [
        (
            "study_grid",
            "from slidemap.factors.studygrid import build_study_grid\n"
            f"build_study_grid({str(dem)!r}, {str(grid / 'dem.tif')!r}, "
            f"{str(grid / 'grid.json')!r}, chunk_size={cs}, threads={th})\n",
        ),
        (
            "terrain_factors (10)",
            "from slidemap.factors import TERRAIN_FACTORS\n"
            "from slidemap.factors.terrain import write_terrain_factors\n"
            f"write_terrain_factors({str(grid / 'dem.tif')!r}, "
            f"{{n: {str(f)!r} + f'/{{n}}.tif' for n in TERRAIN_FACTORS}}, chunk_size={cs}, "
            f"threads={th})\n",
        ),
        (
            "hydrology (D8)",
            "from slidemap.factors.hydrology import write_hydrology\n"
            f"print(write_hydrology({str(grid / 'dem.tif')!r}, sca_path={str(f / 'sca.tif')!r}, "
            f"twi_path={str(f / 'twi.tif')!r}, spi_path={str(f / 'spi.tif')!r}, "
            f"streams_path={str(f / 'streams.gpkg')!r}, chunk_size={cs}, threads={th}))\n",
        ),
        (
            "distance (dist_rivers)",
            "from slidemap.factors.distance import write_distance_factor\n"
            f"write_distance_factor({str(f / 'streams.gpkg')!r}, {str(grid / 'dem.tif')!r}, "
            f"{str(f / 'dist_rivers.tif')!r}, name='dist_rivers', key='layers.rivers', "
            f"threads={th})\n",
        ),
    ]
    f.mkdir(parents=True, exist_ok=True)
    print("\nwhole factor stack (one process per rule, as the workflow runs it)")
    print(f"{'':32s} {'wall s':>8s} {'peak MB':>9s}")
    total, peak = 0.0, 0.0
    for label, code in stages:
        wall, rss = timed(py(code), env=env)
        total += wall
        peak = max(peak, rss)
        print(f"{label:32s} {wall:8.1f} {rss:9.0f}")
    print(f"{'total':32s} {total:8.1f} {peak:9.0f}  (peak of any process; target <= 3072 MB)")
    naive = n * n * 8 * 14 / 2**20
    print(f"an in-memory float64 stack of 14 factors would need {naive:.0f} MB")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
