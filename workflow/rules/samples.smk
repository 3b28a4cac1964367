# Samples: pixel samples (susceptibility) and PLC samples (potential-landslide classification)
# with train/test split and spatial/random folds, factor selection, ChiMerge bins and k x k
# patches. Without an inventory nothing here is requested (there is nothing to learn from);
# without InSAR tracks or with models.plc.enabled false the PLC unit drops out of the DAG.
from slidemap.errors import ConfigError
from slidemap.factors import planned_factors

SAMPLE_FACTORS = planned_factors(config)
SAMPLING = config["sampling"]
HAS_INVENTORY = bool(config["inventory"]["path"])
# the PLC unit exists only for the PLC classifier (InSAR tracks and models.plc.enabled)
PLC_UNIT = bool(TRACKS) and config["models"]["plc"]["enabled"]
SAMPLE_UNITS = (["pixels"] + (["plc"] if PLC_UNIT else [])) if HAS_INVENTORY else []
SAMPLE_UNIT_PATTERN = "|".join(SAMPLE_UNITS) or "(?!x)x"

if SAMPLING["add_plc_predictions"] and not TRACKS:
    raise ConfigError(
        "config key 'sampling.add_plc_predictions': true needs InSAR tracks "
        "(insar.tracks is empty). Set it to false or configure tracks."
    )
if SAMPLING["add_plc_predictions"] and not config["models"]["plc"]["enabled"]:
    raise ConfigError(
        "config key 'sampling.add_plc_predictions': true needs the PLC classifier "
        "(models.plc.enabled is false). Set one of them the other way."
    )


# Final outputs of the stage (none without an inventory).
SAMPLE_OUTPUTS = [
    f"{RESULTS}/{path}"
    for unit in SAMPLE_UNITS
    for path in (
        f"samples/{unit}.parquet",
        f"samples/{unit}_summary.json",
        f"selection/{unit}/selected.json",
        f"selection/{unit}/report.json",
        f"selection/{unit}/correlation.png",
        f"selection/{unit}/importance.png",
        f"discretize/{unit}/bins.json",
    )
]
if SAMPLE_UNITS and config["tiles"]["enabled"]:
    SAMPLE_OUTPUTS += [
        f"{RESULTS}/tiles/{name}"
        for name in ("patches.npz", "index.parquet", "stats.json")
    ]
FINAL_OUTPUTS.extend(SAMPLE_OUTPUTS)

# Every factor COG of the study, in planned_factors order.
SAMPLE_FACTOR_RASTERS = [f"{RESULTS}/factors/{name}.tif" for name in SAMPLE_FACTORS]
# The classified candidates, when sampling.add_plc_predictions asks for them.
PLC_POSITIVE_INPUTS = (
    {
        "classified": f"{RESULTS}/hotspots/candidates_classified.parquet",
        "candidates": f"{RESULTS}/hotspots/candidates.gpkg",
    }
    if SAMPLING["add_plc_predictions"]
    else {}
)
# The inventory settings except its path (the path is an input).
INVENTORY_PARAMS = {k: v for k, v in config["inventory"].items() if k != "path"}
# each rule gets only the sampling keys it reads: a PLC-only key must not re-sample the
# pixels (and retrain every susceptibility model), nor a pixel key the PLC samples
PIXEL_SAMPLING = {k: v for k, v in SAMPLING.items() if not k.startswith("plc_")}
PLC_SAMPLING = {k: v for k, v in SAMPLING.items() if k.startswith("plc_")}


rule pixel_samples:
    input:
        unpack(lambda wildcards: PLC_POSITIVE_INPUTS),
        factors=SAMPLE_FACTOR_RASTERS,
        catalog=f"{RESULTS}/factors/factors.json",
        inventory=config["inventory"]["path"] or [],
    output:
        samples=f"{RESULTS}/samples/pixels.parquet",
        summary=f"{RESULTS}/samples/pixels_summary.json",
    log:
        f"{RESULTS}/logs/pixel_samples/pixel_samples.log",
    benchmark:
        f"{RESULTS}/benchmarks/pixel_samples/pixel_samples.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1500, per_input_mb=2),
    params:
        library=script_library("pixel_samples"),
        factor_names=SAMPLE_FACTORS,
        inventory=INVENTORY_PARAMS,
        sampling=PIXEL_SAMPLING,
        validation=config["validation"],
    script:
        "../../scripts/pixel_samples.py"


