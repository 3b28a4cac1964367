"""Large study area: 8192 x 8192 cells (10 m) and 1 M PS points per track, timed per job.

A synthetic area runs through the factor, hot-spot, sample, model and mapping stages; wall
time and peak memory per job go to ``benchmarks/large_area.md`` (issue 7, item 4).

Run from the repository root::

    python benchmarks/large_area.py make   # writes resources/large/ (git-ignored, ~1 GB)
    python benchmarks/large_area.py run    # snakemake --cores 2 --configfile config/large_area.yaml
    python benchmarks/large_area.py table  # benchmarks/large_area.md from the job benchmarks

``make --size 2048 --points 100000`` makes a small version to try the commands quickly.

The inputs are synthetic (no real DEM of that size ships with slidemap): a DEM of two
Gaussian random fields (relief of ~3 km wavelength plus ~100 m detail), 400 elliptical
moving slopes, and per track 1 M PS points at random positions with 40 dates of linear
motion plus noise; the inventory is 1500 points inside the moving slopes. Only the logistic
baseline and the random forest are trained and mapped (the map stage of the other models
scales the same way per tile; see benchmarks/predict.py for their cells/s).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "large"
CONFIG = ROOT / "config" / "large_area.yaml"
STUDY = "large"
CELL_M = 10.0
ORIGIN = (600000.0, 9700000.0)  # upper-left corner, EPSG:32717 metres
CRS = "EPSG:32717"
N_DATES = 40
SEED = 8192


def make_dem(size: int, rng: np.random.Generator) -> np.ndarray:
    """Synthetic terrain (m): smooth relief (~3 km wavelength, +-600 m) plus ~100 m detail.

    Parameters
    ----------
    size
        Edge of the square grid in cells (10 m cells).
    rng
        Random generator.

    Returns
    -------
    numpy.ndarray
        float32 ``(size, size)`` elevations in metres, 700-2300 m.
    """
    from scipy import ndimage

    from slidemap.simulate.fields import gaussian_random_field

    coarse = gaussian_random_field(rng, (size // 8, size // 8), sigma_cells=20.0)
    relief = ndimage.zoom(coarse, 8, order=3)[:size, :size]
    detail = gaussian_random_field(rng, (size, size), sigma_cells=6.0)
    return (1500.0 + 600.0 * relief + 15.0 * detail).astype(np.float32)


def make_slides(size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw the moving slopes as ellipses with a LOS velocity each.

    Parameters
    ----------
    size
        Grid edge in cells.
    n
        Number of slopes.
    rng
        Random generator.

    Returns
    -------
    numpy.ndarray
        ``(n, 6)``: centre x, y (m), semi-axes a, b (m), orientation (rad), LOS velocity
        (mm/yr, negative = away from the satellite).
    """
    extent = size * CELL_M
    x = ORIGIN[0] + rng.uniform(500, extent - 500, n)
    y = ORIGIN[1] - rng.uniform(500, extent - 500, n)
    a = rng.uniform(120, 300, n)
    b = a * rng.uniform(0.4, 0.8, n)
    ang = rng.uniform(0, np.pi, n)
    v = -rng.uniform(12, 40, n)
    return np.column_stack([x, y, a, b, ang, v])


def inside_slides(px: np.ndarray, py: np.ndarray, slides: np.ndarray) -> np.ndarray:
    """Index of the slope each point lies in (-1 = none).

    Parameters
    ----------
    px, py
        Point coordinates (m).
    slides
        Output of :func:`make_slides`.

    Returns
    -------
    numpy.ndarray
        int64 slope index per point.
    """
    from scipy.spatial import cKDTree

    owner = np.full(len(px), -1, dtype=np.int64)
    tree = cKDTree(np.column_stack([px, py]))
    for k, (x, y, a, b, ang, _) in enumerate(slides):
        idx = np.asarray(tree.query_ball_point((x, y), a), dtype=np.int64)
        if idx.size == 0:
            continue
        dx, dy = px[idx] - x, py[idx] - y
        u = dx * np.cos(ang) + dy * np.sin(ang)
        w = -dx * np.sin(ang) + dy * np.cos(ang)
        owner[idx[(u / a) ** 2 + (w / b) ** 2 <= 1.0]] = k
    return owner


