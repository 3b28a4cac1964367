# Conditioning factors: study grid, terrain, hydrology, distances, categorical and extra layers.
# Every factor is one COG on the study grid; planned_factors() names them (docs/contracts.md).


include: "factors_common.smk"


FINAL_OUTPUTS.extend(
    [
        f"{RESULTS}/grid/grid.json",
        # files users open in a GIS are targets: deleting one and running `snakemake`
        # rebuilds it (a missing intermediate with up-to-date consumers is not rebuilt)
        f"{RESULTS}/grid/dem.tif",
        *expand(f"{RESULTS}/factors/{{name}}.tif", name=FACTORS),
        f"{RESULTS}/factors/factors.json",
        f"{RESULTS}/factors/streams.gpkg",
        *expand(f"{RESULTS}/factors/plots/{{name}}.png", name=FACTORS),
    ]
)


rule study_grid:
    input:
        unpack(get_study_grid_input),
    output:
        dem=GRID_DEM,
        grid=f"{RESULTS}/grid/grid.json",
    log:
        f"{RESULTS}/logs/study_grid/study_grid.log",
    benchmark:
        f"{RESULTS}/benchmarks/study_grid/study_grid.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: FACTOR_CFG["threads"]
    resources:
        mem_mb=chunked_mem_mb,
    params:
        library=script_library("study_grid"),
        crs=config["study_area"]["crs"],
        resolution_m=config["study_area"]["resolution_m"],
        boundary=config["study_area"]["boundary"],
        dem_nodata=config["dem"]["nodata"],
        chunk_size=FACTOR_CFG["chunk_size"],
        compress=FACTOR_CFG["compress"],
    script:
        "../../scripts/study_grid.py"


rule terrain_factors:
    input:
        dem=GRID_DEM,
    output:
        factors=expand(f"{RESULTS}/factors/{{name}}.tif", name=TERRAIN),
    log:
        f"{RESULTS}/logs/terrain_factors/terrain_factors.log",
    benchmark:
        f"{RESULTS}/benchmarks/terrain_factors/terrain_factors.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: FACTOR_CFG["threads"]
    resources:
        mem_mb=chunked_mem_mb,
    params:
        library=script_library("terrain_factors"),
        tpi=FACTOR_CFG["tpi"],
        chunk_size=FACTOR_CFG["chunk_size"],
        compress=FACTOR_CFG["compress"],
    script:
        "../../scripts/terrain_factors.py"


if HYDRO_TILES is None:

    rule hydrology:
        input:
            dem=GRID_DEM,
        output:
            sca=f"{RESULTS}/factors/sca.tif",
            twi=f"{RESULTS}/factors/twi.tif",
            spi=f"{RESULTS}/factors/spi.tif",
            streams=f"{RESULTS}/factors/streams.gpkg",
        log:
            f"{RESULTS}/logs/hydrology/hydrology.log",
        benchmark:
            f"{RESULTS}/benchmarks/hydrology/hydrology.tsv"
        conda:
            "../../envs/geo.yaml"
        threads: FACTOR_CFG["threads"]
        resources:
            # global flow routing: 18-26 B per cell + the queue (docstring of hydrology.py)
            mem_mb=lambda wildcards, input, threads, attempt: int(
                (chunked_mem_mb(wildcards, threads) + 34 * grid_cells(input) / 2**20)
                * attempt
            ),
        params:
            library=script_library("hydrology"),
            hydrology={
                k: v
                for k, v in FACTOR_CFG["hydrology"].items()
                if k != "tile_size_cells"
            },
            chunk_size=FACTOR_CFG["chunk_size"],
            compress=FACTOR_CFG["compress"],
        script:
            "../../scripts/hydrology.py"

else:  # factors.hydrology.tile_size_cells: the same four outputs from tile jobs

    include: "hydrology_tiles.smk"


rule distance_factor:
    input:
        unpack(get_distance_input),
    output:
        factor=f"{RESULTS}/factors/dist_{{layer}}.tif",
    log:
        f"{RESULTS}/logs/distance_factor/{{layer}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/distance_factor/{{layer}}.tsv"
    wildcard_constraints:
        layer=alternatives(DIST_LAYERS),
    conda:
        "../../envs/geo.yaml"
    threads: FACTOR_CFG["threads"]
    resources:
        mem_mb=distance_mem_mb,
    params:
        library=script_library("distance_factor"),
        key=get_distance_key,
        source=get_distance_source,
        compress=FACTOR_CFG["compress"],
    script:
        "../../scripts/distance_factor.py"


rule categorical_factor:
    input:
        unpack(get_categorical_input),
    output:
        factor=f"{RESULTS}/factors/{{layer}}.tif",
    log:
        f"{RESULTS}/logs/categorical_factor/{{layer}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/categorical_factor/{{layer}}.tsv"
    wildcard_constraints:
        layer=alternatives(CAT_LAYERS),
    conda:
        "../../envs/geo.yaml"
    threads: FACTOR_CFG["threads"]
    resources:
        mem_mb=chunked_mem_mb,
    params:
        library=script_library("categorical_factor"),
        layer=get_categorical_layer,
        chunk_size=FACTOR_CFG["chunk_size"],
        compress=FACTOR_CFG["compress"],
    script:
        "../../scripts/categorical_factor.py"


rule extra_factor:
    input:
        dem=GRID_DEM,
        source=lambda wildcards: config["layers"]["extra"][wildcards.name],
    output:
        factor=f"{RESULTS}/factors/{{name}}.tif",
    log:
        f"{RESULTS}/logs/extra_factor/{{name}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/extra_factor/{{name}}.tsv"
    wildcard_constraints:
        name=alternatives(EXTRA_LAYERS),
    conda:
        "../../envs/geo.yaml"
    threads: FACTOR_CFG["threads"]
    resources:
        mem_mb=chunked_mem_mb,
    params:
        library=script_library("extra_factor"),
        chunk_size=FACTOR_CFG["chunk_size"],
        compress=FACTOR_CFG["compress"],
    script:
        "../../scripts/extra_factor.py"


rule factor_catalog:
    input:
        factors=expand(f"{RESULTS}/factors/{{name}}.tif", name=FACTORS),
        grid=f"{RESULTS}/grid/grid.json",
        streams=f"{RESULTS}/factors/streams.gpkg",
    output:
        catalog=f"{RESULTS}/factors/factors.json",
    log:
        f"{RESULTS}/logs/factor_catalog/factor_catalog.log",
    benchmark:
        f"{RESULTS}/benchmarks/factor_catalog/factor_catalog.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
    params:
        library=script_library("factor_catalog"),
    script:
        "../../scripts/factor_catalog.py"


rule factor_plots:
    input:
        factors=expand(f"{RESULTS}/factors/{{name}}.tif", name=FACTORS),
        catalog=f"{RESULTS}/factors/factors.json",
        streams=f"{RESULTS}/factors/streams.gpkg",
    output:
        plots=[
            report(
                f"{RESULTS}/factors/plots/{name}.png",
                caption="../report/factor_map.rst",
                category="2. Factors",
                subcategory="factor maps",
                labels={"factor": name},
            )
            for name in FACTORS
        ],
    log:
        f"{RESULTS}/logs/factor_plots/factor_plots.log",
    benchmark:
        f"{RESULTS}/benchmarks/factor_plots/factor_plots.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
    params:
        library=script_library("factor_plots"),
    script:
        "../../scripts/factor_plots.py"
