# maps stage: whole-grid prediction scattered over tiles, mosaic, classes, frequency ratio,
# uncertainty, the potential-landslide map and SHAP explanations (docs/contracts.md).


include: "maps_common.smk"


MAP_MODELS = get_map_models()
FACTOR_NAMES = planned_factors(config)
# Fixed tile layout: from the DEM header (the real grid is cut into this many tiles at run
# time, so a small error of the estimate only changes the tile sizes a little).
GRID_SHAPE = estimate_grid_shape(
    config["dem"]["path"],
    working_crs(config["dem"]["path"], config["study_area"]["crs"]),
    config["study_area"]["resolution_m"],
)
TILE_ROWS, TILE_COLS = tile_counts(*GRID_SHAPE, config["mapping"]["tile_size"])
MAP_TILES = tile_ids(TILE_ROWS, TILE_COLS)
EXPLAIN_MODELS = get_explain_models(MAP_MODELS)
check_best_model(MAP_MODELS)
MAKE_UNCERTAINTY = config["mapping"]["uncertainty"] and len(MAP_MODELS) >= 2
# The potential-landslide map needs the PLC classifier (models.smk's PLC_ENABLED: tracks,
# an inventory and models.plc.enabled).
MAKE_POTENTIAL_LANDSLIDES = bool(MAP_MODELS) and PLC_ENABLED
MAP_FILES = [
    "susceptibility.tif",
    "classes.tif",
    "classes.qml",
    "classes.json",
    "class_areas.csv",
    "frequency_ratio.csv",
    "rate_curves.csv",
    "rate_curves.png",
    "validation.json",
]
EXPLAIN_FILES = [
    "shap_mean_abs.csv",
    "shap_values.parquet",
    "summary.png",
    "dependence.png",
]


wildcard_constraints:
    tile=r"r\d{3}c\d{3}",


FINAL_OUTPUTS.extend(
    expand(f"{RESULTS}/maps/{{model}}/{{file}}", model=MAP_MODELS, file=MAP_FILES)
)
FINAL_OUTPUTS.extend(
    expand(
        f"{RESULTS}/explain/{{model}}/{{file}}",
        model=EXPLAIN_MODELS,
        file=EXPLAIN_FILES,
    )
)
if MAP_MODELS:
    FINAL_OUTPUTS.append(f"{RESULTS}/maps/best_model.json")
if MAKE_UNCERTAINTY:
    FINAL_OUTPUTS.append(f"{RESULTS}/maps/uncertainty.tif")
if MAKE_POTENTIAL_LANDSLIDES:
    FINAL_OUTPUTS.append(f"{RESULTS}/maps/potential_landslides.gpkg")
if MAP_MODELS and EXPLAIN_MODELS and config["explain"]["rasters"]:
    FINAL_OUTPUTS.append(f"{RESULTS}/explain/shap_rasters.tif")


rule predict_tile:
    input:
        model=f"{RESULTS}/models/{{model}}/model.joblib",
        grid=f"{RESULTS}/grid/dem.tif",
        factors=get_factor_files,
    output:
        tile=temp(f"{RESULTS}/maps/{{model}}/tiles/{{tile}}.tif"),
    log:
        f"{RESULTS}/logs/predict_tile/{{model}}_{{tile}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/predict_tile/{{model}}_{{tile}}.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: config["mapping"]["threads"]
    resources:
        mem_mb=tile_mem_mb,
    params:
        factor_dir=f"{RESULTS}/factors",
        tile_rows=TILE_ROWS,
        tile_cols=TILE_COLS,
        library=library_version("maps/predict", "raster"),
    script:
        "../../scripts/predict_tile.py"


rule mosaic:
    input:
        tiles=get_map_tiles,
        grid=f"{RESULTS}/grid/dem.tif",
    output:
        susceptibility=f"{RESULTS}/maps/{{model}}/susceptibility.tif",
    log:
        f"{RESULTS}/logs/mosaic/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/mosaic/{{model}}.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
    params:
        tile_rows=TILE_ROWS,
        tile_cols=TILE_COLS,
        library=library_version("maps/predict", "raster"),
    script:
        "../../scripts/mosaic.py"


rule classes:
    input:
        susceptibility=f"{RESULTS}/maps/{{model}}/susceptibility.tif",
    output:
        classes=f"{RESULTS}/maps/{{model}}/classes.tif",
        qml=f"{RESULTS}/maps/{{model}}/classes.qml",
        info=f"{RESULTS}/maps/{{model}}/classes.json",
        areas=f"{RESULTS}/maps/{{model}}/class_areas.csv",
    log:
        f"{RESULTS}/logs/classes/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/classes/{{model}}.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
    params:
        classes=config["mapping"]["classes"],
        library=library_version("maps/classes", "raster"),
    script:
        "../../scripts/classes.py"


