"""Logging set-up shared by the workflow scripts: one log file per job, readable errors."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from slidemap.errors import SlidemapError

__all__ = ["setup_logging", "run_logged"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> None:
    """Send log records (and uncaught warnings) to ``log_path`` and to stderr.

    Parameters
    ----------
    log_path
        The job's log file (Snakemake's ``log[0]``); None logs to stderr only.
    level
        Logging level.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)


def run_logged(main: Callable[[], None], log_path: str | Path | None) -> None:
    """Run a script's ``main`` with logging; a :class:`SlidemapError` exits 1 without traceback.

    Errors slidemap raises on purpose already say what is wrong and how to fix it, so the
    log gets just that message; any other exception keeps its full traceback.

    Parameters
    ----------
    main
        The script's entry point, called without arguments.
    log_path
        The job's log file.
    """
    setup_logging(log_path)
    log = logging.getLogger("slidemap")
    try:
        main()
    except SlidemapError as exc:
        log.error("%s", exc)
        sys.exit(1)
    except Exception:
        log.exception("unexpected error")
        raise
