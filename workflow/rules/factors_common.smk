# Helpers of the factors stage (included by factors.smk): factor lists, inputs, memory.
from slidemap.factors import (
    categorical_layers,
    distance_layers,
    extra_layers,
    planned_factors,
    terrain_factors,
)

FACTOR_CFG = config["factors"]
FACTORS = planned_factors(config)
TERRAIN = terrain_factors(config)
DIST_LAYERS = distance_layers(config)
CAT_LAYERS = categorical_layers(config)
EXTRA_LAYERS = extra_layers(config)
GRID_DEM = f"{RESULTS}/grid/dem.tif"

# factors.hydrology.tile_size_cells: the tiled flow routing (hydrology_tiles.smk) needs its
# tile list now, to expand the tile jobs; it is planned from the DEM header like study_grid.
HYDRO_TILES = None
if FACTOR_CFG["hydrology"]["tile_size_cells"]:
    from slidemap.factors.tiledhydro import plan_hydrology_tiles

    HYDRO_TILES = plan_hydrology_tiles(
        config["dem"]["path"],
        tile_size=FACTOR_CFG["hydrology"]["tile_size_cells"],
        method=FACTOR_CFG["hydrology"]["method"],
        crs=config["study_area"]["crs"],
        resolution_m=config["study_area"]["resolution_m"],
        boundary=config["study_area"]["boundary"],
    )


def alternatives(names):
    """A wildcard regex matching exactly these names (nothing when the list is empty)."""
    return "|".join(names) if names else "(?!x)x"


def grid_shape(input):
    """(rows, cols) of the study grid (from the grid DEM, else the input DEM's header)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    for path in (input.get("dem"), config["dem"]["path"]):
        if path and Path(path).exists():
            try:
                with rasterio.open(path) as src:
                    return src.height, src.width
            except RasterioIOError:  # an empty placeholder (snakemake --touch)
                continue
    return 1000, 1000


def grid_cells(input):
    """Cells of the study grid (from the grid DEM, else the input DEM's header)."""
    rows, cols = grid_shape(input)
    return rows * cols


def chunked_mem_mb(wildcards, threads, attempt=1):
    """Memory of a block-by-block job (MB): GDAL cache + threads x a few blocks of 64 B per
    cell, times the retry attempt."""
    return int((1000 + threads * 64 * FACTOR_CFG["chunk_size"] ** 2 / 2**20) * attempt)


def distance_mem_mb(wildcards, input, threads, attempt):
    """distance_factor's memory (MB): a block job's + the EDT's strips + the layer, x attempt.

    The exact EDT runs in strips of 512 columns / blocks of 512 rows (~25 B per cell of a
    block; a scratch file of 8 B per padded cell on disk); the layer's geometries stay in
    memory (~1.5 x the file's size, measured with 1-4 M-vertex line layers at 16384²: 33 B
    per vertex against 22 B in the GeoPackage), counted twice over.
    """
    strips = 25 * 512 * (max(grid_shape(input)) + 256) / 2**20
    layer = 2 * input_size_mb([input.layer])
    return int((chunked_mem_mb(wildcards, threads) + strips + layer) * attempt)


def get_study_grid_input(wildcards):
    """The DEM and, when configured, the study-area boundary."""
    boundary = config["study_area"]["boundary"]
    return {
        "dem": config["dem"]["path"],
        **({"boundary": boundary} if boundary else {}),
    }


def get_distance_input(wildcards):
    """The grid DEM and the vector layer (the derived streams for rivers without a layer)."""
    path = config["layers"].get(wildcards.layer)
    if not path and wildcards.layer == "rivers":
        path = f"{RESULTS}/factors/streams.gpkg"
    return {"dem": GRID_DEM, "layer": path}


def get_distance_key(wildcards):
    """The config key naming the layer (for error messages)."""
    if config["layers"].get(wildcards.layer):
        return f"layers.{wildcards.layer}"
    return "factors.hydrology.stream_threshold_cells"


def get_distance_source(wildcards):
    """What the catalog lists as the source of a distance factor."""
    path = config["layers"].get(wildcards.layer)
    return Path(path).name if path else "streams.gpkg (derived from the DEM)"


def get_categorical_input(wildcards):
    """Grid DEM, the layer (lithology.tif for hardness) and its code table."""
    if wildcards.layer == "hardness":
        return {
            "dem": GRID_DEM,
            "source": f"{RESULTS}/factors/lithology.tif",
            "codes": config["layers"]["lithology"]["codes"],
        }
    layer = config["layers"][wildcards.layer]
    return {
        "dem": GRID_DEM,
        "source": layer["path"],
        **({"codes": layer["codes"]} if layer["codes"] else {}),
    }


def get_categorical_layer(wildcards):
    """The settings of a categorical layer (lithology's for hardness)."""
    name = "lithology" if wildcards.layer == "hardness" else wildcards.layer
    return config["layers"][name]
