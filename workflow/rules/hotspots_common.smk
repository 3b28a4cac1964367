# Helpers of the hot-spot rules (hotspots.smk).
from slidemap.hotspots.tilefields import field_halo_m, read_json
from slidemap.insar.partition import halo_tile_names, parse_tile_name

# settings, high-pass and Gi* as tile jobs: with the tiled ingest and no permutations (their
# random draws span the track; with them track_hotspots computes Gi* whole)
TILE_FIELDS = bool(config["insar"]["tile_size_m"]) and not config["hotspots"]["permutations"]
FIELD_HALO_M = field_halo_m(config["hotspots"])
HOTSPOT_TILE_RE = r"x-?\d+_y-?\d+"


def get_track_trends(wildcards):
    """The tile jobs' trend files of a track with the tiled ingest; else none (one job)."""
    if not config["insar"]["tile_size_m"]:
        return []
    base = f"{RESULTS}/hotspots/{wildcards.track}/tiles"
    return [f"{base}/{t}.trends.parquet" for t in track_tile_names(wildcards.track)]


def tile_trends_file(wildcards):
    """The trend file of a hot-spot tile, once the track's ingest batches are known.

    Asked after the ingest_batch checkpoints (`track_tile_names` waits for them): at the
    start of a run with a new batch every ingest tile is pending, and a tile_trends job
    put in the DAG then would rerun for every tile, not only those the batch touches.
    """
    track_tile_names(wildcards.track)  # raises until the batch checkpoints are done
    return f"{RESULTS}/hotspots/{wildcards.track}/tiles/{wildcards.htile}.trends.parquet"


def hotspot_cells(grid_path):
    """Cells of the hot-spot grid: the study grid at hotspots.cell_size_m (0 before it exists)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    if not Path(grid_path).exists():
        return 0
    try:
        with rasterio.open(grid_path) as src:
            cells, res = src.width * src.height, abs(src.res[0])
    except RasterioIOError:  # an empty placeholder (snakemake --touch)
        return 0
    cell = config["hotspots"]["cell_size_m"] or res
    return int(cells * (res / cell) ** 2)


def candidates_mem_mb(wildcards, input, attempt):
    """candidates' memory: 1200 MB + 0.03 KB per point of all tracks, x attempt (MB).

    The job reads each track batch by batch and keeps only the points near a candidate
    polygon (`near_polygons`: the points elsewhere do not count once the tracks' densities
    come from their hot-spot summaries), 10 columns each (~80 B), and its labelling adds
    ~85 B per kept point: 906 MB at 2 x 1 M points on an 8192² grid (was 1536 with every
    point and column). 0.03 KB per point covers a fifth of the points near polygons; where
    most are (a small study full of candidates) a job over its request is rerun with twice
    the memory. The candidates are labelled tile by tile
    (`merge_candidates(tile_size_cells=...)`) and slope/aspect are sampled block by block,
    so the grid adds a few tiles only; with `hotspots.merge_tolerance_m` > 0 they are
    labelled on the whole grid: + 20 B per cell.
    """
    points = sum(parquet_rows(p) for p in input.points)
    grid = 20 * hotspot_cells(input.grid) if config["hotspots"]["merge_tolerance_m"] else 0
    return int((1200 + 0.03e-3 * points + grid / 2**20) * attempt)


def track_hotspots_mem_mb(wildcards, input, attempt):
    """track_hotspots' memory, x attempt (MB).

    With the tile fields (`TILE_FIELDS`) every tile's points are analysed by their own job
    (`hotspot_tile_points`) and the track job holds ~7 columns per point (~60 B) plus the
    polygon pass's per-point arrays (each point's cell and tile, ~25 B; labels and
    statistics only for the points inside a region), and streams the rest: 1500 MB + 0.1 KB
    per point, 3.5 GB at 20 M points (measured: 1120 MB at 2 M points on a 444² grid,
    1250-1310 MB at 1 M points on 8192² with a polygon pass of ~0.13 KB per point then,
    where the density file's blocks and the polygon tiles are most of it; national.md).
    Otherwise it holds the points' light columns and its results: 1800 MB + 0.75 KB per
    point (the series are streamed and Gi*'s pairs come in blocks). Either way the density
    raster is written block by block and the polygons are made tile by tile from it.
    """
    if TILE_FIELDS:
        return int((1500 + 0.1e-3 * parquet_rows(input.points)) * attempt)
    return int((1800 + 0.75e-3 * parquet_rows(input.points)) * attempt)


def field_plane(track):
    """The hotspot_plane result of a track (waits for the checkpoint)."""
    return read_json(checkpoints.hotspot_plane.get(track=track).output.plane)


def field_tile_files(wildcards, suffix, which):
    """The hot-spot tile files of a track: `which` = "tiles" (pass 1) or "point_tiles"."""
    if not TILE_FIELDS:
        return []
    base = f"{RESULTS}/hotspots/{wildcards.track}/fields"
    return [f"{base}/{t}.{suffix}" for t in sorted(field_plane(wildcards.track)[which])]


def field_merge_mem_mb(wildcards, input, attempt):
    """hotspot_plane/hotspot_settings memory: 800 MB + 0.08 KB per point, x attempt (MB).

    The merges hold the coordinates and velocity (24 B per point, read a row group at a
    time), the high-pass and its background, and blocks of 1 M points; the plane fit sums
    its normal equations block by block. Measured at 4.0 M points (fresh process, VmHWM):
    hotspot_plane 481 MB (was 1048), hotspot_settings 525 MB (was 957), ~276 MB of which
    is the interpreter and imports: ~51 and ~62 B per point (benchmarks/national.md).
    """
    return int((800 + 0.08e-3 * parquet_rows(input.points)) * attempt)


def field_tile_mem_mb(wildcards, input, attempt):
    """Hot-spot tile job memory: 600 MB + 0.5 KB per point of the tile and halo, x attempt.

    The points of the tiles the halo reaches are counted from the plane's tile counts.
    """
    plane = read_json(input.plane) if Path(input.plane).exists() else {"point_tiles": {}}
    counts = plane["point_tiles"]
    near = halo_tile_names(
        parse_tile_name(wildcards.htile), config["insar"]["tile_size_m"], FIELD_HALO_M
    )
    return int((600 + 0.5e-3 * sum(counts.get(t, 0) for t in near)) * attempt)
