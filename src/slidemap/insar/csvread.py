"""The CSV engine of the InSAR ingest: one batch file -> per-point arrays and a displacement block.

A plain numeric export (ASCII, no quotes, no ``NA`` tokens, as EGMS exports are) is parsed by
compiled code straight from the bytes (:mod:`slidemap.insar.fastcsv`); any other file by
pandas' C parser in chunks (and, for large files, byte ranges at line starts parsed by several
threads), which also names the line and the fix of every kind of bad input. Both give the
same values. The domain rules are in :mod:`slidemap.insar.batch` (validation and reprojection
of one file) and :mod:`slidemap.insar.ingest` (duplicates and the study area of a track).
"""

from __future__ import annotations

import dataclasses
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slidemap.insar.diagnose import parse_error
from slidemap.insar.fastcsv import (
    line_ranges,
    read_plain_csv,
)
from slidemap.insar.layouts import Header, Layout
from slidemap.insar.schema import (
    RowFailure,
    displacement_schema,
    validate_points,
)

__all__ = ["read_csv", "read_csv_fast", "cut_off_column", "NA_VALUES", "CANONICAL_OF"]

log = logging.getLogger(__name__)

#: Rows parsed per chunk: bounds the parser's float64 buffers (~190 MB at 94 columns).
CHUNK_ROWS = 250_000
#: Files at least this large are parsed by several threads (byte ranges at line starts).
PARALLEL_MIN_BYTES = 64 * 2**20
CANONICAL_OF = {"id": "pid", "x": "x", "y": "y", "lon": "x", "lat": "y"}
#: Cells read as missing values: pandas' documented defaults, except in the id column, where
#: only an empty cell is missing (a point may be called "NA").
NA_VALUES = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip


class _ByteRange(io.RawIOBase):
    """A read-only view of bytes ``start..end`` of a file (one parser thread's share)."""

    def __init__(self, path: Path, start: int, end: int) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._fh.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        """Return True: the range can be read."""
        return True

    def readinto(self, buffer) -> int:
        """Read up to ``len(buffer)`` bytes of the range into ``buffer``."""
        n = min(len(buffer), self._left)
        if n <= 0:
            return 0
        got = self._fh.readinto(memoryview(buffer)[:n])
        self._left -= got
        return got

    def close(self) -> None:
        """Close the underlying file."""
        self._fh.close()
        super().close()


class _RangeError(Exception):
    """A parser error in one byte range; ``exc`` is pandas' exception."""

    def __init__(self, exc: Exception) -> None:
        super().__init__(str(exc))
        self.exc = exc


def _parse_range(
    path: Path,
    header: Header,
    layout: Layout,
    names: list[str],
    span: tuple[int, int],
    first: bool,
) -> tuple[list[pd.DataFrame], np.ndarray, list[RowFailure]]:
    """Parse one byte range of a CSV (the first holds the header) in chunks.

    Returns the canonical per-point chunks, the float32 (dates, rows) displacement block
    and the non-numeric displacement cells; row labels count from 0 within the range.
    """
    rename = {col: CANONICAL_OF.get(key, key) for key, col in layout.columns.items()}
    date_cols = [col for col, _ in layout.dates]
    dnames = [f"d_{day:%Y%m%d}" for _, day in layout.dates]
    metas: list[pd.DataFrame] = []
    failures: list[RowFailure] = []
    # one float32 (dates, rows) buffer for the range, sized from the bytes per line of the
    # file's head (grown if the estimate is short): no concatenation of chunk blocks
    capacity = int((span[1] - span[0]) / max(header.bytes_per_line, 1) * 1.05) + 1024
    buf = np.empty((len(date_cols), capacity), dtype=np.float32)
    used = 0
    source: Any = path if span[0] == 0 and span[1] == path.stat().st_size else None
    if source is None:
        source = io.BufferedReader(_ByteRange(path, *span), buffer_size=1 << 20)
    id_col = layout.columns["id"]
    try:
        reader = pd.read_csv(
            source,
            sep=header.sep,
            decimal=header.decimal,
            encoding=header.encoding,
            dtype={id_col: "str"},
            keep_default_na=False,
            na_values={c: [""] if c == id_col else NA_VALUES for c in names},
            header=0 if first else None,
            names=None if first else names,
            index_col=False,
            skip_blank_lines=False,
            chunksize=CHUNK_ROWS,
            low_memory=False,
            engine="c",
        )
        with reader:
            for chunk in reader:
                if used + len(chunk) > buf.shape[1]:
                    grown = np.empty((len(date_cols), int(1.5 * (used + len(chunk)))), np.float32)
                    grown[:, :used] = buf[:, :used]
                    buf = grown
                block = buf[:, used : used + len(chunk)]
                used += len(chunk)
                text_cols = []
                for j, col in enumerate(date_cols):
                    s = chunk[col]
                    if s.dtype.kind in "fiu":
                        with np.errstate(over="ignore"):  # beyond float32: inf, reported
                            block[j] = s.to_numpy()
                    else:
                        text_cols.append(j)
                if text_cols:
                    failures += _coerce_text_columns(chunk, block, text_cols, date_cols, dnames)
                meta = chunk[list(rename)].rename(columns=rename)
                for col in meta.columns:
                    if meta[col].dtype.kind == "b":  # "true"/"false" are not numbers here
                        meta[col] = meta[col].astype("str")
                metas.append(meta)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise _RangeError(exc) from None
    finally:
        if not isinstance(source, Path):
            source.close()
    return metas, buf[:, :used], failures


