# Hot spots: trend classes, Getis-Ord Gi*, quartic kernel density and PLC polygons per track,
# then the candidates of all tracks merged, their accuracy against a reference, and plots.
# With no InSAR track configured none of these jobs is requested. Per-track jobs depend on
# their own track only (plots show the track's own polygons), so a new CSV batch in one track
# reruns that track's jobs and the all-track candidates, never another track's jobs.

include: "hotspots_common.smk"


HOTSPOTS = config["hotspots"]
HOTSPOT_REFERENCE = HOTSPOTS["reference"]

# keys of the hotspots section each rule depends on (so a change reruns only what it affects)
TRACK_HOTSPOT_KEYS = [
    "preset",
    "stability_threshold_mm_yr",
    "noise_multiplier",
    "highpass_radius_m",
    "search_radius_m",
    "search_neighbours",
    "kernel_radius_m",
    "kernel_neighbours",
    "gi_scale",
    "noise_estimator",
    "cell_size_m",
    "density_points",
    "density_threshold",
    "min_points",
    "min_area_m2",
    "trend_evidence",
    "outline",
    "outline_buffer_m",
    "outline_concavity",
    "outline_carve",
    "trend_alpha",
    "trend_min_dates",
    "trend_min_segment",
    "trend_max_breakpoints",
    "trend_seasonal",
    "permutations",
    "seed",
    "chunk_size",
]
# the keys of the trend classes alone (rule tile_trends: a change of a radius keeps them)
TREND_KEYS = [
    "preset",
    "trend_alpha",
    "trend_min_dates",
    "trend_min_segment",
    "trend_max_breakpoints",
    "trend_seasonal",
]
# the keys of a tile's analysed points (rule hotspot_tile_points: the moving flag)
TILE_POINT_KEYS = ["preset", "trend_evidence"]
# the keys of the settings, high-pass and Gi* (the hot-spot tile jobs and merges)
FIELD_KEYS = [
    "preset",
    "stability_threshold_mm_yr",
    "noise_multiplier",
    "highpass_radius_m",
    "search_radius_m",
    "search_neighbours",
    "kernel_radius_m",
    "kernel_neighbours",
    "gi_scale",
    "noise_estimator",
]
CANDIDATE_KEYS = [
    "preset",
    "cell_size_m",
    "merge_tolerance_m",
    "downslope_min_cosine",
    "min_points",
    "sparse_upslope_noise_factor",
    "preclassify",
]
ACCURACY_KEYS = ["reference_query", "reference_min_overlap_m2"]


# final hot-spot outputs: none without tracks; accuracy.json only with a reference
if TRACKS:
    FINAL_OUTPUTS.extend(
        expand(
            f"{RESULTS}/hotspots/{{track}}/{{file}}",
            track=TRACKS,
            file=["points.parquet", "density.tif", "polygons.gpkg", "summary.json"],
        )
        + expand(
            f"{RESULTS}/hotspots/plots/{{track}}_{{kind}}.png",
            track=TRACKS,
            kind=["velocity", "density"],
        )
        + [f"{RESULTS}/hotspots/candidates.gpkg", f"{RESULTS}/hotspots/settings.csv"]
        + ([f"{RESULTS}/hotspots/accuracy.json"] if HOTSPOT_REFERENCE else [])
    )


if config["insar"]["tile_size_m"]:

    # trend classes and seasonal amplitude of one ingest tile's points (each point's own
    # series): a new batch reruns this for the tiles its points fall in, not the track
    rule tile_trends:
        input:
            points=f"{RESULTS}/insar/{{track}}/tiles/{{itile}}.parquet",
        output:
            trends=f"{RESULTS}/hotspots/{{track}}/tiles/{{itile}}.trends.parquet",
        log:
            f"{RESULTS}/logs/tile_trends/{{track}}/{{itile}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/tile_trends/{{track}}/{{itile}}.tsv"
        conda:
            "../../envs/geo.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb(800, per_input_mb=8),
        params:
            library=script_library("tile_trends"),
            hotspots={key: HOTSPOTS[key] for key in TREND_KEYS},
            tile_size_m=config["insar"]["tile_size_m"],
        script:
            "../../scripts/tile_trends.py"


