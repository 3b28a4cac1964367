"""Snakemake script of rule report: the standalone interactive map (folium / Leaflet)."""

from pathlib import Path

import geopandas as gpd

from slidemap.io import read_json
from slidemap.logs import run_logged
from slidemap.report import interactive_map
from slidemap.standalone import script_object


def main(smk) -> None:
    model = read_json(smk.input.best)["model"]
    classes = next(p for p in smk.input.classes if Path(p).parent.name == model)
    cands = gpd.read_file(smk.input.candidates[0]) if smk.input.candidates else None
    interactive_map(
        smk.output.html,
        classes_path=classes,
        hillshade_path=smk.input.hillshade,
        candidates=cands,
        model=model,
        basemap=smk.params.basemap,
        max_side=smk.params.max_side,
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("report")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
