"""Logging set-up shared by the workflow scripts: one log file per job, readable errors.

What a failed job prints (stderr, which Snakemake shows) is one clear message, never a
Python traceback:

- an error slidemap raises on purpose (:class:`~slidemap.errors.SlidemapError`): its message,
  which names the file or key and the fix;
- a storage fault (disk full, quota, read-only file system, permission denied), recognised
  from ``OSError.errno`` or from GDAL's own messages, which rasterio logs but does not put
  in its ``Write failed`` exception: "no space left on device while writing <file>: free
  space and rerun; nothing was kept";
- anything else: the rule, the exception in one line and the log file that holds the full
  traceback.

The job's log file gets the same line (and, for unexpected errors, the traceback). A log file
that cannot be written (the disk is full) is dropped with one line on stderr instead of
logging's "--- Logging error ---" dumps.
"""

from __future__ import annotations

import collections
import errno
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from slidemap.errors import SlidemapError

__all__ = [
    "JobTerminated",
    "STORAGE_ERRNOS",
    "gdal_cache_mb",
    "set_gdal_cache",
    "setup_logging",
    "run_logged",
    "storage_fault",
    "unwritable_folder",
]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Storage errnos: errno -> (what happened, what to do)
STORAGE_ERRNOS = {
    errno.ENOSPC: ("no space left on device", "free space and rerun"),
    errno.EDQUOT: ("disk quota exceeded", "free space (or raise the quota) and rerun"),
    errno.EROFS: ("read-only file system", "make the results folder writable and rerun"),
    errno.EACCES: ("permission denied", "make the results folder writable and rerun"),
    errno.EPERM: ("operation not permitted", "make the results folder writable and rerun"),
}
_STORAGE_TEXT = {
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "Read-only file system": errno.EROFS,
    "Permission denied": errno.EACCES,
}
#: A written file's path inside an error message.
_OUTPUT_PATH = re.compile(r"(/[^\s:'\"]+\.(?:tif|tiff|gpkg|parquet|json|csv|png|html|joblib))")
#: GDAL messages recently logged by rasterio (its exceptions often say only "Write failed").
_GDAL_RECENT: collections.deque[str] = collections.deque(maxlen=50)


class _GdalMemory(logging.Handler):
    """Remember the last GDAL messages (rasterio logs them under ``rasterio._env``/``_err``)."""

    def emit(self, record: logging.LogRecord) -> None:  # noqa: D102 - logging API
        try:
            _GDAL_RECENT.append(record.getMessage())
        except Exception:  # pragma: no cover - never let logging fail a job
            pass


