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
import subprocess
import sys
from pathlib import Path

import numpy as np
from dagrun import finish, prepare_workdir, print_runs, run_study

ROOT = Path(__file__).resolve().parents[1]
FACTORS = Path(__file__).resolve().parent / "factors.py"  # its make_dem, run by path
COPY = ["Snakefile", "workflow", "scripts", "config", "envs"]
OUTPUTS = ("sca.tif", "twi.tif", "spi.tif", "streams.gpkg")


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=8192, help="DEM edge (cells)")
    parser.add_argument("--tile-size", type=int, default=2048, help="tile edge (cells)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--mem-mb", type=int, default=8000, help="--resources mem_mb")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    args = parser.parse_args()
    work = prepare_workdir(args.workdir, "slidemap-hydrodag-", ROOT, COPY)
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
        targets = [f"results/{study}/factors/{name}" for name in OUTPUTS]
        _, runs[study] = run_study(work, study, config, targets, args.cores, args.mem_mb)

    print(
        f"DEM {args.size} x {args.size} = {args.size**2 / 1e6:.1f} M cells; tiles of "
        f"{args.tile_size}; --cores {args.cores} --resources mem_mb={args.mem_mb}\n"
    )
    over = print_runs(runs)

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
    finish(checks, over)


if __name__ == "__main__":
    main()
