# InSAR ingest: one job per track, reading every CSV batch in the track's folder (or, with
# insar.tile_size_m, one job per batch and per tile: insar_tiles.smk).
from slidemap.insar.layouts import TrackSettings

# A track whose settings cannot describe a layout fails here, before any job runs.
for _name in TRACKS:
    TrackSettings.from_config(config["insar"]["tracks"][_name], _name)

FINAL_OUTPUTS.extend(
    expand(
        f"{RESULTS}/insar/{{track}}/{{file}}",
        track=TRACKS,
        file=["points.parquet", "summary.json"],
    )
)


if config["insar"]["tile_size_m"]:  # the same outputs from batch and tile jobs

    include: "insar_tiles.smk"

else:

    rule ingest_track:
        input:
            csvs=get_track_csvs,
            dem=config["dem"]["path"],
        output:
            points=f"{RESULTS}/insar/{{track}}/points.parquet",
            summary=f"{RESULTS}/insar/{{track}}/summary.json",
        log:
            f"{RESULTS}/logs/ingest_track/{{track}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/ingest_track/{{track}}.tsv"
        conda:
            "../../envs/geo.yaml"
        threads: 2
        resources:
            # benchmarks/ingest.py, 455 MB CSV: peak 1.3 GB (compiled reader), 1.8 GB (pandas path)
            # the CSVs only: the DEM gives the study area's outline (2.1 GB at 32768^2 cells)
            mem_mb=mem_mb(1000, per_input_mb=5, inputs=["csvs"]),
            runtime=lambda wc, input: int(10 + input_size_mb(input, ["csvs"]) / 50),
        params:
            library=script_library("ingest_track"),
            track=get_track_config,
            crs=config["study_area"]["crs"],
            boundary=config["study_area"]["boundary"],
        script:
            "../../scripts/ingest_track.py"