if TILE_FIELDS:

    # merge A: the robust plane of a track's velocities, the node lattice of the local
    # median and the tiles that hold points or nodes (a checkpoint: the tile jobs follow)
    checkpoint hotspot_plane:
        input:
            points=f"{RESULTS}/insar/{{track}}/points.parquet",
        output:
            plane=f"{RESULTS}/hotspots/{{track}}/fields/plane.json",
        log:
            f"{RESULTS}/logs/hotspot_plane/{{track}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/hotspot_plane/{{track}}.tsv"
        conda:
            "../../envs/geo.yaml"
        threads: 1
        resources:
            mem_mb=field_merge_mem_mb,
        params:
            library=script_library("hotspot_plane"),
            hotspots={key: HOTSPOTS[key] for key in FIELD_KEYS},
            tile_size_m=config["insar"]["tile_size_m"],
            halo_m=FIELD_HALO_M,
        script:
            "../../scripts/hotspot_plane.py"

    # pass 1 of a tile: the local medians of its nodes, the k-th-neighbour distances of
    # its points (from the tile and a halo of FIELD_HALO_M)
    rule hotspot_tile_pass1:
        input:
            points=f"{RESULTS}/insar/{{track}}/points.parquet",
            plane=f"{RESULTS}/hotspots/{{track}}/fields/plane.json",
        output:
            pass1=f"{RESULTS}/hotspots/{{track}}/fields/{{htile}}.pass1.npz",
        log:
            f"{RESULTS}/logs/hotspot_tile_pass1/{{track}}/{{htile}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/hotspot_tile_pass1/{{track}}/{{htile}}.tsv"
        wildcard_constraints:
            htile=HOTSPOT_TILE_RE,
        conda:
            "../../envs/geo.yaml"
        threads: 1
        resources:
            mem_mb=field_tile_mem_mb,
        params:
            library=script_library("hotspot_tile_pass1"),
            hotspots={key: HOTSPOTS[key] for key in FIELD_KEYS},
        script:
            "../../scripts/hotspot_tile_pass1.py"

    # merge C: the node grid, the high-pass of every point, the noise level, threshold,
    # radii and Gi*'s centre and spread
    rule hotspot_settings:
        input:
            points=f"{RESULTS}/insar/{{track}}/points.parquet",
            plane=f"{RESULTS}/hotspots/{{track}}/fields/plane.json",
            pass1=lambda wc: field_tile_files(wc, "pass1.npz", "tiles"),
        output:
            settings=f"{RESULTS}/hotspots/{{track}}/fields/settings.json",
        log:
            f"{RESULTS}/logs/hotspot_settings/{{track}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/hotspot_settings/{{track}}.tsv"
        conda:
            "../../envs/geo.yaml"
        threads: 1
        resources:
            mem_mb=field_merge_mem_mb,
        params:
            library=script_library("hotspot_settings"),
            hotspots={key: HOTSPOTS[key] for key in FIELD_KEYS},
        script:
            "../../scripts/hotspot_settings.py"

    # pass 2 of a tile with points: their high-pass and Gi* (tile + a halo of the band)
    rule hotspot_tile_gistar:
        input:
            points=f"{RESULTS}/insar/{{track}}/points.parquet",
            plane=f"{RESULTS}/hotspots/{{track}}/fields/plane.json",
            settings=f"{RESULTS}/hotspots/{{track}}/fields/settings.json",
        output:
            gistar=f"{RESULTS}/hotspots/{{track}}/fields/{{htile}}.gistar.parquet",
        log:
            f"{RESULTS}/logs/hotspot_tile_gistar/{{track}}/{{htile}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/hotspot_tile_gistar/{{track}}/{{htile}}.tsv"
        wildcard_constraints:
            htile=HOTSPOT_TILE_RE,
        conda:
            "../../envs/geo.yaml"
        threads: 1
        resources:
            mem_mb=field_tile_mem_mb,
        params:
            library=script_library("hotspot_tile_gistar"),
        script:
            "../../scripts/hotspot_tile_gistar.py"

    # pass 3 of a tile with points: its points analysed (trend classes from its tile_trends
    # file, moving flag, Gi*), the columns track_hotspots adds; the track job then holds a
    # few numbers per point and streams the rest
    rule hotspot_tile_points:
        input:
            points=f"{RESULTS}/insar/{{track}}/points.parquet",
            plane=f"{RESULTS}/hotspots/{{track}}/fields/plane.json",
            settings=f"{RESULTS}/hotspots/{{track}}/fields/settings.json",
            trends=tile_trends_file,
            gistar=f"{RESULTS}/hotspots/{{track}}/fields/{{htile}}.gistar.parquet",
        output:
            points=f"{RESULTS}/hotspots/{{track}}/fields/{{htile}}.points.parquet",
        log:
            f"{RESULTS}/logs/hotspot_tile_points/{{track}}/{{htile}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/hotspot_tile_points/{{track}}/{{htile}}.tsv"
        wildcard_constraints:
            htile=HOTSPOT_TILE_RE,
        conda:
            "../../envs/geo.yaml"
        threads: 1
        resources:
            mem_mb=field_tile_mem_mb,
        params:
            library=script_library("hotspot_tile_points"),
            hotspots={key: HOTSPOTS[key] for key in TILE_POINT_KEYS},
            tile_size_m=config["insar"]["tile_size_m"],
        script:
            "../../scripts/hotspot_tile_points.py"


