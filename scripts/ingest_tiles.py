"""Snakemake script of the tiled ingest rules (workflow/rules/insar_tiles.smk).

One script for the three rules, dispatching on the rule: ingest_batch (one CSV batch -> its
rows per spatial tile), ingest_tile (the track's rules on one tile) and ingest_merge (the
track's points.parquet + summary.json). The logic is slidemap.insar.tiledingest.
"""

from pathlib import Path

from slidemap.grid import study_area_polygon, working_crs
from slidemap.insar.tiledingest import ingest_batch_job, ingest_tile_job, merge_tiles_job
from slidemap.logs import run_logged
from slidemap.standalone import script_object

RULES = ("ingest_batch", "ingest_tile", "ingest_merge")


def main(smk) -> None:
    i, o, track = smk.input, smk.output, smk.wildcards.track
    crs = working_crs(i.dem, smk.params.crs)
    if smk.rule == "ingest_batch":
        ingest_batch_job(
            Path(i.csv),
            smk.params.track,
            track_name=track,
            working_crs=crs.to_string(),
            study_area=study_area_polygon(i.dem, crs, smk.params.boundary),
            tile_size_m=smk.params.tile_size_m,
            folder=o.folder,
            threads=smk.threads,
        )
    elif smk.rule == "ingest_tile":
        ingest_tile_job(
            list(i.batches),
            smk.wildcards.itile,
            smk.params.track,
            track_name=track,
            working_crs=crs.to_string(),
            points_path=o.points,
            ids_path=o.ids,
            account_path=o.account,
            threads=smk.threads,
        )
    else:  # ingest_merge
        merge_tiles_job(
            list(i.batches),
            list(zip(i.points, i.ids, i.accounts, strict=True)),
            smk.params.track,
            track_name=track,
            working_crs=crs.to_string(),
            study_area=study_area_polygon(i.dem, crs, smk.params.boundary),
            points_path=o.points,
            summary_path=o.summary,
        )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --rule NAME --help
    smk = snakemake if "snakemake" in globals() else script_object(RULES)  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
