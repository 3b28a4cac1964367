"""Snakemake script of the tiled hydrology rules (workflow/rules/hydrology_tiles.smk).

One script for the chain, dispatching on the rule: each step calls the library's job function
of the same name (slidemap.factors.tiledfill / tileddirs / tiledflow / streams / tiledhydro).
"""

import logging

from slidemap.factors.streams import assemble_streams_job, stream_pieces_job
from slidemap.factors.tileddirs import (
    directions_tile_job,
    flat_seams_job,
    solve_flat_distances_job,
)
from slidemap.factors.tiledfill import fill_tile_job, flood_tile_job, solve_levels_job
from slidemap.factors.tiledflow import (
    accumulate_tile_job,
    flow_tile_job,
    hydrology_factors_tile_job,
    solve_inflows_job,
)
from slidemap.factors.tiledhydro import HydrologyTiles, check_tile_plan, mosaic_hydrology_job
from slidemap.logs import run_logged
from slidemap.raster import Grid, write_vrt
from slidemap.standalone import script_object

RULES = (
    "hydro_flood",
    "hydro_levels",
    "hydro_fill",
    "hydro_vrt",
    "hydro_seams",
    "hydro_flats",
    "hydro_dirs",
    "hydro_flow",
    "hydro_inflows",
    "hydro_accumulate",
    "hydro_factors",
    "hydro_pieces",
    "hydro_streams",
    "hydro_mosaic",
)


def main(smk) -> None:
    plan = HydrologyTiles.layout(**smk.params.grid)
    rule, i, o = smk.rule, smk.input, smk.output
    tile = smk.wildcards.get("htile")
    window = plan.window(tile) if tile is not None else None
    if rule == "hydro_flood":
        check_tile_plan(i.dem, plan.height, plan.width)
        summary = flood_tile_job(i.dem, window, o.summary)
    elif rule == "hydro_levels":
        summary = solve_levels_job(i.summaries, plan.tile_rows, plan.tile_cols, o.levels)
    elif rule == "hydro_fill":
        summary = fill_tile_job(i.dem, window, int(tile), i.levels, o.tile)
    elif rule == "hydro_vrt":
        grid = Grid.from_raster(i.dem)
        tiles = [(plan.window(t), path) for t, path in zip(plan.tiles, i.tiles, strict=True)]
        write_vrt(o.vrt, grid, tiles, dtype=smk.params.dtype, nodata=smk.params.nodata)
        summary = {"tiles": len(tiles)}
    elif rule == "hydro_seams":
        summary = flat_seams_job(i.filled, window, o.seams)
    elif rule == "hydro_flats":
        summary = solve_flat_distances_job(
            i.seams, plan.height, plan.width, plan.tile_size, o.flats
        )
    elif rule == "hydro_dirs":
        summary = directions_tile_job(i.filled, window, i.flats, o.tile)
    elif rule == "hydro_flow":
        summary = flow_tile_job(i.dirs, (window.row_off, window.col_off), o.summary)
    elif rule == "hydro_inflows":
        summary = solve_inflows_job(i.summaries, plan.tile_size, plan.height, plan.width, o.inflows)
    elif rule == "hydro_accumulate":
        summary = accumulate_tile_job(i.dirs, int(tile), i.inflows, o.tile)
    elif rule == "hydro_factors":
        summary = hydrology_factors_tile_job(
            i.dem,
            i.acc,
            window,
            {"sca": o.sca, "twi": o.twi, "spi": o.spi},
            min_tan_beta=smk.params.hydrology["min_tan_beta"],
        )
    elif rule == "hydro_pieces":
        threshold = smk.params.hydrology["stream_threshold_cells"]
        summary = stream_pieces_job(i.dirs, i.acc, window, threshold, o.pieces)
    elif rule == "hydro_streams":
        summary = assemble_streams_job(
            list(i.pieces),
            i.dem,
            o.streams,
            threshold_cells=smk.params.hydrology["stream_threshold_cells"],
        )
    else:  # hydro_mosaic
        names = ("sca", "twi", "spi")
        summary = mosaic_hydrology_job(
            {name: i[name] for name in names},
            {name: o[name] for name in names},
            min_tan_beta=smk.params.hydrology["min_tan_beta"],
            tile_size=plan.tile_size,
            chunk_size=smk.params.chunk_size,
            threads=smk.threads,
            compress=smk.params.compress,
        )
    where = f" tile {tile} {window}" if tile is not None else ""
    logging.getLogger("slidemap").info("%s%s: %s", rule, where, summary)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --rule NAME --help
    smk = snakemake if "snakemake" in globals() else script_object(RULES)  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
