"""Snakemake script of rule predict_tile: one model, one map tile -> tiles/{tile}.tif."""

import logging
from pathlib import Path

from slidemap.logs import run_logged
from slidemap.maps.predict import load_bundle, predict_tile
from slidemap.standalone import script_object


def main(smk) -> None:
    bundle = load_bundle(smk.input.model)
    if hasattr(bundle, "set_threads"):
        bundle.set_threads(smk.threads)
    info = predict_tile(
        bundle,
        smk.params.factor_dir,
        smk.input.grid,
        smk.params.tile_rows,
        smk.params.tile_cols,
        smk.wildcards.tile,
        Path(smk.output.tile),
    )
    logging.getLogger("slidemap").info("tile %s", info)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("predict_tile")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
