"""The seam-flat merge of the tiled D8 directions on its worst case: one lake over the grid.

Usage::

    PYTHONPATH=src python benchmarks/flat_merge.py [--size 8192] [--tile-size 2048]

A filled DEM that is one flat (a lake at 5 m inside a 9 m rim, draining through one notch in
the south-east corner) makes every lake cell a *seam flat* (a flat crossing tile edges): the case
where the directions merge grows with the grid. Each step runs in its own process (as
Snakemake runs the jobs), with its wall time and peak resident memory (``VmHWM``):

1. ``flat_seams_job`` per tile (the rule ``hydro_seams``);
2. the reference: :func:`slidemap.factors.tileddirs.solve_flat_distances`, one breadth-first
   search over the union of every tile's seam flats (the merge before 2026-12-05);
3. the merge of rule ``hydro_flats``: ``solve_flat_distances_job`` (tile by tile, one file
   per tile);

and checks that every tile's distances equal the reference's, cell for cell, and that every
lake cell's distance is its chessboard distance to the notch.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from flow_tiles import timed  # noqa: E402  (the benchmarks' process timer)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0 when the tiled merge equals the reference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192, help="DEM edge (cells)")
    parser.add_argument("--tile-size", type=int, default=2048, help="tile edge (cells)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="flat-merge-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{os.environ.get('PYTHONPATH', '')}"}
    n, ts = args.size, args.tile_size
    dem = work / "lake.tif"
    timed(
        "import numpy as np\nfrom affine import Affine\nfrom rasterio.crs import CRS\n"
        "from slidemap.raster import Grid, write_cog\n"
        f"z = np.full(({n}, {n}), 9.0, np.float32)  # the rim\n"
        f"z[1:-1, 1:-1] = 5.0  # the lake\n"
        f"z[{n} - 1, {n} - 1] = 1.0  # the notch\n"
        f"g = Grid(crs=CRS.from_epsg(3035), transform=Affine(10, 0, 4e6, 0, -10, 3e6), "
        f"width={n}, height={n})\n"
        f"write_cog(z, {str(dem)!r}, nodata=float('nan'), grid=g)\n",
        env,
    )
    windows = [
        (col, row, min(ts, n - col), min(ts, n - row))
        for row in range(0, n, ts)
        for col in range(0, n, ts)
    ]  # = tiledfill.tile_layout(n, n, ts), row-major
    seams = [str(work / f"seams_{i}.npz") for i in range(len(windows))]
    flats = [str(work / f"flats_{i}.npz") for i in range(len(windows))]
    print(f"lake {n} x {n} = {n * n / 1e6:.1f} M cells in {len(windows)} tiles of {ts} cells")
    rows = []
    walls, peaks = [], []
    for w, out in zip(windows, seams, strict=True):
        wall, peak = timed(
            "from rasterio.windows import Window\n"
            "from slidemap.factors.tileddirs import flat_seams_job\n"
            f"flat_seams_job({str(dem)!r}, Window{w}, {out!r})\n",
            env,
        )
        walls.append(wall)
        peaks.append(peak)
    rows.append(("seam flats per tile (hydro_seams)", len(windows), sum(walls), max(peaks)))
    wall, peak = timed(
        "import numpy as np\n"
        "from slidemap.factors.tileddirs import solve_flat_distances\n"
        "from slidemap.factors.tiledfill import _load_npz, _save_npz\n"
        f"ref = solve_flat_distances(_load_npz({seams!r}), {n}, {n})\n"
        f"_save_npz({str(work / 'reference.npz')!r}, ref)\n",
        env,
    )
    rows.append(("reference: one search over every seam flat", 1, wall, peak))
    wall, peak = timed(
        "import json\nfrom slidemap.factors.tileddirs import solve_flat_distances_job\n"
        f"stats = solve_flat_distances_job({seams!r}, {n}, {n}, {ts}, {flats!r})\n"
        f"open({str(work / 'merge.json')!r}, 'w').write(json.dumps(stats))\n",
        env,
    )
    rows.append(("hydro_flats: tile by tile (one file per tile)", 1, wall, peak))
    print(f"\n{'step':48s} {'jobs':>5s} {'sum s':>8s} {'peak MB':>8s}")
    for label, jobs, wall, peak in rows:
        print(f"{label:48s} {jobs:5d} {wall:8.1f} {peak:8.0f}")

    import numpy as np

    with np.load(work / "reference.npz") as ref:
        index, dist = ref["index"], ref["dist"]
    rr, cc = np.divmod(index, n)
    chessboard = np.maximum(n - 2 - rr, n - 2 - cc)  # to the lake cell beside the notch
    ok = bool(index.size == (n - 2) ** 2 - 1 and np.array_equal(dist, chessboard))
    for path in flats:
        with np.load(path) as got:
            pos = np.searchsorted(index, got["index"])
            ok &= bool(np.array_equal(index[pos], got["index"]))
            ok &= bool(np.array_equal(dist[pos], got["dist"]))
    import json

    stats = json.loads((work / "merge.json").read_text())
    print(
        f"seam-flat cells: {index.size}; tile searches: {stats['tile_searches']} "
        f"({len(windows)} tiles); every tile == reference == chessboard distance: {ok}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
