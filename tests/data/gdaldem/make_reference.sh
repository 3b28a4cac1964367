#!/usr/bin/env bash
# Reference rasters of tests/test_factors_terrain.py, made with gdaldem (GDAL 3.6.2) on a
# 128 x 128 crop of the demo (Ecuador) DEM that includes its NaN nodata corner.
# Run from the repository root: bash tests/data/gdaldem/make_reference.sh
set -euo pipefail
out=tests/data/gdaldem
co=(-co COMPRESS=DEFLATE -co PREDICTOR=3)
gdal_translate -q -srcwin 255 287 128 128 "${co[@]}" resources/demo/dem.tif "$out/dem_crop.tif"
gdaldem slope "$out/dem_crop.tif" "$out/slope.tif" "${co[@]}" -q
gdaldem aspect "$out/dem_crop.tif" "$out/aspect.tif" "${co[@]}" -q
gdaldem TRI "$out/dem_crop.tif" "$out/tri.tif" -alg Riley "${co[@]}" -q
gdaldem TPI "$out/dem_crop.tif" "$out/tpi.tif" "${co[@]}" -q
gdaldem roughness "$out/dem_crop.tif" "$out/roughness.tif" "${co[@]}" -q
