# Tiled InSAR ingest (insar.tile_size_m set; included by insar.smk instead of rule
# ingest_track). The same two outputs per track -- points.parquet and summary.json, equal to
# the whole-track ingest -- from jobs whose size follows one CSV batch or one tile:
#
#   ingest_batch (checkpoint, one per CSV batch) -> rows per spatial tile + batch.json
#   ingest_tile  (one per tile a batch touches)  -> the track's rules on that tile's rows
#   ingest_merge (one per track)                 -> points.parquet + summary.json
#
# A tile job's inputs are the batches that touch its tile, read from their batch.json once
# the batch jobs ran, so a new batch reruns its own job, the tiles its points fall in and the
# merge, never the other tiles. The tiles of insar/{track}/tiles/ (one GeoParquet file of
# kept points per tile) stay for the tiled hot-spot stages. The library:
# slidemap.insar.tiledingest.


include: "insar_tiles_common.smk"


wildcard_constraints:
    batch=r"[^/]+",
    itile=r"x-?\d+_y-?\d+",


checkpoint ingest_batch:
    input:
        csv=get_batch_csv,
        dem=config["dem"]["path"],
    output:
        folder=directory(f"{RESULTS}/insar/{{track}}/batches/{{batch}}"),
    log:
        f"{RESULTS}/logs/ingest_batch/{{track}}/{{batch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest_batch/{{track}}/{{batch}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 2
    resources:
        # one batch of ingest_track's 1.3 GB per 455 MB of CSV
        # the CSV only: the DEM gives the study area's outline (a 2.1 GB DEM made the national
        # run's bursts ask for 12.6 GB, over a 4 GB partition)
        mem_mb=mem_mb(1000, per_input_mb=5, inputs=["csv"]),
        runtime=lambda wc, input: int(10 + input_size_mb(input, ["csv"]) / 50),
    params:
        library=script_library("ingest_tiles"),
        track=get_track_config,
        crs=config["study_area"]["crs"],
        boundary=config["study_area"]["boundary"],
        tile_size_m=INSAR_TILE_M,
    script:
        "../../scripts/ingest_tiles.py"


rule ingest_tile:
    input:
        batches=get_tile_batches,
        dem=config["dem"]["path"],
    output:
        points=f"{RESULTS}/insar/{{track}}/tiles/{{itile}}.parquet",
        ids=f"{RESULTS}/insar/{{track}}/tiles/{{itile}}.ids.parquet",
        account=f"{RESULTS}/insar/{{track}}/tiles/{{itile}}.json",
    log:
        f"{RESULTS}/logs/ingest_tile/{{track}}/{{itile}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest_tile/{{track}}/{{itile}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=tile_mem_mb,
    params:
        library=script_library("ingest_tiles"),
        track=get_track_config,
        crs=config["study_area"]["crs"],
    script:
        "../../scripts/ingest_tiles.py"


rule ingest_merge:
    input:
        unpack(get_track_tiles),
        dem=config["dem"]["path"],
    output:
        points=f"{RESULTS}/insar/{{track}}/points.parquet",
        summary=f"{RESULTS}/insar/{{track}}/summary.json",
    log:
        f"{RESULTS}/logs/ingest_merge/{{track}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest_merge/{{track}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        # the ids and light columns of the whole track; the rows are streamed
        mem_mb=merge_mem_mb,
    params:
        library=script_library("ingest_tiles"),
        track=get_track_config,
        crs=config["study_area"]["crs"],
        boundary=config["study_area"]["boundary"],
    script:
        "../../scripts/ingest_tiles.py"
