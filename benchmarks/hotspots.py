"""Benchmark of the hot-spot stage: 1,000,000 points through trend classes, Gi*, density, polygons.

Builds a seeded synthetic track at seed 002's point density (~264 points/km², ~3,800 km²) with
60 dates of displacement time series and a few hundred slides, writes it as a
``points.parquet`` like the ingest rule's, then in separate processes (so each peak memory is
its own):

1. **ours**: reads the points and runs trend classification + Gi* (200 m band) + hot/cold
   quartic kernel density (200 m, 10 m cells, dask chunks on ``--threads`` threads) + polygons,
   printing each stage's time and the peak resident memory;
2. **esda**: on a square window holding ``--esda-points`` points (same density, so the same
   neighbour counts), ``libpysal.weights.DistanceBand`` + ``esda.G_Local(star=True)``, and our
   Gi* on the same points; prints both, the agreement and the per-point speed ratio.

Targets (issue 3): stages 1 ≤ 60 s on 2 cores with ≤ 4 GB peak; Gi* ≥ 10× faster than esda per
point. Run: ``python benchmarks/hotspots.py`` (``--points 200000`` for a quick look).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DENSITY_PER_KM2 = 264.0
RADIUS_M = 200.0


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build(path: Path, n_points: int, n_dates: int, seed: int) -> dict:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from hotspot_data import Slide, make_landscape

    side_m = float(np.sqrt(n_points / DENSITY_PER_KM2) * 1000.0)
    rng = np.random.default_rng(seed)
    n_slides = max(4, int(side_m * side_m / 1e6 / 12))  # one slide per ~12 km²
    slides = [
        Slide(
            float(rng.uniform(500, side_m - 500)),
            float(rng.uniform(500, side_m - 500)),
            float(rng.uniform(150, 500)),
            float(rng.uniform(100, 300)),
            float(rng.uniform(60, 120)),
            float(rng.uniform(20, 40)),
            float(rng.uniform(15, 60)),
            str(rng.choice(["linear", "accelerating", "step"])),
        )
        for _ in range(n_slides)
    ]
    tic = time.perf_counter()
    land = make_landscape(
        seed=seed,
        width_m=side_m,
        height_m=side_m,
        density_per_km2=DENSITY_PER_KM2,
        n_dates=n_dates,
        slides=slides,
        terrain=False,
    )
    land.points.to_parquet(path)
    grid = land.grid
    return {
        "n_points": len(land.points),
        "n_dates": n_dates,
        "side_m": side_m,
        "n_slides": n_slides,
        "grid": [grid.height, grid.width],
        "transform": list(grid.transform)[:6],
        "build_s": time.perf_counter() - tic,
    }


def run_ours(path: Path, meta: dict, threads: int, density_points: str) -> dict:
    import geopandas as gpd
    from affine import Affine

    from slidemap.hotspots.pipeline import HotspotParams, track_hotspots
    from slidemap.raster import Grid

    tic = time.perf_counter()
    points = gpd.read_parquet(path)
    read_s = time.perf_counter() - tic
    h, w = meta["grid"]
    grid = Grid(crs="EPSG:32717", transform=Affine(*meta["transform"]), width=w, height=h)
    params = HotspotParams(density_threshold=5.0, density_points=density_points)
    tic = time.perf_counter()
    _, _, polys, info = track_hotspots(points, grid, params, track="bench", threads=threads)
    total = time.perf_counter() - tic
    return {
        "read_s": read_s,
        **{f"{k}_s": v for k, v in info["timings_s"].items()},
        "pipeline_s": total,
        "n_polygons": len(polys),
        "n_moving": info["n_moving"],
        "mean_neighbours": info["mean_neighbours"],
        "trend_counts": info["trend_counts"],
        "peak_rss_mb": peak_rss_mb(),
    }


def run_esda(path: Path, n_sub: int) -> dict:
    import warnings

    import esda
    import libpysal
    import pandas as pd

    from slidemap.hotspots.gistar import getis_ord_gi_star

    pts = pd.read_parquet(path, columns=["x_m", "y_m", "velocity_mm_yr"])
    xy = pts[["x_m", "y_m"]].to_numpy(np.float64)
    y = pts["velocity_mm_yr"].to_numpy(np.float64)
    # a square window with ~n_sub points keeps the density (and so the neighbour count)
    lo = xy.min(axis=0)
    side = np.sqrt(n_sub / DENSITY_PER_KM2) * 1000.0
    sel = np.all((xy >= lo) & (xy < lo + side), axis=1)
    xy, y = xy[sel], y[sel]
    tic = time.perf_counter()
    ours = getis_ord_gi_star(y, xy, RADIUS_M)
    ours_s = time.perf_counter() - tic
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tic = time.perf_counter()
        w = libpysal.weights.DistanceBand(xy, RADIUS_M, binary=True, silence_warnings=True)
        weights_s = time.perf_counter() - tic
        tic = time.perf_counter()
        g = esda.G_Local(y, w, star=True, transform="B", permutations=0)
        glocal_s = time.perf_counter() - tic
    diff = float(np.max(np.abs(ours.z - np.sign(y.mean()) * g.Zs)))
    return {
        "n_points": int(sel.sum()),
        "esda_weights_s": weights_s,
        "esda_glocal_s": glocal_s,
        "esda_total_s": weights_s + glocal_s,
        "ours_same_points_s": ours_s,
        "max_abs_z_diff": diff,
    }


def child(stage: str, args: argparse.Namespace, meta: dict | None = None) -> dict:
    """Run one stage in a fresh Python process and return its JSON result."""
    cmd = [sys.executable, __file__, "--stage", stage, "--file", str(args.file)]
    cmd += ["--points", str(args.points), "--dates", str(args.dates), "--seed", str(args.seed)]
    cmd += ["--threads", str(args.threads), "--esda-points", str(args.esda_points)]
    cmd += ["--density", args.density]
    if meta is not None:
        cmd += ["--meta", json.dumps(meta)]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(args.threads)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"stage {stage} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--dates", type=int, default=60)
    parser.add_argument("--esda-points", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--density",
        choices=["moving", "all"],
        default="moving",
        help="which points weight the density (hotspots.density_points)",
    )
    parser.add_argument("--stage", choices=["build", "ours", "esda"], default=None)
    parser.add_argument("--file", type=Path, default=None)
    parser.add_argument("--meta", type=str, default=None)
    args = parser.parse_args()

    if args.stage == "build":
        print(json.dumps(build(args.file, args.points, args.dates, args.seed)))
        return
    if args.stage == "ours":
        print(json.dumps(run_ours(args.file, json.loads(args.meta), args.threads, args.density)))
        return
    if args.stage == "esda":
        print(json.dumps(run_esda(args.file, args.esda_points)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        args.file = Path(tmp) / "points.parquet"
        meta = child("build", args)
        print(
            f"built {meta['n_points']:,} points × {meta['n_dates']} dates over "
            f"{meta['side_m'] / 1000:.1f} km square ({meta['n_slides']} slides), "
            f"grid {meta['grid'][0]} × {meta['grid'][1]} cells of 10 m, in {meta['build_s']:.1f} s"
        )
        ours = child("ours", args, meta)
        esda = child("esda", args)
    n = meta["n_points"]
    print(f"\nslidemap on {n:,} points ({args.threads} threads, density_points={args.density}):")
    for key in ("read_s", "trend_s", "gistar_s", "density_s", "polygons_s"):
        print(f"  {key[:-2]:<10} {ours[key]:7.2f} s")
    print(
        f"  {'total':<10} {ours['pipeline_s']:7.2f} s  (trend + Gi* + density + polygons; "
        f"target ≤ 60 s)"
    )
    print(f"  peak RSS   {ours['peak_rss_mb'] / 1024:7.2f} GiB (target ≤ 4 GB)")
    print(
        f"  {ours['n_moving']:,} moving points, {ours['n_polygons']} polygons, "
        f"{ours['mean_neighbours']:.1f} neighbours per point in 200 m, "
        f"trend classes {ours['trend_counts']}"
    )
    ours_pp = ours["gistar_s"] / n
    esda_pp = esda["esda_total_s"] / esda["n_points"]
    print(f"\nesda G_Local on {esda['n_points']:,} points (window at the same density):")
    print(
        f"  DistanceBand {esda['esda_weights_s']:.2f} s + G_Local {esda['esda_glocal_s']:.2f} s "
        f"= {esda['esda_total_s']:.2f} s ({esda_pp * 1e6:.1f} µs/point)"
    )
    print(
        f"  ours on the same points {esda['ours_same_points_s']:.3f} s; "
        f"max |z - esda| = {esda['max_abs_z_diff']:.1e}"
    )
    print(f"  ours on {n:,} points {ours['gistar_s']:.2f} s ({ours_pp * 1e6:.2f} µs/point)")
    print(
        f"  speed-up per point: {esda_pp / ours_pp:.0f}× (target ≥ 10×); on the same points "
        f"{esda['esda_total_s'] / esda['ours_same_points_s']:.0f}×"
    )
    print("\n(timings on a shared 2-core machine are noisy)")


if __name__ == "__main__":
    main()
