"""Hot-spot analysis: trend classes, Getis-Ord Gi*, kernel density, candidate polygons.

Modules: :mod:`~slidemap.hotspots.trend` (uncorrelated / linear / non-linear series),
:mod:`~slidemap.hotspots.gistar` (Gi*, seed 002 Eq. 1), :mod:`~slidemap.hotspots.density`
(quartic kernel density, Eq. 2), :mod:`~slidemap.hotspots.candidates` (track polygons,
merged PLCs), :mod:`~slidemap.hotspots.regions` (region labels, statistics, polygons),
:mod:`~slidemap.hotspots.downslope` (raster sampling, downslope projection),
:mod:`~slidemap.hotspots.accuracy` (extraction accuracy and missing rate),
:mod:`~slidemap.hotspots.plots` (report figures) and :mod:`~slidemap.hotspots.pipeline`
(one track end to end, config settings, readers/writers).
"""
