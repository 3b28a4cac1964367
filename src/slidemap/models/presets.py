"""Algorithm names, the papers' hyper-parameters as named presets, and parameter resolution.

A preset replaces the configured values of the keys it lists (so ``preset: seed002`` on
``models.rf`` trains exactly the paper's forest, whatever the other keys say); keys it
does not list keep their configured values. Only values the papers state are in a preset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slidemap.errors import ConfigError

__all__ = ["ALGORITHMS", "PATCH_ALGORITHMS", "TORCH_ALGORITHMS", "PRESETS", "resolve_params"]

#: Every susceptibility algorithm, in the order of reports.
ALGORITHMS = ("logistic", "rf", "xgboost", "cnn1d", "cnn2d", "rnn")
#: Algorithms that take k x k patches instead of factor vectors.
PATCH_ALGORITHMS = ("cnn2d",)
#: Algorithms trained with PyTorch Lightning (``device`` selects the accelerator).
TORCH_ALGORITHMS = ("cnn1d", "cnn2d", "rnn")

#: algorithm -> preset name -> {"params": values, "source": where the values come from}.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "rf": {
        "seed002": {
            "params": {
                "n_estimators": 50,
                "max_depth": 3,
                "criterion": "gini",
                "min_samples_leaf": 1,
                "class_weight": None,
                "discretize": True,
            },
            "source": "seed 002, section 3.3.2: 50 CART trees, Gini criterion, depth 3; "
            "factors ChiMerge-discretized (section 3.4.1)",
        },
    },
    "cnn1d": {
        "seed002": {
            "params": {
                "channels": 14,
                "kernel_size": 2,
                "pool_size": 2,
                "fc_units": 20,
                "dropout": 0.2,
                "learning_rate": 0.001,
                "weight_decay": 0.0,
                "max_epochs": 500,
                "patience": None,
                "class_weight": None,
                "discretize": True,
            },
            "source": "seed 002, section 3.3.1: LeNet-style CNN, 14 filters of 2 x 1, max-pool "
            "2 x 1, FC 20, dropout 0.2, Adam lr 0.001, 500 epochs; factors ChiMerge-discretized",
        },
    },
    "cnn2d": {
        "seed004": {
            "params": {
                "conv1_filters": 32,
                "conv2_filters": 64,
                "fc_units": 128,
                "dropout_conv": 0.2,
                "dropout_fc": 0.3,
                "class_weight": None,
                "discretize": False,
            },
            "source": "seed 004, section 3.3.1: conv 32 3 x 3 -> BN -> ReLU -> max-pool -> "
            "dropout 0.2 -> conv 64 3 x 3 -> max-pool -> dropout 0.2 -> FC 128 -> dropout 0.3",
        },
    },
}

#: Keys of a model's config entry that are switches, not hyper-parameters.
_META_KEYS = ("enabled", "preset")


def resolve_params(algorithm: str, entry: Mapping[str, Any], key: str | None = None) -> dict:
    """Return the hyper-parameters one algorithm trains with.

    Parameters
    ----------
    algorithm
        One of :data:`ALGORITHMS`.
    entry
        The algorithm's validated config entry (``config["models"][algorithm]``).
    key
        Config key path for error messages (default ``models.<algorithm>``).

    Returns
    -------
    dict
        The entry without ``enabled``, with the preset's values applied, plus
        ``"preset"`` (name or None); keys sorted.

    Raises
    ------
    ConfigError
        If the algorithm or the preset is unknown.
    """
    key = key or f"models.{algorithm}"
    if algorithm not in ALGORITHMS:
        raise ConfigError(
            f"config key '{key}': unknown algorithm {algorithm!r}. Use one of {list(ALGORITHMS)}."
        )
    params = {k: v for k, v in entry.items() if k not in _META_KEYS}
    preset = entry.get("preset")
    if preset is not None:
        available = PRESETS.get(algorithm, {})
        if preset not in available:
            names = ", ".join(available) or "none"
            raise ConfigError(
                f"config key '{key}.preset': {algorithm} has no preset {preset!r} "
                f"(available: {names}). Use null for the configured values."
            )
        params.update(available[preset]["params"])
    params["preset"] = preset
    # key order must not depend on where a value came from: Snakemake compares params
    # as text, and a reordered dict would rerun the job for nothing
    return dict(sorted(params.items()))
