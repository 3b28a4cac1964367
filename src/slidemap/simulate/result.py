"""What one simulation made (:class:`Simulation`), shared by the simulation and its writers."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from rasterio.transform import Affine

from slidemap.simulate.params import SimulationParams
from slidemap.simulate.tracks import Scene, TrackResult

__all__ = ["MOVING_KINDS", "Simulation"]

#: Kinds of the other (non-landslide) sources that have a trend (truly moving ground).
MOVING_KINDS = ("subsidence", "embankment")


@dataclass
class Simulation:
    """Everything one simulation made.

    Attributes
    ----------
    params
        The parameters.
    scene
        Terrain and shared fields.
    slides
        Moving slopes with their per-track truth columns (GeoDataFrame, DEM CRS).
    sources
        Other (non-landslide) sources with their per-track truth columns (GeoDataFrame):
        subsidence bowls, and the thermal discs and embankments when the optional decoys
        are on (``kind`` column).
    tracks
        One :class:`~slidemap.simulate.tracks.TrackResult` per track.
    roads, faults
        Illustrative line layers (GeoDataFrames).
    lithology, lithology_transform
        Lithology codes (uint8, 0 = nodata) and their grid's transform.
    landuse
        Land-use codes on the DEM grid (uint8, 0 = nodata).
    """

    params: SimulationParams
    scene: Scene
    slides: gpd.GeoDataFrame
    sources: gpd.GeoDataFrame
    tracks: list[TrackResult]
    roads: gpd.GeoDataFrame
    faults: gpd.GeoDataFrame
    lithology: np.ndarray
    lithology_transform: Affine
    landuse: np.ndarray

    @property
    def other_moving(self) -> gpd.GeoDataFrame:
        """The other sources with a trend (subsidence, embankment): truly moving ground."""
        return self.sources[self.sources["kind"].isin(MOVING_KINDS)].reset_index(drop=True)
