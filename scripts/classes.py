"""Snakemake script of rule classes: susceptibility.tif -> classes.tif/.qml/.json, class areas."""

import logging

from slidemap.io import atomic_path, write_json
from slidemap.logs import run_logged
from slidemap.maps.classes import class_table, classify_raster, raster_breaks, write_qml
from slidemap.raster import Grid
from slidemap.standalone import script_object


def main(smk) -> None:
    cfg = smk.params.classes
    info = raster_breaks(
        smk.input.susceptibility,
        cfg["method"],
        n_classes=cfg["n_classes"],
        sample_size=cfg["sample_size"],
        seed=cfg["seed"],
    )
    counts = classify_raster(smk.input.susceptibility, smk.output.classes, info["breaks"])
    table = class_table(
        counts, info["breaks"], info["min"], Grid.from_raster(smk.input.susceptibility).cell_area_m2
    )
    write_qml(smk.output.qml, info["breaks"], info["min"])
    write_json({**info, "model": smk.wildcards.model}, smk.output.info)
    with atomic_path(smk.output.areas) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    logging.getLogger("slidemap").info("classes (%s):\n%s", cfg["method"], table.to_string())


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("classes")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
