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