rule frequency_ratio:
    input:
        susceptibility=f"{RESULTS}/maps/{{model}}/susceptibility.tif",
        info=f"{RESULTS}/maps/{{model}}/classes.json",
        areas=f"{RESULTS}/maps/{{model}}/class_areas.csv",
        samples=f"{RESULTS}/samples/pixels.parquet",
    output:
        table=report(
            f"{RESULTS}/maps/{{model}}/frequency_ratio.csv",
            caption="../report/frequency_ratio.rst",
            category="5. Map validation",
            subcategory="{model}",
            labels={"model": "{model}", "table": "frequency ratio"},
        ),
        curves=f"{RESULTS}/maps/{{model}}/rate_curves.csv",
        plot=report(
            f"{RESULTS}/maps/{{model}}/rate_curves.png",
            caption="../report/rate_curves.rst",
            category="5. Map validation",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "rate curves"},
        ),
        summary=f"{RESULTS}/maps/{{model}}/validation.json",
    log:
        f"{RESULTS}/logs/frequency_ratio/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/frequency_ratio/{{model}}.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000, per_input_mb=2),
    params:
        library=library_version("maps/frequency_ratio", "maps/classes", "raster"),
    script:
        "../../scripts/frequency_ratio.py"


rule best_model:
    input:
        metrics=expand(f"{RESULTS}/models/{{model}}/metrics.json", model=MAP_MODELS),
    output:
        best=f"{RESULTS}/maps/best_model.json",
    log:
        f"{RESULTS}/logs/best_model/best_model.log",
    benchmark:
        f"{RESULTS}/benchmarks/best_model/best_model.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(500),
    params:
        models=MAP_MODELS,
        choice=config["mapping"]["best_model"],
        library=library_version("maps/predict"),
    script:
        "../../scripts/best_model.py"


rule uncertainty:
    input:
        maps=expand(f"{RESULTS}/maps/{{model}}/susceptibility.tif", model=MAP_MODELS),
    output:
        uncertainty=f"{RESULTS}/maps/uncertainty.tif",
    log:
        f"{RESULTS}/logs/uncertainty/uncertainty.log",
    benchmark:
        f"{RESULTS}/benchmarks/uncertainty/uncertainty.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
    params:
        models=MAP_MODELS,
        library=library_version("maps/uncertainty", "raster"),
    script:
        "../../scripts/uncertainty.py"


rule potential_landslides:
    input:
        candidates=f"{RESULTS}/hotspots/candidates.gpkg",
        classified=f"{RESULTS}/hotspots/candidates_classified.parquet",
        best=f"{RESULTS}/maps/best_model.json",
        maps=expand(f"{RESULTS}/maps/{{model}}/susceptibility.tif", model=MAP_MODELS),
        classes=expand(f"{RESULTS}/maps/{{model}}/classes.json", model=MAP_MODELS),
    output:
        gpkg=f"{RESULTS}/maps/potential_landslides.gpkg",
    log:
        f"{RESULTS}/logs/potential_landslides/potential_landslides.log",
    benchmark:
        f"{RESULTS}/benchmarks/potential_landslides/potential_landslides.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000, per_input_mb=2),
    params:
        library=library_version("maps/potential", "maps/classes", "raster"),
    script:
        "../../scripts/potential_landslides.py"


rule explain:
    input:
        model=f"{RESULTS}/models/{{model}}/model.joblib",
        samples=f"{RESULTS}/samples/pixels.parquet",
        factors=get_factor_files,
    output:
        table=report(
            f"{RESULTS}/explain/{{model}}/shap_mean_abs.csv",
            caption="../report/shap_table.rst",
            category="6. SHAP explanations",
            subcategory="{model}",
            labels={"model": "{model}", "table": "mean |SHAP|"},
        ),
        values=f"{RESULTS}/explain/{{model}}/shap_values.parquet",
        summary=report(
            f"{RESULTS}/explain/{{model}}/summary.png",
            caption="../report/shap_summary.rst",
            category="6. SHAP explanations",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "summary"},
        ),
        dependence=report(
            f"{RESULTS}/explain/{{model}}/dependence.png",
            caption="../report/shap_dependence.rst",
            category="6. SHAP explanations",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "dependence"},
        ),
    log:
        f"{RESULTS}/logs/explain/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/explain/{{model}}.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb(2000),
    params:
        factor_dir=f"{RESULTS}/factors",
        # only the keys the script reads: e.g. explain.raster_factors must not rerun SHAP
        explain={
            k: config["explain"][k]
            for k in (
                "n_samples",
                "n_background",
                "seed",
                "top_factors",
                "gradient_nsamples",
            )
        },
        library=library_version("explain", "raster"),
    script:
        "../../scripts/explain.py"


rule shap_rasters:
    input:
        best=f"{RESULTS}/maps/best_model.json",
        models=expand(f"{RESULTS}/models/{{model}}/model.joblib", model=EXPLAIN_MODELS),
        tables=expand(
            f"{RESULTS}/explain/{{model}}/shap_mean_abs.csv", model=EXPLAIN_MODELS
        ),
        samples=f"{RESULTS}/samples/pixels.parquet",
        grid=f"{RESULTS}/grid/dem.tif",
        factors=get_factor_files,
    output:
        rasters=f"{RESULTS}/explain/shap_rasters.tif",
    log:
        f"{RESULTS}/logs/shap_rasters/shap_rasters.log",
    benchmark:
        f"{RESULTS}/benchmarks/shap_rasters/shap_rasters.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb(3000),
    params:
        factor_dir=f"{RESULTS}/factors",
        explain={
            k: config["explain"][k] for k in ("raster_factors", "n_background", "seed")
        },
        library=library_version("explain", "raster", "maps/predict"),
    script:
        "../../scripts/shap_rasters.py"
