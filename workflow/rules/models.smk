# Models: one training job per enabled algorithm (spatial + random CV, final model, test
# split), the potential-landslide classifier on the PLC samples, and the model comparison.
# Without an inventory there is nothing to learn from and the stage drops out; without
# InSAR tracks there are no candidates and train_plc drops out. When the PLC samples cannot
# train the classifier (samples/plc_summary.json: classifier_skipped), train_plc still
# writes every output: the candidates keep their rule-based class (source = rule).
from slidemap.errors import ConfigError
from slidemap.models.presets import ALGORITHMS

MODELS_CFG = config["models"]
MODELS_ACTIVE = bool(config["inventory"]["path"])
MODELS = [m for m in ALGORITHMS if MODELS_CFG[m]["enabled"]] if MODELS_ACTIVE else []
PLC_ENABLED = MODELS_ACTIVE and bool(TRACKS) and MODELS_CFG["plc"]["enabled"]

if "cnn2d" in MODELS and not config["tiles"].get("enabled", True):
    raise ConfigError(
        "config key 'models.cnn2d.enabled': the CNN-2D trains on k x k patches but "
        "tiles.enabled is false. Set tiles.enabled: true or models.cnn2d.enabled: false."
    )


include: "models_common.smk"


wildcard_constraints:
    model="|".join(MODELS) if MODELS else "(?!x)x",


FINAL_OUTPUTS.extend(f for m in MODELS for f in model_files(m))
if MODELS:
    FINAL_OUTPUTS.extend(
        [f"{RESULTS}/report/model_comparison.csv", f"{RESULTS}/report/roc.png"]
    )
if PLC_ENABLED:
    FINAL_OUTPUTS.extend(
        model_files("plc") + [f"{RESULTS}/hotspots/candidates_classified.parquet"]
    )


rule train:
    input:
        unpack(get_train_inputs),
    output:
        model=f"{RESULTS}/models/{{model}}/model.joblib",
        metrics=f"{RESULTS}/models/{{model}}/metrics.json",
        roc=f"{RESULTS}/models/{{model}}/roc.csv",
        config=f"{RESULTS}/models/{{model}}/config.json",
        predictions=f"{RESULTS}/models/{{model}}/cv_predictions.parquet",
    log:
        f"{RESULTS}/logs/train/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{model}}.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: MODELS_CFG["threads"]
    resources:
        # patches are held in memory a few times (raw, transformed, per-fold copies)
        mem_mb=mem_mb(2000, 12),
        runtime=lambda wc, input: int(30 + input_size_mb(input)),
        gpu=get_gpus,
    params:
        algorithm="{model}",
        model=get_model_params,
        seed=MODELS_CFG["seed"],
        threshold=MODELS_CFG["threshold"],
        cv_schemes=MODELS_CFG["cv_schemes"],
        epoch_logs=lambda wc: f"{RESULTS}/logs/train/{wc.model}_epochs",
        library=library_version("models", "io.py"),
    script:
        "../../scripts/train.py"


rule train_plc:
    input:
        unpack(get_plc_inputs),
    output:
        model=f"{RESULTS}/models/plc/model.joblib",
        # in the report: its metrics, or why it was skipped (`skipped`, `fix`)
        metrics=report(
            f"{RESULTS}/models/plc/metrics.json",
            caption="../report/plc_classifier.rst",
            category="3. Models",
            subcategory="potential-landslide classifier",
            labels={"model": "plc", "file": "metrics.json"},
        ),
        roc=f"{RESULTS}/models/plc/roc.csv",
        config=f"{RESULTS}/models/plc/config.json",
        predictions=f"{RESULTS}/models/plc/cv_predictions.parquet",
        classified=f"{RESULTS}/hotspots/candidates_classified.parquet",
    log:
        f"{RESULTS}/logs/train_plc/train_plc.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_plc/train_plc.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: MODELS_CFG["threads"]
    resources:
        mem_mb=mem_mb(2000, 12),
        runtime=lambda wc, input: int(30 + input_size_mb(input)),
        gpu=lambda wc: int(get_plc_params()["params"].get("device") == "cuda"),
    params:
        plc=lambda wc: get_plc_params(),
        seed=MODELS_CFG["seed"],
        threshold=MODELS_CFG["threshold"],
        classify_threshold=MODELS_CFG["plc"]["threshold"],
        cv_schemes=MODELS_CFG["cv_schemes"],
        epoch_logs=f"{RESULTS}/logs/train_plc/epochs",
        library=library_version("models", "io.py"),
    script:
        "../../scripts/train_plc.py"


rule model_comparison:
    input:
        metrics=expand(f"{RESULTS}/models/{{model}}/metrics.json", model=MODELS),
        roc=expand(f"{RESULTS}/models/{{model}}/roc.csv", model=MODELS),
    output:
        table=report(
            f"{RESULTS}/report/model_comparison.csv",
            caption="../report/model_comparison.rst",
            category="3. Models",
            labels={"table": "model comparison"},
        ),
        plot=report(
            f"{RESULTS}/report/roc.png",
            caption="../report/roc.rst",
            category="3. Models",
            labels={"figure": "ROC curves"},
        ),
    log:
        f"{RESULTS}/logs/model_comparison/model_comparison.log",
    benchmark:
        f"{RESULTS}/benchmarks/model_comparison/model_comparison.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
    params:
        models=MODELS,
        library=library_version("models/evaluate.py"),
    script:
        "../../scripts/model_comparison.py"