rule track_hotspots:
    input:
        points=f"{RESULTS}/insar/{{track}}/points.parquet",
        grid=f"{RESULTS}/grid/dem.tif",
        # with the tiled ingest, the trend classes come from the tile jobs (with the tile
        # fields, through hotspot_tile_points)
        trends=lambda wc: [] if TILE_FIELDS else get_track_trends(wc),
        # ... and (without permutations) the settings, high-pass, Gi* and the analysed
        # points of every tile too
        field_settings=lambda wc: (
            f"{RESULTS}/hotspots/{wc.track}/fields/settings.json" if TILE_FIELDS else []
        ),
        fields=lambda wc: field_tile_files(wc, "points.parquet", "point_tiles"),
    output:
        points=f"{RESULTS}/hotspots/{{track}}/points.parquet",
        density=f"{RESULTS}/hotspots/{{track}}/density.tif",
        polygons=f"{RESULTS}/hotspots/{{track}}/polygons.gpkg",
        summary=f"{RESULTS}/hotspots/{{track}}/summary.json",
    log:
        f"{RESULTS}/logs/track_hotspots/{{track}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/track_hotspots/{{track}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 2
    resources:
        mem_mb=track_hotspots_mem_mb,
        runtime=lambda wc, input: int(10 + input_size_mb(input) / 20),
    params:
        library=script_library("track_hotspots"),
        hotspots={key: HOTSPOTS[key] for key in TRACK_HOTSPOT_KEYS},
        tile_size_m=config["insar"]["tile_size_m"],
    script:
        "../../scripts/track_hotspots.py"


rule candidates:
    input:
        points=expand(f"{RESULTS}/hotspots/{{track}}/points.parquet", track=TRACKS),
        polygons=expand(f"{RESULTS}/hotspots/{{track}}/polygons.gpkg", track=TRACKS),
        summaries=expand(f"{RESULTS}/hotspots/{{track}}/summary.json", track=TRACKS),
        grid=f"{RESULTS}/grid/dem.tif",
        slope=f"{RESULTS}/factors/slope.tif",
        aspect=f"{RESULTS}/factors/aspect.tif",
    output:
        candidates=f"{RESULTS}/hotspots/candidates.gpkg",
        settings=report(
            f"{RESULTS}/hotspots/settings.csv",
            caption="../report/hotspot_settings.rst",
            category="1. InSAR hot spots",
            labels={"table": "hot-spot settings per track"},
        ),
    log:
        f"{RESULTS}/logs/candidates/candidates.log",
    benchmark:
        f"{RESULTS}/benchmarks/candidates/candidates.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=candidates_mem_mb,
    params:
        library=script_library("candidates"),
        tracks=TRACKS,
        hotspots={key: HOTSPOTS[key] for key in CANDIDATE_KEYS},
    script:
        "../../scripts/candidates.py"


rule hotspot_accuracy:
    input:
        candidates=f"{RESULTS}/hotspots/candidates.gpkg",
        reference=HOTSPOT_REFERENCE or [],
        other_moving=HOTSPOTS["reference_other_moving"],
    output:
        accuracy=f"{RESULTS}/hotspots/accuracy.json",
    log:
        f"{RESULTS}/logs/hotspot_accuracy/hotspot_accuracy.log",
    benchmark:
        f"{RESULTS}/benchmarks/hotspot_accuracy/hotspot_accuracy.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
    params:
        library=script_library("hotspot_accuracy"),
        hotspots={key: HOTSPOTS[key] for key in ACCURACY_KEYS},
    script:
        "../../scripts/hotspot_accuracy.py"


rule hotspot_plots:
    input:
        points=f"{RESULTS}/hotspots/{{track}}/points.parquet",
        density=f"{RESULTS}/hotspots/{{track}}/density.tif",
        polygons=f"{RESULTS}/hotspots/{{track}}/polygons.gpkg",
        summary=f"{RESULTS}/hotspots/{{track}}/summary.json",
        grid=f"{RESULTS}/grid/dem.tif",
    output:
        velocity=report(
            f"{RESULTS}/hotspots/plots/{{track}}_velocity.png",
            caption="../report/hotspot_velocity.rst",
            category="1. InSAR hot spots",
            subcategory="{track}",
            labels={"track": "{track}", "figure": "LOS velocity"},
        ),
        density=report(
            f"{RESULTS}/hotspots/plots/{{track}}_density.png",
            caption="../report/hotspot_density.rst",
            category="1. InSAR hot spots",
            subcategory="{track}",
            labels={"track": "{track}", "figure": "hot-spot density"},
        ),
    log:
        f"{RESULTS}/logs/hotspot_plots/{{track}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hotspot_plots/{{track}}.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: int(
            (1500 + 4 * input_size_mb([input.points])) * attempt
        ),
    params:
        library=script_library("hotspot_plots"),
        track=lambda wc: wc.track,
    script:
        "../../scripts/hotspot_plots.py"
