"""Candidate extraction on the scenario suite: every scenario through the real rules, one table.

For each scenario file of ``resources/scenarios/`` (4 development, 4 held out; see its
README), the benchmark

1. simulates the study area into ``<work>/<scenario>/input/`` (``scripts/make_scenario.py``'s
   library call; skipped when the folder was made from the same scenario file);
2. runs ``snakemake`` in the repository root on the scenario's ``config.yaml`` once per
   hot-spot method (``adaptive``: the shipped defaults, no per-scenario setting;
   ``seed002``: the paper's fixed method), to the merged candidates and the PLC step's
   classification (``hotspots/candidates.gpkg``, ``hotspots/candidates_classified.parquet``);
3. scores the candidates against the simulated truth:

   - **accuracy**: extraction accuracy (seed 002): share of the candidate area on truly moving
     ground (every simulated slide, detectable or not, and the decoys that really move:
     subsidence and settling embankments);
   - **missing**: share of the detectable slides (≥ 5 points faster than 5 mm/yr in a track)
     that no candidate touches;
   - **precision**: share of candidates that touch truly moving ground;
   - **decoys touched**: decoys (subsidence, thermal dilation, embankment) a candidate
     touches; **decoys rejected**: decoys that no candidate classified as a landslide touches
     (by the PLC step's final classification; in brackets by the rule-based
     pre-classification alone; **classified by**: ``classifier`` when the PLC classifier
     was trained, ``rule`` when it was skipped and the rule-based classes stand);
   - **missed after classification**: detectable slides that no candidate *classified as a
     landslide* touches;
   - **runtime**: the hot-spot jobs' wall time (ingest, track hot spots, candidates: sum of
     their Snakemake benchmark files) and the whole run's.

Run (about 10-20 minutes on 2 cores for the suite and both methods)::

    python benchmarks/extraction.py                       # every scenario, both methods
    python benchmarks/extraction.py --role development    # tuning: never look at held_out
    python benchmarks/extraction.py --markdown docs/extraction.md
    # development only: more draws of each development scenario (its seed + k), and
    # exploring a setting against the shipped defaults
    python benchmarks/extraction.py --role development --reseed 1 2 --methods adaptive \
        --set noise_multiplier=2.5
    # every job again, not only the hot-spot jobs and what follows them (the default keeps
    # an earlier run's ingest and factor stack where Snakemake finds them up to date)
    python benchmarks/extraction.py --role development --rerun all
    # the table again from the runs already in --work (no simulation, no snakemake)
    python benchmarks/extraction.py --role held_out --score-only

Targets (issue 13): with the shipped defaults every scenario reaches accuracy ≥ 0.75 and
missing ≤ 0.10, and ≥ 75 % of its decoys are rejected (a scenario without a detectable slide
has no missing rate, ``–``, and is judged on the other two).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "resources" / "scenarios"
METHODS = ("adaptive", "seed002")
TARGETS = {"accuracy": 0.75, "missing": 0.10, "decoys_rejected": 0.75}
HOTSPOT_RULES = ("ingest_track", "track_hotspots", "candidates")
#: Rules run again on every run (with ``--rerun hotspots``): the hot-spot method and what
#: follows from it (Snakemake reruns the jobs downstream of them itself).
FORCED_RULES = ("track_hotspots",)


def scenario_files(role: str, names: list[str] | None) -> list[Path]:
    """Return the scenario files to run, development first."""
    files = sorted(SCENARIOS.glob("*.yaml"))
    out = []
    for f in files:
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        if names and data["name"] not in names:
            continue
        if role != "all" and data["role"] != role:
            continue
        out.append((data["role"] != "development", f))
    return [f for _, f in sorted(out)]


def generate(path: Path, folder: Path) -> dict:
    """Simulate a scenario into ``folder`` unless it already holds this scenario file's run."""
    from slidemap.simulate.scenario import load_scenario
    from slidemap.simulate.study import make_scenario

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    stamp = folder / ".scenario.sha256"
    if not (stamp.exists() and stamp.read_text() == digest):
        tic = time.perf_counter()
        make_scenario(load_scenario(path), folder)
        stamp.write_text(digest)
        print(f"  simulated in {time.perf_counter() - tic:.1f} s", flush=True)
    return json.loads((folder / "truth" / "simulation.json").read_text())


def reseeded(path: Path, k: int, work: Path) -> Path:
    """Write a copy of a development scenario file with seed + ``k`` and name ``<name>_s<k>``.

    Relative paths of the file (the DEM) are made absolute, so the copy can live in ``work``.
    Held-out scenarios are refused: their draws are fixed and never used for tuning.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data["role"] != "development":
        raise SystemExit(f"--reseed: {path.name} is {data['role']}; only development scenarios")
    data["name"] = f"{data['name']}_s{k}"
    data["seed"] = int(data["seed"]) + k
    data["terrain"]["dem"] = str((path.parent / data["terrain"]["dem"]).resolve())
    if isinstance(data["slides"].get("inventory"), str):
        data["slides"]["inventory"] = str((path.parent / data["slides"]["inventory"]).resolve())
    out = work / data["name"] / "scenario.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(data, sort_keys=False)
    if not (out.exists() and out.read_text(encoding="utf-8") == text):
        out.write_text(text, encoding="utf-8")
    return out


def parse_settings(items: list[str]) -> dict:
    """``key=value`` pairs (YAML values) for the ``hotspots`` block of the adaptive method."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--set {item!r}: write it as key=value, e.g. noise_multiplier=2.5")
        out[key.strip()] = yaml.safe_load(value)
    return out


