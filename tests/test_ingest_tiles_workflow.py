"""The tiled ingest rules (insar.tile_size_m) through Snakemake on the study of
test_ingest_workflow (demo DEM, two seeded tracks): the same points.parquet and summary.json
as ingest_track on the same files, the same hot-spot outputs as track_hotspots with its own
trend fits, and a new batch in one corner reruns its own job, the tiles its points fall in
(ingest and trends) and the merges -- no other tile, nothing of the other track."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import test_ingest_workflow
import yaml
from pandas.testing import assert_frame_equal
from pyproj import Transformer
from test_ingest_workflow import TARGETS, run_snakemake

from slidemap.config import load_schema, validate_config
from slidemap.grid import study_area_polygon, working_crs
from slidemap.hotspots.spatialtiles import point_tiles
from slidemap.insar.ingest import ingest_track, write_points
from slidemap.insar.partition import tile_name
from slidemap.io import read_json

pytestmark = pytest.mark.workflow

TILE_M = 1500.0
HOT_FILES = ("points.parquet", "density.tif", "polygons.gpkg", "summary.json")
HOT_TARGETS = [f"results/mini/hotspots/{t}/{f}" for t in ("asc", "dsc") for f in HOT_FILES]
study = test_ingest_workflow.study  # the fixture: demo DEM, tracks asc (2 batches) and dsc


def _job_blocks(log: str):
    """(rule, block) of every job a Snakemake run printed (checkpoints included)."""
    import re

    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:)", log):
        m = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", block.strip())
        if m:
            yield m.group(1), block


def _wildcards(block: str) -> str:
    """The job's wildcards line as printed ("" without wildcards)."""
    import re

    wc = re.search(r"^\s+wildcards: (.*)$", block, flags=re.MULTILINE)
    return wc.group(1) if wc else ""


