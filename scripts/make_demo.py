"""Regenerate the demo's simulated tracks, truth and layers (a maintenance script, not a rule).

Run from the repository root::

    python scripts/make_demo.py                 # rewrites resources/demo/{tracks,truth,layers}
    python scripts/make_demo.py --out /tmp/demo # writes elsewhere (e.g. to compare)

The inputs are the real DEM and landslide points in resources/demo/; every number of the
simulation is in slidemap.simulate.params (the seed included), so the same code gives
byte-identical files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from slidemap.simulate import DEMO_SEED, SimulationParams, make_demo

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dem", type=Path, default=DEMO / "dem.tif", help="DEM (GeoTIFF, m)")
    parser.add_argument(
        "--points",
        type=Path,
        default=DEMO / "landslide_points.csv",
        help="landslide points CSV (x, y, lslpts)",
    )
    parser.add_argument("--out", type=Path, default=DEMO, help="output folder")
    parser.add_argument("--seed", type=int, default=DEMO_SEED, help="random seed")
    args = parser.parse_args(argv)
    files = make_demo(args.dem, args.points, args.out, SimulationParams(seed=args.seed))
    total = sum(f.stat().st_size for f in files)
    for f in files:
        print(f"{f.stat().st_size:>10,d}  {f}")
    print(f"{total:>10,d}  bytes in {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