def study_name(name: str, method: str) -> str:
    """Return the study name (``results/<study>/``) of one scenario run with one method."""
    return f"scenario_{name}_{method}"


def method_config(
    folder: Path, work: Path, name: str, method: str, settings: dict | None = None
) -> tuple[Path, str]:
    """Write the scenario's configuration with the method's preset and its own study name.

    ``settings`` (adaptive method only) are extra ``hotspots`` keys, for exploring a setting
    on development scenarios; the study name stays, so the ingest is reused.
    """
    config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    study = study_name(name, method)
    config["study_area"]["name"] = study
    config.setdefault("hotspots", {})["preset"] = method
    if settings and method == "adaptive":
        config["hotspots"].update(settings)
    path = work / f"config_{method}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path, study


def run_snakemake(
    config: Path, study: str, cores: int, log: Path, rerun: str = "hotspots"
) -> float:
    """Run the workflow to the candidates and their classification; wall time in s.

    ``rerun="hotspots"`` forces the hot-spot jobs (``track_hotspots`` and everything after
    it) to run again: a change of the hot-spot library code is not one of Snakemake's rerun
    triggers, so without the force an earlier run's candidates would be scored again. The
    jobs before them (ingest, the factor stack) run only where Snakemake finds them missing
    or out of date, which halves a sweep's time (the run's wall time then counts only the
    jobs that ran). ``rerun="all"`` runs every job again: needed after a change of the ingest
    or factor code, which Snakemake does not see either.
    """
    targets = [
        f"results/{study}/hotspots/candidates.gpkg",
        f"results/{study}/hotspots/candidates_classified.parquet",
    ]
    force = ["--forceall"] if rerun == "all" else ["--forcerun", *FORCED_RULES]
    cmd = ["snakemake", "--cores", str(cores), *targets, "--configfile", str(config), *force]
    tic = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        done = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - tic
    if done.returncode != 0:
        raise RuntimeError(f"snakemake failed for {study}: see {log}")
    return wall


def hotspot_seconds(study: str) -> float:
    """Sum of the hot-spot jobs' benchmark wall times (s)."""
    total = 0.0
    for rule in HOTSPOT_RULES:
        for tsv in (ROOT / "results" / study / "benchmarks" / rule).glob("*.tsv"):
            total += float(pd.read_csv(tsv, sep="\t")["s"].iloc[-1])
    return total


def score(study: str, folder: Path) -> dict:
    """Scores of one run against the scenario's truth (see the module docstring)."""
    from slidemap.hotspots.accuracy import decoy_scores, extraction_accuracy

    res = ROOT / "results" / study / "hotspots"
    cands = gpd.read_file(res / "candidates.gpkg", layer="candidates")
    slides = gpd.read_file(folder / "truth" / "moving_slopes.gpkg").to_crs(cands.crs)
    moving_other = gpd.read_file(folder / "truth" / "other_moving.gpkg").to_crs(cands.crs)
    decoys = gpd.read_file(folder / "truth" / "other_sources.gpkg").to_crs(cands.crs)
    det = slides["detectable"].to_numpy(bool)
    # every slide and the decoys that truly move are moving ground; missing is over the
    # detectable slides
    other = pd.concat([slides.loc[~det, ["geometry"]], moving_other[["geometry"]]])
    acc = extraction_accuracy(cands, slides[det], other_moving=gpd.GeoDataFrame(other))
    rule = cands["precls_landslide"].to_numpy(bool)
    final = rule.copy()
    classified = res / "candidates_classified.parquet"
    source = "rule"
    if classified.exists():
        table = pd.read_parquet(classified)
        pred = dict(zip(table["cand_id"], table["predicted"].astype(int), strict=True))
        final = np.array([pred.get(c, r) == 1 for c, r in zip(cands["cand_id"], rule, strict=True)])
        if "source" in table:
            source = ",".join(sorted(set(table["source"].astype(str)))) or "rule"
    dec_final = decoy_scores(cands, decoys, is_landslide=final)
    dec_rule = decoy_scores(cands, decoys, is_landslide=rule)
    kept = cands[final]
    if len(kept):
        after = extraction_accuracy(kept, slides[det])
    else:  # nothing kept: every detectable slide missed (none to miss: no rate)
        after = {"missing_rate_count": 1.0 if det.any() else float("nan")}
    return {
        "accuracy": acc["extraction_accuracy"],
        "missing": acc["missing_rate_count"],
        "precision": acc["precision_objects"],
        "candidates": acc["n_candidates"],
        "detectable": acc["n_reference"],
        "missed": acc["n_reference_missed"],
        "decoys": dec_final["n_decoys"],
        "decoys_touched": dec_final["touched"],
        "decoys_rejected": dec_final["rejected_share"],
        "decoys_rejected_rule": dec_rule["rejected_share"],
        "decoys_by_kind": dec_final["by_kind"],
        "missed_after_classification": after["missing_rate_count"],
        "classified_by": source,
    }


