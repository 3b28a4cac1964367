# Helpers of the maps and report rules (kept apart from the rules: `snakemake --lint`).
from slidemap.errors import ConfigError
from slidemap.factors import planned_factors
from slidemap.grid import working_crs
from slidemap.maps.predict import estimate_grid_shape, tile_counts, tile_ids


def get_map_models():
    """The susceptibility models that get a map: the enabled pixel models of models.smk."""
    return sorted(m for m in MODELS if m != "plc")


def get_factor_files(wildcards=None):
    """Every factor raster of the study (a model reads the ones in its bundle)."""
    return [f"{RESULTS}/factors/{name}.tif" for name in FACTOR_NAMES]


def get_map_tiles(wildcards):
    """The prediction tiles of one model, in layout order."""
    return expand(
        f"{RESULTS}/maps/{wildcards.model}/tiles/{{tile}}.tif", tile=MAP_TILES
    )


def tile_mem_mb(wildcards, input, attempt):
    """Memory of a tile job (MB): the tile stack plus the model, times the retry attempt."""
    tile_cells = config["mapping"]["tile_size"] ** 2
    stack_mb = tile_cells * max(len(FACTOR_NAMES), 1) * 4 * 6 / 2**20
    model_mb = (
        Path(input.model).stat().st_size / 2**20 if Path(input.model).exists() else 50
    )
    return int((800 + stack_mb + 4 * model_mb) * attempt)


def get_report_candidates(wildcards=None):
    """The polygons drawn on the maps: potential landslides (PLC-classified candidates),
    the raw candidates without the PLC classifier, none without InSAR tracks."""
    if MAKE_POTENTIAL_LANDSLIDES:
        return [f"{RESULTS}/maps/potential_landslides.gpkg"]
    return [f"{RESULTS}/hotspots/candidates.gpkg"] if TRACKS else []


def get_explain_models(map_models):
    """The models SHAP explains (`explain.models`, default every mapped model)."""
    if not config["explain"]["enabled"]:
        return []
    wanted = config["explain"]["models"]
    if wanted is None:
        return list(map_models)
    unknown = sorted(set(wanted) - set(map_models))
    if unknown and map_models:
        raise ConfigError(
            f"config key 'explain.models': {unknown} are not enabled susceptibility models "
            f"(enabled: {', '.join(map_models)})."
        )
    return [m for m in map_models if m in wanted]


def check_best_model(map_models):
    """Fail early when `mapping.best_model` names a model that is not trained."""
    best = config["mapping"]["best_model"]
    if best is not None and map_models and best not in map_models:
        raise ConfigError(
            f"config key 'mapping.best_model': {best!r} is not an enabled susceptibility "
            f"model (enabled: {', '.join(map_models)}); enable it or set null."
        )
