#!/usr/bin/env bash
# Reference rasters of tests/test_factors_hydrology.py, made with GRASS GIS r.watershed
# (GRASS 8.2.1, Debian 12 package grass-core) on the demo (Ecuador) DEM, 383 x 415, 10 m,
# EPSG:32717. GRASS is not needed by the tests, which only read the rasters written here.
#
#   acc_d8.tif   r.watershed -s (single flow direction, D8): accumulation, cells (Float32)
#   dir_d8.tif   its drainage directions (Int16): 1 NE, 2 N, 3 NW, 4 W, 5 SW, 6 S, 7 SE, 8 E,
#                counter-clockwise; negative where flow leaves the region (or enters nodata)
#   acc_mfd.tif  r.watershed MFD (Holmgren 1994 weights tan(beta)^c) with convergence=1, the
#                closest to slidemap's Freeman p = 1.1: accumulation, cells (Float32)
#
# As GRASS documents, the accumulation is negative where surface runoff may come from outside
# the region (cells whose upslope area touches the grid edge or nodata); the tests compare
# |acc|. r.watershed does not fill depressions: it routes through them with an A* least-cost
# search, and scales floating-point elevations to integer millimetres.
# Run from the repository root: bash tests/data/grass/make_reference.sh
set -euo pipefail
out=tests/data/grass
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grass -c resources/demo/dem.tif "$tmp/loc" -e
g() { grass "$tmp/loc/PERMANENT" --exec "$@"; }
g r.in.gdal --quiet input=resources/demo/dem.tif output=dem
g g.region raster=dem
g r.watershed --quiet -s elevation=dem accumulation=acc_d8 drainage=dir_d8
g r.watershed --quiet elevation=dem accumulation=acc_mfd convergence=1
# -f: Float32 holds the D8 counts (< 2^24) exactly and the MFD ones to ~1e-7 relative
for acc in acc_d8 acc_mfd; do
  g r.out.gdal --quiet -c -m -f input=$acc output="$out/$acc.tif" type=Float32 format=GTiff \
    createopt=COMPRESS=DEFLATE,PREDICTOR=3
done
g r.out.gdal --quiet -c -m -f input=dir_d8 output="$out/dir_d8.tif" type=Int16 format=GTiff \
  createopt=COMPRESS=DEFLATE,PREDICTOR=2
