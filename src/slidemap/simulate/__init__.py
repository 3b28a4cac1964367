"""Seeded, physical simulator of Sentinel-1 PS/DS results over a real DEM (the demo's tracks).

Moving slopes are placed at a subset of real landslide initiation points as footprints
elongated downslope, each moving along its 3-D downslope direction with a behaviour
(linear, accelerating, step); a few subsidence bowls sit on gentle ground. Each track
(ascending / descending, right-looking, its own heading and incidence) sees the LOS
projection of that motion at points sampled at a set density outside layover, shadow and
low-coherence patches, on the real 12-day cadence, with seasonal terms, spatially correlated
atmospheric delays and white noise. The same seed gives byte-identical files.

Modules: :mod:`~slidemap.simulate.params` (every number), :mod:`~.terrain` (gradient,
visibility), :mod:`~.fields` (random fields, named random streams), :mod:`~.footprints`
(footprint geometry), :mod:`~.sources` (placing slides, subsidence), :mod:`~.motion`
(their velocities and displacement over time), :mod:`~.decoys` (thermal dilation, road
embankments), :mod:`~.tracks` (points, series), :mod:`~.series` (least-squares summaries),
:mod:`~.layers` (roads, faults, lithology, land use), :mod:`~.writers` (files), :mod:`~.core`
(the whole run), :mod:`~.scenario` and :mod:`~.scenario_schema` (scenario files),
:mod:`~.demcrop` (DEM windows), :mod:`~.study` (scenario -> study folder).
``python scripts/make_demo.py`` regenerates the demo; ``python scripts/make_scenario.py``
writes one scenario of ``resources/scenarios/``. The optional physics (random slide sites,
north-south slides, power-law atmosphere, ramps, unwrapping errors, decoys, the
detectability rule) is off by default and leaves the demo's files unchanged.
"""

from slidemap.simulate.core import (
    DETECT_MIN_POINTS,
    DETECT_THRESHOLD_MM_YR,
    make_demo,
    read_inputs,
    simulate,
)
from slidemap.simulate.params import DEMO_SEED, SimulationParams, TrackSpec, demo_tracks
from slidemap.simulate.result import Simulation
from slidemap.simulate.scenario import Scenario, load_scenario
from slidemap.simulate.series import fit_series
from slidemap.simulate.study import make_scenario

__all__ = [
    "DEMO_SEED",
    "DETECT_MIN_POINTS",
    "DETECT_THRESHOLD_MM_YR",
    "Scenario",
    "Simulation",
    "SimulationParams",
    "TrackSpec",
    "demo_tracks",
    "fit_series",
    "load_scenario",
    "make_demo",
    "make_scenario",
    "read_inputs",
    "simulate",
]
