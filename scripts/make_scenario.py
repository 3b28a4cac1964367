"""Simulate one scenario of the suite into a study folder (a maintenance script, not a rule).

Run from the repository root::

    python scripts/make_scenario.py resources/scenarios/dev_zion_north.yaml \
        --out /tmp/scenarios/dev_zion_north
    snakemake -n --configfile /tmp/scenarios/dev_zion_north/config.yaml   # slidemap on it

The folder receives dem.tif (the DEM window in its original CRS), tracks/, truth/, layers/,
inventory.gpkg and config.yaml; see resources/scenarios/README.md. The logic is in
slidemap.simulate.scenario and slidemap.simulate.study; the same scenario file gives
byte-identical files.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from slidemap.simulate.scenario import load_scenario
from slidemap.simulate.study import make_scenario

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path, help="scenario file (YAML)")
    parser.add_argument("--out", type=Path, required=True, help="output (study) folder")
    parser.add_argument(
        "--no-check", action="store_true", help="skip validating the written config.yaml"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    scenario = load_scenario(args.scenario)
    sim, files = make_scenario(scenario, args.out)
    elapsed = time.perf_counter() - start
    if not args.no_check:
        import yaml

        from slidemap.config import check_paths, load_schema, validate_config

        with open(args.out / "config.yaml", encoding="utf-8") as fh:
            config = validate_config(
                yaml.safe_load(fh), load_schema(ROOT / "workflow/schemas/config.schema.yaml")
            )
        check_paths(config, ROOT)
    total = sum(f.stat().st_size for f in files)
    for f in files:
        print(f"{f.stat().st_size:>10,d}  {f}")
    print(f"{total:>10,d}  bytes in {len(files)} files")
    slides = sim.slides
    print(f"scenario {scenario.name} ({scenario.role}) in {elapsed:.1f} s")
    print(f"  slides: {len(slides)}, detectable {int(slides['detectable'].sum())}", end="")
    for tr in sim.tracks:
        n_det = int(slides[f"detectable_{tr.spec.name}"].sum())
        print(f", {tr.spec.name} {n_det} ({len(tr.points)} points)", end="")
    print()
    kinds = sim.sources["kind"].value_counts().to_dict()
    print(f"  other sources: {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
