"""The tiled hydrology through Snakemake vs the whole-grid rule, job by job (issue 14, item 3).

Usage::

    python benchmarks/hydrology_dag.py [--size 8192] [--tile-size 2048] [--cores 2]
                                       [--mem-mb 8000] [--workdir DIR]

Writes the seeded synthetic DEM of ``benchmarks/factors.py`` (``--size`` squared cells at 10 m)
and runs the real workflow twice on it, for the four hydrology outputs (sca/twi/spi COGs and
streams.gpkg), with ``--resources mem_mb=<--mem-mb>``:

1. the reference: ``factors.hydrology.tile_size_cells: null`` (rule ``hydrology``, one
   whole-grid job), ``method: d8``;
2. ``tile_size_cells: <--tile-size>``: the tile jobs and merges of
   ``workflow/rules/hydrology_tiles.smk``.

Then prints, per rule, the number of jobs, the longest job and the largest peak memory
(``max_rss`` of Snakemake's benchmark files) against the largest ``mem_mb`` the run gave the
rule, the wall time of each run, and checks that the tiled outputs equal the whole-grid ones
(cell for cell; streams row for row, vertex for vertex) and that no job exceeded its memory
request. Exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from dagrun import declared_memory, measured, snakemake

ROOT = Path(__file__).resolve().parents[1]
FACTORS = Path(__file__).resolve().parent / "factors.py"  # its make_dem, run by path
COPY = ["Snakefile", "workflow", "scripts", "config", "envs"]
OUTPUTS = ("sca.tif", "twi.tif", "spi.tif", "streams.gpkg")


def main() -> None:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=8192, help="DEM edge (cells)")
    parser.add_argument("--tile-size", type=int, default=2048, help="tile edge (cells)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--mem-mb", type=int, default=8000, help="--resources mem_mb")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="slidemap-hydrodag-"))
    work.mkdir(parents=True, exist_ok=True)
    for name in COPY:
        src, dst = ROOT / name, work / name
        if not dst.exists():
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    dem = work / "dem.tif"
    if not dem.exists():
        code = (
            "import runpy\nfrom pathlib import Path\n"
            f"runpy.run_path({str(FACTORS)!r})['make_dem'](Path({str(dem)!r}), {args.size}, "
            f"1024, {args.cores})\n"
        )
        subprocess.run(
            [sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT / "src")}
        )
    cores = str(args.cores)
    runs = {}
    for study, tile in (("whole", None), ("tiled", args.tile_size)):
        config = {
            "study_area": {"name": study},
            "dem": {"path": "dem.tif"},
            "factors": {
                "threads": args.cores,
                "hydrology": {"method": "d8", "tile_size_cells": tile},
            },
        }
        cfg = work / f"{study}.yaml"
        cfg.write_text(yaml.safe_dump(config), encoding="utf-8")
        targets = [f"results/{study}/factors/{name}" for name in OUTPUTS]
        common = ["--configfile", str(cfg), "--cores", cores]
        t0 = time.perf_counter()
        out = snakemake(work, *targets, *common, "--resources", f"mem_mb={args.mem_mb}")
        wall = time.perf_counter() - t0
        runs[study] = (wall, declared_memory(out), measured(work / "results" / study))

    print(
        f"DEM {args.size} x {args.size} = {args.size**2 / 1e6:.1f} M cells; tiles of "
        f"{args.tile_size}; --cores {cores} --resources mem_mb={args.mem_mb}\n"
    )
    over = []
    print(
        f"{'run':6s} {'rule':18s} {'jobs':>5s} {'max s':>8s} {'sum s':>8s} "
        f"{'peak MB':>8s} {'mem_mb':>7s}"
    )
    for study, (wall, declared, jobs) in runs.items():
        for rule, rows in jobs.items():
            peak = max(r for _, r in rows)
            print(
                f"{study:6s} {rule:18s} {len(rows):5d} {max(s for s, _ in rows):8.1f} "
                f"{sum(s for s, _ in rows):8.1f} {peak:8.0f} {declared.get(rule, 0):7d}"
            )
            if rule in declared and peak > declared[rule]:
                over.append((study, rule, peak, declared[rule]))
        print(f"{study:6s} snakemake wall time {wall:.1f} s\n")

    import geopandas as gpd
    import rasterio

    checks = {}
    for name in OUTPUTS[:3]:
        with (
            rasterio.open(work / "results/whole/factors" / name) as a,
            rasterio.open(work / "results/tiled/factors" / name) as b,
        ):
            checks[f"{name} tiled == whole"] = np.array_equal(a.read(1), b.read(1), equal_nan=True)
    a = gpd.read_file(work / "results/whole/factors/streams.gpkg")
    b = gpd.read_file(work / "results/tiled/factors/streams.gpkg")
    checks[f"streams tiled == whole ({len(a)} segments)"] = bool(
        a.drop(columns="geometry").equals(b.drop(columns="geometry"))
        and a.geometry.geom_equals_exact(b.geometry, 0).all()
    )
    checks["every job under its declared mem_mb"] = not over
    for label, ok in checks.items():
        print(f"{label}: {ok}")
    for study, rule, peak, mem in over:
        print(f"  over: {study} {rule} peak {peak:.0f} MB > mem_mb {mem}")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
