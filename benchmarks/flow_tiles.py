"""Tiled Priority-Flood depression filling vs the whole-array fill and pyflwdir (issue 14, item 3).

Usage::

    PYTHONPATH=src python benchmarks/flow_tiles.py [--size 8192] [--tile-size 2048]

It writes the seeded synthetic DEM of ``benchmarks/factors.py`` (sinusoid octaves + a regional
slope, 10 m, a nodata corner) and then runs, each in its own process as Snakemake would run
the jobs, printing wall time and peak resident memory per process:

1. the reference tool, ``pyflwdir.dem.fill_depressions`` (whole array, 8-connected, outlets at
   the edge of the valid cells);
2. slidemap's whole-array ``route_flow`` (Priority-Flood + D8 + accumulation: the fill is part
   of it, its peak memory is the routing's);
3. the tiled fill of :mod:`slidemap.factors.tiledfill`: one flood job per tile, one merge job,
   one fill job per tile (each reading its tile with a one-cell halo from the GeoTIFF).

It then mosaics the filled tiles and checks them cell for cell against (1) and (2).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from factors import ROOT, py  # noqa: E402

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
    proc = subprocess.run(py(code + _HWM), env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{code} failed:\n{proc.stdout}{proc.stderr}")
    peak_kb = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("PEAK_KB")]
    return wall, float(peak_kb[-1]) / 1024.0


_JOB = (
    "from rasterio.windows import Window\n"
    "from slidemap.factors.tiledfill import fill_tile_job, flood_tile_job, solve_levels_job\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=8192, help="DEM edge (cells)")
    parser.add_argument("--tile-size", type=int, default=2048, help="tile edge (cells)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="slidemap-flowtiles-"))
    work.mkdir(parents=True, exist_ok=True)
    path = f"{ROOT / 'src'}:{Path(__file__).resolve().parent}:{os.environ.get('PYTHONPATH', '')}"
    env = {**os.environ, "PYTHONPATH": path}
    n, ts = args.size, args.tile_size
    dem = work / "dem.tif"
    # in a child process: the parent stays small (its memory is not the jobs')
    timed(
        "from pathlib import Path\nfrom factors import make_dem\n"
        f"make_dem(Path({str(dem)!r}), {n}, 1024, 2)",
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
        "f = route_flow(z, ewres=10.0, nsres=-10.0, overwrite=True).filled\n"
        f"np.save({str(work / 'whole.npy')!r}, f)\n",
        env,
    )
    rows.append(("slidemap route_flow (whole array, + D8)", 1, wall, wall, peak))

    def jobs(label: str, codes: list[str]) -> None:
        walls, peaks = [], []
        for code in codes:
            w, p = timed(_JOB + code, env)
            walls.append(w)
            peaks.append(p)
        rows.append((label, len(codes), sum(walls), max(walls), max(peaks)))

    def win(w: tuple[int, int, int, int]) -> str:
        return f"Window{w}"

    summaries = [work / f"tile_{i}.npz" for i in range(len(windows))]
    jobs(
        "tiled: flood per tile",
        [
            f"flood_tile_job({str(dem)!r}, {win(w)}, {str(s)!r})"
            for w, s in zip(windows, summaries, strict=True)
        ],
    )
    levels = work / "levels.npz"
    jobs(
        "tiled: merge (label graph)",
        [
            f"solve_levels_job({[str(s) for s in summaries]!r}, {tile_rows}, {tile_cols}, "
            f"{str(levels)!r})"
        ],
    )
    tiles = [work / f"filled_{i}.tif" for i in range(len(windows))]
    jobs(
        "tiled: fill per tile",
        [
            f"fill_tile_job({str(dem)!r}, {win(w)}, {i}, {str(levels)!r}, {str(t)!r})"
            for i, (w, t) in enumerate(zip(windows, tiles, strict=True))
        ],
    )

    import rasterio

    mosaic = np.empty((n, n), dtype=np.float32)
    for w, t in zip(windows, tiles, strict=True):
        with rasterio.open(t) as src:
            mosaic[w[1] : w[1] + w[3], w[0] : w[0] + w[2]] = src.read(1)
    whole = np.load(work / "whole.npy")
    pyfl = np.load(work / "pyflwdir.npy")

    print(f"\n{'step':44s} {'jobs':>5s} {'sum s':>8s} {'max s':>8s} {'peak MB':>8s}")
    for label, count, total, longest, peak in rows:
        print(f"{label:44s} {count:5d} {total:8.1f} {longest:8.1f} {peak:8.0f}")
    tiled_total = sum(r[2] for r in rows[2:])
    print(f"tiled total (sum of job wall times): {tiled_total:.1f} s")
    same_whole = np.array_equal(mosaic, whole, equal_nan=True)
    same_pyfl = np.array_equal(mosaic, pyfl, equal_nan=True)
    print(f"tiled == slidemap whole array: {same_whole}; tiled == pyflwdir: {same_pyfl}")
    if not (same_whole and same_pyfl):
        raise SystemExit("the tiled fill differs from the whole-array fill")


if __name__ == "__main__":
    main()
