"""Snakemake script of rule distance_factor: vector layer -> dist_<layer>.tif (m)."""

from slidemap.factors.distance import write_distance_factor
from slidemap.logs import run_logged
from slidemap.standalone import script_object


def main(smk) -> None:
    layer = smk.wildcards.layer
    write_distance_factor(
        smk.input.layer,
        smk.input.dem,
        smk.output.factor,
        name=f"dist_{layer}",
        key=smk.params.key,
        source=smk.params.source,
        threads=smk.threads,
        compress=smk.params.compress,
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("distance_factor")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
