"""The compiled fast path of the CSV reader (slidemap.insar.fastcsv) against independent
references: pandas' CSV parser (the general path's parser, with the same options), Arrow's
string sort, and numpy indexing. The fast path must give exactly the general path's values
on the files it takes, and take no file it cannot read exactly like it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import WORKING_CRS, egms_track, make_points, study_area, to_egms, write_csv

import slidemap.insar.csvread as csvread
import slidemap.insar.ingest as ingest
from slidemap.insar.fastcsv import (
    all_within,
    permute_columns,
    read_plain_csv,
    sort_strings,
    take_columns,
)
from slidemap.insar.layouts import TrackSettings, resolve_layout, sniff_header

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Missing-value cells of the general path (pandas' defaults), for the reference parse.
NA = csvread.NA_VALUES


def _decimal(mantissa: int, scale: int) -> str:
    """``mantissa / 10**scale`` written with ``scale`` decimals, from the integer's digits."""
    digits = str(abs(mantissa)).rjust(scale + 1, "0")
    text = f"{digits[:-scale]}.{digits[-scale:]}" if scale else digits
    return ("-" if mantissa < 0 else "") + text


# numbers as exports print them: integers, fixed decimals, exponents, signs, bare points
_mantissa = st.integers(-(10**15) + 1, 10**15 - 1)
numbers = st.one_of(
    st.integers(-(10**9), 10**9).map(str),
    st.tuples(_mantissa, st.integers(0, 15)).map(lambda t: _decimal(*t)),
    st.tuples(st.integers(-999_999, 999_999), st.integers(-15, 15), st.sampled_from("eE")).map(
        lambda t: f"{t[0]}{t[2]}{t[1]:+d}"
    ),
    st.integers(0, 99_999).map(lambda i: f".{i:05d}"),
    st.integers(0, 99_999).map(lambda i: f"+{i}."),
    st.just("-0"),
    st.just(""),  # an empty cell: missing
)
#: Strings from pieces that share prefixes, with non-ASCII and control characters.
PIECES = st.lists(st.sampled_from(["a", "b", "Z", "0", "é", "ab", "\x01"]), max_size=12)
ids = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.", max_size=10)


def _reference(path: Path, sep: str, id_col: str, names: list[str]) -> pd.DataFrame:
    """The general path's parse of a file: pandas' C parser with ingest's options."""
    return pd.read_csv(
        path,
        sep=sep,
        dtype={id_col: "str"},
        keep_default_na=False,
        na_values={c: [""] if c == id_col else NA for c in names},
        index_col=False,
        skip_blank_lines=False,
        engine="c",
    )


