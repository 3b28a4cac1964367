"""The tiled ingest through Snakemake vs the one-job ingest_track, job by job (issue 14).

Usage::

    python benchmarks/ingest_dag.py [--rows 2000000] [--dates 60] [--batches 40]
                                    [--tile-size 20000] [--cores 2] [--mem-mb 8000]
                                    [--workdir DIR] [--hotspots]

Writes an EGMS-layout track of ``--rows`` points over a 100 x 100 km box in the Alps (the
generator of ``benchmarks/ingest.py``), cut into ``--batches`` burst files: strips in
easting, each with the first rows of its eastern neighbour again (1 km of overlap, identical
rows, as EGMS bursts overlap), and a DEM (250 m cells, UTM 32N) that bounds the study area.
Then runs the real workflow for the track's points.parquet and summary.json:

1. the reference: ``insar.tile_size_m: null`` (rule ``ingest_track``, one job);
2. ``insar.tile_size_m: <--tile-size>``: ``ingest_batch`` per file, ``ingest_tile`` per tile,
   ``ingest_merge``;
3. the tiled study again after a new batch in the south-west corner (2 % of the rows
   again plus new points there): which jobs reran, and the wall time.

With ``--hotspots`` both studies also run to the track's hot spots (``track_hotspots``; tiled:
``tile_trends`` per ingest tile and the ``hotspot_*`` tile jobs and merges first) and the
hot-spot outputs are compared too (Gi* z to 1e-12, all else exact).

Prints per run and rule the number of jobs, the longest job, the largest peak memory
(``max_rss`` of the benchmark files) against the largest ``mem_mb`` the run gave the rule, and
checks that the tiled outputs equal the reference, that the rerun touched only the new
batch's tiles, and that no job exceeded its memory request. Exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from dagrun import finish, jobs_run, prepare_workdir, print_runs, run_study, snakemake

ROOT = Path(__file__).resolve().parents[1]
COPY = ["Snakefile", "workflow", "scripts", "config", "envs"]
TRACK = "egms_asc"


def make_inputs(work: Path, rows: int, n_dates: int, batches: int) -> Path:
    """Write the DEM and the track's burst files under ``work``; return the track folder."""
    import runpy

    import pandas as pd
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    ingest = runpy.run_path(str(Path(__file__).resolve().parent / "ingest.py"))
    box = ingest["BOX_3035"]
    folder = work / "tracks" / TRACK
    if folder.exists() and len(list(folder.glob("*.csv"))) == batches:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    # the DEM: the box in UTM 32N with 5 km of margin (the study area is its footprint)
    tr = Transformer.from_crs("EPSG:3035", ingest["WORKING_CRS"], always_xy=True)
    xs, ys = tr.transform([box[0], box[2], box[0], box[2]], [box[1], box[1], box[3], box[3]])
    x0, y1 = min(xs) - 5000, max(ys) + 5000
    width, height = int((max(xs) + 5000 - x0) / 250), int((y1 - (min(ys) - 5000)) / 250)
    with rasterio.open(
        work / "dem.tif",
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="float32",
        crs=ingest["WORKING_CRS"],
        transform=from_origin(x0, y1, 250.0, 250.0),
        nodata=-9999.0,
    ) as dst:
        dst.write(np.full((1, height, width), 1500.0, np.float32))
    # the track: one file, cut into strips of easting (each + 1 km of its eastern neighbour)
    whole = work / "whole.csv"
    ingest["generate"](whole, rows, n_dates)
    easting = pd.read_csv(whole, usecols=["easting"])["easting"].to_numpy()
    edges = np.linspace(box[0], box[2], batches + 1)
    strip = np.clip(np.searchsorted(edges, easting, side="right") - 1, 0, batches - 1)
    overlap = (easting - edges[np.clip(strip, 0, batches - 1)]) < 1000.0  # west 1 km of strip
    with open(whole, encoding="utf-8") as fh:
        head = fh.readline()
        lines = fh.readlines()
    for k in range(batches):
        own = np.flatnonzero(strip == k)
        extra = np.flatnonzero((strip == k + 1) & overlap) if k + 1 < batches else []
        with open(folder / f"burst_{k:03d}.csv", "w", encoding="utf-8") as out:
            out.write(head)
            out.writelines(lines[i] for i in np.concatenate([own, extra]).astype(int))
    whole.unlink()
    return folder


def corner_batch(folder: Path, share: float = 0.02) -> Path:
    """Write a new batch in the south-west corner: rows of burst 0 again plus new ids there."""
    src = sorted(folder.glob("burst_*.csv"))[0]
    with open(src, encoding="utf-8") as fh:
        head = fh.readline()
        lines = fh.readlines()
    cols = head.rstrip("\n").split(",")
    north = cols.index("northing")
    south = [ln for ln in lines if float(ln.split(",", north + 1)[north]) < 2_510_000.0]
    n = max(1, int(len(lines) * share))
    again = south[:n]
    new = [f"ff{ln.split(',', 1)[0][2:]}," + ln.split(",", 1)[1] for ln in south[n : 2 * n]]
    path = folder / "burst_zzz_corner.csv"
    path.write_text(head + "".join(again + new), encoding="utf-8")
    return path


