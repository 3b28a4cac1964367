"""Helpers of the benchmarks that run the real workflow through Snakemake.

They read, job by job, the memory each job was given (``mem_mb``) and what it used
(``max_rss`` of the rule's benchmark file): ``hydrology_dag.py``, ``ingest_dag.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

#: A job's block in Snakemake's output starts with its rule (or checkpoint) line.
_JOB = r"(?:local)?(?:rule|checkpoint) (\w+):"


def snakemake(work: Path, *args: str) -> str:
    """Run Snakemake in ``work``; return its output (raise with it on failure)."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=work, capture_output=True, text=True
    )
    if proc.returncode:
        raise RuntimeError(proc.stdout[-5000:] + proc.stderr[-5000:])
    return proc.stdout + proc.stderr


def jobs_run(out: str) -> list[tuple[str, dict[str, str], int]]:
    """(rule, wildcards, mem_mb) of every job a Snakemake run printed, in order.

    (``mem_mb`` is evaluated when the job is scheduled: a request that grows with the size of
    an input made by an earlier job counts that input; a dry run would see it missing.)
    """
    jobs = []
    for block in re.split(rf"\n(?={_JOB})", out):
        rule = re.match(_JOB, block.strip())
        if not rule:
            continue
        wc = re.search(r"^\s+wildcards: (.*)$", block, flags=re.MULTILINE)
        mem = re.search(r"\bmem_mb=(\d+)", block)
        pairs = [kv.split("=", 1) for kv in wc.group(1).split(", ")] if wc else []
        jobs.append((rule.group(1), dict(pairs), int(mem.group(1)) if mem else 0))
    return jobs


def declared_memory(out: str) -> dict[str, int]:
    """Return the largest ``mem_mb`` each rule was given in a run's output (MB)."""
    memory: dict[str, int] = defaultdict(int)
    for rule, _, mem in jobs_run(out):
        memory[rule] = max(memory[rule], mem)
    return memory


def measured(results: Path) -> dict[str, list[tuple[float, float]]]:
    """(wall s, max_rss MB) of every job, by rule, from the benchmark files of ``results``.

    A rule's files are ``benchmarks/<rule>/…/<job>.tsv`` (any depth).
    """
    jobs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    root = results / "benchmarks"
    for tsv in sorted(root.rglob("*.tsv")):
        head, row = tsv.read_text().splitlines()[:2]
        values = dict(zip(head.split("\t"), row.split("\t"), strict=True))
        rss = float(values["max_rss"]) if values["max_rss"] not in ("", "NA", "-") else 0.0
        jobs[tsv.relative_to(root).parts[0]].append((float(values["s"]), rss))
    return jobs


def prepare_workdir(workdir: Path | None, prefix: str, root: Path, copy: list[str]) -> Path:
    """Return a work folder (``workdir`` or a new temporary one) holding the workflow files.

    ``copy`` names the files and folders of the checkout ``root`` to copy (kept if present).
    """
    import shutil
    import tempfile

    work = workdir or Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    for name in copy:
        src, dst = root / name, work / name
        if not dst.exists():
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    return work


def print_runs(
    runs: dict[str, tuple[float, dict[str, int], dict[str, list[tuple[float, float]]]]],
    width: int = 18,
) -> list[tuple[str, str, float, int]]:
    """Print, per run and rule, jobs, longest and summed wall time, peak memory and mem_mb.

    ``runs`` maps a run's name to (Snakemake wall s, :func:`declared_memory`,
    :func:`measured`). Returns the (run, rule, peak MB, mem_mb) of rules whose peak exceeded
    the memory they were given.
    """
    over = []
    print(
        f"{'run':6s} {'rule':{width}s} {'jobs':>5s} {'max s':>8s} {'sum s':>8s} "
        f"{'peak MB':>8s} {'mem_mb':>7s}"
    )
    for study, (wall, declared, jobs) in runs.items():
        for rule, rows in jobs.items():
            peak = max(r for _, r in rows)
            print(
                f"{study:6s} {rule:{width}s} {len(rows):5d} {max(s for s, _ in rows):8.1f} "
                f"{sum(s for s, _ in rows):8.1f} {peak:8.0f} {declared.get(rule, 0):7d}"
            )
            if rule in declared and peak > declared[rule]:
                over.append((study, rule, peak, declared[rule]))
        print(f"{study:6s} snakemake wall time {wall:.1f} s\n")
    return over


def run_study(
    work: Path, study: str, config: dict, targets: list[str], cores: int, mem_mb: int
) -> tuple[str, tuple[float, dict[str, int], dict[str, list[tuple[float, float]]]]]:
    """Write ``<study>.yaml`` and run Snakemake for ``targets`` with it in ``work``.

    Returns Snakemake's output and (wall s, :func:`declared_memory`, :func:`measured`).
    """
    import time

    import yaml

    cfg = work / f"{study}.yaml"
    cfg.write_text(yaml.safe_dump(config), encoding="utf-8")
    t0 = time.perf_counter()
    out = snakemake(
        work, *targets, "--configfile", str(cfg), "--cores", str(cores),
        "--resources", f"mem_mb={mem_mb}",
    )  # fmt: skip
    wall = time.perf_counter() - t0
    return out, (wall, declared_memory(out), measured(work / "results" / study))


def finish(checks: dict[str, bool], over: list[tuple[str, str, float, int]]) -> None:
    """Print the checks (and the jobs over their memory); exit 1 if any check failed."""
    checks = {**checks, "every job under its declared mem_mb": not over}
    for label, ok in checks.items():
        print(f"{label}: {ok}")
    for study, rule, peak, mem in over:
        print(f"  over: {study} {rule} peak {peak:.0f} MB > mem_mb {mem}")
    sys.exit(0 if all(checks.values()) else 1)
