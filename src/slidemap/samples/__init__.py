"""Pixel samples (susceptibility) and PLC samples (potential-landslide classification).

Pixel samples: positives are the grid cells of the inventory's landslides (points, polygon
cells or one point per polygon) and, optionally, of the candidates the PLC classifier calls
potential landslides (seed 000's InSAR-updated inventory); negatives are the inventory's
field-checked non-landslides and/or cells drawn at random (seeded) among valid cells farther
than a buffer from every positive. Every sample lies on a cell where every factor is valid;
features outside the grid, on nodata or sharing a cell are excluded and counted.

PLC samples: one row per candidate polygon with zonal statistics of every factor (mean and
standard deviation; majority for categorical factors) over the cells whose centres lie in the
polygon, the candidate's InSAR attributes, and a label from the inventory (1 landslide overlap,
0 field-checked non-landslide, -1 unlabelled, kept for prediction). When the inventory maps no
non-landslide (the usual landslide-only inventory), the negatives come from the rule-based
pre-classification of the hot-spot stage: a candidate that matches no inventory feature and
that the rules reject (``precls_landslide == 0``: flat ground, seasonal, vertical, upslope,
radial, mogi or infrastructure) is a non-landslide (0). ``label_source`` says where each label
comes from. With fewer than :data:`slidemap.folds.MIN_PER_CLASS` labelled candidates of a class
(or folds that cannot be made) the PLC samples get no training rows and the summary says why
(``classifier_skipped``): rule ``train_plc`` then keeps the rule-based classes instead of
stopping the workflow.
"""

from slidemap.samples.factorset import (
    LABEL_SOURCES,
    META_COLUMNS,
    PLC_ATTRIBUTES,
    PRECLS_COLUMNS,
    FactorSet,
)
from slidemap.samples.inventory import read_inventory
from slidemap.samples.output import feature_columns, write_samples
from slidemap.samples.pixels import draw_negatives, pixel_samples, positive_cells
from slidemap.samples.plc import plc_samples
from slidemap.samples.steps import (
    classified_positives,
    make_pixel_samples,
    make_plc_samples,
    plc_skip_message,
)

__all__ = [
    "META_COLUMNS",
    "PLC_ATTRIBUTES",
    "PRECLS_COLUMNS",
    "LABEL_SOURCES",
    "FactorSet",
    "read_inventory",
    "positive_cells",
    "draw_negatives",
    "pixel_samples",
    "plc_samples",
    "feature_columns",
    "write_samples",
    "classified_positives",
    "make_pixel_samples",
    "make_plc_samples",
    "plc_skip_message",
]
