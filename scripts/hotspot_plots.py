"""Snakemake script of rule hotspot_plots: velocity map and hot/cold density map of one track."""

import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
from rasterio.enums import Resampling

from slidemap.hotspots.plots import plot_density_map, plot_velocity_map
from slidemap.hotspots.settings import settings_notes
from slidemap.io import read_json
from slidemap.logs import run_logged
from slidemap.raster import read_decimated
from slidemap.standalone import script_object

MAX_SIDE = 2048  # cells of the largest figure raster edge
AVERAGE = Resampling.average


def main(smk) -> None:
    track = smk.params.track
    available = set(pq.read_schema(smk.input.points).names)
    wanted = ["x_m", "y_m", "velocity_mm_yr", "v_hp_mm_yr", "moving", "geometry"]
    points = gpd.read_parquet(smk.input.points, columns=[c for c in wanted if c in available])
    polygons = gpd.read_file(smk.input.polygons, layer="polygons")
    # figures need no more than MAX_SIDE cells a side: memory stays bounded on large areas
    dem, _, dem_transform, _ = read_decimated(smk.input.grid, MAX_SIDE, resampling=AVERAGE)
    dem = dem.astype("float64")
    bands = [
        read_decimated(smk.input.density, MAX_SIDE, band=b, resampling=AVERAGE) for b in (1, 2)
    ]
    density = np.stack([b[0] for b in bands]).astype("float64")
    transform = bands[0][2]
    summary = read_json(smk.input.summary)
    plot_velocity_map(
        points,
        polygons,
        smk.output.velocity,
        title=f"{track}: LOS velocity and candidate polygons",
        threshold_mm_yr=summary["stability_threshold_mm_yr"],
        dem=dem,
        dem_transform=dem_transform,
        notes=settings_notes(summary),
    )
    plot_density_map(
        density,
        transform,
        polygons,
        smk.output.density,
        title=f"{track}: hot/cold-spot density of Gi* z (quartic kernel)",
        threshold=summary["density_threshold_per_km2"],
        dem=dem,
        dem_transform=dem_transform,
    )


if __name__ == "__main__":
    # injected by Snakemake; alone: python scripts/<script>.py --help (slidemap.standalone)
    smk = snakemake if "snakemake" in globals() else script_object("hotspot_plots")  # noqa: F821
    run_logged(lambda: main(smk), smk.log[0], smk.resources)
