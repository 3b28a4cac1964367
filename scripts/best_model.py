"""Snakemake script of rule best_model: the model whose map represents the study."""

import logging

from slidemap.io import read_json, write_json
from slidemap.logs import run_logged
from slidemap.maps.best import choose_best_model
from slidemap.standalone import script_object


def main(smk) -> None:
    metrics = {
        name: read_json(path)
        for name, path in zip(smk.params.models, smk.input.metrics, strict=True)
    }
    best = choose_best_model(metrics, smk.params.choice)
    write_json(best, smk.output.best)
    logging.getLogger("slidemap").info("best model: %s (by %s)", best["model"], best["by"])


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("best_model")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
