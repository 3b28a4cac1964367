# Helpers of the models rules (kept apart from the rules for `snakemake --lint`).
from slidemap.models.presets import PATCH_ALGORITHMS, resolve_params


def get_model_params(wildcards):
    """The hyper-parameters of one algorithm, with its preset applied."""
    return resolve_params(wildcards.model, MODELS_CFG[wildcards.model])


def get_plc_params():
    """The PLC classifier's algorithm and hyper-parameters (its own preset wins)."""
    algorithm = MODELS_CFG["plc"]["algorithm"]
    entry = dict(MODELS_CFG[algorithm])
    if MODELS_CFG["plc"]["preset"] is not None:
        entry["preset"] = MODELS_CFG["plc"]["preset"]
    return {
        "algorithm": algorithm,
        "params": resolve_params(algorithm, entry, key="models.plc"),
    }


def get_train_inputs(wildcards):
    """Samples (or patches) of the pixel unit, its factor list, and bins if discretizing."""
    inputs = {"selected": f"{RESULTS}/selection/pixels/selected.json"}
    if wildcards.model in PATCH_ALGORITHMS:
        inputs["patches"] = f"{RESULTS}/tiles/patches.npz"
        inputs["index"] = f"{RESULTS}/tiles/index.parquet"
    else:
        inputs["samples"] = f"{RESULTS}/samples/pixels.parquet"
    if get_model_params(wildcards).get("discretize"):
        inputs["bins"] = f"{RESULTS}/discretize/pixels/bins.json"
    return inputs


def get_plc_inputs(wildcards):
    """PLC samples (and their summary: whether the classifier can be trained), their
    factor list, and bins if the classifier discretizes."""
    inputs = {
        "samples": f"{RESULTS}/samples/plc.parquet",
        "summary": f"{RESULTS}/samples/plc_summary.json",
        "selected": f"{RESULTS}/selection/plc/selected.json",
    }
    if get_plc_params()["params"].get("discretize"):
        inputs["bins"] = f"{RESULTS}/discretize/plc/bins.json"
    return inputs


def get_gpus(wildcards):
    """1 when the model is configured for CUDA (SLURM then places it on a GPU node)."""
    params = get_model_params(wildcards)
    return 1 if params.get("device") == "cuda" else 0


def model_files(model):
    """The output files of one trained model."""
    return [
        f"{RESULTS}/models/{model}/{name}"
        for name in (
            "model.joblib",
            "metrics.json",
            "roc.csv",
            "config.json",
            "cv_predictions.parquet",
        )
    ]