class _JobFileHandler(logging.FileHandler):
    """A FileHandler that, when its file cannot be written, says so once and goes quiet."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging API
        if not self.failed:
            self.failed = True
            exc = sys.exc_info()[1]
            sys.stderr.write(f"slidemap: cannot write the job log {self.baseFilename}: {exc}\n")
        try:
            self.close()
        except Exception:  # pragma: no cover
            pass


class _NoTraceback(logging.Formatter):
    """A formatter that leaves exception tracebacks out (they go to the log file only)."""

    def format(self, record: logging.LogRecord) -> str:  # noqa: D102 - logging API
        saved = record.exc_info, record.exc_text
        record.exc_info, record.exc_text = None, None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text = saved


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> None:
    """Send log records (and uncaught warnings) to ``log_path`` and to stderr.

    Parameters
    ----------
    log_path
        The job's log file (Snakemake's ``log[0]``); None logs to stderr only.
    level
        Logging level.
    """
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(_NoTraceback(LOG_FORMAT))
    handlers: list[logging.Handler] = [stderr]
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(_JobFileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    gdal = logging.getLogger("rasterio")  # GDAL's messages come as rasterio._env / ._err
    if not any(isinstance(h, _GdalMemory) for h in gdal.handlers):
        gdal.addHandler(_GdalMemory(level=logging.DEBUG))
    _GDAL_RECENT.clear()


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield the exception, its causes and contexts (each once)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend([e.__cause__, e.__context__])


def storage_fault(exc: BaseException) -> str | None:
    """Say in one line what storage fault ``exc`` comes from, or return None if it is not one.

    Parameters
    ----------
    exc
        The exception a job ended with.

    Returns
    -------
    str or None
        E.g. "no space left on device while writing results/demo/factors/dist_roads.tif:
        free space and rerun; nothing was kept".
    """
    code = None
    filename = None
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in STORAGE_ERRNOS:
            code, filename = e.errno, e.filename
            break
    texts = [str(e) for e in _chain(exc)]
    if any(type(e).__module__.startswith("rasterio") for e in _chain(exc)):
        texts += list(_GDAL_RECENT)  # rasterio's "Write failed" hides GDAL's reason
    if code is None:
        found = (v for text in texts for needle, v in _STORAGE_TEXT.items() if needle in text)
        code = next(found, None)
    if code is None:
        return None
    if filename is None:
        paths = (m.group(1) for text in reversed(texts) if (m := _OUTPUT_PATH.search(text)))
        filename = next(paths, None)
    what, fix = STORAGE_ERRNOS[code]
    where = f" while writing {filename}" if filename else " while writing this job's outputs"
    return f"{what}{where}: {fix}; nothing was kept"


def _rule_of(log_path: str | Path | None) -> str:
    """Return the rule of a job log ``<results>/logs/<rule>/[<wildcard>/...]<wildcard>.log``."""
    if log_path is None:
        return "this step"
    parts = Path(log_path).parts
    logs = [i for i, part in enumerate(parts[:-2]) if part == "logs"]
    if logs:  # the folder after the last "logs" (tile jobs' logs nest deeper)
        return f"rule {parts[logs[-1] + 1]}"
    return f"rule {Path(log_path).parent.name}"


#: GDAL block cache per job: this share of the job's ``mem_mb`` (MB), within the bounds below.
GDAL_CACHE_SHARE = 1 / 8
GDAL_CACHE_MIN_MB = 32
GDAL_CACHE_MAX_MB = 256


def gdal_cache_mb(mem_mb: float | None) -> int:
    """Return the GDAL block cache (MB) for a job that was given ``mem_mb`` MB of memory.

    GDAL's default cache is 5 % of the machine's RAM (1.2 GB on a 24 GB laptop, ~13 GB on a
    256 GB cluster node), which a job reading or writing a large raster block by block fills
    regardless of the memory the scheduler gave it. A job gets an eighth of its ``mem_mb``
    instead, between 32 and 256 MB: block-by-block IO needs a few blocks per band, and
    copying a 268 M-cell COG is no slower with 256 MB than with 1.2 GB.

    Parameters
    ----------
    mem_mb
        The job's memory request (MB); None (a script run outside Snakemake) gives the upper
        bound.

    Returns
    -------
    int
        Cache size in MB.
    """
    if mem_mb is None:
        return GDAL_CACHE_MAX_MB
    share = int(float(mem_mb) * GDAL_CACHE_SHARE)
    return max(GDAL_CACHE_MIN_MB, min(GDAL_CACHE_MAX_MB, share))


def set_gdal_cache(mem_mb: float | None) -> str:
    """Set ``GDAL_CACHEMAX`` (MB) for this process from the job's ``mem_mb``, unless set.

    Must run before the process's first raster block is read or written: GDAL reads the
    option once, at its first block IO (the environment variable; ``rasterio.Env(
    GDAL_CACHEMAX=256)`` would instead mean 256 *bytes*). A value the user exported
    (``export GDAL_CACHEMAX=1024``) is kept.

    Parameters
    ----------
    mem_mb
        The job's memory request (MB), or None.

    Returns
    -------
    str
        The value in force (MB, or whatever the user set).
    """
    if not os.environ.get("GDAL_CACHEMAX"):
        os.environ["GDAL_CACHEMAX"] = str(gdal_cache_mb(mem_mb))
    return os.environ["GDAL_CACHEMAX"]


def _mem_mb(resources: object) -> float | None:
    """Return ``resources.mem_mb`` (Snakemake's job resources) or None."""
    value = getattr(resources, "mem_mb", None)
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):  # e.g. an unevaluated callable outside Snakemake
        return None


