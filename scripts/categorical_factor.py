"""Snakemake script of rule categorical_factor: lithology / land use / hardness on the grid."""

from slidemap.factors.categorical import write_categorical_factor, write_hardness_factor
from slidemap.logs import run_logged
from slidemap.standalone import script_object


def main(smk) -> None:
    layer = smk.wildcards.layer
    if layer == "hardness":
        write_hardness_factor(
            smk.input.source,
            smk.input.codes,
            smk.output.factor,
            chunk_size=smk.params.chunk_size,
            threads=smk.threads,
            compress=smk.params.compress,
        )
        return
    write_categorical_factor(
        smk.input.source,
        smk.input.dem,
        smk.output.factor,
        name=layer,
        attribute=smk.params.layer["attribute"],
        codes_path=smk.input.get("codes"),
        chunk_size=smk.params.chunk_size,
        threads=smk.threads,
        compress=smk.params.compress,
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("categorical_factor")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
