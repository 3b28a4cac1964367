"""Errors that tell a user what is wrong with their input, where, and how to fix it."""

from __future__ import annotations

from os import PathLike


class SlidemapError(Exception):
    """Base class of every error slidemap raises on purpose."""


class InputDataError(SlidemapError, ValueError):
    """An input file is malformed; the message names the file, the row or column, and the fix.

    Parameters
    ----------
    path
        The offending file.
    problem
        What is wrong, in one sentence.
    fix
        What the user can do about it.
    row
        1-based line number in the file (header is line 1), when a row is at fault.
    column
        Column name, when a column is at fault.
    """

    def __init__(
        self,
        path: str | PathLike | None,
        problem: str,
        fix: str,
        *,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        self.fix = fix
        self.row = row
        self.column = column
        where = [self.path or "<input>"]
        if row is not None:
            where.append(f"line {row}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {problem} Fix: {fix}")


class ConfigError(SlidemapError, ValueError):
    """The configuration is invalid; the message names the key path (e.g. ``insar.tracks.asc``)."""
