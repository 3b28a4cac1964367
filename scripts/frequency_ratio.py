"""Snakemake script of rule frequency_ratio: FR per class, success/prediction-rate curves."""

import logging

import pandas as pd

from slidemap.io import atomic_path, read_json, write_json
from slidemap.logs import run_logged
from slidemap.maps.frequency_ratio import landslide_cells, plot_rate_curves, validate_map
from slidemap.raster import Grid
from slidemap.standalone import script_object

COLUMNS = ["unit_id", "row", "col", "x_m", "y_m", "label", "split", "source"]


def main(smk) -> None:
    log = logging.getLogger("slidemap")
    info = read_json(smk.input.info)
    samples = pd.read_parquet(smk.input.samples)
    samples = samples[[c for c in COLUMNS if c in samples.columns]]
    grid = Grid.from_raster(smk.input.susceptibility)
    cells = landslide_cells(samples, grid.transform, path=smk.input.samples)
    areas = pd.read_csv(smk.input.areas)
    fr, curves, summary, hists = validate_map(
        smk.input.susceptibility, info["breaks"], cells, class_info=areas
    )
    if summary["landslide_cells_off_map"]:
        log.warning(
            "%d landslide cell(s) fall on cells without a prediction (nodata) and are not counted",
            summary["landslide_cells_off_map"],
        )
    with atomic_path(smk.output.table) as tmp:
        fr.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(smk.output.curves) as tmp:
        curves.to_csv(tmp, index=False, float_format="%.6g")
    plot_rate_curves(*hists, smk.output.plot, title=smk.wildcards.model)
    write_json(
        {"model": smk.wildcards.model, "method": info["method"], **summary}, smk.output.summary
    )
    log.info("frequency ratio:\n%s\n%s", fr.to_string(), summary)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("frequency_ratio")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
