"""National scale (issue 14, item 4): tiled tracks and a large DEM as bounded-memory jobs.

Writes a synthetic national-size study, runs the real workflow on it to the candidates and
the factor stack with ``--resources mem_mb=...``, and tabulates every job's wall time and
peak memory (Snakemake benchmark files) against the ``mem_mb`` it was given.

Run from the repository root::

    python benchmarks/national.py make [--size 32768] [--points 20000000] [--batches 40]
    python benchmarks/national.py run [--cores 2] [--mem-mb 8000] [--part all|insar|factors]
    python benchmarks/national.py run --slurm-job-mb 4000   # on the local SLURM cluster
    python benchmarks/national.py prune          # drop the InSAR bulk between the two parts
    python benchmarks/national.py table          # -> benchmarks/national.md
    python benchmarks/national.py compare        # the same inputs untiled: same candidates?

``make --size 4096 --points 400000 --batches 8`` makes a small version to try the commands.
The inputs go to ``resources/national/`` (git-ignored) and the study's config to
``config/national.yaml`` (written by ``make``, git-ignored; nothing large is committed).

The study: a DEM of ``--size``² cells at 10 m in EPSG:3035 (relief: a cubic-spline
interpolated Gaussian random field of ~5 km features, ± 400 m per standard deviation, plus
analytic ridges of 150–900 m wavelength (≤ 6 m), computed window by window, so no step
holds the grid), elliptical
moving slopes at the density of ``benchmarks/large_area.py`` (400 per 82 km square; the
same physics: 12–40 mm/yr LOS inside, 1.5 mm/yr noise outside, 2 mm noise per date), two
tracks (ascending, descending) of ``--points`` PS points each in the EGMS L2b layout with
60 dates, cut into ``--batches`` burst files per track: strips in easting, each holding the
western 1 km of its eastern neighbour again (as EGMS bursts overlap). The config tiles the
InSAR stages (``insar.tile_size_m: 20000``) and the flow routing
(``factors.hydrology.tile_size_cells: 4096``).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "national"
CONFIG = ROOT / "config" / "national.yaml"
STUDY = "national"
CELL_M = 10.0
ORIGIN = (4_000_000.0, 2_900_000.0)  # upper-left corner, EPSG:3035 metres (the Alps' north)
CRS = "EPSG:3035"
N_DATES = 60
SEED = 32768
WINDOW = 2048  # DEM cells per window edge (make)
OVERLAP_M = 1000.0  # burst overlap in easting
SLIDES_PER_KM2 = 400 / 81.92**2  # the density of benchmarks/large_area.py
EGMS_META = (
    "mp_type,latitude,longitude,easting,northing,height,height_wgs84,line,pixel,rmse,"
    "temporal_coherence,amplitude_dispersion,incidence_angle,track_angle,los_east,los_north,"
    "los_up,mean_velocity,mean_velocity_std,acceleration,acceleration_std,seasonality,"
    "seasonality_std"
).split(",")


def _ridges(rng: np.random.Generator, n: int = 24) -> np.ndarray:
    """Analytic ridges: (n, 4) wave vector x, y (rad/m), phase (rad), amplitude (m)."""
    wavelength = rng.uniform(150.0, 900.0, n)
    theta = rng.uniform(0, np.pi, n)
    k = 2 * np.pi / wavelength
    amp = 6.0 * wavelength / 900.0  # steeper short waves would be cliffs
    return np.column_stack(
        [k * np.cos(theta), k * np.sin(theta), rng.uniform(0, 2 * np.pi, n), amp]
    )


def dem_window(coeffs: np.ndarray, ridges: np.ndarray, row0: int, col0: int, h: int, w: int):
    """Compute the elevations (m, float32 h × w) of a DEM window.

    A cell gets the same value in any window (spline of the global coarse field + analytic
    ridges).

    Parameters
    ----------
    coeffs
        Cubic-spline coefficients of the coarse relief field
        (``scipy.ndimage.spline_filter``), one coarse cell per 64 DEM cells.
    ridges
        :func:`_ridges`.
    row0, col0, h, w
        The window (DEM cells).
    """
    from scipy import ndimage

    rows = (row0 + np.arange(h)) / 64.0
    cols = (col0 + np.arange(w)) / 64.0
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    relief = ndimage.map_coordinates(coeffs, [rr, cc], order=3, prefilter=False, mode="nearest")
    x = (col0 + np.arange(w))[None, :] * CELL_M
    y = (row0 + np.arange(h))[:, None] * CELL_M
    detail = np.zeros((h, w))
    for kx, ky, phase, amp in ridges:
        detail += amp * np.sin(kx * x + ky * y + phase)
    return (1500.0 + 400.0 * relief + detail).astype(np.float32)


def make_dem(size: int, rng: np.random.Generator) -> None:
    """Write ``OUT/dem.tif`` (size × size cells, 10 m, EPSG:3035) window by window."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window
    from scipy import ndimage

    from slidemap.simulate.fields import gaussian_random_field

    coarse = gaussian_random_field(rng, (size // 64 + 4, size // 64 + 4), sigma_cells=2.5)
    coeffs = ndimage.spline_filter(coarse, order=3, mode="nearest")
    ridges = _ridges(rng)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": from_origin(*ORIGIN, CELL_M, CELL_M),
        "nodata": -9999.0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "predictor": 3,
        "BIGTIFF": "YES",
    }
    t0 = time.perf_counter()
    with rasterio.open(OUT / "dem.tif", "w", **profile) as dst:
        for row0 in range(0, size, WINDOW):
            for col0 in range(0, size, WINDOW):
                h, w = min(WINDOW, size - row0), min(WINDOW, size - col0)
                dst.write(
                    dem_window(coeffs, ridges, row0, col0, h, w), 1, window=Window(col0, row0, w, h)
                )
            print(f"  dem rows {row0 + h}/{size} ({time.perf_counter() - t0:.0f} s)", flush=True)


def make_slides(size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw the moving slopes (n, 6): centre x, y, semi-axes a, b (m), orientation, LOS mm/yr."""
    extent = size * CELL_M
    n = max(1, int(round(SLIDES_PER_KM2 * (extent / 1000.0) ** 2)))
    x = ORIGIN[0] + rng.uniform(500, extent - 500, n)
    y = ORIGIN[1] - rng.uniform(500, extent - 500, n)
    a = rng.uniform(120, 300, n)
    b = a * rng.uniform(0.4, 0.8, n)
    return np.column_stack([x, y, a, b, rng.uniform(0, np.pi, n), -rng.uniform(12, 40, n)])


def _strip_rows(track: int, k: int, n: int, size: int, edges: np.ndarray, slides: np.ndarray):
    """One strip's points: ids, x, y, LOS velocity (seeded by track and strip)."""
    from large_area import inside_slides

    rng = np.random.default_rng([SEED, track, k])
    x = rng.uniform(edges[k], edges[k + 1], n)
    y = ORIGIN[1] - rng.uniform(0, size * CELL_M, n)
    near = np.flatnonzero((slides[:, 0] > edges[k] - 400) & (slides[:, 0] < edges[k + 1] + 400))
    owner = inside_slides(x, y, slides[near])
    v = rng.normal(0.0, 1.5, n)
    moving = owner >= 0
    v[moving] = slides[near[owner[moving]], 5] + rng.normal(0, 2.0, int(moving.sum()))
    ids = np.array([f"{track:01d}{k:03d}{i:06x}" for i in range(n)])
    return ids, x, y, v


def _strip_csv(ids, x, y, v, track: int, k: int, dates: list[date]) -> str:
    """EGMS L2b rows (no header) of a strip's points, 2 mm of noise per date."""
    import pandas as pd
    from pyproj import Transformer

    rng = np.random.default_rng([SEED, track, k, 1])
    n = ids.size
    t = np.array([(d - dates[0]).days / 365.25 for d in dates])
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    asc = track % 2 == 0
    meta = {
        "mp_type": "PS",
        "latitude": np.round(lat, 7),
        "longitude": np.round(lon, 7),
        "easting": np.round(x, 1),
        "northing": np.round(y, 1),
        "height": 1500.0,
        "height_wgs84": 1550.0,
        "line": 0,
        "pixel": 0,
        "rmse": 1.0,
        "temporal_coherence": np.round(rng.uniform(0.6, 1, n), 2),
        "amplitude_dispersion": 0.2,
        "incidence_angle": 39.0,
        "track_angle": -12.1 if asc else -167.9,
        "los_east": -0.6156 if asc else 0.6156,
        "los_north": -0.1308 if asc else -0.1308,
        "los_up": 0.7771,
        "mean_velocity": np.round(v, 1),
        "mean_velocity_std": 0.5,
        "acceleration": 0.0,
        "acceleration_std": 0.1,
        "seasonality": 0.0,
        "seasonality_std": 0.1,
    }
    frame = pd.DataFrame({"pid": ids, **{c: meta[c] for c in EGMS_META}})
    disp = np.round(v[:, None] * t[None, :] + rng.normal(0, 2.0, (n, t.size)), 1)
    frame = pd.concat([frame, pd.DataFrame(disp, columns=[f"{d:%Y%m%d}" for d in dates])], axis=1)
    return frame.to_csv(index=False, header=False, lineterminator="\n")


def make_track(track: int, points: int, batches: int, size: int, slides: np.ndarray) -> None:
    """Write one track's burst files (east to west, each + 1 km of its eastern neighbour)."""
    name = ("asc_", "dsc_")[track % 2] + f"{track:03d}"
    folder = OUT / "tracks" / name
    folder.mkdir(parents=True, exist_ok=True)
    dates = [date(2019, 1, 6) + timedelta(days=12 * i) for i in range(N_DATES)]
    header = ",".join(["pid", *EGMS_META, *(f"{d:%Y%m%d}" for d in dates)]) + "\n"
    edges = ORIGIN[0] + np.linspace(0.0, size * CELL_M, batches + 1)
    counts = np.full(batches, points // batches)
    counts[: points % batches] += 1
    carry = ""  # the western 1 km of the strip east of the one being written
    t0 = time.perf_counter()
    for k in range(batches - 1, -1, -1):
        ids, x, y, v = _strip_rows(track, k, int(counts[k]), size, edges, slides)
        text = _strip_csv(ids, x, y, v, track, k, dates)
        with open(folder / f"burst_{k:03d}.csv", "w", encoding="utf-8") as fh:
            fh.write(header + text + carry)
        west = x < edges[k] + OVERLAP_M
        lines = text.splitlines(keepends=True)
        carry = "".join(lines[i] for i in np.flatnonzero(west))
        print(
            f"  {name} burst {k:03d}: {ids.size} points ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )


def write_config(size: int) -> None:
    """Write config/national.yaml (the study of the made inputs)."""
    import yaml

    tracks = {}
    for track in range(2):
        name = ("asc_", "dsc_")[track % 2] + f"{track:03d}"
        tracks[name] = {
            "path": f"resources/national/tracks/{name}",
            "format": "egms",
            "orbit": ("ascending", "descending")[track % 2],
        }
    config = {
        "study_area": {"name": STUDY, "crs": None, "resolution_m": None},
        "dem": {"path": "resources/national/dem.tif"},
        "insar": {"tile_size_m": 20000, "tracks": tracks},
        "inventory": {"path": "resources/national/inventory.csv", "crs": CRS},
        "factors": {
            "chunk_size": 1024,
            "threads": 2,
            # tiled flow routing is D8 (MFD needs the whole grid)
            "hydrology": {"tile_size_cells": 4096, "method": "d8"},
        },
        "hotspots": {"chunk_size": 1024},
    }
    head = (
        f"# slidemap at national scale (issue 14): {size} x {size} cells at 10 m, two tracks in\n"
        "# EGMS bursts, written by `python benchmarks/national.py make` (do not edit; remake).\n"
    )
    CONFIG.write_text(head + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def disk_needed_gb(size: int, points: int) -> tuple[float, float]:
    """Disk (GB) of the CSV bursts and of the whole study (CSV + the run's results).

    From measured runs: the run keeps ~0.7 KB per point of a track (batch pieces, tiles,
    points.parquet, the hot-spot files: 2.7 GB for 4 M points) and ~50 B per DEM cell
    (the grid DEM and the factor stack as COGs: 3.3 GB at 8192²).
    """
    csv = 2 * points * (N_DATES * 5 + 250) / 1e9
    return csv, csv + 2 * points * 0.7e3 / 1e9 + size * size * 50 / 1e9


def make(size: int, points: int, batches: int, force: bool = False, jobs: int = 1) -> None:
    """Write resources/national/ and config/national.yaml.

    ``jobs`` > 1 writes the two tracks in that many processes at once (the same files: each
    burst is drawn from its own seed, ``[SEED, track, strip]``).
    """
    import shutil
    from concurrent.futures import ProcessPoolExecutor

    rng = np.random.default_rng(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    csv_gb, need_gb = disk_needed_gb(size, points)
    free_gb = shutil.disk_usage(OUT).free / 1e9
    print(
        f"{size}² cells, 2 x {points:,} points: ~{csv_gb:.1f} GB of CSV, ~{need_gb:.0f} GB "
        f"with the run's results; {free_gb:.0f} GB free",
        flush=True,
    )
    if need_gb > free_gb and not force:
        raise SystemExit(
            f"{OUT}: the study and its run need ~{need_gb:.0f} GB, {free_gb:.0f} GB are free; "
            "free disk, choose a smaller --size/--points, or pass --force to write anyway."
        )
    make_dem(size, rng)
    slides = make_slides(size, rng)
    print(f"{len(slides)} moving slopes", flush=True)
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=min(jobs, 2)) as pool:
            done = [pool.submit(make_track, t, points, batches, size, slides) for t in range(2)]
            for future in done:
                future.result()
    else:
        for track in range(2):
            make_track(track, points, batches, size, slides)
    # inventory: a point at the centre of every slope
    np.savetxt(
        OUT / "inventory.csv", np.round(slides[:, :2], 2), delimiter=",", header="x,y",
        comments="", fmt="%.2f",
    )  # fmt: skip
    write_config(size)
    print(f"inventory.csv: {len(slides)} points; {CONFIG.relative_to(ROOT)} written", flush=True)


PARTS = {
    "all": ("hotspots/candidates.gpkg", "factors/factors.json"),
    "insar": ("hotspots/candidates.gpkg",),
    "factors": ("factors/factors.json",),
}


def run(cores: int, mem_mb: int, slurm_job_mb: int | None = None, part: str = "all") -> int:
    """Run the workflow to the candidates and the factor stack; return Snakemake's status.

    ``part`` picks the targets (``PARTS``): ``insar`` stops at the candidates and asks
    rule ``terrain_factors`` for the two rasters they read (slope, aspect: an overlay config
    with ``factors.terrain``), ``factors`` builds the whole factor stack only (from a copy of
    the config without the tracks, whose folders ``prune`` deleted: the config check names
    missing inputs), so a disk that cannot hold the whole study runs the two halves with
    ``prune`` between them. (At 32768²
    a factor of this synthetic relief is a ~4 GB COG, written from a 4.3 GB raw file.)

    With ``slurm_job_mb`` the jobs go through ``--profile profiles/slurm`` to the local
    one-node SLURM cluster of ``tests/slurm`` (started here, stopped after), whose partition
    refuses a job asking for more than ``slurm_job_mb`` MB; ``cores`` jobs run at a time.
    """
    import os
    import subprocess

    res = f"results/{STUDY}"
    targets = [f"{res}/{target}" for target in PARTS[part]]
    configs = [str(CONFIG)]
    if part == "insar":
        overlay = CONFIG.with_name("national_insar.yaml")
        overlay.write_text("factors:\n  terrain: [slope, aspect]\n", encoding="utf-8")
        configs.append(str(overlay))
    elif part == "factors":  # the config without the tracks, whose bursts `prune` deleted
        import yaml

        config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
        config["insar"].pop("tracks", None)
        factors_only = CONFIG.with_name("national_factors.yaml")
        factors_only.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        configs = [str(factors_only)]
    cmd = [sys.executable, "-m", "snakemake", *targets, "--configfile", *configs]
    slurm = ROOT / "tests" / "slurm"
    if slurm_job_mb is None:
        cmd += ["--cores", str(cores), "--resources", f"mem_mb={mem_mb}"]
    else:
        env = dict(os.environ, SLURM_MAX_JOB_MB=str(slurm_job_mb))
        subprocess.run(["bash", str(slurm / "start_local_slurm.sh")], check=True, env=env)
        cmd += ["--profile", "profiles/slurm", "--jobs", str(cores)]
        cmd += ["--max-threads", str(os.cpu_count())]
    print(" ".join(cmd), flush=True)
    t0 = time.perf_counter()
    try:
        rc = subprocess.call(cmd, cwd=ROOT)
    finally:
        if slurm_job_mb is not None:
            subprocess.run(["bash", str(slurm / "stop_local_slurm.sh")], check=False)
    print(f"workflow: {time.perf_counter() - t0:.0f} s, exit {rc}", flush=True)
    return rc


def compare(cores: int, mem_mb: int) -> bool:
    """Run the same inputs untiled (``insar.tile_size_m: null``) and compare the candidates.

    The untiled study (``national_untiled``, written to ``config/national_untiled.yaml``)
    holds each track in one ingest and one hot-spot job, so keep it to a few million points
    (``make --size 8192 --points 1000000``). Returns True when both ``candidates.gpkg`` hold
    the same polygons (exact geometry) and attributes.
    """
    import subprocess

    import geopandas as gpd
    import yaml

    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config["study_area"]["name"] = f"{STUDY}_untiled"
    config["insar"]["tile_size_m"] = None
    untiled = CONFIG.with_name("national_untiled.yaml")
    untiled.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    target = f"results/{STUDY}_untiled/hotspots/candidates.gpkg"
    cmd = [
        sys.executable, "-m", "snakemake", target, "--configfile", str(untiled),
        "--cores", str(cores), "--resources", f"mem_mb={mem_mb}",
    ]  # fmt: skip
    t0 = time.perf_counter()
    if subprocess.call(cmd, cwd=ROOT):
        return False
    print(f"untiled run: {time.perf_counter() - t0:.0f} s", flush=True)
    a = gpd.read_file(ROOT / f"results/{STUDY}/hotspots/candidates.gpkg")
    b = gpd.read_file(ROOT / target)
    same = len(a) == len(b) and bool(a.geometry.geom_equals_exact(b.geometry, 0).all())
    cols = [c for c in a.columns if c != "geometry"]
    same &= list(a.columns) == list(b.columns) and a[cols].equals(b[cols])
    print(f"candidates: tiled {len(a)}, untiled {len(b)}; identical: {same}", flush=True)
    return same


def prune(dry_run: bool = False) -> float:
    """Delete the InSAR half's bulk (burst CSVs, per-point Parquet files); return the GB freed.

    Kept: ``candidates.gpkg``, the tracks' summaries, polygons and density rasters, and every
    job's log and benchmark file (``table`` reads them). For a disk that cannot hold the CSV
    bursts, the points and the 32768² factor stack at once: ``run --part insar``, ``prune``,
    ``run --part factors``. Snakemake then sees the InSAR jobs' outputs missing and would
    rerun them for the candidates; ask for ``--part factors`` only.
    """
    import shutil

    res = ROOT / "results" / STUDY
    doomed = [OUT / "tracks"]
    for track in sorted((res / "insar").glob("*")):
        doomed += [track / "batches", track / "tiles", track / "points.parquet"]
    for track in sorted((res / "hotspots").glob("*")):
        if track.is_dir():
            doomed += [track / "tiles", track / "fields", track / "points.parquet"]
    freed = 0.0
    for path in doomed:
        if not path.exists():
            continue
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        size = sum(f.stat().st_size for f in files) / 1e9
        freed += size
        print(f"{'would delete' if dry_run else 'delete'} {path.relative_to(ROOT)}: {size:.1f} GB")
        if not dry_run:
            if path.is_file():
                path.unlink()
            else:
                shutil.rmtree(path)
    print(f"{'would free' if dry_run else 'freed'} {freed:.1f} GB", flush=True)
    return freed


def table(limit_mb: float = 4000.0) -> str:
    """Per-rule table of the jobs (count, wall, peak vs mem_mb) into benchmarks/national.md."""
    from large_area import job_rows, write_table

    df = job_rows(STUDY).rename(columns={"max_rss_mb": "rss"})
    lines = [
        "| rule | jobs | longest (s) | sum (s) | peak RSS, max (MB) | mem_mb, max | over mem_mb "
        f"| over {limit_mb:.0f} MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rule, g in df.groupby("rule"):
        over = int(sum(1 for r in g.itertuples() if r.mem_mb and r.rss > r.mem_mb))
        lines.append(
            f"| {rule} | {len(g)} | {g.wall_s.max():.1f} | {g.wall_s.sum():.0f} | "
            f"{g.rss.max():.0f} | {g.mem_mb.max():.0f} | {over} | {int((g.rss > limit_mb).sum())} |"
        )
    lines.append(
        f"| **all** | {len(df)} | {df.wall_s.max():.1f} | {df.wall_s.sum():.0f} | "
        f"{df.rss.max():.0f} | | | {int((df.rss > limit_mb).sum())} |"
    )
    text = "\n".join(lines)
    write_table(ROOT / "benchmarks" / "national.md", text)
    print(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make", help="write resources/national/ and config/national.yaml")
    mk.add_argument("--size", type=int, default=32768, help="DEM edge in 10 m cells")
    mk.add_argument("--points", type=int, default=20_000_000, help="PS points per track")
    mk.add_argument("--batches", type=int, default=40, help="burst files per track")
    mk.add_argument("--force", action="store_true", help="write even when the disk looks too small")
    mk.add_argument("--jobs", type=int, default=1, help="write the two tracks in 2 processes")
    rn = sub.add_parser("run", help="run the workflow to the candidates and the factor stack")
    rn.add_argument("--cores", type=int, default=2)
    rn.add_argument("--mem-mb", type=int, default=8000)
    rn.add_argument(
        "--slurm-job-mb",
        type=int,
        default=None,
        help="run on the local SLURM cluster (tests/slurm), a job at most this many MB",
    )
    rn.add_argument(
        "--part",
        choices=sorted(PARTS),
        default="all",
        help="the candidates (insar), the factor stack (factors) or both (all)",
    )
    pr = sub.add_parser("prune", help="delete the InSAR inputs and per-point files (run --part)")
    pr.add_argument("--dry-run", action="store_true", help="only say what would go")
    cp = sub.add_parser("compare", help="run the inputs untiled, compare the candidates")
    cp.add_argument("--cores", type=int, default=2)
    cp.add_argument("--mem-mb", type=int, default=8000)
    sub.add_parser("table", help="write the job table into benchmarks/national.md")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if args.cmd == "make":
        make(args.size, args.points, args.batches, args.force, args.jobs)
        return 0
    if args.cmd == "run":
        return run(args.cores, args.mem_mb, args.slurm_job_mb, args.part)
    if args.cmd == "prune":
        prune(args.dry_run)
        return 0
    if args.cmd == "compare":
        return 0 if compare(args.cores, args.mem_mb) else 1
    table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
