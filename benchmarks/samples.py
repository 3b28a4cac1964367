"""Benchmarks of the samples stage: ChiMerge speed and patch-extraction throughput.

Run: ``PYTHONPATH=src python benchmarks/samples.py [--quick]``

1. ChiMerge (heap with lazy invalidation) on 100 000 samples with 2 000 distinct values
   (target < 2 s), and the naive algorithm (recompute every adjacent χ² after each merge,
   vectorised with numpy) on the same size (a smaller one with --quick); both must give
   identical cut points. Also the heap on 100 000 all-distinct values.
2. Patch extraction: 100 000 samples of 9 × 9 × 15 from 15 COGs (2048 × 2048 cells),
   block-grouped window reads (``slidemap.tiles.extract_patches``), against the reference
   of one rasterio window read per sample and factor on a subset of interior samples.

Timings depend on the machine and its load; they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from slidemap.discretize import EMPTY_EXPECTED, MIN_EXPECTED, chimerge_threshold, fit_chimerge
from slidemap.raster import write_cog
from slidemap.tiles import extract_patches


def naive_chimerge(values, labels, *, max_intervals=8, min_intervals=2, significance=0.95):
    """Run the reference ChiMerge: recompute the χ² of every adjacent pair after each merge."""
    distinct, v_idx = np.unique(values, return_inverse=True)
    counts = np.zeros((distinct.size, 2), dtype=np.float64)
    np.add.at(counts, (v_idx, labels.astype(int)), 1)
    starts = list(range(distinct.size))
    threshold = chimerge_threshold(significance, 2)
    while counts.shape[0] > min_intervals:
        a, b = counts[:-1], counts[1:]
        r = np.stack([a.sum(1), b.sum(1)], axis=1)  # (m-1, 2) row sums
        c = a + b  # column sums
        n = r.sum(1)
        chi = np.zeros(len(a))
        for i, obs in enumerate((a, b)):
            e = r[:, i : i + 1] * c / n[:, None]
            e_safe = np.where(e == 0, EMPTY_EXPECTED, np.maximum(e, float(MIN_EXPECTED)))
            chi += ((obs - e_safe) ** 2 / e_safe).sum(1)
        k = int(np.argmin(chi))
        if counts.shape[0] <= max_intervals and chi[k] >= threshold:
            break
        counts[k] += counts[k + 1]
        counts = np.delete(counts, k + 1, axis=0)
        del starts[k + 1]
    s = np.asarray(starts[1:])
    return distinct[s - 1] + (distinct[s] - distinct[s - 1]) / 2


def make_chimerge_data(n, n_distinct, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, n_distinct, n).astype(np.float64) * 0.37
    p = 1 / (1 + np.exp(-(values / values.max() - 0.5) * 6))
    labels = (rng.random(n) < p).astype(np.int64)
    return values, labels


def best_of(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_chimerge(quick):
    print("== ChiMerge")
    v, y = make_chimerge_data(100_000, 2_000)
    t, cuts = best_of(lambda: fit_chimerge(v, y), 5)
    print(
        f"heap   100,000 samples x {np.unique(v).size:,} distinct values: {t:.3f} s "
        f"({cuts.size + 1} intervals)"
    )
    n_small = 500 if quick else 2_000
    v2, y2 = make_chimerge_data(100_000, n_small, seed=1)
    t_naive, ref = best_of(lambda: naive_chimerge(v2, y2), 1)
    t_heap, got = best_of(lambda: fit_chimerge(v2, y2), 5)
    same = np.array_equal(ref, got)
    print(f"naive  100,000 samples x {np.unique(v2).size:,} distinct values: {t_naive:.3f} s")
    print(
        f"heap   100,000 samples x {np.unique(v2).size:,} distinct values: {t_heap:.3f} s "
        f"(speed-up {t_naive / t_heap:.0f}x, identical cut points: {same})"
    )
    v3 = np.random.default_rng(2).normal(size=100_000)
    y3 = (np.random.default_rng(3).random(100_000) < 1 / (1 + np.exp(-v3))).astype(int)
    t3, _ = best_of(lambda: fit_chimerge(v3, y3), 2)
    print(f"heap   100,000 samples x 100,000 distinct values (all distinct): {t3:.3f} s")


def make_cogs(folder, n_factors, size):
    rr, cc = np.mgrid[0:size, 0:size].astype(np.float32)
    paths = []
    for f in range(n_factors):
        arr = (np.sin(rr / (40 + f)) * np.cos(cc / (55 + 3 * f)) * (100 + f)).astype(np.float32)
        arr[:5, :5] = np.nan
        p = folder / f"f{f:02d}.tif"
        write_cog(
            arr, p, crs="EPSG:32717", transform=from_origin(700000, 9560000, 10, 10), nodata=np.nan
        )
        paths.append(p)
    return paths


def reference_patches(paths, rows, cols, k):
    """One rasterio window read per sample and factor (interior samples only)."""
    half = k // 2
    out = np.empty((rows.size, len(paths), k, k), dtype=np.float32)
    for f, p in enumerate(paths):
        with rasterio.open(p) as src:
            for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
                out[i, f] = src.read(1, window=Window(int(c) - half, int(r) - half, k, k))
    return out


def bench_tiles(quick):
    print("== Tiles (patch extraction from COGs)")
    n, n_factors, k = (20_000 if quick else 100_000), 15, 9
    size = 1024 if quick else 2048
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths = make_cogs(Path(tmp), n_factors, size)
        print(f"wrote {n_factors} COGs of {size} x {size} in {time.perf_counter() - t0:.1f} s")
        rng = np.random.default_rng(0)
        rows = rng.integers(0, size, n)
        cols = rng.integers(0, size, n)
        t, (patches, mask) = best_of(lambda: extract_patches(paths, rows, cols, k), 1)
        print(
            f"slidemap.tiles: {n:,} patches of {k} x {k} x {n_factors} in {t:.2f} s = "
            f"{n / t:,.0f} patches/s ({patches.nbytes / 2**20:.0f} MiB)"
        )
        m = 2000 if quick else 10000
        inner = np.flatnonzero((rows >= k) & (rows < size - k) & (cols >= k) & (cols < size - k))
        sub = inner[:m]
        t_ref, ref = best_of(lambda: reference_patches(paths, rows[sub], cols[sub], k), 1)
        same = np.array_equal(ref, patches[sub], equal_nan=True)
        print(
            f"reference (one rasterio window read per patch and factor), {m:,} patches: "
            f"{t_ref:.2f} s = {m / t_ref:,.0f} patches/s (identical values: {same})"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (CI smoke run)")
    args = parser.parse_args()
    bench_chimerge(args.quick)
    bench_tiles(args.quick)


if __name__ == "__main__":
    main()
