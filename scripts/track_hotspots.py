"""Snakemake script of rule track_hotspots: one track's points -> trend/Gi*/density/polygons."""

import logging
import time

from slidemap.hotspots.density import grid_from_raster
from slidemap.hotspots.pipeline import (
    HotspotParams,
    analyse_points,
    hotspots_to_files,
    write_layer,
)
from slidemap.hotspots.pointio import (
    REQUIRED_POINT_COLUMNS,
    count_dates,
    read_track_points,
    stream_trends,
    write_analysed_points,
)
from slidemap.hotspots.tileanalysis import track_from_tiles, write_points_from_tiles
from slidemap.hotspots.tilejobs import join_trends
from slidemap.io import write_json
from slidemap.logs import run_logged
from slidemap.standalone import script_object

log = logging.getLogger("slidemap.track_hotspots")


def main(smk) -> None:
    params = HotspotParams.from_config(smk.params.hotspots)
    grid = grid_from_raster(smk.input.grid, params.cell_size_m)
    tiled = bool(smk.input.field_settings)
    if tiled:  # every tile's points analysed by its own job: a few columns per point here
        pts, info = track_from_tiles(
            smk.input.points,
            smk.input.field_settings,
            smk.input.fields,
            smk.params.tile_size_m,
            params,
            grid.crs,
        )
    else:
        # the light columns whole (only those the analysis reads: the output copies every
        # input column from the file); the series are streamed (trend fits, output's copy)
        points = read_track_points(
            smk.input.points, grid.crs, time_series=False, columns=REQUIRED_POINT_COLUMNS
        )
        tic = time.perf_counter()
        if smk.input.trends:  # tiled ingest: the tile jobs fitted the trends (tile_trends)
            n_dates = count_dates(smk.input.points)
            trends = join_trends(points, smk.input.trends, smk.params.tile_size_m, n_dates=n_dates)
        else:
            trends = stream_trends(smk.input.points, params)
        trend_s = time.perf_counter() - tic
        pts, info = analyse_points(points, params, trends=trends)
        del points, trends  # pts shares their arrays; nothing is held twice
        info["timings_s"]["trend"] = trend_s  # fitted (or joined) above, series streamed
    # the density goes to its file block by block; the polygons are made from the file
    polygons, info = hotspots_to_files(
        pts,
        info,
        grid,
        params,
        track=smk.wildcards.track,
        density_path=smk.output.density,
        grid_path=smk.input.grid,
        threads=smk.threads,
    )
    info["track"] = smk.wildcards.track
    info["grid"] = {"cell_size_m": grid.resolution_m, "height": grid.height, "width": grid.width}
    log.info("%s", {k: v for k, v in info.items() if k != "grid"})
    if tiled:  # the track's rows beside the tile files' rows, batch by batch
        del pts
        write_points_from_tiles(
            smk.input.points, smk.input.fields, smk.params.tile_size_m, smk.output.points
        )
    else:
        write_analysed_points(smk.input.points, pts, smk.output.points)
    write_layer(polygons, smk.output.polygons, "polygons")
    # stage timings are in the log and the benchmark file; the summary holds results only,
    # so that identical inputs give identical bytes
    write_json({k: v for k, v in info.items() if k != "timings_s"}, smk.output.summary)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("track_hotspots")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
