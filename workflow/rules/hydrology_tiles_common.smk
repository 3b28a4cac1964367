# Helpers of the tiled hydrology rules (included by hydrology_tiles.smk): paths, inputs, memory.

HT = f"{RESULTS}/factors/hydrology_tiles"
HT_GRID = {
    "height": HYDRO_TILES.height,
    "width": HYDRO_TILES.width,
    "tile_size": HYDRO_TILES.tile_size,
}
HT_TILES = HYDRO_TILES.tiles
HT_STAGES = ["filled", "dirs", "acc", "sca", "twi", "spi"]
HT_VRT = {
    "filled": ("float32", float("nan")),
    "dirs": ("uint8", 255),
    "acc": ("float64", float("nan")),
    "sca": ("float32", float("nan")),
    "twi": ("float32", float("nan")),
    "spi": ("float32", float("nan")),
}


def ht_all(stem, ext):
    """The files of every tile of one step."""
    return expand(f"{HT}/{stem}_{{htile}}.{ext}", htile=HT_TILES)


def ht_halo(stage):
    """A halo read of a stage: its VRT and the tile's neighbour tiles (the cells it reads)."""

    def inputs(wildcards):
        return [f"{HT}/{stage}.vrt"] + [
            f"{HT}/{stage}_{t}.tif" for t in HYDRO_TILES.neighbours(wildcards.htile)
        ]

    return inputs


def ht_tile_mem_mb(wildcards, attempt):
    """One tile job (MB): ~80 B per tile cell + the interpreter (slidemap.factors.tiledhydro)."""
    return HYDRO_TILES.job_mem_mb(attempt)