def scheduled(log: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a Snakemake run printed (checkpoints included)."""
    jobs = []
    for rule, block in _job_blocks(log):
        wc = _wildcards(block)
        jobs.append((rule, dict(kv.split("=", 1) for kv in wc.split(", ")) if wc else {}))
    return jobs


def requested_mem_mb(log: str, rule: str) -> dict[str, int]:
    """The ``mem_mb`` each job of ``rule`` asked for, by its wildcards as printed."""
    import re

    return {
        _wildcards(block): int(re.search(r"\bmem_mb=(\d+)", block).group(1))
        for name, block in _job_blocks(log)
        if name == rule
    }


def _reference(folder: Path, track: str, out: Path) -> tuple[gpd.GeoDataFrame, dict]:
    """ingest_track on the track's CSV files, written and read back like the rule's output."""
    cfg = yaml.safe_load((folder / "study.yaml").read_text())
    dem = folder / "data" / "dem.tif"
    crs = working_crs(dem, None)
    track_cfg = {**cfg["insar"]["tracks"][track]}
    track_cfg["path"] = str(folder / track_cfg["path"])
    csvs = sorted((folder / "tracks" / track).glob("*.csv"))
    points, summary = ingest_track(
        csvs,
        track_cfg,
        track_name=track,
        working_crs=crs.to_string(),
        study_area=study_area_polygon(dem, crs, None),
    )
    out.mkdir(parents=True, exist_ok=True)
    write_points(points, summary, out / "points.parquet", out / "summary.json")
    return gpd.read_parquet(out / "points.parquet"), read_json(out / "summary.json")


def _assert_equal_to_reference(folder: Path, track: str, out: Path) -> None:
    ref, ref_summary = _reference(folder, track, out)
    got = gpd.read_parquet(folder / f"results/mini/insar/{track}/points.parquet")
    summary = read_json(folder / f"results/mini/insar/{track}/summary.json")
    assert_frame_equal(got, ref, check_exact=True)
    assert summary == ref_summary


def _assert_hotspots_equal_to_reference(folder: Path, track: str) -> None:
    """The rule's outputs == track_hotspots fitting the trends itself on the same points."""
    import rasterio

    from slidemap.hotspots.density import grid_from_raster
    from slidemap.hotspots.pipeline import (
        HotspotParams,
        read_track_points,
        study_area_mask,
        track_hotspots,
    )

    root = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((folder / "study.yaml").read_text())
    cfg = validate_config(cfg, load_schema(root / "workflow/schemas/config.schema.yaml"))
    params = HotspotParams.from_config(cfg["hotspots"])
    res = folder / "results/mini"
    grid = grid_from_raster(res / "grid/dem.tif", params.cell_size_m)
    points = read_track_points(res / f"insar/{track}/points.parquet", grid.crs)
    pts, density, polygons, info = track_hotspots(
        points, grid, params, track=track, valid=study_area_mask(res / "grid/dem.tif", grid)
    )
    got = gpd.read_parquet(res / f"hotspots/{track}/points.parquet")
    # Gi* from the tile jobs: the same band counts, z to rounding (the band sums add the
    # same terms in another order); every other column bit for bit
    gi = ["gi_z", "gi_p"]
    assert_frame_equal(
        got.drop(columns=["geometry", *gi]),
        pts.drop(columns=["geometry", *gi]).astype(
            got.drop(columns=["geometry", *gi]).dtypes.to_dict()
        ),
        check_exact=True,
    )
    np.testing.assert_allclose(got["gi_z"], pts["gi_z"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["gi_p"], pts["gi_p"], rtol=1e-9, atol=1e-15)
    assert got.geometry.equals(pts.geometry.reset_index(drop=True))
    with rasterio.open(res / f"hotspots/{track}/density.tif") as src:
        # float32 cells of float64 sums of those z: within a float32 rounding
        np.testing.assert_allclose(src.read(), density, rtol=1e-6, atol=1e-9)
    polys = gpd.read_file(res / f"hotspots/{track}/polygons.gpkg")
    assert len(polys) == len(polygons) == info["n_polygons"]
    assert polys.geometry.geom_equals_exact(polygons.geometry.reset_index(drop=True), 0).all()
    summary = read_json(res / f"hotspots/{track}/summary.json")
    assert summary["n_moving"] == info["n_moving"]
    assert summary["trend_counts"] == info["trend_counts"]
    for key in ("noise_sigma_mm_yr", "stability_threshold_mm_yr", "search_radius_m"):
        assert summary[key] == info[key], key  # the settings merge == the whole track
    assert summary["kernel_radius_m"] == info["kernel_radius_m"]
    return read_json(res / f"hotspots/{track}/fields/plane.json")


def _field_jobs(jobs: list[tuple[str, dict]], rule: str, track: str) -> list[str]:
    """Tile names of one hot-spot field rule's jobs of a track."""
    return sorted(wc["htile"] for r, wc in jobs if r == rule and wc["track"] == track)


def _assert_runs_alone(folder: Path, track: str) -> None:
    # scripts/track_hotspots.py outside Snakemake (slidemap.standalone): its inputs come from
    # checkpoints (the batches' tiles, the hot-spot plane), which count as made when their
    # outputs exist -- else Snakemake puts the checkpoint's file in place of the tile lists
    out = folder / f"results/mini/hotspots/{track}/points.parquet"
    before = out.read_bytes()
    out.unlink()
    proc = subprocess.run(
        [sys.executable, "scripts/track_hotspots.py", "--config", "study.yaml"]
        + ["--wildcards", f"track={track}"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.read_bytes() == before


def test_tiled_ingest_equals_ingest_track_and_a_corner_batch_reruns_its_tiles(study, tmp_path):
    cfg = yaml.safe_load((study / "study.yaml").read_text())
    cfg["insar"]["tile_size_m"] = TILE_M
    (study / "study.yaml").write_text(yaml.safe_dump(cfg))

    out = run_snakemake(study, "--cores", "2", *TARGETS, *HOT_TARGETS)
    jobs = scheduled(out)
    batches = sorted((wc["track"], wc["batch"]) for rule, wc in jobs if rule == "ingest_batch")
    assert batches == [("asc", "batch_1"), ("asc", "batch_2"), ("dsc", "all")]
    # a batch asks for memory by its CSV's size, not the DEM's (read for the outline only)
    for wc, asked in requested_mem_mb(out, "ingest_batch").items():
        track, batch = (kv.split("=", 1)[1] for kv in wc.split(", "))
        csv_mb = (study / "tracks" / track / f"{batch}.csv").stat().st_size / 2**20
        assert asked == int(1000 + 5 * csv_mb), (wc, asked)
    asc_tiles = sorted(
        wc["itile"] for rule, wc in jobs if rule == "ingest_tile" and wc["track"] == "asc"
    )
    assert len(asc_tiles) >= 6, asc_tiles
    assert sorted(r for r, _ in jobs if r == "ingest_merge") == ["ingest_merge"] * 2
    assert not [r for r, _ in jobs if r == "ingest_track"]
    trends = sorted(wc["itile"] for r, wc in jobs if r == "tile_trends" and wc["track"] == "asc")
    assert trends == asc_tiles  # every ingest tile's trends fitted by its own job
    assert sorted(wc["track"] for r, wc in jobs if r == "track_hotspots") == ["asc", "dsc"]
    for track in ("asc", "dsc"):
        _assert_equal_to_reference(study, track, tmp_path / f"ref_{track}")
        plane = _assert_hotspots_equal_to_reference(study, track)
        # settings, high-pass and Gi* as tile jobs: pass 1 for every tile with points or
        # high-pass nodes, Gi* for every tile with points, one plane and settings merge
        assert _field_jobs(jobs, "hotspot_tile_pass1", track) == plane["tiles"]
        assert _field_jobs(jobs, "hotspot_tile_gistar", track) == sorted(plane["point_tiles"])
        assert _field_jobs(jobs, "hotspot_tile_points", track) == sorted(plane["point_tiles"])
        assert sum(plane["point_tiles"].values()) == plane["n_points"]
        for rule in ("hotspot_plane", "hotspot_settings"):
            assert [wc for r, wc in jobs if r == rule and wc["track"] == track] == [
                {"track": track}
            ]
    assert len(plane["tiles"]) > len(plane["point_tiles"]) >= 2  # dsc: nodes beyond points
    assert (study / "results/mini/logs/ingest_tile/asc").is_dir()
    assert (study / "results/mini/benchmarks/ingest_batch/asc/batch_1.tsv").exists()
    assert (study / f"results/mini/benchmarks/tile_trends/asc/{asc_tiles[0]}.tsv").exists()
    assert "Nothing to be done" in run_snakemake(study, "-n", *TARGETS, *HOT_TARGETS)
    _assert_runs_alone(study, "dsc")

    # a new batch in the south-west corner: 12 new points and 6 copies of existing ones there
    egms = pd.concat(
        [pd.read_csv(study / "tracks" / "asc" / f"batch_{i}.csv") for i in (1, 2)]
    ).drop_duplicates("pid")
    to_work = Transformer.from_crs("EPSG:3035", "EPSG:32717", always_xy=True)
    x, y = to_work.transform(egms["easting"].to_numpy(), egms["northing"].to_numpy())
    x0, y0 = np.floor(x.min() / TILE_M) * TILE_M, np.floor(y.min() / TILE_M) * TILE_M
    corner = (x < x0 + 2 * TILE_M) & (y < y0 + 2 * TILE_M)
    copies = egms[corner].head(6)
    new = copies.copy().iloc[[0] * 12]
    rng = np.random.default_rng(5)
    new["pid"] = [f"N{i:05d}" for i in range(12)]
    new["easting"] = copies["easting"].iloc[0] + np.round(rng.uniform(-100, 100, 12), 2)
    new["northing"] = copies["northing"].iloc[0] + np.round(rng.uniform(-100, 100, 12), 2)
    batch = pd.concat([copies, new])
    batch.to_csv(study / "tracks" / "asc" / "batch_3.csv", index=False)
    bx, by = to_work.transform(batch["easting"].to_numpy(), batch["northing"].to_numpy())
    touched = sorted({tile_name(t) for t in point_tiles(np.column_stack([bx, by]), TILE_M)})
    assert 1 <= len(touched) < len(asc_tiles)

    jobs = scheduled(run_snakemake(study, "--cores", "2", *TARGETS, *HOT_TARGETS))
    assert [wc for r, wc in jobs if r == "ingest_batch"] == [{"track": "asc", "batch": "batch_3"}]
    rerun = sorted(wc["itile"] for r, wc in jobs if r == "ingest_tile")
    assert rerun == touched
    assert all(wc["track"] == "asc" for r, wc in jobs if r == "ingest_tile")
    assert [wc for r, wc in jobs if r == "ingest_merge"] == [{"track": "asc"}]
    assert sorted(wc["itile"] for r, wc in jobs if r == "tile_trends") == touched
    assert [wc for r, wc in jobs if r == "track_hotspots"] == [{"track": "asc"}]
    assert {r for r, _ in jobs} == {
        "ingest_batch",
        "ingest_tile",
        "ingest_merge",
        "tile_trends",
        "hotspot_plane",
        "hotspot_tile_pass1",
        "hotspot_settings",
        "hotspot_tile_gistar",
        "hotspot_tile_points",
        "track_hotspots",
    }
    _assert_equal_to_reference(study, "asc", tmp_path / "ref_asc_3")
    plane = _assert_hotspots_equal_to_reference(study, "asc")
    # the plane, noise level and Gi* scale span the track: its field jobs all rerun (and
    # only its own: the dsc track's outputs stay)
    assert all(wc["track"] == "asc" for r, wc in jobs if r.startswith("hotspot_"))
    assert _field_jobs(jobs, "hotspot_tile_pass1", "asc") == plane["tiles"]
    assert _field_jobs(jobs, "hotspot_tile_gistar", "asc") == sorted(plane["point_tiles"])
    assert _field_jobs(jobs, "hotspot_tile_points", "asc") == sorted(plane["point_tiles"])
    summary = read_json(study / "results/mini/insar/asc/summary.json")
    assert summary["rows_kept"] == 312 and summary["dropped"]["duplicate_id"] == 56
