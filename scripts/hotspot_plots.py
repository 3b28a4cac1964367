"""Snakemake script of rule hotspot_plots: velocity map and hot/cold density map of one track."""

import geopandas as gpd
import rasterio

from slidemap.hotspots.plots import plot_density_map, plot_velocity_map
from slidemap.io import read_json
from slidemap.logs import run_logged


def main(smk) -> None:
    track = smk.params.track
    points = gpd.read_parquet(
        smk.input.points, columns=["x_m", "y_m", "velocity_mm_yr", "moving", "geometry"]
    )
    polygons = gpd.read_file(smk.input.polygons, layer="polygons")
    with rasterio.open(smk.input.grid) as src:
        dem = src.read(1, masked=True).astype("float64").filled(float("nan"))
        dem_transform = src.transform
    with rasterio.open(smk.input.density) as src:
        density = src.read().astype("float64")
        transform = src.transform
    summary = read_json(smk.input.summary)
    plot_velocity_map(
        points,
        polygons,
        smk.output.velocity,
        title=f"{track}: LOS velocity and candidate polygons",
        threshold_mm_yr=summary["stability_threshold_mm_yr"],
        dem=dem,
        dem_transform=dem_transform,
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
    smk = snakemake  # noqa: F821 (injected by Snakemake)
    run_logged(lambda: main(smk), smk.log[0])
