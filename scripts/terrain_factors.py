"""Snakemake script of rule terrain_factors: grid DEM -> one COG per terrain factor."""

from pathlib import Path

from slidemap.factors.terrain import write_terrain_factors
from slidemap.logs import run_logged
from slidemap.standalone import script_object


def main(smk) -> None:
    outputs = {Path(p).stem: p for p in smk.output.factors}
    write_terrain_factors(
        smk.input.dem,
        outputs,
        tpi_radius_m=smk.params.tpi["radius_m"],
        tpi_inner_radius_m=smk.params.tpi["inner_radius_m"],
        chunk_size=smk.params.chunk_size,
        threads=smk.threads,
        compress=smk.params.compress,
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("terrain_factors")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
