# Tiled flow routing (factors.hydrology.tile_size_cells set; included by factors.smk instead of
# rule hydrology). The same four outputs -- sca/twi/spi COGs and streams.gpkg -- equal to the
# whole-grid D8 routing, from tile jobs whose memory follows the tile and small merge jobs:
#
#   hydro_flood (tile) -> hydro_levels (merge) -> hydro_fill (tile)       depression filling
#   hydro_seams (tile) -> hydro_flats (merge)  -> hydro_dirs (tile)       D8 directions
#   hydro_flow (tile)  -> hydro_inflows (merge) -> hydro_accumulate (tile)  accumulation
#   hydro_factors (tile) -> hydro_mosaic          SCA/TWI/SPI COGs
#   hydro_pieces (tile)  -> hydro_streams         the stream network
#
# Jobs reading a tile with a halo read the stage's VRT (hydro_vrt) and list the neighbour tiles
# as inputs. Every file under factors/hydrology_tiles/ is temporary (--notemp keeps them).
# The library: slidemap.factors.tiledfill / tileddirs / tiledflow / streams / tiledhydro.


include: "hydrology_tiles_common.smk"


wildcard_constraints:
    htile=r"\d+",
    hstage="|".join(HT_STAGES),


rule hydro_flood:
    input:
        dem=GRID_DEM,
    output:
        summary=temp(f"{HT}/fill_{{htile}}.npz"),
    log:
        f"{RESULTS}/logs/hydro_flood/{{htile}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_flood/{{htile}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=ht_tile_mem_mb,
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_levels:
    input:
        summaries=ht_all("fill", "npz"),
    output:
        levels=temp(f"{HT}/levels.npz"),
    log:
        f"{RESULTS}/logs/hydro_levels/hydro_levels.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_levels/hydro_levels.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(500, per_input_mb=10),
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_fill:
    input:
        dem=GRID_DEM,
        levels=f"{HT}/levels.npz",
    output:
        tile=temp(f"{HT}/filled_{{htile}}.tif"),
    log:
        f"{RESULTS}/logs/hydro_fill/{{htile}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_fill/{{htile}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=ht_tile_mem_mb,
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_vrt:
    input:
        dem=GRID_DEM,
        tiles=lambda wildcards: ht_all(wildcards.hstage, "tif"),
    output:
        vrt=temp(f"{HT}/{{hstage}}.vrt"),
    log:
        f"{RESULTS}/logs/hydro_vrt/{{hstage}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_vrt/{{hstage}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(500),
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
        dtype=lambda wildcards: HT_VRT[wildcards.hstage][0],
        nodata=lambda wildcards: HT_VRT[wildcards.hstage][1],
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_seams:
    input:
        filled=f"{HT}/filled.vrt",
        tiles=ht_halo("filled"),
    output:
        seams=temp(f"{HT}/seams_{{htile}}.npz"),
    log:
        f"{RESULTS}/logs/hydro_seams/{{htile}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_seams/{{htile}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=ht_tile_mem_mb,
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_flats:
    input:
        seams=ht_all("seams", "npz"),
    output:
        flats=temp(ht_all("flats", "npz")),
    log:
        f"{RESULTS}/logs/hydro_flats/hydro_flats.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_flats/hydro_flats.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        # one tile's search at a time (like a tile job) + 200 MB of cached tile files
        mem_mb=lambda wildcards, attempt: int(ht_tile_mem_mb(wildcards, attempt) + 200 * attempt),
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_dirs:
    input:
        filled=f"{HT}/filled.vrt",
        tiles=ht_halo("filled"),
        flats=f"{HT}/flats_{{htile}}.npz",
    output:
        tile=temp(f"{HT}/dirs_{{htile}}.tif"),
    log:
        f"{RESULTS}/logs/hydro_dirs/{{htile}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_dirs/{{htile}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        # the tile + its seam flats' merged distances (~12 B per cell, ~12 B on disk)
        mem_mb=lambda wildcards, input, attempt: int(
            ht_tile_mem_mb(wildcards, attempt)
            + 10 * input_size_mb([input.flats]) * attempt
        ),
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_flow:
    input:
        dirs=f"{HT}/dirs_{{htile}}.tif",
    output:
        summary=temp(f"{HT}/flow_{{htile}}.npz"),
    log:
        f"{RESULTS}/logs/hydro_flow/{{htile}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_flow/{{htile}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=ht_tile_mem_mb,
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_inflows:
    input:
        summaries=ht_all("flow", "npz"),
    output:
        inflows=temp(f"{HT}/inflows.npz"),
    log:
        f"{RESULTS}/logs/hydro_inflows/hydro_inflows.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_inflows/hydro_inflows.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(500, per_input_mb=10),
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_accumulate:
    input:
        dirs=f"{HT}/dirs_{{htile}}.tif",
        inflows=f"{HT}/inflows.npz",
    output:
        tile=temp(f"{HT}/acc_{{htile}}.tif"),
    log:
        f"{RESULTS}/logs/hydro_accumulate/{{htile}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_accumulate/{{htile}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, input, attempt: int(
            ht_tile_mem_mb(wildcards, attempt)
            + 2 * input_size_mb([input.inflows]) * attempt
        ),
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_factors:
    input:
        dem=GRID_DEM,
        acc=f"{HT}/acc.vrt",
        tiles=ht_halo("acc"),
    output:
        sca=temp(f"{HT}/sca_{{htile}}.tif"),
        twi=temp(f"{HT}/twi_{{htile}}.tif"),
        spi=temp(f"{HT}/spi_{{htile}}.tif"),
    log:
        f"{RESULTS}/logs/hydro_factors/{{htile}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_factors/{{htile}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=ht_tile_mem_mb,
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
        hydrology=FACTOR_CFG["hydrology"],
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_pieces:
    input:
        dirs=f"{HT}/dirs.vrt",
        dirs_tiles=ht_halo("dirs"),
        acc=f"{HT}/acc.vrt",
        acc_tiles=ht_halo("acc"),
    output:
        pieces=temp(f"{HT}/pieces_{{htile}}.npz"),
    log:
        f"{RESULTS}/logs/hydro_pieces/{{htile}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_pieces/{{htile}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=ht_tile_mem_mb,
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
        hydrology=FACTOR_CFG["hydrology"],
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_streams:
    input:
        dem=GRID_DEM,
        pieces=ht_all("pieces", "npz"),
    output:
        streams=f"{RESULTS}/factors/streams.gpkg",
    log:
        f"{RESULTS}/logs/hydro_streams/hydro_streams.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_streams/hydro_streams.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        # all pieces' cells at once, the table written in pieces: 515 MB for 85 MB of pieces
        # (16384^2 cells, 121,752 segments; 816 MB when the whole table was built and written)
        # (the pieces only: the grid DEM is read for its grid, 2.9 GB at 32768^2)
        mem_mb=mem_mb(1000, per_input_mb=3, inputs=["pieces"]),
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
        hydrology=FACTOR_CFG["hydrology"],
    script:
        "../../scripts/hydrology_tiles.py"


rule hydro_mosaic:
    input:
        sca=f"{HT}/sca.vrt",
        twi=f"{HT}/twi.vrt",
        spi=f"{HT}/spi.vrt",
        tiles=[ht_all(name, "tif") for name in ("sca", "twi", "spi")],
    output:
        sca=f"{RESULTS}/factors/sca.tif",
        twi=f"{RESULTS}/factors/twi.tif",
        spi=f"{RESULTS}/factors/spi.tif",
    log:
        f"{RESULTS}/logs/hydro_mosaic/hydro_mosaic.log",
    benchmark:
        f"{RESULTS}/benchmarks/hydro_mosaic/hydro_mosaic.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: FACTOR_CFG["threads"]
    resources:
        mem_mb=chunked_mem_mb,
    params:
        library=script_library("hydrology_tiles"),
        grid=HT_GRID,
        hydrology=FACTOR_CFG["hydrology"],
        chunk_size=FACTOR_CFG["chunk_size"],
        compress=FACTOR_CFG["compress"],
    script:
        "../../scripts/hydrology_tiles.py"
