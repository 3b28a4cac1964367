"""Training time per model and whole-map prediction throughput (cells/s) per model.

Usage::

    PYTHONPATH=src python benchmarks/train.py [--threads 2] [--large 20000] [--grid 1024]

1. **Demo-sized set** (1 500 samples, 9 continuous factors + 1 categorical, like the demo:
   ~12 % positives): the full work of one ``train`` job — spatial and random 5-fold CV
   plus the final model — per model, with the default hyper-parameters of the config
   schema.
2. **Larger set** (``--large`` samples): one fit of each model (the final-model fit), to
   show how training scales.
3. **predict_grid** on a ``--grid`` x ``--grid`` block of 10 factors (plus the halo for the
   CNN-2D), cells/s, next to the reference figure of the same run: for the CNN-2D the
   per-patch evaluation (windows unfolded and pushed through the network in batches of
   4 096), for the others the bare estimator's ``predict_proba`` on a prepared matrix (what
   the bundle adds: validity mask, preprocessing, reshaping).

Timings on a shared machine are noisy; run it twice.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

from slidemap.config import load_schema, validate_config
from slidemap.models.data import SampleSet
from slidemap.models.evaluate import train_and_evaluate
from slidemap.models.presets import ALGORITHMS, resolve_params
from slidemap.models.registry import fit_bundle
from slidemap.models.synthetic import make_bins, make_study

ROOT = Path(__file__).resolve().parents[1]


def default_params() -> dict[str, dict]:
    schema = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    cfg = validate_config({"dem": {"path": "x.tif"}}, schema)["models"]
    return {alg: {**resolve_params(alg, cfg[alg]), "device": "cpu"} for alg in ALGORITHMS}


def sample_set(study, patch: bool) -> SampleSet:
    df = study.samples
    return SampleSet(
        X=study.patches if patch else df[study.factors].to_numpy(np.float32),
        label=df["label"].to_numpy(np.int8).copy(),
        unit_id=df["unit_id"].to_numpy(),
        split=df["split"].to_numpy(),
        folds={"spatial": df["fold"].to_numpy(), "random": df["fold_random"].to_numpy()},
        factors=study.factors,
        categorical=study.categorical,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--large", type=int, default=20000, help="samples of the larger set")
    ap.add_argument("--grid", type=int, default=1024, help="edge of the predict_grid block")
    ap.add_argument("--models", nargs="+", default=list(ALGORITHMS))
    ap.add_argument("--repeats", type=int, default=3, help="best of N for throughputs")
    ap.add_argument("--skip-large", action="store_true", help="skip the larger set")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    params = default_params()

    print(f"threads: {args.threads}, torch {torch.__version__}, CPU only")
    demo = make_study(size=400, n_continuous=9, n_samples=1500, positive_share=0.12,
                      n_folds=5, noise=1.0, seed=1)  # fmt: skip
    print("\n== demo-sized set: 1500 samples (12 % positives), spatial + random 5-fold CV + final")
    print(f"{'model':10s} {'time s':>8s} {'spatial AUC':>12s} {'random AUC':>11s}")
    demo_bins = make_bins(demo, 8)
    bundles = {}
    for alg in args.models:
        s = sample_set(demo, alg == "cnn2d")
        t0 = time.perf_counter()
        r = train_and_evaluate(alg, params[alg], s, demo_bins, threads=args.threads)
        dt = time.perf_counter() - t0
        cv = r.metrics["cv"]
        print(f"{alg:10s} {dt:8.1f} {cv['spatial']['mean']['auc']:12.3f} "
              f"{cv['random']['mean']['auc']:11.3f}")  # fmt: skip
        bundles[alg] = r.bundle

    if args.skip_large:
        big = None
    else:
        big = make_study(size=1000, n_continuous=9, n_samples=args.large,
                         positive_share=0.12, n_folds=5, noise=1.0, seed=2)  # fmt: skip
        print(f"\n== larger set: {args.large} samples, one fit (the final model)")
        big_bins = make_bins(big, 8)
    for alg in args.models if big is not None else []:
        s = sample_set(big, alg == "cnn2d")
        s = s.subset(s.split == "train")
        t0 = time.perf_counter()
        b = fit_bundle(alg, params[alg], s, big_bins["all"], seed=0, threads=args.threads)
        info = ", ".join(f"{k}={v}" for k, v in b.estimator.info.items() if k != "best_val_loss")
        extra = f", {info}" if info else ""
        print(f"{alg:10s} {time.perf_counter() - t0:8.1f} s  ({s.n} rows{extra})")

    n = args.grid
    rng = np.random.default_rng(0)
    print(f"\n== predict_grid on {n} x {n} cells, best of {args.repeats} (reference last)")
    print(f"{'model':10s} {'cells/s':>12s}  reference")
    stack_full = demo.stack
    for alg in args.models:
        b = bundles[alg]
        h = b.halo
        # tile the demo rasters to n x n (+ halo) so the values stay realistic
        reps = int(np.ceil((n + 2 * h) / stack_full.shape[1]))
        stack = np.tile(stack_full, (1, reps, reps))[:, : n + 2 * h, : n + 2 * h].copy()
        b.predict_grid(stack[:, : 64 + 2 * h, : 64 + 2 * h])  # warm-up
        rate = 0.0
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            grid = b.predict_grid(stack)
            rate = max(rate, n * n / (time.perf_counter() - t0))
        assert grid.shape == (n, n)
        if b.input_kind == "patch":
            sub = stack[:, : 256 + 2 * h, : 256 + 2 * h]
            frame = torch.as_tensor(b.preprocessor.transform(sub[None])[0])
            k = b.patch_size
            patches = frame.unfold(1, k, 1).unfold(2, k, 1).permute(1, 2, 0, 3, 4)
            patches = patches.reshape(-1, frame.shape[0], k, k).contiguous()
            ref = 0.0
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                with torch.inference_mode():
                    for i in range(0, patches.shape[0], 4096):
                        b.estimator.net(patches[i : i + 4096])
                ref = max(ref, patches.shape[0] / (time.perf_counter() - t0))
            ref_text = f"per-patch batches: {ref:,.0f} cells/s"
        else:
            rows = stack.reshape(stack.shape[0], -1).T
            Z = b.preprocessor.transform(rows[rng.choice(rows.shape[0], 200_000, replace=False)])
            ref = 0.0
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                b.estimator.predict_proba(Z)
                ref = max(ref, Z.shape[0] / (time.perf_counter() - t0))
            ref_text = f"bare predict_proba: {ref:,.0f} rows/s"
        print(f"{alg:10s} {rate:12,.0f}  {ref_text}")


if __name__ == "__main__":
    main()
