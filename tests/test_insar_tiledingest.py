"""Tiled ingest (batch jobs -> tile jobs -> merge) == the whole-track ingest_track.

The reference is :func:`slidemap.insar.ingest.ingest_track` on the same CSV files; both
outputs go through the same writer and are compared as the files read back (every column,
dtype, row order) and as summaries (every count, per file)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from ingest_helpers import (
    WORKING_CRS,
    egms_track,
    generic_track,
    make_points,
    study_area,
    to_egms,
    to_generic,
    write_csv,
)
from pandas.testing import assert_frame_equal

from slidemap.errors import InputDataError
from slidemap.hotspots.spatialtiles import point_tiles
from slidemap.insar.ingest import ingest_track, write_points
from slidemap.insar.partition import tile_name
from slidemap.insar.tiledingest import (
    batch_tiles,
    ingest_batch_job,
    ingest_tile_job,
    merge_tiles_job,
)
from slidemap.io import read_json

AREA = study_area()
KW = {"track_name": "t", "working_crs": WORKING_CRS}


def tiled(paths, cfg, tile_size_m, out: Path):
    """Run the batch, tile and merge jobs in order (what the rules of insar_tiles.smk do)."""
    folders = []
    for p in paths:
        folder = out / "batches" / Path(p).stem
        ingest_batch_job(p, cfg, study_area=AREA, tile_size_m=tile_size_m, folder=folder, **KW)
        folders.append(folder)
    tiles = sorted({t for f in folders for t in batch_tiles(f)})
    files = []
    for t in tiles:
        touching = [f for f in folders if t in batch_tiles(f)]
        names = tuple(out / "tiles" / f"{t}{ext}" for ext in (".parquet", ".ids.parquet", ".json"))
        (out / "tiles").mkdir(parents=True, exist_ok=True)
        ingest_tile_job(
            touching, t, cfg, points_path=names[0], ids_path=names[1], account_path=names[2], **KW
        )
        files.append(names)
    merge_tiles_job(
        folders,
        files,
        cfg,
        study_area=AREA,
        points_path=out / "points.parquet",
        summary_path=out / "summary.json",
        **KW,
    )
    return gpd.read_parquet(out / "points.parquet"), read_json(out / "summary.json"), tiles


def whole(paths, cfg, out: Path):
    points, summary = ingest_track([str(p) for p in paths], cfg, study_area=AREA, **KW)
    out.mkdir(parents=True, exist_ok=True)
    write_points(points, summary, out / "points.parquet", out / "summary.json")
    return gpd.read_parquet(out / "points.parquet"), read_json(out / "summary.json")


def both_errors(paths, cfg, tile_size_m, out: Path) -> tuple[str, str]:
    """The messages of ingest_track and of the tiled jobs on the same (bad) input."""
    with pytest.raises(InputDataError) as whole_err:
        ingest_track([str(p) for p in paths], cfg, study_area=AREA, **KW)
    with pytest.raises(InputDataError) as tiled_err:
        tiled(paths, cfg, tile_size_m, out)
    return str(whole_err.value), str(tiled_err.value)


def assert_same(paths, cfg, tile_size_m, tmp_path):
    ref, ref_summary = whole(paths, cfg, tmp_path / "whole")
    got, got_summary, tiles = tiled(paths, cfg, tile_size_m, tmp_path / f"tiled_{tile_size_m}")
    assert_frame_equal(got, ref, check_exact=True)
    assert got_summary == ref_summary
    return ref, ref_summary, tiles


@pytest.fixture(params=[None, 7], ids=["one_chunk", "chunks_of_7"])
def chunk_rows(request, monkeypatch):
    """The merge writes points.parquet in one chunk, or in chunks of 7 rows (k-way merge of
    the tile files over many chunks, every tile's cursor reading ahead in small batches)."""
    from slidemap.insar import tilemerge

    if request.param:
        monkeypatch.setattr(tilemerge, "CHUNK_ROWS", request.param)
    return request.param


@pytest.mark.parametrize("tile_size_m", [3000.0, 12000.0, 1e6])
def test_overlapping_batches_outside_points_and_low_coherence(tmp_path, tile_size_m, chunk_rows):
    pts, _ = make_points(400, seed=3, outside=20)
    egms = to_egms(pts)
    a = write_csv(egms.iloc[:250], tmp_path / "b1.csv")
    b = write_csv(egms.iloc[180:], tmp_path / "b2.csv")  # 70 ids in both (burst overlap)
    c = write_csv(egms.iloc[::7], tmp_path / "b0.csv")  # a third batch first in name order
    ref, summary, tiles = assert_same(
        [b, c, a], egms_track(min_coherence=0.5), tile_size_m, tmp_path
    )
    assert summary["dropped"]["duplicate_id"] > 70 and summary["dropped"]["low_coherence"] > 0
    assert summary["dropped"]["outside_study_area"] > 0
    # the tiles are those of the points' positions (outside points included: counted there)
    expected = {tile_name(t) for t in point_tiles(_xy(egms), tile_size_m)}
    assert set(tiles) == expected
    if tile_size_m == 3000.0:
        assert len(tiles) > 50


def _xy(egms):
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:3035", WORKING_CRS, always_xy=True)
    return np.column_stack(tr.transform(egms["easting"].to_numpy(), egms["northing"].to_numpy()))


def test_generic_layout_with_dropped_invalid_rows(tmp_path):
    pts, _ = make_points(200, seed=5, geometry=(192.0, 39.0))
    frame = to_generic(pts)
    frame.loc[[3, 50, 120], "VEL"] = np.nan
    a = write_csv(frame.iloc[:120], tmp_path / "a.csv", sep=";")
    b = write_csv(frame.iloc[100:], tmp_path / "b.csv", sep=";")
    cfg = generic_track(invalid_rows="drop")
    _, summary, _ = assert_same([a, b], cfg, 5000.0, tmp_path)
    assert summary["dropped"]["invalid_velocity"] == 3  # rows 3, 50 (a.csv) and 120 (b.csv)
    assert summary["dropped"]["duplicate_id"] == 20  # rows 100..119 are in both


def test_pieces_encode_unique_columns_without_a_dictionary(tmp_path):
    """Ids, line numbers and coordinates (unique per row) are written plain; displacements
    and the other values keep the dictionary; the pieces read back to the rows of the batch."""
    import pyarrow.parquet as pq

    from slidemap.insar.tiledingest import PIECE_PLAIN

    pts, _ = make_points(300, seed=3)
    path = write_csv(to_egms(pts), tmp_path / "a.csv")
    folder = tmp_path / "batch"
    ingest_batch_job(path, egms_track(), study_area=AREA, tile_size_m=3000.0, folder=folder, **KW)
    pieces = sorted(folder.glob("x*_y*.parquet"))
    assert len(pieces) > 1
    for piece in pieces:
        meta = pq.ParquetFile(piece).metadata
        for i in range(meta.num_columns):
            chunk = meta.row_group(0).column(i)
            name = chunk.path_in_schema
            if name == "inside":
                continue  # booleans are never dictionary-encoded
            has_dictionary = chunk.has_dictionary_page
            assert has_dictionary == (name not in PIECE_PLAIN), name
    lines = np.sort(
        np.concatenate([pq.read_table(p, columns=["line"])["line"].to_numpy() for p in pieces])
    )
    np.testing.assert_array_equal(lines, np.arange(len(pts)) + 2)


def _moved_copies(tmp_path, only_moved=False):
    """Three batches; P000005 and P000007 repeated at another position (another tile), P000009
    repeated at the same position with another velocity (same tile), P000011 moved to a
    position outside the study area, P000002 moved and repeated identically after that."""
    pts, _ = make_points(60, seed=11)
    egms = to_egms(pts)
    a = write_csv(egms.iloc[:30], tmp_path / "b1.csv")
    changed = egms.iloc[:40].copy()
    changed.loc[[5, 7, 2], "easting"] += 20000.0
    if not only_moved:
        changed.loc[9, "mean_velocity"] += 1.0
        changed.loc[11, "easting"] -= 300000.0
    b = write_csv(changed, tmp_path / "b2.csv")
    c = write_csv(changed.iloc[:3], tmp_path / "b3.csv")  # P000002 again, as moved in b2
    return [a, b, c]


@pytest.mark.parametrize("tile_size_m", [4000.0, 1e6])
def test_ids_repeated_across_tiles_keep_the_first_copy(tmp_path, tile_size_m, chunk_rows):
    paths = _moved_copies(tmp_path)
    ref, summary, _ = assert_same(paths, egms_track(duplicate_ids="first"), tile_size_m, tmp_path)
    assert summary["dropped"]["conflicting_duplicate_id"] == 6  # 5, 7, 9, 11, 2 in b2; 2 in b3
    assert (ref.loc[ref.pid.isin(["P000005", "P000002"]), "source_file"] == "b1.csv").all()


@pytest.mark.parametrize("only_moved", [False, True])
def test_ids_repeated_across_tiles_are_refused_by_default(tmp_path, only_moved):
    paths = _moved_copies(tmp_path, only_moved)
    whole_err, tiled_err = both_errors(paths, egms_track(), 4000.0, tmp_path / "t")
    for err in (whole_err, tiled_err):
        assert "b2.csv" in err and "duplicate_ids: first" in err
    if only_moved:  # found by the merge: the first moved id, with the first copy's line
        assert "'P000002'" in tiled_err and "b1.csv line 4" in tiled_err
        assert "another position" in tiled_err and "4 repeated" in tiled_err  # 2 twice, 5, 7
    else:  # the copy with another velocity at the same position: found by its tile's job
        assert "'P000009'" in tiled_err and "b1.csv line 11" in tiled_err


def test_every_point_outside_is_the_same_error(tmp_path):
    pts, _ = make_points(30, seed=2, outside=30)
    a = write_csv(to_egms(pts), tmp_path / "b1.csv")
    whole_err, tiled_err = both_errors([a], egms_track(), 5000.0, tmp_path / "t")
    assert tiled_err == whole_err


def test_a_folder_without_its_manifest_is_refused(tmp_path):
    pts, _ = make_points(30, seed=2)
    a = write_csv(to_egms(pts), tmp_path / "b1.csv")
    folder = tmp_path / "batches" / "b1"
    ingest_batch_job(a, egms_track(), study_area=AREA, tile_size_m=5000.0, folder=folder, **KW)
    (folder / "batch.json").unlink()
    with pytest.raises(InputDataError, match="not written completely"):
        batch_tiles(folder)


@pytest.mark.parametrize("tile_size_m", [3000.0, 1e6])
def test_a_batch_without_coherence_beside_one_with_it(tmp_path, tile_size_m):
    pts, _ = make_points(200, seed=9)
    egms = to_egms(pts)
    a = write_csv(egms.iloc[:120], tmp_path / "a.csv")
    b = write_csv(egms.iloc[120:].drop(columns="temporal_coherence"), tmp_path / "b.csv")
    cfg = egms_track(min_coherence=0.5)
    ref, summary, _ = assert_same([a, b], cfg, tile_size_m, tmp_path)
    # b's own rows have no coherence: dropped as low_coherence, as ingest_track does
    assert set(ref["source_file"]) == {"a.csv"}
    assert summary["dropped"]["low_coherence"] >= 80


def test_min_coherence_without_any_coherence_column_is_the_same_error(tmp_path):
    pts, _ = make_points(40, seed=4)
    a = write_csv(to_egms(pts).drop(columns="temporal_coherence"), tmp_path / "a.csv")
    cfg = egms_track(min_coherence=0.5)
    whole_err, tiled_err = both_errors([a], cfg, 3000.0, tmp_path / "t")
    assert tiled_err == whole_err
    assert "no coherence column" in tiled_err


def test_a_batch_whose_rows_are_all_invalid(tmp_path):
    pts, _ = make_points(30, seed=3)
    egms = to_egms(pts)
    a = write_csv(egms.iloc[:20], tmp_path / "a.csv")
    bad = egms.iloc[20:].copy()
    bad["mean_velocity"] = np.nan
    b = write_csv(bad, tmp_path / "b.csv")
    cfg = egms_track(invalid_rows="drop")
    _, summary, _ = assert_same([a, b], cfg, 5000.0, tmp_path)  # b touches no tile
    assert summary["dropped"]["invalid_velocity"] == 10 and summary["rows_kept"] == 20
    whole_err, tiled_err = both_errors([b], cfg, 5000.0, tmp_path / "only_b")
    assert tiled_err == whole_err
    assert "no valid point is left in b.csv" in tiled_err


@pytest.mark.parametrize("tile_size_m", [12000.0, 1e6])
def test_tile_files_in_small_row_groups_merge_the_same(tmp_path, monkeypatch, tile_size_m):
    """The tile files are written in row groups of TILE_ROW_GROUP_ROWS (the merge's cursors
    decompress one group at a time); with groups of 4 rows and output chunks of 7 the merge
    reads across many groups of every tile, and repeated ids still leave by row."""
    import pyarrow.parquet as pq

    from slidemap.insar import tilemerge

    monkeypatch.setattr(tilemerge, "TILE_ROW_GROUP_ROWS", 4)
    monkeypatch.setattr(tilemerge, "CHUNK_ROWS", 7)
    paths = _moved_copies(tmp_path)
    cfg = egms_track(duplicate_ids="first")
    _, summary, tiles = assert_same(paths, cfg, tile_size_m, tmp_path)
    assert summary["dropped"]["conflicting_duplicate_id"] == 6
    files = [tmp_path / f"tiled_{tile_size_m}" / "tiles" / f"{t}.parquet" for t in tiles]
    groups = [pq.ParquetFile(f).metadata for f in files]
    assert max(m.num_row_groups for m in groups) > 1
    assert all(m.row_group(0).num_rows <= 4 for m in groups)


def test_a_tile_file_from_another_run_is_refused(tmp_path):
    """A tile's points file that does not hold the rows its ids file keeps (files of two
    runs mixed): the merge names the file instead of writing wrong rows."""
    import pyarrow.parquet as pq

    pts, _ = make_points(80, seed=5)
    a = write_csv(to_egms(pts), tmp_path / "b1.csv")
    out = tmp_path / "t"
    tiled([a], egms_track(), 12000.0, out)
    tiles = sorted(f.name[: -len(".ids.parquet")] for f in (out / "tiles").glob("*.ids.parquet"))
    files = [
        tuple(out / "tiles" / f"{t}{ext}" for ext in (".parquet", ".ids.parquet", ".json"))
        for t in tiles
    ]
    sizes = [pq.ParquetFile(f[0]).metadata.num_rows for f in files]
    small, big = files[int(np.argmin(sizes))][0], files[int(np.argmax(sizes))][0]
    assert min(sizes) < max(sizes)
    small.write_bytes(big.read_bytes())
    with pytest.raises(InputDataError, match="different runs") as err:
        merge_tiles_job(
            sorted((out / "batches").iterdir()),
            files,
            egms_track(),
            study_area=AREA,
            points_path=out / "again.parquet",
            summary_path=out / "again.json",
            **KW,
        )
    assert small.name in str(err.value)
    assert not (out / "again.parquet").exists()
