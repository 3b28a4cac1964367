# Helpers of the hot-spot rules (hotspots.smk).


def get_track_trends(wildcards):
    """The tile jobs' trend files of a track with the tiled ingest; else none (one job)."""
    if not config["insar"]["tile_size_m"]:
        return []
    base = f"{RESULTS}/hotspots/{wildcards.track}/tiles"
    return [f"{base}/{t}.trends.parquet" for t in track_tile_names(wildcards.track)]


def track_hotspots_mem_mb(wildcards, input, attempt):
    """track_hotspots' memory: 1500 MB + 0.75 KB per point, x attempt (MB).

    The job holds the points' light columns and its results (~0.5 KB per point measured at
    2 M points: benchmarks/ingest_dag.py --hotspots); the series are streamed and Gi*'s
    pairs come in blocks, so the file size (mostly series) does not drive the memory.
    """
    return int((1500 + 0.75e-3 * parquet_rows(input.points)) * attempt)