rule plc_samples:
    input:
        candidates=f"{RESULTS}/hotspots/candidates.gpkg",
        factors=SAMPLE_FACTOR_RASTERS,
        catalog=f"{RESULTS}/factors/factors.json",
        inventory=config["inventory"]["path"] or [],
    output:
        samples=f"{RESULTS}/samples/plc.parquet",
        summary=f"{RESULTS}/samples/plc_summary.json",
    log:
        f"{RESULTS}/logs/plc_samples/plc_samples.log",
    benchmark:
        f"{RESULTS}/benchmarks/plc_samples/plc_samples.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1500, per_input_mb=2),
    params:
        library=script_library("plc_samples"),
        factor_names=SAMPLE_FACTORS,
        inventory=INVENTORY_PARAMS,
        sampling=PLC_SAMPLING,
        validation=config["validation"],
    script:
        "../../scripts/plc_samples.py"


rule select_factors:
    input:
        samples=f"{RESULTS}/samples/{{unit}}.parquet",
        summary=f"{RESULTS}/samples/{{unit}}_summary.json",
    output:
        selected=f"{RESULTS}/selection/{{unit}}/selected.json",
        report=f"{RESULTS}/selection/{{unit}}/report.json",
        correlation=report(
            f"{RESULTS}/selection/{{unit}}/correlation.png",
            caption="../report/selection_correlation.rst",
            category="2. Factors",
            subcategory="selection ({unit})",
            labels={"unit": "{unit}", "figure": "Pearson correlation"},
        ),
        importance=report(
            f"{RESULTS}/selection/{{unit}}/importance.png",
            caption="../report/selection_importance.rst",
            category="2. Factors",
            subcategory="selection ({unit})",
            labels={"unit": "{unit}", "figure": "importance"},
        ),
    log:
        f"{RESULTS}/logs/select_factors/{{unit}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/select_factors/{{unit}}.tsv"
    wildcard_constraints:
        unit=SAMPLE_UNIT_PATTERN,
    conda:
        "../../envs/geo.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb(1500, per_input_mb=20),
    params:
        library=script_library("select_factors"),
        selection=config["selection"],
        discretize=config["discretize"],
    script:
        "../../scripts/select_factors.py"


rule chimerge:
    input:
        samples=f"{RESULTS}/samples/{{unit}}.parquet",
        selected=f"{RESULTS}/selection/{{unit}}/selected.json",
    output:
        bins=f"{RESULTS}/discretize/{{unit}}/bins.json",
    log:
        f"{RESULTS}/logs/chimerge/{{unit}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/chimerge/{{unit}}.tsv"
    wildcard_constraints:
        unit=SAMPLE_UNIT_PATTERN,
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000, per_input_mb=10),
    params:
        library=script_library("chimerge"),
        discretize=config["discretize"],
    script:
        "../../scripts/chimerge.py"


rule tiles:
    input:
        samples=f"{RESULTS}/samples/pixels.parquet",
        selected=f"{RESULTS}/selection/pixels/selected.json",
        factors=SAMPLE_FACTOR_RASTERS,
        catalog=f"{RESULTS}/factors/factors.json",
    output:
        patches=f"{RESULTS}/tiles/patches.npz",
        index=f"{RESULTS}/tiles/index.parquet",
        stats=f"{RESULTS}/tiles/stats.json",
    log:
        f"{RESULTS}/logs/tiles/tiles.log",
    benchmark:
        f"{RESULTS}/benchmarks/tiles/tiles.tsv"
    conda:
        "../../envs/geo.yaml"
    threads: 1
    resources:
        # patches: rows x factors x k^2 x 4 B, ~40x the samples file; twice while writing
        mem_mb=lambda wc, input, attempt: int(
            (
                1500
                + 100
                * input_size_mb([input.samples])
                * config["tiles"]["size"] ** 2
                / 81
            )
            * attempt
        ),
    params:
        library=script_library("tiles"),
        factor_names=SAMPLE_FACTORS,
        size=config["tiles"]["size"],
    script:
        "../../scripts/tiles.py"
