"""Conditioning factors on the study grid: terrain, hydrology, distances, categorical layers.

Every factor is one COG ``results/<study>/factors/<name>.tif`` on the study grid
(``grid/dem.tif``); :func:`planned_factors` lists the names a configuration produces, in a
fixed order, and the rules of ``workflow/rules/factors.smk`` make exactly those files.
"""

from __future__ import annotations

from collections.abc import Mapping

from slidemap.errors import ConfigError

__all__ = [
    "TERRAIN_FACTORS",
    "HYDROLOGY_FACTORS",
    "DISTANCE_LAYERS",
    "CATEGORICAL_LAYERS",
    "terrain_factors",
    "distance_layers",
    "categorical_layers",
    "extra_layers",
    "planned_factors",
]

#: Factors derived from the DEM by rule ``terrain_factors`` (one COG each), in this order.
TERRAIN_FACTORS = [
    "elevation",
    "slope",
    "aspect",
    "northness",
    "eastness",
    "plan_curvature",
    "profile_curvature",
    "tpi",
    "tri",
    "roughness",
]
#: Factors derived by rule ``hydrology``.
HYDROLOGY_FACTORS = ["sca", "twi", "spi"]
#: Vector layers that give a ``dist_<layer>`` factor (rule ``distance_factor``).
DISTANCE_LAYERS = ["faults", "rivers", "roads"]
#: Categorical layers (rule ``categorical_factor``); ``hardness`` derives from lithology.
CATEGORICAL_LAYERS = ["lithology", "landuse"]


def terrain_factors(config: Mapping) -> list[str]:
    """List the terrain factors a config asks for (``factors.terrain``), in canonical order.

    Parameters
    ----------
    config
        A configuration (defaults filled or not).

    Returns
    -------
    list of str
        Subset of :data:`TERRAIN_FACTORS`; all of them when the key is absent.
    """
    wanted = (config.get("factors") or {}).get("terrain")
    if wanted is None:
        return list(TERRAIN_FACTORS)
    unknown = sorted(set(wanted) - set(TERRAIN_FACTORS))
    if unknown:
        raise ConfigError(
            f"config key 'factors.terrain': unknown factor(s) {unknown}. "
            f"Allowed: {', '.join(TERRAIN_FACTORS)}."
        )
    return [name for name in TERRAIN_FACTORS if name in wanted]


def distance_layers(config: Mapping) -> list[str]:
    """List the layers with a distance factor: faults and roads when given, rivers always.

    Parameters
    ----------
    config
        A configuration.

    Returns
    -------
    list of str
        Layer names (``dist_<layer>`` is the factor); ``rivers`` is always there because
        the stream network derived from the DEM stands in for a missing rivers layer.
    """
    layers = config.get("layers") or {}
    return [name for name in DISTANCE_LAYERS if name == "rivers" or layers.get(name)]


def categorical_layers(config: Mapping) -> list[str]:
    """List the categorical factors: lithology and land use when given, hardness if asked.

    Parameters
    ----------
    config
        A configuration.

    Returns
    -------
    list of str
        Subset of ``lithology``, ``hardness``, ``landuse`` (in that order).

    Raises
    ------
    ConfigError
        If hardness is asked for without a lithology code table.
    """
    layers = config.get("layers") or {}
    out = []
    for name in CATEGORICAL_LAYERS:
        layer = layers.get(name) or {}
        if layer.get("path"):
            out.append(name)
            if name == "lithology" and layer.get("hardness"):
                if not layer.get("codes"):
                    raise ConfigError(
                        "config key 'layers.lithology.hardness' is true but "
                        "'layers.lithology.codes' is null: the hardness classes come from "
                        "the code table's hardness column. Give a code table."
                    )
                out.append("hardness")
    return out


def extra_layers(config: Mapping) -> list[str]:
    """List the extra continuous layers (``layers.extra`` keys, sorted).

    Parameters
    ----------
    config
        A configuration.

    Returns
    -------
    list of str
        Factor names of the extra layers.
    """
    return sorted((config.get("layers") or {}).get("extra") or {})


def planned_factors(config: Mapping) -> list[str]:
    """List the factor names (= file stems under ``factors/``) a config produces.

    Parameters
    ----------
    config
        A configuration (defaults filled or not).

    Returns
    -------
    list of str
        Terrain factors (``factors.terrain``), ``sca``, ``twi``, ``spi``, ``dist_<layer>`` for
        faults, rivers (always: the derived stream network stands in when no rivers layer is
        given) and roads, the categorical layers (plus ``hardness`` when asked for), and the
        extra layers, in that order.

    Raises
    ------
    ConfigError
        If an extra layer's name collides with another factor's.
    """
    names = terrain_factors(config) + list(HYDROLOGY_FACTORS)
    names += [f"dist_{layer}" for layer in distance_layers(config)]
    names += categorical_layers(config)
    reserved = set(TERRAIN_FACTORS + HYDROLOGY_FACTORS + CATEGORICAL_LAYERS + ["hardness"])
    reserved |= {f"dist_{layer}" for layer in DISTANCE_LAYERS}
    for name in extra_layers(config):
        if name in reserved:
            raise ConfigError(
                f"config key 'layers.extra.{name}': '{name}' is the name of a built-in "
                "factor. Rename the extra layer."
            )
        names.append(name)
    return names