def fmt(value, digits: int = 2) -> str:
    """Format a table cell."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def meets(row: dict) -> bool:
    """Whether a row reaches the targets (:data:`TARGETS`).

    A scenario without a detectable slide has no missing rate (shown ``–``): nothing to miss,
    so its missing target holds; likewise the decoy target without a decoy. Without any
    candidate there is no accuracy: not met.
    """

    def at_most(value, limit) -> bool:
        return value is None or not np.isfinite(value) or value <= limit

    def at_least(value, limit) -> bool:
        return value is None or not np.isfinite(value) or value >= limit

    acc = row["accuracy"]
    return (
        acc is not None
        and bool(np.isfinite(acc))
        and acc >= TARGETS["accuracy"]
        and at_most(row["missing"], TARGETS["missing"])
        and at_least(row["decoys_rejected"], TARGETS["decoys_rejected"])
    )


def table(rows: list[dict]) -> str:
    """Markdown table of the results."""
    head = (
        "| scenario | role | method | accuracy | missing | precision | candidates | "
        "detectable | decoys touched | decoys rejected (rule) | classified by | "
        "missed after class. | hot-spot s | run s | targets |"
    )
    lines = [head, "|" + "---|" * 15]
    for r in rows:
        ok = meets(r)
        lines.append(
            f"| {r['scenario']} | {r['role']} | {r['method']} | {fmt(r['accuracy'])} | "
            f"{fmt(r['missing'])} | {fmt(r['precision'])} | {r['candidates']} | "
            f"{r['detectable']} | {r['decoys_touched']}/{r['decoys']} | "
            f"{fmt(r['decoys_rejected'])} ({fmt(r['decoys_rejected_rule'])}) | "
            f"{r['classified_by']} | "
            f"{fmt(r['missed_after_classification'])} | {fmt(r['hotspot_s'], 1)} | "
            f"{fmt(r['run_s'], 0)} | {'met' if ok else 'not met'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["development", "held_out", "all"], default="all")
    parser.add_argument("--scenario", nargs="*", help="only these scenario names")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--work", type=Path, default=ROOT / "results" / "scenarios")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--reseed",
        nargs="*",
        type=int,
        default=[],
        help="development only: also run each scenario with its seed + k (name <name>_s<k>)",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="extra hotspots keys for the adaptive method (exploration, not the shipped defaults)",
    )
    parser.add_argument(
        "--rerun",
        choices=["hotspots", "all"],
        default="hotspots",
        help="jobs run again when a study's results exist: the hot-spot jobs and what follows "
        "them, the rest where out of date (default), or every job",
    )
    parser.add_argument(
        "--score-only",
        action="store_true",
        help="score the runs already in --work (no simulation, no snakemake; run s: –)",
    )
    args = parser.parse_args(argv)
    settings = parse_settings(args.set)
    if settings and args.role != "development":
        raise SystemExit("--set explores settings: use it with --role development only")
    paths = scenario_files(args.role, args.scenario)
    if args.reseed:
        paths = paths + [reseeded(p, k, args.work) for k in args.reseed for p in paths]
    rows = []
    for path in paths:
        name = yaml.safe_load(path.read_text(encoding="utf-8"))["name"]
        work = args.work / name
        folder = work / "input"
        print(f"{name}:", flush=True)
        if args.score_only:
            role = yaml.safe_load(path.read_text(encoding="utf-8"))["role"]
        else:
            role = generate(path, folder)["scenario"]["role"]
        for method in args.methods:
            if args.score_only:
                study = study_name(name, method)
                if not (ROOT / "results" / study / "hotspots" / "candidates.gpkg").exists():
                    raise SystemExit(f"--score-only: no run of {name} ({method}) to score")
                run_s = None
            else:
                config, study = method_config(folder, work, name, method, settings)
                log = work / f"snakemake_{method}.log"
                run_s = run_snakemake(config, study, args.cores, log, args.rerun)
            row = {"scenario": name, "role": role, "method": method, "run_s": run_s}
            row["hotspot_s"] = hotspot_seconds(study)
            row.update(score(study, folder))
            rows.append(row)
            print(
                f"  {method}: accuracy {fmt(row['accuracy'])}, missing {fmt(row['missing'])}, "
                f"decoys rejected {fmt(row['decoys_rejected'])}, {fmt(run_s, 0)} s",
                flush=True,
            )
    text = table(rows)
    print()
    print(text)
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / f"extraction_{args.role}.json").write_text(json.dumps(rows, indent=1, default=str))
    if args.markdown:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        header = (
            f"Measured {date.today().isoformat()} at commit {commit} with "
            f"`python benchmarks/extraction.py {' '.join(argv or sys.argv[1:])}`.\n\n"
        )
        args.markdown.write_text(header + text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
