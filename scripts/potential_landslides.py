"""Snakemake script of rule potential_landslides: candidates + PLC classes + susceptibility."""

import logging
from pathlib import Path

from slidemap.io import read_json, write_gpkg
from slidemap.logs import run_logged
from slidemap.maps.potential import potential_landslides
from slidemap.standalone import script_object


def _for_model(paths, model):
    """Return the file of ``model`` among per-model paths (``maps/<model>/...``)."""
    return next(p for p in paths if Path(p).parent.name == model)


def main(smk) -> None:
    model = read_json(smk.input.best)["model"]
    breaks = read_json(_for_model(smk.input.classes, model))["breaks"]
    gdf = potential_landslides(
        smk.input.candidates,
        smk.input.classified,
        _for_model(smk.input.maps, model),
        breaks,
        model,
    )
    write_gpkg(gdf, smk.output.gpkg, "potential_landslides")
    n_pos = int((gdf["plc_predicted"] == 1).sum())
    logging.getLogger("slidemap").info(
        "%d candidates, %d classified as potential landslides (map of %s)", len(gdf), n_pos, model
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("potential_landslides")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
