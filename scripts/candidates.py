"""Snakemake script of rule candidates: every track's polygons -> merged PLCs with statistics."""

import geopandas as gpd
import rasterio

from slidemap.hotspots.candidates import (
    CANDIDATE_POINT_COLUMNS,
    CANDIDATE_TILE_CELLS,
    merge_candidates,
    near_polygons,
)
from slidemap.hotspots.density import grid_from_raster
from slidemap.hotspots.evidence import MOGI_HALO_M
from slidemap.hotspots.pipeline import HotspotParams, write_layer
from slidemap.hotspots.pointio import read_track_points
from slidemap.hotspots.settings import settings_table
from slidemap.io import atomic_path, read_json
from slidemap.logs import run_logged
from slidemap.standalone import script_object


def main(smk) -> None:
    settings = smk.params.hotspots
    grid = grid_from_raster(smk.input.grid, settings["cell_size_m"])
    tracks = list(smk.params.tracks)
    polygons = {
        t: gpd.read_file(p, layer="polygons")
        for t, p in zip(tracks, smk.input.polygons, strict=True)
    }
    with rasterio.open(smk.input.slope) as src:  # read block by block where needed
        transform = src.transform
    summaries = {t: read_json(p) for t, p in zip(tracks, smk.input.summaries, strict=True)}
    # each track's typical point density from its hot-spot summary (no k-d tree over it);
    # then only the points near a polygon count (and, for the evidence, those within the
    # halo around it): read those alone, batch by batch
    known = all("points_per_km2" in s for s in summaries.values())
    where = near_polygons(polygons, grid, margin_m=MOGI_HALO_M) if known else None
    # the columns the candidates' statistics and evidence read (no series, ids, geometry)
    points = {
        t: read_track_points(
            p, time_series=False, columns=CANDIDATE_POINT_COLUMNS, only=True, where=where
        )
        for t, p in zip(tracks, smk.input.points, strict=True)
    }
    cands = merge_candidates(
        polygons,
        points,
        grid,
        merge_tolerance_m=settings["merge_tolerance_m"],
        slope_deg=smk.input.slope,
        aspect_deg=smk.input.aspect,
        terrain_transform=transform,
        min_cosine=settings["downslope_min_cosine"],
        rules=settings["preclassify"],
        min_moving=settings["min_points"],
        tile_size_cells=CANDIDATE_TILE_CELLS,  # tile by tile (a tolerance: the whole grid)
        densities={t: s["points_per_km2"] for t, s in summaries.items()} if known else None,
        noise={t: s.get("noise_sigma_mm_yr") for t, s in summaries.items()},
        # the preset's value where it sets one (seed002: keep every candidate)
        sparse_upslope_noise_factor=HotspotParams.from_config(settings).sparse_upslope_noise_factor,
    )
    write_layer(cands, smk.output.candidates, "candidates")
    table = settings_table(summaries)
    with atomic_path(smk.output.settings) as tmp:
        table.to_csv(tmp, index=False)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("candidates")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
