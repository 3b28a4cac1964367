"""Snakemake script of rule track_hotspots: one track's points -> trend/Gi*/density/polygons."""

import logging
import math
import time

from slidemap.hotspots.density import grid_from_raster
from slidemap.hotspots.pipeline import HotspotParams, study_area_mask, track_hotspots, write_layer
from slidemap.hotspots.pointio import (
    REQUIRED_POINT_COLUMNS,
    count_dates,
    read_track_points,
    stream_trends,
    write_analysed_points,
)
from slidemap.hotspots.tilefields import read_fields
from slidemap.hotspots.tilejobs import join_trends
from slidemap.io import write_json
from slidemap.logs import run_logged
from slidemap.raster import write_cog
from slidemap.standalone import script_object

log = logging.getLogger("slidemap.track_hotspots")


def main(smk) -> None:
    params = HotspotParams.from_config(smk.params.hotspots)
    grid = grid_from_raster(smk.input.grid, params.cell_size_m)
    # the light columns whole (only those the analysis reads: the output copies every input
    # column from the file); the series are streamed (trend fits, the output's copy)
    points = read_track_points(
        smk.input.points, grid.crs, time_series=False, columns=REQUIRED_POINT_COLUMNS
    )
    valid = study_area_mask(smk.input.grid, grid)
    tic = time.perf_counter()
    if smk.input.trends:  # tiled ingest: the tile jobs fitted the trends (rule tile_trends)
        n_dates = count_dates(smk.input.points)
        trends = join_trends(points, smk.input.trends, smk.params.tile_size_m, n_dates=n_dates)
    else:
        trends = stream_trends(smk.input.points, params)
    trend_s = time.perf_counter() - tic
    fields = None
    if smk.input.field_settings:  # tiled: settings, high-pass and Gi* from the tile jobs
        fields = read_fields(
            points, smk.input.field_settings, smk.input.fields, smk.params.tile_size_m
        )
    pts, density, polygons, info = track_hotspots(
        points,
        grid,
        params,
        track=smk.wildcards.track,
        valid=valid,
        threads=smk.threads,
        trends=trends,
        fields=fields,
    )
    info["timings_s"]["trend"] = trend_s  # fitted (or joined) above, series streamed
    info["track"] = smk.wildcards.track
    info["grid"] = {"cell_size_m": grid.resolution_m, "height": grid.height, "width": grid.width}
    log.info("%s", {k: v for k, v in info.items() if k != "grid"})
    write_analysed_points(smk.input.points, pts, smk.output.points)
    write_cog(
        density,
        smk.output.density,
        crs=grid.crs,
        transform=grid.transform,
        nodata=math.nan,
        dtype="float32",
        band_names=["hot", "cold"],
        tags={
            "unit": "Gi* z per km2 (seed 002 Eq. 2, quartic kernel)",
            "kernel_radius_m": repr(info["kernel_radius_m"]),
            "density_threshold_per_km2": repr(info["density_threshold_per_km2"]),
            "mean_point_density_per_km2": repr(info["mean_point_density_per_km2"]),
        },
    )
    write_layer(polygons, smk.output.polygons, "polygons")
    # stage timings are in the log and the benchmark file; the summary holds results only,
    # so that identical inputs give identical bytes
    write_json({k: v for k, v in info.items() if k != "timings_s"}, smk.output.summary)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("track_hotspots")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
