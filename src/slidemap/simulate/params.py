"""Parameters of the simulator, with the values used for the committed demo as defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

__all__ = [
    "TrackSpec",
    "SimulationParams",
    "DEMO_SEED",
    "SLIDE_SITES",
    "APS_MODELS",
    "OPTIONAL_FIELDS",
    "demo_tracks",
    "acquisition_dates",
]

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

    The parameters below switch on optional physics. Every one is off (or has no effect) at
    its default, and the random numbers of the parts above do not change when they are off:
    each optional part draws from its own named stream (:func:`~.fields.component_rng`).
    While all of them are at their defaults, :meth:`to_dict` leaves them out, so the
    committed demo's parameter record is unchanged.

    slide_sites
        ``inventory`` (default): footprints grow from the landslide points given to
        :func:`~slidemap.simulate.core.simulate`; ``random``: ``n_slides`` footprints are
        placed at random sites on ground whose smoothed slope is at least
        ``slide_site_min_slope_deg`` (for DEMs without an inventory; stream
        ``slides/random``).
    n_slides
        Number of moving slopes. ``random`` sites: exactly this many when the terrain has
        room. ``inventory`` sites: 0 (default) places footprints until ``slide_fraction`` of
        the points is covered; a positive count places this many instead.
    slide_site_min_slope_deg
        ``random`` sites: least smoothed slope (degrees) at a site and least mean slope
        (plunge, degrees) of its footprint.
    slide_site_max_tries
        ``random`` sites: candidate sites tried per requested slope before giving up.
    slide_north_south_share
        Share of the moving slopes whose downslope azimuth lies within
        ``slide_north_south_tolerance_deg`` of north or south (Sentinel-1, flying nearly
        north-south, barely sees such motion). When positive, footprints are placed
        alternately so that ``round(share * count)`` face north or south and the others face
        outside those sectors; in ``inventory`` mode the north/south ones grow from the
        landslide points whose smoothed aspect lies in the sectors. 0 (default): no rule.
    slide_north_south_tolerance_deg
        Half-width (degrees) of the north and south azimuth sectors.
    aps_model
        Turbulent atmosphere: ``gaussian`` (default; the Gaussian-kernel field of
        ``aps_sd_mm`` and ``aps_sigma_m``) or ``powerlaw`` (a phase screen per acquisition
        with power spectrum proportional to ``k**-aps_beta``, made by FFT filtering of white
        noise on a grid padded to twice the area, its standard deviation over the grid drawn
        per acquisition uniformly from ``aps_sd_range_mm``; stream ``aps_powerlaw/<track>``).
    aps_beta
        Spectral exponent of the power-law screen (8/3 = Kolmogorov turbulence at the
        scales of a few km, Hanssen 2001).
    aps_sd_range_mm
        Uniform range (mm) of the per-acquisition standard deviation of the power-law
        screen.
    ramp_mm_yr_per_km
        Orbit-error-like ramp: a planar LOS signal through the scene centre whose rate grows
        by this many mm/yr per km along an azimuth drawn per track (stream ``ramp/<track>``),
        growing linearly in time (0 = none).
    unwrap_error_share
        Share of the delivered points of each track (rounded to a count) that get a phase
        unwrapping error: a step of +/- half the wavelength (27.7 mm LOS) from a random
        acquisition (after the first) onward (stream ``unwrap/<track>``; 0 = none).
    n_thermal
        Number of thermal-dilation decoys (buildings): discs on gentle ground where every
        point carries an annual LOS signal and no trend (stream ``thermal``).
    thermal_radius_range_m
        Uniform range of the disc radius (m).
    thermal_max_slope_deg
        Largest smoothed slope (degrees) at the centre and on average over a disc.
    thermal_density_per_km2
        Density (points/km^2) of the extra strong scatterers added inside a disc.
    thermal_amplitude_range_mm
        Uniform range (mm) of the disc's annual LOS amplitude (the same in every track).
    thermal_peak_doy
        Day of year of the thermal maximum (mid-summer).
    n_embankment
        Number of settling road embankments (stream ``embankment``): segments along a road
        of :func:`~slidemap.simulate.layers.make_roads` (a straight segment along the
        contour of the gentlest free ground when no road segment fits).
    embankment_length_range_m
        Uniform range (m) of the segment length.
    embankment_density_per_km2
        Density (points/km^2) of the extra strong scatterers added within
        ``embankment_point_half_width_m`` of the line.
    embankment_point_half_width_m
        Half-width (m) of the strip that receives the extra points.
    embankment_settle_half_width_m
        Every point within this distance (m) of the line settles vertically.
    embankment_rate_range_mm_yr
        Uniform range (mm/yr, positive) of the settlement rate ``r``; the 3-D velocity is
        ``(0, 0, -r)``.
    decoy_coherence
        Expected temporal coherence of the extra decoy points (buildings and embankments are
        strong scatterers, also inside vegetation patches).
    decoy_min_distance_m
        Least distance (m) between a thermal disc or embankment and any footprint,
        subsidence bowl or other decoy.
    decoy_max_tries
        Candidate sites tried per thermal disc or embankment before giving up.
    detect_threshold_mm_yr
        Noise-free |LOS rate| (mm/yr) a delivered point must reach to count as moving in the
        truth's detectability flags (default: the 10 mm/yr stability threshold of seed 002).
    detect_min_points
        Moving delivered points a footprint needs in one track to be detectable (default 6,
        the ">= 6 moving PS" of Marmoni et al.).
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
    # ---- optional physics (off by default) ------------------------------------------------
    slide_sites: str = "inventory"
    n_slides: int = 0
    slide_site_min_slope_deg: float = 10.0
    slide_site_max_tries: int = 200
    slide_north_south_share: float = 0.0
    slide_north_south_tolerance_deg: float = 25.0
    aps_model: str = "gaussian"
    aps_beta: float = 8.0 / 3.0
    aps_sd_range_mm: tuple[float, float] = (1.0, 5.0)
    ramp_mm_yr_per_km: float = 0.0
    unwrap_error_share: float = 0.0
    n_thermal: int = 0
    thermal_radius_range_m: tuple[float, float] = (80.0, 250.0)
    thermal_max_slope_deg: float = 10.0
    thermal_density_per_km2: float = 1500.0
    thermal_amplitude_range_mm: tuple[float, float] = (3.0, 10.0)
    thermal_peak_doy: float = 200.0
    n_embankment: int = 0
    embankment_length_range_m: tuple[float, float] = (400.0, 1200.0)
    embankment_density_per_km2: float = 2000.0
    embankment_point_half_width_m: float = 15.0
    embankment_settle_half_width_m: float = 20.0
    embankment_rate_range_mm_yr: tuple[float, float] = (5.0, 15.0)
    decoy_coherence: float = 0.95
    decoy_min_distance_m: float = 150.0
    decoy_max_tries: int = 300
    detect_threshold_mm_yr: float = 10.0
    detect_min_points: int = 6

    def __post_init__(self) -> None:
        if self.slide_sites not in SLIDE_SITES:
            raise ValueError(f"slide_sites must be one of {SLIDE_SITES}, got {self.slide_sites!r}")
        if self.aps_model not in APS_MODELS:
            raise ValueError(f"aps_model must be one of {APS_MODELS}, got {self.aps_model!r}")
        if self.slide_sites == "random" and self.n_slides < 0:
            raise ValueError("n_slides must be >= 0")
        if not 0.0 <= self.slide_north_south_share <= 1.0:
            raise ValueError("slide_north_south_share must lie in [0, 1]")
        if not 0.0 <= self.unwrap_error_share <= 1.0:
            raise ValueError("unwrap_error_share must lie in [0, 1]")

    def optional_changed(self) -> list[str]:
        """Names of the optional-physics parameters that differ from their defaults.

        Returns
        -------
        list of str
            Empty when the simulation uses none of the optional features (the demo).
        """
        defaults = {f.name: f.default for f in dataclasses.fields(SimulationParams)}
        return [n for n in OPTIONAL_FIELDS if getattr(self, n) != defaults[n]]

    @property
    def uses_optional(self) -> bool:
        """True when any optional-physics parameter differs from its default."""
        return bool(self.optional_changed())

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
            Every attribute; tracks as a list of dicts. The optional-physics parameters are
            left out while all of them are at their defaults (the record of the demo).
        """
        out = dataclasses.asdict(self)
        if not self.uses_optional:
            for name in OPTIONAL_FIELDS:
                out.pop(name)
        return out


#: Sites of the moving slopes (:attr:`SimulationParams.slide_sites`).
SLIDE_SITES = ("inventory", "random")
#: Models of the turbulent atmosphere (:attr:`SimulationParams.aps_model`).
APS_MODELS = ("gaussian", "powerlaw")
#: Parameters of the optional physics (defaults: off), in declaration order.
_NAMES = [f.name for f in dataclasses.fields(SimulationParams)]
OPTIONAL_FIELDS: tuple[str, ...] = tuple(_NAMES[_NAMES.index("slide_sites") :])