class JobTerminated(BaseException):
    """SIGTERM reached a job (see :func:`run_logged`).

    Not an ``Exception``, so no handler swallows it on its way out and every ``finally``
    (temporary files) runs.
    """


def _raise_terminated(signum: int, frame: object) -> None:
    """SIGTERM handler: raise :class:`JobTerminated` in the main thread."""
    raise JobTerminated(signum)


def run_logged(
    main: Callable[[], None], log_path: str | Path | None, resources: object = None
) -> None:
    """Run a script's ``main`` with logging; every failure exits 1 with one clear message.

    Before ``main`` runs, GDAL's block cache is bounded by the job's memory request
    (:func:`set_gdal_cache`). SIGTERM (Snakemake stopping its jobs, ``scancel``, a SLURM
    time limit) ends ``main`` through its ``finally`` blocks, so the writers remove their
    temporary files (gigabytes at national scale), and exits 143 with one line that says
    so; a SIGKILL allows no clean-up, so the next attempt at an output removes what the
    killed one left (:func:`slidemap.io.remove_stale_temporaries`).

    Errors slidemap raises on purpose already say what is wrong and how to fix it, so the
    log gets just that message; storage faults (disk full, read-only, permissions) get one
    line naming the file; any other exception is reported with the rule and the log file,
    which holds its full traceback (stderr gets no traceback).

    Parameters
    ----------
    main
        The script's entry point, called without arguments.
    log_path
        The job's log file.
    resources
        The job's resources (``snakemake.resources``); its ``mem_mb`` (MB) sizes the GDAL
        cache. None: the cache gets its upper bound.
    """
    setup_logging(log_path)
    log = logging.getLogger("slidemap")
    cache = set_gdal_cache(_mem_mb(resources))
    log.debug("GDAL_CACHEMAX=%s (MB)", cache)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    try:
        main()
    except JobTerminated:
        log.error(
            "%s was stopped (SIGTERM: Snakemake stopping, scancel or a time limit); its "
            "temporary files were removed and no output was kept: rerun to make them",
            _rule_of(log_path),
        )
        _exit(143)
    except SlidemapError as exc:
        log.error("%s", exc)
        _exit(1)
    except Exception as exc:
        fault = storage_fault(exc)
        if fault is not None:
            log.error("%s", fault)
            _exit(1)
        one_line = " ".join(str(exc).split())[:500]
        where = f"; the full traceback is in {log_path}" if log_path is not None else ""
        log.error(
            "unexpected error in %s: %s: %s%s",
            _rule_of(log_path),
            type(exc).__name__,
            one_line,
            where,
            exc_info=True,
        )
        _exit(1)
    finally:
        if main_thread:  # (None: a handler not set from Python, which cannot be restored)
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _exit(code: int) -> None:
    """Flush every log handler, then exit with ``code``."""
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # pragma: no cover - a full disk
            pass
    sys.exit(code)


def unwritable_folder(results: str | Path) -> str | None:
    """Return the first folder of a results tree that this process may not write in, if any.

    Checked by the workflow before any job starts (``onstart``), so a read-only mount or a
    folder without write permission is one message instead of Snakemake's traceback when it
    prepares the first job's outputs.

    Parameters
    ----------
    results
        The study's results folder (``results/<study>``); when it does not exist yet, its
        nearest existing parent is checked (the folder will be created there).

    Returns
    -------
    str or None
        The path of the first folder (top-down) where ``os.access(…, W_OK)`` fails (a
        read-only file system fails it even for root), or None when every folder is writable.
    """
    root = Path(results)
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.exists():
        return None
    if not root.exists():
        return None if os.access(probe, os.W_OK) else str(probe)
    for folder, _, _ in os.walk(root):
        if not os.access(folder, os.W_OK):
            return folder
    return None
