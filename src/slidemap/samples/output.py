"""Writing samples files and naming their feature columns."""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike

import geopandas as gpd
import pandas as pd

from slidemap.io import atomic_path, write_json
from slidemap.samples.factorset import META_COLUMNS, PRECLS_COLUMNS


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Feature columns of a samples frame: everything but the metadata and geometry.

    Parameters
    ----------
    frame
        A samples frame.

    Returns
    -------
    list of str
    """
    skip = set(META_COLUMNS) | {"geometry", "area_m2", "n_cells", "tracks", "label_source"}
    skip |= set(PRECLS_COLUMNS)
    return [c for c in frame.columns if c not in skip]


def write_samples(
    frame: gpd.GeoDataFrame, summary: Mapping, path: str | PathLike, summary_path: str | PathLike
) -> None:
    """Write samples as GeoParquet (metadata columns first) and the summary JSON, atomically.

    Parameters
    ----------
    frame
        Samples with the columns of :data:`META_COLUMNS`, features and geometry.
    summary
        The summary dict.
    path
        Output ``.parquet``.
    summary_path
        Output ``.json``.
    """
    cols = [c for c in META_COLUMNS if c in frame.columns]
    rest = [c for c in frame.columns if c not in cols and c != "geometry"]
    ordered = frame[cols + rest + ["geometry"]]
    with atomic_path(path) as tmp:
        ordered.to_parquet(tmp, index=False)
    write_json(dict(summary), summary_path)
