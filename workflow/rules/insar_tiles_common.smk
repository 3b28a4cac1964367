# Helpers of the tiled ingest rules (insar_tiles.smk): the batches of a track, the batches
# that touch a tile (read from their batch.json after the ingest_batch checkpoint), memory.
from functools import lru_cache

from slidemap.insar.tiledingest import BATCH_JSON, batch_tiles

INSAR_TILE_M = config["insar"]["tile_size_m"]


def track_batches(track):
    """Batch names of a track: the stems of the CSV files in its folder, in name order."""
    folder = Path(config["insar"]["tracks"][track]["path"])
    return sorted(p.stem for p in folder.glob("*.csv"))


def get_batch_csv(wildcards):
    """The CSV file of one batch."""
    folder = Path(config["insar"]["tracks"][wildcards.track]["path"])
    return str(folder / f"{wildcards.batch}.csv")


def batch_folder(track, batch):
    """The tile folder of one batch (waits for its ingest_batch job: a checkpoint)."""
    return checkpoints.ingest_batch.get(track=track, batch=batch).output.folder


@lru_cache(maxsize=None)
def _tiles_of(folder, mtime_ns):
    """The tiles of a batch folder, read once per version of its batch.json."""
    return frozenset(batch_tiles(folder))


def folder_tiles(folder):
    """The tiles a batch folder holds rows of (every tile job asks: the file is read once)."""
    return _tiles_of(folder, (Path(folder) / BATCH_JSON).stat().st_mtime_ns)


def get_tile_batches(wildcards):
    """The batch folders that hold rows in one tile."""
    folders = (batch_folder(wildcards.track, b) for b in track_batches(wildcards.track))
    return [f for f in folders if wildcards.itile in folder_tiles(f)]


def track_tile_names(track):
    """The tiles of a track: every tile a batch holds rows of (after the batch checkpoints)."""
    folders = [batch_folder(track, b) for b in track_batches(track)]
    return sorted({t for f in folders for t in folder_tiles(f)})


def get_track_tiles(wildcards):
    """Every batch folder and every tile's outputs of one track (for ingest_merge)."""
    folders = [batch_folder(wildcards.track, b) for b in track_batches(wildcards.track)]
    tiles = track_tile_names(wildcards.track)
    base = f"{RESULTS}/insar/{wildcards.track}/tiles"
    return {
        "batches": folders,
        "points": [f"{base}/{t}.parquet" for t in tiles],
        "ids": [f"{base}/{t}.ids.parquet" for t in tiles],
        "accounts": [f"{base}/{t}.json" for t in tiles],
    }


def tile_mem_mb(wildcards, input, attempt):
    """ingest_tile's memory: 800 MB + 20 x the tile's zstd Parquet pieces (MiB), x attempt."""
    pieces = [Path(f) / f"{wildcards.itile}.parquet" for f in input.batches]
    size = sum(p.stat().st_size for p in pieces if p.exists()) / 2**20
    return int((800 + 20 * size) * attempt)


def merge_mem_mb(wildcards, input, attempt):
    """ingest_merge's memory: 700 MB + 1.5 MB per tile + 0.1 KB per valid row, x attempt (MB).

    The merge holds each valid row's tile and reason and, a step at a time, the ids' pid
    order; the kept points' rows are streamed in 50,000-row chunks, each tile file read a
    row group (2048 rows) at a time, without Arrow's pre-buffering (which kept every
    compressed row group read: the job grew by the tile files' size). Measured (Snakemake
    max_rss): 716 MB at 1.06 M rows in 26 tiles, 935 MB at 4.73 M rows in 81 tiles, and at
    11.8 M rows in 81 tiles 2027 MB with pre-buffering, 1552 MB without (~0.1 KB per row
    beyond the fixed part; benchmarks/national.md); 23.7 M rows in ~290 tiles ask ~3.5 GB.
    """
    rows = sum(parquet_rows(f) for f in input.ids)
    return int((700 + 1.5 * len(input.ids) + 0.1e-3 * rows) * attempt)
