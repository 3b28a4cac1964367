"""Snakemake script of rule train_plc: the potential-landslide classifier and its predictions."""

import logging
import shutil
from pathlib import Path

from slidemap.io import atomic_path
from slidemap.logs import run_logged
from slidemap.models.data import load_vector_samples, read_bins
from slidemap.models.evaluate import (
    classify_candidates,
    train_and_evaluate,
    write_training_outputs,
)


def main(smk) -> None:
    samples = load_vector_samples(smk.input.samples, smk.input.selected)
    bins = read_bins(smk.input.bins) if "bins" in smk.input.keys() else None
    epoch_logs = Path(smk.params.epoch_logs)
    shutil.rmtree(epoch_logs, ignore_errors=True)
    result = train_and_evaluate(
        smk.params.plc["algorithm"],
        smk.params.plc["params"],
        samples,
        bins,
        schemes=smk.params.cv_schemes,
        seed=smk.params.seed,
        threads=smk.threads,
        threshold=smk.params.threshold,
        log_dir=epoch_logs,
        unit="plc",
    )
    write_training_outputs(result, Path(smk.output.metrics).parent)
    table = classify_candidates(result.bundle, samples, smk.params.classify_threshold)
    unlabelled = table["label"] == -1
    logging.getLogger("slidemap").info(
        "%d candidates classified; %d of the %d unlabelled ones are potential landslides",
        len(table),
        int((table.loc[unlabelled, "predicted"] == 1).sum()),
        int(unlabelled.sum()),
    )
    with atomic_path(smk.output.classified) as tmp:
        table.to_parquet(tmp, index=False)


if __name__ == "__main__":
    smk = snakemake  # noqa: F821 (injected by Snakemake)
    run_logged(lambda: main(smk), smk.log[0])
