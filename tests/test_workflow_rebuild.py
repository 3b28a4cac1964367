"""Every user-facing output of the demo run is rebuilt, and only with what depends on it;
a second run of every job gives the same files.

Works on a private copy of the session's finished demo run (``demo`` and ``run_copy`` in
``conftest.py``), so it can run on another pytest-xdist worker than ``test_workflow.py``.
"""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from workflow_helpers import JOB_START, RESULTS, dry_run, file_hashes, scheduled_jobs, snakemake

pytestmark = pytest.mark.workflow


def job_listing(workdir: Path) -> list[dict]:
    """Every job of the default target with its rule, wildcards, input and output files.

    Read from ``snakemake -n --forceall``: Snakemake's own plan, independent of the test's
    expectations.
    """
    out = snakemake(workdir, "-n", "--forceall", "--cores", "2")
    jobs = []
    for block in JOB_START.split(out):
        m = re.search(r"^(?:local)?rule (\w+):", block.strip(), flags=re.MULTILINE)
        if not m:
            continue

        def field(name: str, block: str = block) -> str:
            f = re.search(rf"^\s+{name}: (.*)$", block, flags=re.MULTILINE)
            return f.group(1) if f else ""

        jobs.append(
            {
                "rule": m.group(1),
                "wildcards": field("wildcards"),
                "input": [f for f in field("input").split(", ") if f],
                "output": [f for f in field("output").split(", ") if f],
            }
        )
    return jobs


def producer_and_downstream(jobs: list[dict], index: int, workdir: Path) -> list[tuple[str, str]]:
    """(rule, wildcards) of the jobs Snakemake must run when job ``index`` has to run again.

    Job ``index``, every job that depends on it (transitively), and the producers of the
    inputs of those jobs that are not on disk: temporary files (the prediction tiles of a
    mosaic) that were removed once their consumers had run.
    """
    made_by = {f: i for i, job in enumerate(jobs) for f in job["output"]}
    consumers: dict[int, set[int]] = {}
    for i, job in enumerate(jobs):
        for f in job["input"]:
            if f in made_by:
                consumers.setdefault(made_by[f], set()).add(i)
    seen, todo = {index}, [index]
    while todo:
        i = todo.pop()
        missing = [
            made_by[f] for f in jobs[i]["input"] if f in made_by and not (workdir / f).exists()
        ]
        for nxt in [*consumers.get(i, ()), *missing]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return sorted((jobs[i]["rule"], jobs[i]["wildcards"]) for i in seen if jobs[i]["rule"] != "all")


def one_output_per_pattern(jobs: list[dict]) -> dict[str, int]:
    """One final output per output pattern (wildcard values replaced) -> its producing job."""
    final = next(job for job in jobs if job["rule"] == "all")["input"]
    made_by = {f: i for i, job in enumerate(jobs) for f in job["output"]}
    chosen: dict[tuple[str, str], str] = {}
    for f in final:
        job = jobs[made_by[f]]
        pattern = f
        for pair in filter(None, job["wildcards"].split(", ")):
            name, value = pair.split("=", 1)
            pattern = pattern.replace(value, "{" + name + "}")
        chosen.setdefault((job["rule"], pattern), f)
    return {f: made_by[f] for f in chosen.values()}


def test_every_user_facing_output_is_rebuilt_when_deleted(run_copy):
    jobs = job_listing(run_copy)
    picks = one_output_per_pattern(jobs)
    final = next(job for job in jobs if job["rule"] == "all")["input"]
    assert len(picks) > 60 and {jobs[i]["rule"] for i in picks.values()} >= {
        "distance_factor",
        "terrain_factors",
        "candidates",
        "pixel_samples",
        "train",
        "classes",
        "frequency_ratio",
        "report",
        "hillshade",
    }
    # deleted one at a time, each is planned with its producer and what depends on it, only
    # (two copies of the run, one dry run in each at a time: the 2 cores of CI)
    twin = run_copy.parent / "twin"
    shutil.copytree(run_copy, twin, symlinks=True)

    def check(work: Path, items: list[tuple[str, int]]) -> list:
        wrong = []
        for rel, producer in items:
            path = work / rel
            saved, stat = path.read_bytes(), path.stat()
            path.unlink()
            planned = sorted(dry_run(work))
            expected = producer_and_downstream(jobs, producer, work)
            if planned != expected:
                wrong.append((rel, sorted(set(planned) ^ set(expected))))
            # put it back as it was: the next case starts from a complete run
            path.write_bytes(saved)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        return wrong

    items = sorted(picks.items())
    with ThreadPoolExecutor(2) as pool:
        halves = pool.map(check, [run_copy, twin], [items[0::2], items[1::2]])
        wrong = [w for half in halves for w in half]
    assert wrong == []
    shutil.rmtree(twin)
    # every final output deleted at once: a plain run rebuilds each one byte-identical.
    # Every job of the DAG writes a final output, so this is a second run of every job, in
    # another folder than the demo run's: two runs give the same files (reproducibility)
    before = file_hashes(run_copy / RESULTS)
    for rel in final:
        (run_copy / rel).unlink()
    out = snakemake(run_copy, "--cores", "2")
    every_job = sorted((job["rule"], job["wildcards"]) for job in jobs if job["rule"] != "all")
    assert sorted(job for job in scheduled_jobs(out) if job[0] != "all") == every_job
    after = file_hashes(run_copy / RESULTS)
    assert sorted(after) == sorted(before)
    assert [rel for rel in before if before[rel] != after[rel]] == []
    assert dry_run(run_copy) == []
    # a factor deep in the DAG is rebuilt alone by asking for it (docs/troubleshooting.md)
    roads = run_copy / RESULTS / "factors" / "dist_roads.tif"
    saved = roads.read_bytes()
    roads.unlink()
    out = snakemake(run_copy, "--cores", "2", f"{RESULTS}/factors/dist_roads.tif")
    assert roads.read_bytes() == saved
    assert [rule for rule, _ in scheduled_jobs(out)] == ["distance_factor"]
