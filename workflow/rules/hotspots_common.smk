# Helpers of the hot-spot rules (hotspots.smk).


def get_track_trends(wildcards):
    """The tile jobs' trend files of a track with the tiled ingest; else none (one job)."""
    if not config["insar"]["tile_size_m"]:
        return []
    base = f"{RESULTS}/hotspots/{wildcards.track}/tiles"
    return [f"{base}/{t}.trends.parquet" for t in track_tile_names(wildcards.track)]
