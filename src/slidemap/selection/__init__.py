"""Factor selection on the training rows: Pearson, VIF/TOL, information-gain ratio, RF importance.

The package holds one concern per module:

- :mod:`~slidemap.selection.measures`: the statistics (entropy and information-gain ratio in
  bits, Pearson r, VIF/TOL, random-forest permutation importance as ROC AUC drop);
- :mod:`~slidemap.selection.steps`: the procedure, :func:`select_factors` and the state of
  its named steps (drop overrides and constants, IGR, RF importance, Pearson pruning,
  IGR/importance thresholds, iterative VIF);
- :mod:`~slidemap.selection.report`: the figures (``correlation.png``, ``importance.png``);
- :mod:`~slidemap.selection.pipeline`: :func:`make_selection` (a samples unit's files and the
  config sections) and :func:`skipped_selection` (a unit whose classifier is skipped).

Every public name is importable from ``slidemap.selection``.
"""

from slidemap.selection.measures import (
    entropy_bits,
    information_gain_ratio,
    pearson_matrix,
    rf_permutation_importance,
    vif,
)
from slidemap.selection.pipeline import make_selection, skipped_selection
from slidemap.selection.report import plot_correlation, plot_importance
from slidemap.selection.steps import select_factors

__all__ = [
    "entropy_bits",
    "information_gain_ratio",
    "pearson_matrix",
    "vif",
    "rf_permutation_importance",
    "select_factors",
    "plot_correlation",
    "plot_importance",
    "make_selection",
    "skipped_selection",
]
