"""Snakemake script of rule tiles: pixel samples + factor COGs -> patches.npz, index, stats."""

from slidemap.logs import run_logged
from slidemap.standalone import script_object
from slidemap.tiles import make_tiles, write_tiles


def main(smk) -> None:
    patches, mask, index, factors, stats = make_tiles(
        smk.input.samples,
        smk.input.selected,
        dict(zip(smk.params.factor_names, smk.input.factors, strict=True)),
        smk.params.size,
    )
    write_tiles(
        patches,
        mask,
        index,
        factors,
        stats,
        patches_path=smk.output.patches,
        index_path=smk.output.index,
        stats_path=smk.output.stats,
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("tiles")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