def main() -> None:
    import geopandas as gpd
    from pandas.testing import assert_frame_equal

    from slidemap.io import read_json

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--dates", type=int, default=60)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--tile-size", type=float, default=20000.0, help="insar.tile_size_m")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--mem-mb", type=int, default=8000, help="--resources mem_mb")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    parser.add_argument("--hotspots", action="store_true", help="run to the track's hot spots")
    args = parser.parse_args()
    work = prepare_workdir(args.workdir, "slidemap-ingestdag-", ROOT, COPY)
    t0 = time.perf_counter()
    folder = make_inputs(work, args.rows, args.dates, args.batches)
    print(f"inputs: {args.batches} files in {folder} ({time.perf_counter() - t0:.0f} s)")
    stages = ("insar", "hotspots") if args.hotspots else ("insar",)
    targets = {
        study: [
            f"results/{study}/{stage}/{TRACK}/{f}"
            for stage in stages
            for f in ("points.parquet", "summary.json")
        ]
        for study in ("whole", "tiled")
    }
    runs, jobs = {}, {}
    for study, tile in (("whole", None), ("tiled", args.tile_size)):
        config = {
            "study_area": {"name": study},
            "dem": {"path": "dem.tif"},
            "insar": {
                "tile_size_m": tile,
                "tracks": {TRACK: {"path": str(folder), "format": "egms"}},
            },
        }
        out, runs[study] = run_study(work, study, config, targets[study], args.cores, args.mem_mb)
        jobs[study] = jobs_run(out)

    checks = {}
    whole_pts, tiled_pts = (gpd.read_parquet(work / targets[k][0]) for k in ("whole", "tiled"))
    try:
        assert_frame_equal(tiled_pts, whole_pts, check_exact=True)
        same = read_json(work / targets["tiled"][1]) == read_json(work / targets["whole"][1])
    except AssertionError as err:
        print(err)
        same = False
    checks["tiled points.parquet and summary.json == ingest_track's"] = same
    del whole_pts, tiled_pts
    if args.hotspots:
        whole_hot, tiled_hot = (gpd.read_parquet(work / targets[k][2]) for k in ("whole", "tiled"))
        # Gi* of the tile jobs: z to rounding (band sums in another order), all else exact
        gi = ["gi_z", "gi_p"]
        same = whole_hot.drop(columns=gi).equals(tiled_hot.drop(columns=gi))
        for col in gi:
            same &= bool(np.allclose(tiled_hot[col], whole_hot[col], rtol=1e-12, atol=1e-12))
        z_err = float(np.max(np.abs(tiled_hot["gi_z"] - whole_hot["gi_z"]).to_numpy(), initial=0.0))
        print(f"largest |z tiled - z whole|: {z_err:.3g}")
        same &= read_json(work / targets["tiled"][3]) == read_json(work / targets["whole"][3])
        checks["tiled hot-spot points.parquet and summary.json == untiled (z to 1e-12)"] = same
        del whole_hot, tiled_hot

    # a new batch in one corner, on the tiled study only
    from slidemap.insar.tiledingest import batch_tiles

    corner = corner_batch(folder)
    t = time.perf_counter()
    out = snakemake(
        work, *targets["tiled"], "--configfile", str(work / "tiled.yaml"), "--cores",
        str(args.cores), "--resources", f"mem_mb={args.mem_mb}",
    )  # fmt: skip
    rerun_wall, rerun = time.perf_counter() - t, jobs_run(out)
    new_tiles = batch_tiles(work / f"results/tiled/insar/{TRACK}/batches/{corner.stem}")

    summary = read_json(work / f"results/tiled/insar/{TRACK}/summary.json")
    print(
        f"\n{summary['rows_read']:,} rows read (after the corner batch), "
        f"{summary['rows_kept']:,} kept, {args.dates} dates, {args.batches} + 1 batch files; "
        f"tiles of {args.tile_size / 1000:g} km; --cores {args.cores} "
        f"--resources mem_mb={args.mem_mb}\n"
    )
    over = print_runs(runs, width=14)
    counts = {r: sum(1 for j in rerun if j[0] == r) for r in sorted({j[0] for j in rerun})}
    n_tiles = sum(1 for j in jobs["tiled"] if j[0] == "ingest_tile")
    print(
        f"corner batch ({corner.name}): reran {counts} in {rerun_wall:.1f} s; the batch touches "
        f"{len(new_tiles)} of {n_tiles} tiles"
    )

    rerun_tiles = sorted(j[1]["itile"] for j in rerun if j[0] == "ingest_tile")
    checks["rerun tiles == the corner batch's tiles"] = rerun_tiles == sorted(new_tiles)
    rules = {"ingest_batch": 1, "ingest_tile": len(new_tiles), "ingest_merge": 1}
    if args.hotspots:
        # the plane, noise level and Gi* scale span the track: its field jobs all rerun
        plane = read_json(work / f"results/tiled/hotspots/{TRACK}/fields/plane.json")
        rules.update(
            tile_trends=len(new_tiles),
            hotspot_plane=1,
            hotspot_tile_pass1=len(plane["tiles"]),
            hotspot_settings=1,
            hotspot_tile_gistar=len(plane["point_tiles"]),
            hotspot_tile_points=len(plane["point_tiles"]),
            track_hotspots=1,
        )
    checks[
        "rerun jobs: 1 batch, its tiles, 1 merge (+ its tiles' trends, the track's field jobs, "
        "1 hot-spot job)"
    ] = counts == rules
    checks["rows accounted"] = summary["rows_read"] == summary["rows_kept"] + sum(
        summary["dropped"].values()
    )
    finish(checks, over)


if __name__ == "__main__":
    main()
