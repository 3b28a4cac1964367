"""Snakemake script of rule train: CV, final model and test metrics of one algorithm."""

import shutil
from pathlib import Path

from slidemap.logs import run_logged
from slidemap.models.data import load_patch_samples, load_vector_samples, read_bins
from slidemap.models.evaluate import train_and_evaluate, write_training_outputs
from slidemap.standalone import script_object


def main(smk) -> None:
    if "patches" in smk.input.keys():
        samples = load_patch_samples(smk.input.patches, smk.input.index, smk.input.selected)
    else:
        samples = load_vector_samples(smk.input.samples, smk.input.selected)
    bins = read_bins(smk.input.bins) if "bins" in smk.input.keys() else None
    epoch_logs = Path(smk.params.epoch_logs)
    shutil.rmtree(epoch_logs, ignore_errors=True)  # per-epoch CSV logs of this run only
    result = train_and_evaluate(
        smk.params.algorithm,
        smk.params.model,
        samples,
        bins,
        schemes=smk.params.cv_schemes,
        seed=smk.params.seed,
        threads=smk.threads,
        threshold=smk.params.threshold,
        log_dir=epoch_logs,
        unit="pixels",
    )
    write_training_outputs(result, Path(smk.output.metrics).parent)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("train")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