def write_track(folder: Path, n_points: int, size: int, slides: np.ndarray, seed: int) -> None:
    """Write one track as 4 CSV batches (generic layout: id, x, y, vel, D<date> columns).

    Parameters
    ----------
    folder
        Output folder of the track.
    n_points
        Points in the track.
    size
        Grid edge in cells.
    slides
        Moving slopes (:func:`make_slides`).
    seed
        Seed of this track's positions and noise.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    extent = size * CELL_M
    px = ORIGIN[0] + rng.uniform(0, extent, n_points)
    py = ORIGIN[1] - rng.uniform(0, extent, n_points)
    owner = inside_slides(px, py, slides)
    v = rng.normal(0.0, 1.5, n_points)
    v[owner >= 0] = slides[owner[owner >= 0], 5] + rng.normal(0, 2.0, int((owner >= 0).sum()))
    dates = [date(2019, 1, 3) + timedelta(days=12 * i) for i in range(N_DATES)]
    t = np.array([(d - dates[0]).days / 365.25 for d in dates])
    header = ["pid", "x", "y", "vel"] + [f"D{d:%Y%m%d}" for d in dates]
    for b, rows in enumerate(np.array_split(np.arange(n_points), 4)):
        disp = v[rows, None] * t[None, :] + rng.normal(0, 2.0, (rows.size, N_DATES))
        table = np.column_stack([px[rows], py[rows], v[rows], disp])
        path = folder / f"batch_{b}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            fmt = ["%.2f", "%.2f", "%.2f"] + ["%.1f"] * N_DATES
            lines = (
                f"P{i:07d}," + ",".join(f % val for f, val in zip(fmt, row, strict=True))
                for i, row in zip(rows, table, strict=True)
            )
            fh.write("\n".join(lines) + "\n")
        print(f"  {path.relative_to(ROOT)}: {rows.size} points", flush=True)


def make(size: int, n_points: int, tracks: int) -> None:
    """Write resources/large/: dem.tif, tracks/<t>/*.csv, inventory.csv.

    Parameters
    ----------
    size
        Grid edge in cells (8192 for the benchmark).
    n_points
        PS points per track.
    tracks
        Number of tracks (ascending first, then descending).
    """
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    dem = make_dem(size, rng)
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
    }
    with rasterio.open(OUT / "dem.tif", "w", **profile) as dst:
        dst.write(dem, 1)
    del dem
    print(f"dem.tif {size} x {size} in {time.perf_counter() - t0:.1f} s", flush=True)
    slides = make_slides(size, 400, rng)
    for k in range(tracks):
        name = ("asc_", "dsc_")[k % 2] + f"{k:03d}"
        t0 = time.perf_counter()
        write_track(OUT / "tracks" / name, n_points, size, slides, SEED + 1 + k)
        print(f"track {name}: {n_points} points in {time.perf_counter() - t0:.1f} s", flush=True)
    # inventory: 1500 points inside the slopes (uniform in each ellipse's bounding circle)
    pick = rng.integers(0, len(slides), 6000)
    r = np.sqrt(rng.uniform(0, 1, pick.size)) * slides[pick, 3]
    th = rng.uniform(0, 2 * np.pi, pick.size)
    ix, iy = slides[pick, 0] + r * np.cos(th), slides[pick, 1] + r * np.sin(th)
    keep = np.flatnonzero(inside_slides(ix, iy, slides) >= 0)[:1500]
    with open(OUT / "inventory.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["x", "y"])
        writer.writerows(np.round(np.column_stack([ix[keep], iy[keep]]), 2).tolist())
    print(f"inventory.csv: {keep.size} landslide points", flush=True)


def run(cores: int) -> int:
    """Run the large-area workflow (factors, hot spots, samples, logistic + RF, maps).

    Parameters
    ----------
    cores
        ``--cores`` of Snakemake.

    Returns
    -------
    int
        Snakemake's exit status.
    """
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--configfile", str(CONFIG)]
    print(" ".join(cmd), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=ROOT)
    print(f"workflow: {time.perf_counter() - t0:.0f} s, exit {rc}", flush=True)
    return rc


def declared_mem_mb(log_text: str) -> dict[str, int]:
    """``rule[wildcards]`` -> the mem_mb Snakemake gave the job, from a Snakemake log.

    Parameters
    ----------
    log_text
        Text of ``.snakemake/log/*.snakemake.log``.

    Returns
    -------
    dict
        Benchmark file stem -> declared memory (MB).
    """
    out: dict[str, int] = {}
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:)", log_text):
        bench = re.search(r"benchmark: (\S+)", block)
        mem = re.search(r"mem_mb=(\d+)", block)
        if bench and mem:
            out[bench.group(1).rstrip(",")] = int(mem.group(1))
    return out


def job_rows(study: str):
    """Every job of a study: benchmark file, wall s, max RSS (MB) and the mem_mb it was given.

    Parameters
    ----------
    study
        ``study_area.name`` (the jobs' benchmark files are under ``results/<study>/``; the
        ``mem_mb`` comes from the Snakemake logs in ``.snakemake/log``, newest last).

    Returns
    -------
    pandas.DataFrame
        ``job`` (benchmark path under ``benchmarks/``, no suffix), ``rule``, ``wall_s``,
        ``max_rss_mb`` and ``mem_mb`` (None when no log names the job).
    """
    import pandas as pd

    logs = sorted((ROOT / ".snakemake" / "log").glob("*.snakemake.log"), key=os.path.getmtime)
    declared: dict[str, int] = {}
    for log in logs:
        declared.update(declared_mem_mb(log.read_text(encoding="utf-8", errors="replace")))
    rows = []
    bench_root = ROOT / "results" / study / "benchmarks"
    for path in sorted(bench_root.rglob("*.tsv")):
        b = pd.read_csv(path, sep="\t").iloc[-1]
        rows.append(
            {
                "job": path.relative_to(bench_root).with_suffix("").as_posix(),
                "rule": path.relative_to(bench_root).parts[0],
                "wall_s": float(b["s"]),
                "max_rss_mb": float(b["max_rss"]),
                "mem_mb": declared.get(path.relative_to(ROOT).as_posix()),
            }
        )
    return pd.DataFrame(rows)


def write_table(md: Path, text: str) -> None:
    """Put ``text`` between the ``BEGIN TABLE``/``END TABLE`` markers of a Markdown file."""
    begin, end = "<!-- BEGIN TABLE -->", "<!-- END TABLE -->"
    doc = md.read_text(encoding="utf-8") if md.exists() else f"{begin}\n{end}\n"
    head, rest = doc.split(begin, 1)
    md.write_text(head + begin + "\n" + text + "\n" + end + rest.split(end, 1)[1], "utf-8")


def table() -> str:
    """Markdown table of every job benchmark of the large study (s, max RSS vs mem_mb).

    Returns
    -------
    str
        The table; also written between the markers of ``benchmarks/large_area.md``.
    """
    import pandas as pd

    df = job_rows(STUDY)
    df["within"] = [
        "yes" if mem is None or pd.isna(mem) or rss <= mem else "**NO**"
        for mem, rss in zip(df["mem_mb"], df["max_rss_mb"], strict=True)
    ]
    stage = df["job"].str.split("/").str[0]
    lines = [
        "| job | wall (s) | peak RSS (MB) | declared mem_mb | within |",
        "|---|---:|---:|---:|---|",
    ]
    for r in df.itertuples():
        mem = "" if r.mem_mb is None or pd.isna(r.mem_mb) else f"{int(r.mem_mb)}"
        lines.append(f"| {r.job} | {r.wall_s:.1f} | {r.max_rss_mb:.0f} | {mem} | {r.within} |")
    lines += ["", "| stage (rule) | jobs | wall, sum (s) | peak RSS, max (MB) |"]
    lines += ["|---|---:|---:|---:|"]
    for name, g in df.groupby(stage, sort=False):
        lines.append(f"| {name} | {len(g)} | {g.wall_s.sum():.0f} | {g.max_rss_mb.max():.0f} |")
    lines.append(f"| **all** | {len(df)} | {df.wall_s.sum():.0f} | {df.max_rss_mb.max():.0f} |")
    text = "\n".join(lines)
    write_table(ROOT / "benchmarks" / "large_area.md", text)
    print(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make", help="write the synthetic inputs to resources/large/")
    mk.add_argument("--size", type=int, default=8192, help="grid edge in 10 m cells")
    mk.add_argument("--points", type=int, default=1_000_000, help="PS points per track")
    mk.add_argument("--tracks", type=int, default=2, help="number of tracks")
    rn = sub.add_parser("run", help="run the workflow on config/large_area.yaml")
    rn.add_argument("--cores", type=int, default=2)
    sub.add_parser("table", help="write the benchmark table into benchmarks/large_area.md")
    args = parser.parse_args(argv)
    if args.cmd == "make":
        make(args.size, args.points, args.tracks)
        return 0
    if args.cmd == "run":
        return run(args.cores)
    table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
