"""Parameters of the simulator, with the values used for the committed demo as defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

__all__ = ["TrackSpec", "SimulationParams", "DEMO_SEED", "demo_tracks", "acquisition_dates"]

#: Seed of the committed demo.
DEMO_SEED = 20240517

#: Sentinel-1 repeat cycle of one satellite (days).
REPEAT_DAYS = 12


@dataclass(frozen=True)
class TrackSpec:
    """One simulated Sentinel-1 track.

    Attributes
    ----------
    name
        Folder name under ``tracks/`` (e.g. ``asc_018``).
    orbit
        ``ascending`` or ``descending``.
    relative_orbit
        Sentinel-1 relative orbit number (informational, used in file names).
    heading_deg
        Flight direction, degrees clockwise from north.
    incidence_deg
        Ellipsoidal incidence angle at the centre of the scene (degrees).
    incidence_gradient_deg_per_km
        Increase of the incidence angle per km of ground range away from the satellite
        (an IW swath spans about 29-46 degrees over 250 km, i.e. about 0.068 degree/km).
    look
        ``right`` (Sentinel-1) or ``left``.
    layout
        ``egms`` (comma-separated EGMS L2b-like columns) or ``generic`` (``;``-separated).
    first_date
        First acquisition (ISO date, UTC).
    n_dates
        Number of acquisitions, every 12 days.
    batches
        Number of overlapping CSV batches (EGMS bursts); 1 writes a single file.
    batch_overlap_m
        Width (m, along the northing) of the strip that two consecutive batches share.
    """

    name: str
    orbit: str
    relative_orbit: int
    heading_deg: float
    incidence_deg: float
    layout: str
    first_date: str
    n_dates: int = 61
    incidence_gradient_deg_per_km: float = 0.068
    look: str = "right"
    batches: int = 1
    batch_overlap_m: float = 300.0


def demo_tracks(n_dates: int = 61) -> tuple[TrackSpec, ...]:
    """Return the two demo tracks: EGMS-style ascending 018, generic descending 142.

    The first dates follow the Sentinel-1A 12-day repeat (175 orbits per cycle) counted from
    a published S1A product (absolute orbit 35306, 2020-11-18 18:02 UTC; relative orbit =
    (absolute - 73) mod 175 + 1): the count puts relative orbit 18 (ascending) late in the
    UTC evening of 2022-01-09 and relative orbit 142 (descending) before noon UTC on
    2022-01-06 at the longitude of the area; the exact pass time is not modelled. 2022-2023
    is the single-satellite period (after Sentinel-1B failed), when the real cadence was 12
    days.

    Parameters
    ----------
    n_dates
        Acquisitions per track (61 = 720 days, about 2 years).

    Returns
    -------
    tuple of TrackSpec
        Ascending then descending.
    """
    return (
        TrackSpec(
            name="asc_018",
            orbit="ascending",
            relative_orbit=18,
            heading_deg=-12.0,
            incidence_deg=39.0,
            layout="egms",
            first_date="2022-01-09",
            n_dates=n_dates,
            batches=2,
        ),
        TrackSpec(
            name="dsc_142",
            orbit="descending",
            relative_orbit=142,
            heading_deg=192.0,
            incidence_deg=39.0,
            layout="generic",
            first_date="2022-01-06",
            n_dates=n_dates,
            batches=1,
        ),
    )


def acquisition_dates(track: TrackSpec) -> list[date]:
    """Acquisition dates of a track: ``n_dates`` dates 12 days apart from ``first_date``.

    Parameters
    ----------
    track
        The track.

    Returns
    -------
    list of datetime.date
        The dates, ascending.
    """
    first = date.fromisoformat(track.first_date)
    return [first + timedelta(days=REPEAT_DAYS * k) for k in range(track.n_dates)]


@dataclass(frozen=True)
class SimulationParams:
    """Every number of the simulation; the defaults made the committed demo.

    Attributes
    ----------
    seed
        Seed of every random draw.
    tracks
        The simulated tracks.
    density_per_km2
        Density of measurement points on visible, coherent ground (points/km^2; seed 002:
        264 descending, 230 ascending).
    slide_fraction
        Share of the inventory's landslide points that end up on moving ground (inside a
        footprint); footprints are added until it is reached.
    slide_length_median_m, slide_length_sigma_ln, slide_length_range_m
        Log-normal length (m, along the downslope axis) of the moving footprints.
    slide_shrink_steps
        Scales of the length tried in turn when a footprint does not fit.
    slide_min_cell_slope_deg, slide_min_on_slope_share
        A footprint must have at least this share of its cells descending along its
        direction by at least this angle (smoothed DEM), i.e. lie on one slope.
    slide_width_ratio_range
        Uniform range of width / length.
    slide_head_offset
        Share of the length that the footprint extends upslope of the landslide point (the
        point is an initiation point, near the head scarp).
    slide_gap_m
        Minimum distance (m) between two footprints (they never overlap).
    slide_core_radius
        Normalised elliptical radius inside which the whole body moves at full speed; the
        velocity tapers to 0 at the edge with a raised cosine.
    v_down_median_mm_yr, v_down_sigma_ln, v_down_range_mm_yr
        Log-normal rate (mm/yr) of the 3-D downslope motion of a footprint.
    behaviour_probabilities
        Shares of the behaviours ``linear``, ``accelerating``, ``step`` (dealt to the
        footprints in these proportions, rounded).
    step_background_share
        Share of the rate that a ``step`` slide creeps at outside its step.
    slide_seasonal_share
        Seasonal amplitude (mm) of a slide's motion per mm/yr of its rate.
    smoothing_sigma_m
        Kernel width (m) of the smoothed DEM that gives a footprint's direction and plunge.
    n_subsidence
        Number of non-landslide subsidence bowls (Mogi sources) on gentle ground.
    subsidence_depth_range_m, subsidence_rate_range_mm_yr
        Uniform ranges of the source depth (m) and peak vertical rate (mm/yr, negative).
    subsidence_max_slope_deg
        Largest smoothed slope (degrees) where a subsidence bowl may be centred.
    subsidence_min_distance_m
        Minimum distance (m) between a bowl's centre and any slide footprint or other bowl.
    subsidence_seasonal_share
        Seasonal amplitude (mm) of subsidence per mm/yr of its local rate.
    seasonal_sd_mm
        Standard deviation (mm) of every point's annual seasonal amplitude.
    seasonal_peak_doy
        Day of year of the seasonal maximum (rainy season of the eastern Andes of Ecuador).
    aps_sd_mm
        Standard deviation (mm) of the turbulent atmospheric delay of one acquisition.
    aps_sigma_m
        Kernel width (m) of the turbulent atmospheric field (correlation length ~ 2x that).
    aps_cell_m
        Cell size (m) of the grid the atmospheric fields are drawn on.
    aps_stratified_sd_mm_per_km
        Standard deviation (mm per km of height) of the stratified (height-correlated) delay.
    coherence_patch_sigma_m
        Kernel width (m) of the field that makes the patches of lost coherence (vegetation).
    coherence_patch_share
        Share of the area in low-coherence patches.
    coherence_good, coherence_patch
        Expected temporal coherence outside and inside the patches.
    coherence_point_sd
        Standard deviation of a point's coherence around the field.
    coherence_min
        Points whose temporal coherence is below this are not delivered (like the
        processing's selection threshold).
    wavelength_mm
        Radar wavelength (mm; Sentinel-1 C band).
    visibility_margin_deg
        Margin (degrees) of the layover and shadow masks.
    height_sd_m
        Standard deviation (m) of a point's height error.
    geoid_undulation_m
        Constant geoid undulation (m) added to the height to give the ellipsoidal height
        (illustrative, not a geoid model).
    white_noise
        Add per-acquisition white noise (False for noise-free test runs).
    subsidence_exclude_slides
        Keep bowls away from the footprints (by ``subsidence_min_distance_m``).
    """

    seed: int = DEMO_SEED
    tracks: tuple[TrackSpec, ...] = field(default_factory=demo_tracks)
    density_per_km2: float = 250.0
    slide_fraction: float = 0.5
    slide_length_median_m: float = 420.0
    slide_length_sigma_ln: float = 0.25
    slide_length_range_m: tuple[float, float] = (280.0, 700.0)
    slide_shrink_steps: tuple[float, ...] = (1.0, 0.85, 0.7)
    slide_min_cell_slope_deg: float = 5.0
    slide_min_on_slope_share: float = 0.8
    slide_width_ratio_range: tuple[float, float] = (0.5, 0.75)
    slide_head_offset: float = 0.1
    slide_gap_m: float = 20.0
    slide_core_radius: float = 0.85
    v_down_median_mm_yr: float = 40.0
    v_down_sigma_ln: float = 0.45
    v_down_range_mm_yr: tuple[float, float] = (8.0, 150.0)
    behaviour_probabilities: tuple[float, float, float] = (0.5, 0.25, 0.25)
    step_background_share: float = 0.2
    slide_seasonal_share: float = 0.1
    smoothing_sigma_m: float = 30.0
    n_subsidence: int = 3
    subsidence_depth_range_m: tuple[float, float] = (60.0, 120.0)
    subsidence_rate_range_mm_yr: tuple[float, float] = (-30.0, -12.0)
    subsidence_max_slope_deg: float = 15.0
    subsidence_min_distance_m: float = 250.0
    subsidence_seasonal_share: float = 0.15
    seasonal_sd_mm: float = 1.5
    seasonal_peak_doy: float = 150.0
    aps_sd_mm: float = 2.5
    aps_sigma_m: float = 700.0
    aps_cell_m: float = 50.0
    aps_stratified_sd_mm_per_km: float = 3.0
    coherence_patch_sigma_m: float = 120.0
    coherence_patch_share: float = 0.2
    coherence_good: float = 0.9
    coherence_patch: float = 0.55
    coherence_point_sd: float = 0.04
    coherence_min: float = 0.6
    wavelength_mm: float = 55.47
    visibility_margin_deg: float = 2.0
    height_sd_m: float = 1.5
    geoid_undulation_m: float = 20.0
    white_noise: bool = True
    subsidence_exclude_slides: bool = True

    def replace(self, **changes: Any) -> SimulationParams:
        """Return a copy with some parameters changed.

        Parameters
        ----------
        **changes
            Attribute names and their new values.

        Returns
        -------
        SimulationParams
            The modified copy.
        """
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for the parameters JSON).

        Returns
        -------
        dict
            Every attribute; tracks as a list of dicts, tuples as lists.
        """
        return dataclasses.asdict(self)
