"""Tiled flow routing vs the whole-array routing and pyflwdir (issue 14, item 3).

Usage::

    PYTHONPATH=src python benchmarks/flow_tiles.py [--size 8192] [--tile-size 2048] [--integer]

It writes the seeded synthetic DEM of ``benchmarks/factors.py`` (sinusoid octaves + a regional
slope, 10 m, a nodata corner; ``--integer`` rounds it to whole metres, as SRTM, for many
flats) and then runs, each in its own process as Snakemake would run the jobs, printing wall
time and peak resident memory per process:

1. the reference tool, ``pyflwdir.dem.fill_depressions`` (whole array, 8-connected, outlets at
   the edge of the valid cells);
2. slidemap's whole-array ``route_flow`` (Priority-Flood, D8 directions, D8 accumulation);
3. the tiled routing: per tile a flood job, one merge, per tile a fill job (then a VRT of
   the filled tiles); per tile a seam-flat job, one merge, per tile a direction job; per
   tile an accumulation job, one merge, per tile an accumulation job with the inflows; per
   tile SCA/TWI/SPI and the stream pieces, one streams merge (GeoPackage);
4. slidemap's whole-array ``write_hydrology`` with ``method="d8"`` (what the tiled path equals).

It then checks the filled DEM against (1) and (2), the directions and accumulation against
(2) and SCA/TWI/SPI and the streams against (4), cell for cell and vertex for vertex, and
fails if any differs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FACTORS = Path(__file__).resolve().parent / "factors.py"  # its make_dem, run by path

_HWM = (
    "\nfor _line in open('/proc/self/status'):\n"
    "    if _line.startswith('VmHWM:'):\n"
    "        print('PEAK_KB', _line.split()[1])\n"
)


def timed(code: str, env: dict) -> tuple[float, float]:
    """Run Python ``code`` in a fresh process; return (wall s, its own peak RSS in MB).

    The peak is the process's ``VmHWM`` read at its end: ``ru_maxrss`` of a child starts at
    the parent's peak on Linux (it survives fork and exec), which would hide small jobs.
    """
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code + _HWM], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{code} failed:\n{proc.stdout}{proc.stderr}")
    peak_kb = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("PEAK_KB")]
    return wall, float(peak_kb[-1]) / 1024.0


_JOB = (
    "from rasterio.windows import Window\n"
    "from slidemap.factors.tiledfill import fill_tile_job, flood_tile_job, solve_levels_job\n"
    "from slidemap.factors.tileddirs import (\n"
    "    directions_tile_job, flat_seams_job, solve_flat_distances_job)\n"
    "from slidemap.factors.tiledflow import (\n"
    "    accumulate_tile_job, flow_tile_job, hydrology_factors_tile_job, solve_inflows_job)\n"
    "from slidemap.factors.streams import assemble_streams_job, stream_pieces_job\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=8192, help="DEM edge (cells)")
    parser.add_argument("--tile-size", type=int, default=2048, help="tile edge (cells)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    parser.add_argument("--integer", action="store_true", help="round heights to whole metres")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="slidemap-flowtiles-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{os.environ.get('PYTHONPATH', '')}"}
    n, ts = args.size, args.tile_size
    dem = work / "dem.tif"
    # in a child process: the parent stays small (its memory is not the jobs')
    timed(
        "import runpy\nfrom pathlib import Path\n"
        f"make_dem = runpy.run_path({str(FACTORS)!r})['make_dem']\n"
        f"make_dem(Path({str(dem)!r}), {n}, 1024, 2)\n"
        + (
            "import numpy as np, rasterio\nfrom slidemap.raster import Grid, write_cog\n"
            f"with rasterio.open({str(dem)!r}) as s:\n"
            "    z, g = np.round(s.read(1)), Grid.of(s)\n"
            f"write_cog(z, {str(dem)!r}, nodata=float('nan'), grid=g)\n"
            if args.integer
            else ""
        ),
        env,
    )
    windows = [
        (col, row, min(ts, n - col), min(ts, n - row))
        for row in range(0, n, ts)
        for col in range(0, n, ts)
    ]  # = tiledfill.tile_layout(n, n, ts), row-major
    tile_rows = tile_cols = -(-n // ts)
    print(
        f"DEM {n} x {n} = {n * n / 1e6:.1f} M cells in {tile_rows} x {tile_cols} tiles of "
        f"{ts} cells; workdir {work}"
    )
    warm = (
        "import numpy as np\n"
        "from slidemap.factors.hydrology import route_flow\n"
        "from slidemap.factors.tiledfill import fill_tiled\n"
        "z = np.random.default_rng(0).random((20, 20)).astype('float32')\n"
        "route_flow(z, ewres=10.0, nsres=-10.0); fill_tiled(z, 7)\n"
    )
    timed(warm, env)
    read = (
        "import numpy as np, rasterio\n"
        f"with rasterio.open({str(dem)!r}) as s:\n"
        "    z = s.read(1, masked=True).astype('float32').filled(np.nan)\n"
    )
    rows = []
    wall, peak = timed(
        read + "import pyflwdir\n"
        "f = pyflwdir.dem.fill_depressions(np.where(np.isnan(z), -9999, z), nodata=-9999)[0]\n"
        f"np.save({str(work / 'pyflwdir.npy')!r}, np.where(f == -9999, np.nan, f))\n",
        env,
    )
    rows.append(("pyflwdir fill_depressions (whole array)", 1, wall, wall, peak))
    wall, peak = timed(
        read + "from slidemap.factors.hydrology import route_flow\n"
        "r = route_flow(z, ewres=10.0, nsres=-10.0, overwrite=True)\n"
        f"np.save({str(work / 'whole_filled.npy')!r}, r.filled)\n"
        f"np.save({str(work / 'whole_dirs.npy')!r}, r.dirs)\n"
        f"np.save({str(work / 'whole_acc.npy')!r}, r.acc_cells)\n",
        env,
    )
    rows.append(("slidemap route_flow (whole array)", 1, wall, wall, peak))

    def jobs(label: str, codes: list[str]) -> None:
        walls, peaks = [], []
        for code in codes:
            w, p = timed(_JOB + code, env)
            walls.append(w)
            peaks.append(p)
        rows.append((label, len(codes), sum(walls), max(walls), max(peaks)))

    def each(template: str) -> list[str]:
        return [
            template.format(i=i, w=f"Window{w}", o=f"({w[1]}, {w[0]})", d=work)
            for i, w in enumerate(windows)
        ]

    def listed(stem: str) -> str:
        return repr([str(work / f"{stem}_{i}.npz") for i in range(len(windows))])

    dem_s, filled_s = repr(str(dem)), repr(str(work / "filled.vrt"))
    jobs("fill: flood per tile", each(f"flood_tile_job({dem_s}, {{w}}, '{{d}}/fill_{{i}}.npz')"))
    jobs(
        "fill: merge (label graph)",
        [f"solve_levels_job({listed('fill')}, {tile_rows}, {tile_cols}, '{work}/levels.npz')"],
    )
    jobs(
        "fill: raise per tile",
        each(f"fill_tile_job({dem_s}, {{w}}, {{i}}, '{{d}}/levels.npz', '{{d}}/filled_{{i}}.tif')"),
    )
    jobs(
        "fill: VRT of the tiles",
        [
            "from slidemap.raster import Grid, write_vrt\n"
            f"g = Grid.from_raster({dem_s})\n"
            f"write_vrt({filled_s}, g, [(Window(*w), '{work}/filled_' + str(i) + '.tif') "
            f"for i, w in enumerate({windows!r})], dtype='float32', nodata=float('nan'))"
        ],
    )
    jobs(
        "directions: seam flats per tile",
        each(f"flat_seams_job({filled_s}, {{w}}, '{{d}}/seams_{{i}}.npz')"),
    )
    jobs(
        "directions: merge (seam flats)",
        [f"solve_flat_distances_job({listed('seams')}, {n}, {n}, {ts}, {listed('flats')})"],
    )
    jobs(
        "directions: per tile",
        each(
            f"directions_tile_job({filled_s}, {{w}}, '{{d}}/flats_{{i}}.npz', "
            "'{d}/dirs_{i}.tif')"
        ),
    )
    jobs(
        "accumulation: tile pass",
        each("flow_tile_job('{d}/dirs_{i}.tif', {o}, '{d}/flow_{i}.npz')"),
    )
    jobs(
        "accumulation: merge (perimeter graph)",
        [f"solve_inflows_job({listed('flow')}, {ts}, {n}, {n}, '{work}/inflows.npz')"],
    )
    jobs(
        "accumulation: apply per tile",
        each("accumulate_tile_job('{d}/dirs_{i}.tif', {i}, '{d}/inflows.npz', '{d}/acc_{i}.tif')"),
    )
    for stem, dtype, nodata in (("dirs", "uint8", "255"), ("acc", "float64", "float('nan')")):
        jobs(
            f"VRT of the {stem} tiles",
            [
                "from slidemap.raster import Grid, write_vrt\n"
                f"write_vrt('{work}/{stem}.vrt', Grid.from_raster({dem_s}), [(Window(*w), "
                f"'{work}/{stem}_' + str(i) + '.tif') for i, w in enumerate({windows!r})], "
                f"dtype='{dtype}', nodata={nodata})"
            ],
        )
    jobs(
        "sca/twi/spi per tile",
        each(
            f"hydrology_factors_tile_job({dem_s}, '{{d}}/acc.vrt', {{w}}, "
            "{{n: f'{d}/' + n + '_{i}.tif' for n in ('sca', 'twi', 'spi')}}, min_tan_beta=0.001)"
        ),
    )
    jobs(
        "streams: pieces per tile",
        each("stream_pieces_job('{d}/dirs.vrt', '{d}/acc.vrt', {w}, 1000, '{d}/pieces_{i}.npz')"),
    )
    jobs(
        "streams: merge (GeoPackage)",
        [f"assemble_streams_job({listed('pieces')}, {dem_s}, '{work}/streams.gpkg')"],
    )
    wall, peak = timed(
        "from slidemap.factors.hydrology import write_hydrology\n"
        f"write_hydrology({dem_s}, sca_path='{work}/ref_sca.tif', twi_path='{work}/ref_twi.tif', "
        f"spi_path='{work}/ref_spi.tif', streams_path='{work}/ref_streams.gpkg', method='d8', "
        "stream_threshold_cells=1000, threads=1)\n",
        env,
    )
    rows.append(("slidemap write_hydrology d8 (whole array)", 1, wall, wall, peak))

    import rasterio

    def mosaic(stem: str, dtype: str) -> np.ndarray:
        out = np.empty((n, n), dtype=dtype)
        for i, w in enumerate(windows):
            with rasterio.open(work / f"{stem}_{i}.tif") as src:
                out[w[1] : w[1] + w[3], w[0] : w[0] + w[2]] = src.read(1)
        return out

    print(f"\n{'step':44s} {'jobs':>5s} {'sum s':>8s} {'max s':>8s} {'peak MB':>8s}")
    for label, count, total, longest, peak in rows:
        print(f"{label:44s} {count:5d} {total:8.1f} {longest:8.1f} {peak:8.0f}")
    tiled = sum(r[2] for r in rows if not r[0].startswith(("pyflwdir", "slidemap")))
    print(f"tiled total (sum of job wall times): {tiled:.1f} s")
    filled = mosaic("filled", "float32")
    checks = {
        "filled == pyflwdir": np.array_equal(
            filled, np.load(work / "pyflwdir.npy"), equal_nan=True
        ),
        "filled == route_flow": np.array_equal(
            filled, np.load(work / "whole_filled.npy"), equal_nan=True
        ),
    }
    del filled
    checks["directions == route_flow"] = np.array_equal(
        mosaic("dirs", "uint8"), np.load(work / "whole_dirs.npy")
    )
    checks["accumulation == route_flow"] = np.array_equal(
        mosaic("acc", "float64"), np.load(work / "whole_acc.npy"), equal_nan=True
    )
    for name in ("sca", "twi", "spi"):
        with rasterio.open(work / f"ref_{name}.tif") as src:
            checks[f"{name} == write_hydrology"] = np.array_equal(
                mosaic(name, "float32"), src.read(1), equal_nan=True
            )
    import geopandas as gpd

    got = gpd.read_file(work / "streams.gpkg")
    want = gpd.read_file(work / "ref_streams.gpkg")
    checks["streams == write_hydrology"] = (
        len(got) == len(want)
        and got.drop(columns="geometry").equals(want.drop(columns="geometry"))
        and bool(got.geometry.geom_equals_exact(want.geometry, 0.0).all())
    )
    print("; ".join(f"{k}: {v}" for k, v in checks.items()))
    if not all(checks.values()):
        raise SystemExit("the tiled routing differs from the whole-array routing")


if __name__ == "__main__":
    main()
