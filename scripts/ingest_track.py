"""Snakemake script of rule ingest_track: CSV batches of one track -> points.parquet + summary."""

from pathlib import Path

from slidemap.grid import study_area_polygon, working_crs
from slidemap.insar.ingest import ingest_track, write_points
from slidemap.logs import run_logged
from slidemap.standalone import script_object


def main(smk) -> None:
    crs = working_crs(smk.input.dem, smk.params.crs)
    area = study_area_polygon(smk.input.dem, crs, smk.params.boundary)
    points, summary = ingest_track(
        [Path(p) for p in smk.input.csvs],
        smk.params.track,
        track_name=smk.wildcards.track,
        working_crs=crs.to_string(),
        study_area=area,
        threads=smk.threads,
    )
    write_points(points, summary, Path(smk.output.points), Path(smk.output.summary))


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("ingest_track")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
