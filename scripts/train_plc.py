"""Snakemake script of rule train_plc: the potential-landslide classifier and its predictions.

When the PLC samples cannot train it (samples/plc_summary.json: classifier_skipped), the
candidates keep their rule-based class and the model files say why (slidemap.models.plc).
"""

from pathlib import Path

from slidemap.logs import run_logged
from slidemap.models.plc import run_plc
from slidemap.standalone import script_object


def main(smk) -> None:
    run_plc(
        samples=smk.input.samples,
        selected=smk.input.selected,
        summary=smk.input.summary,
        bins=smk.input.bins if "bins" in smk.input.keys() else None,
        outdir=Path(smk.output.metrics).parent,
        classified=smk.output.classified,
        algorithm=smk.params.plc["algorithm"],
        params=smk.params.plc["params"],
        seed=smk.params.seed,
        threads=smk.threads,
        threshold=smk.params.threshold,
        classify_threshold=smk.params.classify_threshold,
        schemes=smk.params.cv_schemes,
        log_dir=Path(smk.params.epoch_logs),
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("train_plc")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
