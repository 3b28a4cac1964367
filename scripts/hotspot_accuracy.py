"""Snakemake script of rule hotspot_accuracy: candidates vs reference polygons -> accuracy.json."""

import logging

import geopandas as gpd
import pandas as pd

from slidemap.hotspots.accuracy import extraction_accuracy, read_reference
from slidemap.io import write_json
from slidemap.logs import run_logged
from slidemap.standalone import script_object

log = logging.getLogger("slidemap.hotspot_accuracy")


def main(smk) -> None:
    settings = smk.params.hotspots
    cands = gpd.read_file(smk.input.candidates, layer="candidates")
    ref = read_reference(smk.input.reference, cands.crs, settings["reference_query"])
    others = [read_reference(p, cands.crs) for p in smk.input.other_moving]
    other = pd.concat(others, ignore_index=True) if others else None
    result = extraction_accuracy(
        cands, ref, other_moving=other, min_overlap_m2=settings["reference_min_overlap_m2"]
    )
    result["reference"] = str(smk.input.reference)
    result["reference_query"] = settings["reference_query"]
    result["n_reference_features_read"] = ref.attrs["n_features_read"]
    result["other_moving"] = [str(p) for p in smk.input.other_moving]
    if settings["reference_query"]:
        # the same figures against every reference feature, so the effect of the query shows
        every = read_reference(smk.input.reference, cands.crs)
        result["all_features"] = extraction_accuracy(
            cands, every, other_moving=other, min_overlap_m2=settings["reference_min_overlap_m2"]
        )
    log.info("%s", result)
    write_json(result, smk.output.accuracy)


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("hotspot_accuracy")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
