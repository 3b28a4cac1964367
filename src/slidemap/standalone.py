"""Run one rule's script alone, outside a Snakemake run, for debugging.

Each script under ``scripts/`` receives a ``snakemake`` object from Snakemake (input, output,
params, wildcards, threads, resources, log, config). :func:`snakemake_object` builds the same
object from the workflow itself, for one rule and its wildcards, so a step can be rerun (or
stepped through in a debugger) on its own::

    python scripts/distance_factor.py --wildcards layer=roads
    python scripts/ingest_track.py --config my_study.yaml --wildcards track=asc_018

The workflow is parsed with the given configuration (``config/config.yaml`` by default), the
job's paths, params, threads and resources are what ``snakemake`` would give that job, and
the job runs in the current directory (the working directory of the workflow). Its inputs
must exist (run ``snakemake <input>`` first); its outputs are overwritten. Snakemake's
metadata is not updated: a later ``snakemake`` run may redo the job.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["snakemake_object", "script_object"]

#: The Snakefile of this checkout (src/slidemap/standalone.py -> repository root).
REPO_SNAKEFILE = Path(__file__).resolve().parents[2] / "Snakefile"


def snakemake_object(
    rule: str,
    *,
    configfiles: Sequence[str | Path] = (),
    wildcards: dict[str, str] | None = None,
    cores: int = 1,
    snakefile: str | Path | None = None,
) -> Any:
    """Build the ``snakemake`` object Snakemake would pass to ``rule``'s script.

    Parameters
    ----------
    rule
        The rule's name (``distance_factor``, ``ingest_track`` …).
    configfiles
        Configuration files, as ``snakemake --configfile`` (none: the Snakefile's default,
        ``config/config.yaml``).
    wildcards
        The job's wildcard values (``{"layer": "roads"}``); every wildcard of the rule.
    cores
        Cores available to the job (its ``threads`` are capped by them, as in a run).
    snakefile
        The workflow's Snakefile (default: ``Snakefile`` of the current directory, else this
        checkout's).

    Returns
    -------
    snakemake.script.Snakemake
        With ``input``, ``output``, ``params``, ``wildcards``, ``threads``, ``resources``,
        ``log``, ``config`` and ``rule`` of the job. The folders of its outputs and log exist.

    Raises
    ------
    SystemExit
        With a message naming the problem for an unknown rule or missing/unknown wildcards
        (the scripts' command line).
    """
    from snakemake.api import SnakemakeApi
    from snakemake.dag import DAG
    from snakemake.jobs import Job
    from snakemake.script import Snakemake
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
    )

    wildcards = dict(wildcards or {})
    if snakefile is None:
        snakefile = Path("Snakefile") if Path("Snakefile").is_file() else REPO_SNAKEFILE
    config = ConfigSettings(configfiles=[Path(c).absolute() for c in configfiles])
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=cores),
            config_settings=config,
            storage_settings=StorageSettings(),
            snakefile=Path(snakefile).absolute(),
            workdir=Path.cwd(),
        )._workflow
        workflow.dag_settings = DAGSettings()
        names = sorted(r.name for r in workflow.rules)
        if rule not in names:
            listed = ", ".join(names)
            raise SystemExit(f"slidemap: no rule '{rule}' in the workflow. Rules: {listed}.")
        target = workflow.get_rule(rule)
        needed = set(target.wildcard_names)
        missing, unknown = sorted(needed - set(wildcards)), sorted(set(wildcards) - needed)
        if missing or unknown:
            raise SystemExit(
                f"slidemap: rule '{rule}' has the wildcards {sorted(needed) or 'none'}"
                + (f"; missing: {missing}" if missing else "")
                + (f"; unknown: {unknown}" if unknown else "")
                + ". Give them as --wildcards name=value …"
            )
        _register_checkpoint_outputs(workflow)
        job = Job(target, DAG(workflow, rules=[target]), wildcards)
        for path in [*job.output, *job.log]:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return Snakemake(
            job.input,
            job.output,
            job.params,
            job.wildcards,
            job.threads,
            job.resources,
            job.log,
            workflow.config,
            rule,
            None,
        )


def _register_checkpoint_outputs(workflow: Any) -> None:
    """Count the checkpoint outputs that exist on disk as created (as a run would).

    An input function that reads a checkpoint's output (``checkpoints.<rule>.get(...)``)
    otherwise sees it as not yet made, and Snakemake puts the checkpoint's output file in
    place of the input's list (e.g. the tiles of a tiled ingest).
    """
    from snakemake.io import glob_wildcards

    created = workflow.checkpoints.created_output
    for rule in workflow.rules:
        if not rule.is_checkpoint:
            continue
        for pattern in rule.output:
            found = glob_wildcards(str(pattern))
            names = list(found._fields)
            for values in zip(*found, strict=True):
                output, _ = rule.expand_output(dict(zip(names, values, strict=True)))
                if all(Path(f).exists() for f in output):
                    created.update(output)


def script_object(rule: str | Sequence[str], argv: Sequence[str] | None = None) -> Any:
    """Parse a script's command line and build its ``snakemake`` object (see module doc).

    Parameters
    ----------
    rule
        The rule the script belongs to, or the rules of a script shared by several (then
        ``--rule NAME`` chooses one).
    argv
        Command-line arguments (default: ``sys.argv[1:]``): ``--config FILE …``,
        ``--wildcards NAME=VALUE …``, ``--cores N`` (and ``--rule NAME``).

    Returns
    -------
    snakemake.script.Snakemake
        As :func:`snakemake_object`.
    """
    rules = [rule] if isinstance(rule, str) else list(rule)
    parser = argparse.ArgumentParser(
        description=f"Run the script of rule {' / '.join(rules)} alone (slidemap.standalone).",
    )
    if len(rules) > 1:
        parser.add_argument("--rule", required=True, choices=rules)
    parser.add_argument("--config", nargs="+", default=[], metavar="FILE", help="config files")
    parser.add_argument("--wildcards", nargs="+", default=[], metavar="NAME=VALUE")
    parser.add_argument("--cores", type=int, default=1)
    args = parser.parse_args(argv)
    pairs = {}
    for item in args.wildcards:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--wildcards takes NAME=VALUE pairs, got {item!r}")
        pairs[name] = value
    chosen = args.rule if len(rules) > 1 else rules[0]
    return snakemake_object(chosen, configfiles=args.config, wildcards=pairs, cores=args.cores)
