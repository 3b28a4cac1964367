"""Snakemake script of rule pixel_samples: inventory + factor COGs -> pixels.parquet + summary."""

from pathlib import Path

from slidemap.logs import run_logged
from slidemap.samples import make_pixel_samples, write_samples
from slidemap.standalone import script_object


def main(smk) -> None:
    extra = {}
    if smk.params.sampling["add_plc_predictions"]:
        extra = {"classified": smk.input.classified, "candidates": smk.input.candidates}
    samples, summary = make_pixel_samples(
        smk.input.catalog,
        dict(zip(smk.params.factor_names, smk.input.factors, strict=True)),
        smk.input.inventory,
        inventory=smk.params.inventory,
        sampling=smk.params.sampling,
        validation=smk.params.validation,
        **extra,
    )
    write_samples(samples, summary, Path(smk.output.samples), Path(smk.output.summary))


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("pixel_samples")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