def read_csv(
    path: Path, header: Header, layout: Layout, threads: int = 1
) -> tuple[pd.DataFrame, np.ndarray, list[RowFailure]]:
    """Parse a CSV batch into canonical per-point values and a float32 displacement block.

    A plain numeric file goes to the compiled reader (:func:`read_csv_fast`); otherwise
    every column is parsed (no ``usecols``): with ``usecols`` pandas silently accepts a line
    with more fields than the header, whose values are then shifted. Parsing the unused
    columns costs about the same CPU time (measured on an EGMS-like file). Files of 64 MiB
    and more are split into ``threads`` byte ranges at line starts, parsed in parallel
    (pandas' tokenizer releases the GIL).

    Returns
    -------
    meta : pandas.DataFrame
        ``pid``, ``x``, ``y``, ``velocity`` and the optional values the file has, as parsed
        (numeric columns holding text stay text: the schema reports them); index = 0-based
        data-row number.
    disp : numpy.ndarray
        float32 (dates, rows) — one contiguous row per date; a non-numeric cell is NaN.
    failures : list of RowFailure
        Non-numeric displacement cells, found by the displacement schema's coercion.
    """
    fast = read_csv_fast(path, header, layout, threads)
    if fast is not None:
        return fast
    parts = threads if threads > 1 and path.stat().st_size >= PARALLEL_MIN_BYTES else 1
    spans = line_ranges(path, parts) if parts > 1 else [(0, path.stat().st_size)]
    try:
        names = list(
            pd.read_csv(
                path, sep=header.sep, encoding=header.encoding, nrows=0, index_col=False
            ).columns
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise parse_error(path, header, exc) from None

    def parse(k: int):
        try:
            return _parse_range(path, header, layout, names, spans[k], first=k == 0)
        except _RangeError as err:
            return err

    if len(spans) > 1:
        with ThreadPoolExecutor(max_workers=len(spans)) as pool:
            results = list(pool.map(parse, range(len(spans))))
    else:
        results = [parse(0)]
    metas: list[pd.DataFrame] = []
    blocks: list[np.ndarray] = []
    failures: list[RowFailure] = []
    offset = 0  # data rows before the current range
    for k, res in enumerate(results):
        if isinstance(res, _RangeError):
            # lines before a later range: the header plus every data row of earlier ranges
            raise parse_error(path, header, res.exc, line_offset=offset + 1 if k else 0)
        r_metas, r_block, r_failures = res
        n = sum(len(m) for m in r_metas)
        if offset:
            r_metas = [m.set_axis(m.index + offset, axis=0) for m in r_metas]
            r_failures = [dataclasses.replace(f, index=f.index + offset) for f in r_failures]
        metas += r_metas
        blocks.append(r_block)
        failures += r_failures
        offset += n
    n_dates = len(layout.dates)
    if not metas:
        return pd.DataFrame(columns=["pid", "velocity"]), np.empty((n_dates, 0), np.float32), []
    meta = pd.concat(metas) if len(metas) > 1 else metas[0]
    disp = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
    return meta, disp, failures


def read_csv_fast(
    path: Path, header: Header, layout: Layout, threads: int = 1
) -> tuple[pd.DataFrame, np.ndarray, list[RowFailure]] | None:
    """Parse a plain numeric CSV batch with the compiled reader, or return None.

    The fast path of :func:`read_csv`, with the same result (see
    :mod:`slidemap.insar.fastcsv` for what "plain" means); for anything else it returns
    None and the pandas parser, which names the line and the fix, reads the file.
    """
    if header.decimal != "." or not _ascii_compatible(header.encoding):
        return None
    position = {name: i for i, name in enumerate(header.columns)}
    rename = {col: CANONICAL_OF.get(key, key) for key, col in layout.columns.items()}
    id_col = layout.columns["id"]
    date_cols = [col for col, _ in layout.dates]
    wanted = [*rename, *date_cols]
    if len(position) != len(header.columns) or len(set(wanted)) != len(wanted):
        return None
    if any(col not in position for col in wanted):
        return None
    plain = read_plain_csv(
        path,
        n_fields=len(header.columns),
        sep=header.sep,
        text={id_col: position[id_col]},
        f64={col: position[col] for col in rename if col != id_col},
        f32=[position[col] for col in date_cols],
        threads=threads,
    )
    if plain is None:
        return None
    meta = {
        name: (
            pd.Series(plain.text[col], dtype="str")
            if col == id_col
            else pd.Series(plain.f64[col], copy=False)
        )
        for col, name in rename.items()
    }
    return pd.DataFrame(meta, copy=False), plain.f32, []


@lru_cache(maxsize=16)
def _ascii_compatible(encoding: str) -> bool:
    """Return whether ``encoding`` reads the 128 ASCII bytes as ASCII (UTF-8, Latin-1 …)."""
    try:
        return bytes(range(128)).decode(encoding) == "".join(map(chr, range(128)))
    except (LookupError, UnicodeDecodeError):
        return False


def _coerce_text_columns(
    chunk: pd.DataFrame, block: np.ndarray, js: list[int], date_cols: list[str], dnames: list[str]
) -> list[RowFailure]:
    """Fill displacement columns parsed as text (some cell is not a number) into ``block``."""
    names = [dnames[j] for j in js]
    sub = chunk[[date_cols[j] for j in js]].set_axis(names, axis=1)
    schema = displacement_schema(tuple(names), max_abs_displacement_mm=np.inf)
    fixed, failures = validate_points(sub, schema)
    for j, name in zip(js, names, strict=True):
        block[j] = pd.to_numeric(fixed[name], errors="coerce").to_numpy(dtype=np.float32)
    return [f for f in failures if f.problem == "is not a number"]


def cut_off_column(path: Path, header: Header, layout: Layout) -> str | None:
    """Return the canonical column of the first value a short last line lacks, else None.

    A file that does not end with a newline may have been cut off; a last line with fewer
    fields than the header lost the values of the missing columns (the pandas parser would
    read them as empty). Columns slidemap does not read are ignored.
    """
    import csv

    with open(path, "rb") as fh:
        size = fh.seek(0, io.SEEK_END)
        fh.seek(max(0, size - (1 << 20)))
        tail = fh.read()
    text = tail.rsplit(b"\n", 1)[-1].decode(header.encoding, errors="replace").rstrip("\r")
    if not text:
        return None
    n = len(next(csv.reader([text], delimiter=header.sep)))
    missing = set(header.columns[n:])
    if not missing:
        return None
    order = {col: i for i, col in enumerate(header.columns)}
    used = {col: CANONICAL_OF.get(key, key) for key, col in layout.columns.items()}
    used.update({col: f"d_{day:%Y%m%d}" for col, day in layout.dates})
    lost = sorted((order[c], name) for c, name in used.items() if c in missing)
    return lost[0][1] if lost else None
