# Config validation first, then wildcard constraints and helpers that name what they return.
import hashlib
import os
import sys
import re
from pathlib import Path

from snakemake.utils import min_version

from slidemap.config import check_paths, load_schema, validate_config

min_version("9.0")

config.update(
    validate_config(
        config,
        load_schema(
            Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
        ),
    )
)
check_paths(config)

STUDY = config["study_area"]["name"]
RESULTS = f"results/{STUDY}"
TRACKS = sorted(config["insar"]["tracks"])


wildcard_constraints:
    track="|".join(TRACKS) if TRACKS else "(?!x)x",


def get_track_csvs(wildcards):
    """Every CSV batch of one track (a new batch in the folder reruns only that track)."""
    folder = Path(config["insar"]["tracks"][wildcards.track]["path"])
    return sorted(str(p) for p in folder.glob("*.csv"))


def get_track_config(wildcards):
    """The validated settings of one track."""
    return config["insar"]["tracks"][wildcards.track]


def input_size_mb(input, names=None):
    """Total size of a job's input files in MiB (for size-aware memory requests).

    `names`: only these named inputs count (e.g. the CSV batches of an ingest job, not the
    DEM it reads one outline from: 2.1 GB at 32768 x 32768 cells).
    """
    if names is not None:
        files = []
        for name in names:
            value = getattr(input, name)
            files += [value] if isinstance(value, str) else list(value)
        input = files
    return sum(Path(f).stat().st_size for f in input if Path(f).exists()) / 2**20


def parquet_rows(path):
    """Rows of a Parquet file, from its footer (0 while the file does not exist yet)."""
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows if Path(path).exists() else 0


def mem_mb(base_mb, per_input_mb=0.0, cap_mb=None, inputs=None):
    """A rule's `mem_mb`: base + per_input_mb x input MiB, times the retry attempt (MB).

    A job killed for memory is retried (profile `retries`) with 2x, 3x the request.
    `inputs`: the named inputs whose size counts (all when None).
    """

    def request(wildcards, input, attempt):
        need = (base_mb + per_input_mb * input_size_mb(input, inputs)) * attempt
        return int(min(need, cap_mb) if cap_mb else need)

    return request


# The scripts import the slidemap library from this checkout's src/ (so a clone works
# without `pip install -e .`, and --use-conda environments need only third-party packages).
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        p
        for p in (str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH"))
        if p
    )
)


SLIDEMAP_SRC = Path(workflow.basedir) / "src" / "slidemap"
SLIDEMAP_IMPORT = re.compile(r"^\s*(?:from|import)\s+slidemap\.([\w.]+)", re.MULTILINE)


def _module_files(name):
    """Files of a slidemap module given as "a/b", "a.b" or "a/b.py" (package: all files)."""
    path = SLIDEMAP_SRC / name.replace(".py", "").replace(".", "/")
    if path.is_dir():
        return sorted(path.rglob("*.py"))
    parents = [p / "__init__.py" for p in path.parents if SLIDEMAP_SRC in p.parents]
    return [f for f in [path.with_suffix(".py"), *parents] if f.exists()]


def library_version(*modules):
    """A hash of the slidemap library modules that a job runs, for its params.

    The `code` rerun trigger only sees a rule's script file, not the library it imports;
    with this in a rule's params, editing e.g. `src/slidemap/hotspots/` reruns exactly the
    rules that use it (`--rerun-triggers params`, on by default). `modules` are paths
    relative to src/slidemap (files or packages); the slidemap modules they import are
    followed transitively.
    """
    todo = [f for m in modules for f in _module_files(m)]
    seen = set()
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        for name in SLIDEMAP_IMPORT.findall(f.read_text(encoding="utf-8")):
            todo.extend(_module_files(name))
    digest = hashlib.sha256()
    for f in sorted(seen):
        digest.update(f.relative_to(SLIDEMAP_SRC).as_posix().encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def script_library(script):
    """library_version() of the slidemap modules that scripts/<script>.py imports."""
    text = (Path(workflow.basedir) / "scripts" / f"{script}.py").read_text(
        encoding="utf-8"
    )
    return library_version(*SLIDEMAP_IMPORT.findall(text))


# Each rules file appends the final outputs of its stage here (see get_final_output).
FINAL_OUTPUTS = []


def get_final_output():
    """Every final output of the configured study, as registered by the stage rule files."""
    return list(FINAL_OUTPUTS)


# Before any job: a results folder that cannot be written (a read-only mount, no permission)
# is one message, not Snakemake's traceback while it prepares the first job's outputs.
onstart:
    from slidemap.logs import unwritable_folder

    blocked = unwritable_folder(RESULTS)
    if blocked:
        sys.exit(
            f"slidemap: cannot write in {blocked} (a read-only file system or no write "
            "permission). Fix: make it writable, or run in a writable copy of the "
            "workflow; no job was started."
        )
