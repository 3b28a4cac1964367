"""Distance factor (rule ``distance_factor``): streamed vs whole-grid EDT vs ``gdal_proximity``.

Usage::

    python benchmarks/distance.py [--size 8192] [--lines 300]

Makes a seeded set of random polylines (``--lines``, 20 vertices each) over a ``--size``²
grid of 10 m cells, then runs, each in its own process, printing wall time and peak
resident memory:

1. ``gdal_rasterize -at`` + ``gdal_proximity.py -distunits GEO`` (the reference: GDAL's
   distance from every cell centre to the nearest burnt cell centre);
2. ``distance_to_features`` (the whole padded grid in memory, ~13 B per cell);
3. ``distance_blocks`` (what the rule runs: strips of 512 columns / blocks of 512 rows and a
   scratch file of 8 B per padded cell on disk).

Checks, in the same run: 2 and 3 are equal cell for cell, and both equal GDAL's proximity to
float32 rounding wherever the nearest feature lies inside the grid (GDAL ignores features
beyond the raster; slidemap pads the grid by 128 cells and checks farther features with
GEOS, so cells near the border may read less than GDAL: counted, not compared).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import numpy as np, shapely
from affine import Affine
from rasterio.crs import CRS
from slidemap.factors.distance import distance_blocks, distance_to_features
from slidemap.raster import Grid
mode, n, lines, out, scratch = sys.argv[1:6]
n = int(n)
grid = Grid(CRS.from_epsg(32617), Affine(10, 0, 0, 0, -10, n * 10.0), n, n)
with open(lines) as f:
    geoms = [shapely.from_wkt(w) for w in json.load(f)]
tic = time.perf_counter()
if mode == "whole":
    dist = distance_to_features(geoms, grid)
else:
    dist = np.empty(grid.shape, np.float32)  # the result, to compare (not what the rule holds)
    for w, block in distance_blocks(geoms, grid, scratch_dir=scratch):
        dist[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] = block
wall = time.perf_counter() - tic
np.save(out, dist)
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "peak_mb": peak_mb, "result_mb": dist.nbytes / 2**20}))
"""


def make_lines(n: int, count: int, seed: int = 1) -> list[str]:
    """Random polylines (WKT, metres) over an n x n grid of 10 m cells."""
    import shapely

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        start = rng.uniform(0, n * 10.0, 2)
        xy = start + np.cumsum(rng.normal(0, 300, (20, 2)), axis=0)
        out.append(shapely.LineString(xy).wkt)
    return out


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd``; return wall seconds, peak RSS (MB, /usr/bin/time) and stdout."""
    tic = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - tic
    peak_kb = float(proc.stderr.strip().splitlines()[-1])
    return wall, peak_kb / 1024, proc.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192, help="grid edge in 10 m cells")
    parser.add_argument("--lines", type=int, default=300, help="random polylines")
    args = parser.parse_args(argv)
    n = args.size
    tmp = Path(tempfile.mkdtemp(prefix="slidemap-distance-"))
    try:
        wkts = make_lines(n, args.lines)
        (tmp / "lines.json").write_text(json.dumps(wkts))
        print(f"{n}² cells ({n * n / 1e6:.0f} M), {len(wkts)} polylines")
        print(f"{'':34s} {'wall s':>8s} {'peak MB':>9s}")
        results = {}
        if shutil.which("gdal_rasterize") and shutil.which("gdal_proximity.py"):
            import geopandas as gpd
            import shapely

            gpd.GeoDataFrame(
                geometry=[shapely.from_wkt(w) for w in wkts], crs="EPSG:32617"
            ).to_file(tmp / "lines.gpkg")
            t1, m1, _ = timed(
                ["gdal_rasterize", "-q", "-at", "-burn", "1", "-ot", "Byte", "-te", "0", "0",
                 str(n * 10), str(n * 10), "-tr", "10", "10", "-co", "TILED=YES",
                 str(tmp / "lines.gpkg"), str(tmp / "mask.tif")]
            )  # fmt: skip
            t2, m2, _ = timed(
                ["gdal_proximity.py", "-q", "-values", "1", "-distunits", "GEO", "-ot",
                 "Float32", "-co", "TILED=YES", str(tmp / "mask.tif"), str(tmp / "prox.tif")]
            )  # fmt: skip
            print(f"{'gdal_rasterize + gdal_proximity.py':34s} {t1 + t2:8.1f} {max(m1, m2):9.0f}")
            import rasterio

            with rasterio.open(tmp / "prox.tif") as src:
                results["gdal"] = src.read(1)
        for mode, label in (
            ("whole", "distance_to_features (whole grid)"),
            ("blocks", "distance_blocks (the rule)"),
        ):
            out = tmp / f"{mode}.npy"
            wall, peak, stdout = timed(
                [sys.executable, "-c", CHILD, mode, str(n), str(tmp / "lines.json"), str(out),
                 str(tmp)]
            )  # fmt: skip
            info = json.loads(stdout.strip().splitlines()[-1])
            note = f"  (incl. the {info['result_mb']:.0f} MB result kept to compare)"
            print(f"{label:34s} {wall:8.1f} {peak:9.0f}{note if mode == 'blocks' else ''}")
            results[mode] = np.load(out)
        same = np.array_equal(results["whole"], results["blocks"])
        print(f"streamed == whole grid, cell for cell: {same}")
        if "gdal" in results:
            ours = results["blocks"]
            gdal = results["gdal"].astype(np.float64)
            inside = ours >= gdal - 1e-3  # GDAL does not see features beyond the raster
            diff = np.abs(ours[inside] - gdal[inside])
            print(
                f"vs gdal_proximity: max |diff| {diff.max():.4f} m over {inside.sum():,} cells; "
                f"{(~inside).sum():,} border cells nearer to a feature outside the raster"
            )
            ok = same and diff.max() <= 1e-3 * max(1.0, float(gdal.max()))
        else:
            print("gdal_rasterize / gdal_proximity.py not found: reference skipped")
            ok = same
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
