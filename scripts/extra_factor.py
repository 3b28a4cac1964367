"""Snakemake script of rule extra_factor: an extra continuous raster aligned to the grid."""

from slidemap.factors.categorical import write_extra_factor
from slidemap.logs import run_logged
from slidemap.standalone import script_object


def main(smk) -> None:
    write_extra_factor(
        smk.input.source,
        smk.input.dem,
        smk.output.factor,
        name=smk.wildcards.name,
        chunk_size=smk.params.chunk_size,
        threads=smk.threads,
        compress=smk.params.compress,
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("extra_factor")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