@st.composite
def plain_files(draw):
    """A plain numeric CSV: an id column, skipped columns, float64 and float32 columns."""
    sep = draw(st.sampled_from([",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    n_num = draw(st.integers(1, 6))
    n_rows = draw(st.integers(1, 40))
    kinds = ["id", "skip", *draw(st.lists(st.sampled_from(["f64", "f32"]), min_size=n_num,
                                          max_size=n_num))]  # fmt: skip
    names = ["pid", "note", *(f"c{j}" for j in range(n_num))]
    rows = []
    for i in range(n_rows):
        cells = [f"{draw(ids)}_{i}", draw(st.sampled_from(["PS", "DS", "", "x y"]))]
        cells += [draw(numbers) for _ in range(n_num)]
        rows.append(sep.join(cells))
    text = sep.join(names) + newline + newline.join(rows)
    if draw(st.booleans()):
        text += newline
    return text, sep, names, kinds


@SETTINGS
@given(plain_files(), st.integers(1, 3))
def test_plain_files_read_exactly_like_the_pandas_parser(case, threads):
    """Every value, missing cell and id equals pandas' parse; the fast path takes the file."""
    text, sep, names, kinds = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.csv"
        path.write_bytes(text.encode())
        ref = _reference(path, sep, "pid", names)
        f64 = {n: i for i, (n, k) in enumerate(zip(names, kinds, strict=True)) if k == "f64"}
        f32 = [i for i, k in enumerate(kinds) if k == "f32"]
        got = read_plain_csv(
            path, n_fields=len(names), sep=sep, text={"pid": 0}, f64=f64, f32=f32,
            threads=threads,
        )  # fmt: skip
    assert got is not None, text
    assert got.rows == len(ref)
    assert got.text["pid"].to_pylist() == ref["pid"].tolist()
    for name, values in got.f64.items():
        np.testing.assert_array_equal(values, ref[name].to_numpy(dtype=float), err_msg=name)
    want32 = np.array([ref[names[i]].to_numpy(dtype=float) for i in f32]).astype(np.float32)
    np.testing.assert_array_equal(got.f32.reshape(want32.shape), want32)


LONG_NUMBERS = {
    # many leading zeros: few significant digits, taken (as pandas reads them)
    "0.0000000000000000000123": True,
    "-000000000000000000001.5": True,
    "0.000000000000000000000": True,
    "100000000000000": True,  # 15 significant digits
    "99999999999999.9": True,
    # more than 15 significant digits, however many (the mantissa must not wrap around)
    "1000000000000000": False,
    "12345678901234567890123": False,
    "0.00000000000000000001234567890123456": False,
    "184467440737095516161": False,  # 21 digits: past 2^64
}


@pytest.mark.parametrize("number", list(LONG_NUMBERS), ids=list(LONG_NUMBERS))
def test_long_digit_strings_are_taken_exactly_or_declined(tmp_path, number):
    """Significant digits (not all digits) decide: <= 15 equals pandas' value, more declines."""
    path = tmp_path / "x.csv"
    path.write_text(f"pid,v,w\na,{number},{number}\n", newline="")
    got = read_plain_csv(path, n_fields=3, sep=",", text={"pid": 0}, f64={"v": 1}, f32=[2])
    if not LONG_NUMBERS[number]:
        assert got is None
        return
    ref = _reference(path, ",", "pid", ["pid", "v", "w"])
    assert got is not None
    assert got.f64["v"][0] == ref["v"].to_numpy(dtype=float)[0]
    assert got.f32[0, 0] == np.float32(ref["w"].to_numpy(dtype=float)[0])


def _egms_file(tmp: Path, **kw) -> Path:
    frame, _ = make_points(300, seed=3, n_dates=12)
    return write_csv(to_egms(frame), tmp / "egms.csv", **kw)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("threads", [1, 2])
def test_fast_and_general_paths_give_the_same_batch(tmp_path, monkeypatch, newline, threads):
    """An EGMS export read by both paths: the same canonical frame and displacement block."""
    path = _egms_file(tmp_path, newline=newline)
    settings_ = TrackSettings.from_config(egms_track(), "t")
    header = sniff_header(path, settings_.encoding)
    layout = resolve_layout(path, header, settings_)
    fast = csvread.read_csv_fast(path, header, layout, threads)
    assert fast is not None
    monkeypatch.setattr(csvread, "read_csv_fast", lambda *a: None)
    meta, disp, failures = csvread.read_csv(path, header, layout, threads)
    pd.testing.assert_frame_equal(fast[0], meta, check_dtype=False)
    np.testing.assert_array_equal(fast[1], disp)
    assert fast[2] == failures == []


def test_ingest_track_is_the_same_with_and_without_the_fast_path(tmp_path, monkeypatch):
    """The whole ingest (sort, duplicates, assembly) gives the same table either way."""
    frame, _ = make_points(400, seed=5, n_dates=8, outside=20)
    egms = to_egms(frame)
    a = write_csv(egms.iloc[:250], tmp_path / "a.csv")
    b = write_csv(egms.iloc[200:], tmp_path / "b.csv")  # 50 ids in both batches
    kw = {"track_name": "t", "working_crs": WORKING_CRS, "study_area": study_area(), "threads": 2}
    fast, s_fast = ingest.ingest_track([a, b], egms_track(), **kw)
    monkeypatch.setattr(csvread, "read_csv_fast", lambda *a: None)
    slow, s_slow = ingest.ingest_track([a, b], egms_track(), **kw)
    assert s_fast == s_slow
    assert s_fast["dropped"]["duplicate_id"] == 50
    pd.testing.assert_frame_equal(fast, slow)


# Files (header "pid,v,w") the fast path must leave to the general reader: each holds one
# thing it does not read exactly like pandas.
DECLINED = {
    "quoted cell": 'a,"1.5",2\n',
    "NA token": "a,NA,2\n",
    "nan": "a,nan,2\n",
    "NAN": "a,NAN,2\n",
    "inf": "a,inf,2\n",
    "16 significant digits": "a,1.234567890123456,2\n",
    "exponent beyond 22": "a,1e23,2\n",
    "hexadecimal": "a,0x10,2\n",
    "text": "a,abc,2\n",
    "space": "a, 1.5,2\n",
    "blank line": "a,1,2\n\nb,3,4\n",
    "too few fields": "a,1\n",
    "too many fields": "a,1,2,3\n",
    "lone CR": "a,1,2\rb,3,4\n",
    "CR inside the id": "a\r,1,2\n",
    "non-ASCII id": "é,1,2\n",
    "quote in the id": 'a"b,1,2\n',
    "bare sign": "a,-,2\n",
    "exponent without digits": "a,1e,2\n",
}


@pytest.mark.parametrize("body", list(DECLINED.values()), ids=list(DECLINED))
def test_what_the_fast_path_leaves_to_the_general_reader(tmp_path, body):
    path = tmp_path / "x.csv"
    path.write_text("pid,v,w\n" + body, newline="")
    assert read_plain_csv(path, n_fields=3, sep=",", text={"pid": 0}, f64={"v": 1}, f32=[2]) is None


def test_header_only_and_empty_files_are_left_to_the_general_reader(tmp_path):
    for name, text in (("header.csv", "pid,v\n"), ("empty.csv", "")):
        path = tmp_path / name
        path.write_text(text)
        assert (
            read_plain_csv(path, n_fields=2, sep=",", text={"pid": 0}, f64={"v": 1}, f32=[]) is None
        )


def test_an_empty_id_is_null_and_an_all_empty_line_is_a_row(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("pid,v,w\n,1,2\n,,\nc,3,\n")
    got = read_plain_csv(path, n_fields=3, sep=",", text={"pid": 0}, f64={"v": 1}, f32=[2])
    assert got.rows == 3
    assert got.text["pid"].to_pylist() == [None, None, "c"]
    np.testing.assert_array_equal(got.f64["v"], [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(got.f32[0], np.array([2.0, np.nan, np.nan], np.float32))


@SETTINGS
@given(st.lists(PIECES.map("".join), max_size=60))
def test_sort_strings_is_arrows_stable_byte_order(strings):
    arr = pa.array(strings, pa.large_string())
    np.testing.assert_array_equal(sort_strings(arr), pc.sort_indices(arr).to_numpy())


def test_sort_strings_falls_back_for_long_ids_nulls_and_chunks():
    long = pa.array(["x" * 20 + "b", "x" * 20 + "a", "y"], pa.string())
    np.testing.assert_array_equal(sort_strings(long), [1, 0, 2])
    nulls = pa.array(["b", None, "a"], pa.large_string())
    np.testing.assert_array_equal(sort_strings(nulls), pc.sort_indices(nulls).to_numpy())
    chunked = pa.chunked_array([pa.array(["d", "b"]), pa.array(["c", "a", "b"])])
    np.testing.assert_array_equal(sort_strings(chunked), [3, 1, 4, 2, 0])
    sliced = pa.array(["z", "c", "a", "b"], pa.large_string()).slice(1)
    np.testing.assert_array_equal(sort_strings(sliced), [1, 2, 0])


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_take_columns_and_all_within_match_numpy(threads):
    rng = np.random.default_rng(0)
    block = rng.normal(0, 10, (7, 1000)).astype(np.float32)
    index = rng.permutation(1000)[:600]
    np.testing.assert_array_equal(take_columns(block, index, threads=threads), block[:, index])
    np.testing.assert_array_equal(
        take_columns(block, index, scale=-1.0, threads=threads), -block[:, index]
    )
    bound = float(np.abs(block).max())
    assert all_within(block, bound, threads)
    assert not all_within(block, bound * 0.999, threads)
    block[3, 17] = np.nan
    assert not all_within(block, np.inf, threads)
    assert all_within(np.empty((0, 5), np.float32), 1.0, threads)


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_permute_columns_matches_numpy(threads):
    """Each block comes back as ``block[..., order]``: 2-D and 1-D, any dtype, no columns."""
    rng = np.random.default_rng(1)
    order = np.argsort(rng.integers(0, 9, 1000), kind="stable")  # grouped, as by tile
    block = rng.normal(0, 10, (7, 1000)).astype(np.float32)
    ints, flags, values = np.arange(1000) + 2, rng.random(1000) < 0.5, rng.normal(size=1000)
    out = permute_columns([block, ints, flags, values], order, threads=threads)
    for got, want in zip(out, [block, ints, flags, values], strict=True):
        assert got.dtype == want.dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want[..., order])
    random = rng.permutation(1000)
    np.testing.assert_array_equal(
        permute_columns([block], random, threads=threads)[0], block[:, random]
    )
    empty = permute_columns([np.empty((3, 0), np.float32), np.empty(0)], np.empty(0, np.int64))
    assert [a.shape for a in empty] == [(3, 0), (0,)]
    with pytest.raises(ValueError, match="columns"):
        permute_columns([block[:, :10]], order)
    with pytest.raises(ValueError, match="repeats"):
        permute_columns([block], np.zeros(1000, np.int64))
    with pytest.raises(ValueError, match="out of range"):
        permute_columns([block], order + 1)


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_permute_columns_in_place_matches_numpy(threads):
    """``inplace=True``: a C-contiguous 2-D block is permuted in place (the same array comes
    back, equal to ``block[:, order]``); a non-contiguous or read-only block and 1-D arrays
    get new arrays, their inputs untouched."""
    rng = np.random.default_rng(2)
    order = np.argsort(rng.integers(0, 9, 500), kind="stable")
    block = rng.normal(0, 10, (7, 500)).astype(np.float32)
    want = block[:, order]
    wide = rng.normal(size=(500, 4)).T  # (4, 500), not C-contiguous
    frozen = rng.normal(size=(3, 500))
    frozen.flags.writeable = False
    ids = np.arange(500) * 3
    keep = (wide.copy(), frozen.copy(), ids.copy())
    got, got_wide, got_frozen, got_ids = permute_columns(
        [block, wide, frozen, ids], order, threads=threads, inplace=True
    )
    assert got is block
    np.testing.assert_array_equal(block, want)
    for new, old in zip((got_wide, got_frozen, got_ids), keep, strict=True):
        np.testing.assert_array_equal(new, old[..., order])
    np.testing.assert_array_equal(wide, keep[0])
    np.testing.assert_array_equal(frozen, keep[1])
    np.testing.assert_array_equal(ids, keep[2])


def test_reference_parser_is_ingests_general_path(tmp_path, monkeypatch):
    """The reference above parses like the general path (guards the test's own premise)."""
    path = _egms_file(tmp_path)
    settings_ = TrackSettings.from_config(egms_track(), "t")
    header = sniff_header(path, settings_.encoding)
    layout = resolve_layout(path, header, settings_)
    monkeypatch.setattr(csvread, "read_csv_fast", lambda *a: None)
    meta, disp, _ = csvread.read_csv(path, header, layout)
    ref = _reference(path, header.sep, layout.columns["id"], header.columns)
    assert ref[layout.columns["id"]].tolist() == meta["pid"].tolist()
    for key, col in layout.columns.items():
        if key != "id":
            name = csvread.CANONICAL_OF.get(key, key)
            np.testing.assert_array_equal(ref[col].to_numpy(float), meta[name].to_numpy(float))
    dates = np.array([ref[col].to_numpy(float) for col, _ in layout.dates], dtype=np.float32)
    np.testing.assert_array_equal(dates, disp)


@pytest.mark.parametrize("piece_bytes", [1, 24, 64, 1 << 23])
def test_pages_cover_every_element_once(piece_bytes):
    """The pieces that are faulted in before the parse are views covering each array once."""
    from slidemap.insar.fastcsv import _pages

    arrays = [np.zeros((3, 37), np.float64), np.zeros((70, 11), np.float32), np.zeros((0, 5))]
    for piece in _pages(*arrays, piece_bytes=piece_bytes):
        assert piece.nbytes <= max(piece_bytes, piece.itemsize)
        piece += 1
    for a in arrays:
        np.testing.assert_array_equal(a, np.ones_like(a))


def test_outputs_faulted_in_by_pieces_are_then_parsed(tmp_path, monkeypatch):
    """With many small pieces zeroed by threads while the kernel loads, every value is still
    the parsed one (the parse starts after the last piece): pandas' values, 1 to 3 threads."""
    import functools

    import slidemap.insar.fastcsv as fastcsv

    monkeypatch.setattr(fastcsv, "_pages", functools.partial(fastcsv._pages, piece_bytes=48))
    rng = np.random.default_rng(5)
    names = ["pid", "x", *[f"d{j}" for j in range(6)]]
    rows = [
        ",".join([f"p{i}", f"{rng.normal():.3f}", *(f"{v:.1f}" for v in rng.normal(0, 9, 6))])
        for i in range(3000)
    ]
    path = tmp_path / "batch.csv"
    path.write_text(",".join(names) + "\n" + "\n".join(rows) + "\n")
    ref = _reference(path, ",", "pid", names)
    for threads in (1, 2, 3):
        got = read_plain_csv(
            path, n_fields=8, sep=",", text={"pid": 0}, f64={"x": 1}, f32=list(range(2, 8)),
            threads=threads,
        )  # fmt: skip
        np.testing.assert_array_equal(got.f64["x"], ref["x"].to_numpy(dtype=float))
        want = np.array([ref[f"d{j}"].to_numpy(dtype=float) for j in range(6)], np.float32)
        np.testing.assert_array_equal(got.f32, want)
        assert got.text["pid"].to_pylist() == ref["pid"].tolist()
