"""Reading the samples stage's outputs into arrays the models train on.

Inputs (docs/contracts.md): ``samples/{pixels,plc}.parquet`` (one row per sample, raw factor
columns), ``selection/{unit}/selected.json`` (the factor list, in order),
``discretize/{unit}/bins.json`` (ChiMerge cut points fitted on all training rows and per CV
fold) and ``tiles/patches.npz`` + ``tiles/index.parquet`` (k x k patches of raw values).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slidemap.errors import InputDataError
from slidemap.io import read_json

__all__ = [
    "SampleSet",
    "read_selected",
    "read_bins",
    "fold_bins",
    "load_vector_samples",
    "load_patch_samples",
    "SCHEME_COLUMNS",
]

#: CV scheme -> fold column of the samples.
SCHEME_COLUMNS = {"spatial": "fold", "random": "fold_random"}
_META = ["unit_id", "label", "split", "fold", "fold_random"]


@dataclass
class SampleSet:
    """Samples of one unit as arrays.

    Attributes
    ----------
    X
        Raw factor values, float32 ``[n, F]`` (vectors) or ``[n, F, k, k]`` (patches).
    label
        1 landslide, 0 not, -1 unlabelled (PLC candidates to classify).
    unit_id
        Sample ids (any dtype).
    split
        ``"train"``, ``"test"`` or ``"predict"`` (unlabelled PLC candidates) per sample.
    folds
        CV scheme (``spatial``, ``random``) -> fold per sample (-1 outside CV).
    factors, categorical
        Factor names (axis 1 of X) and the categorical ones among them.
    source
        File the samples came from (for error messages).
    """

    X: np.ndarray
    label: np.ndarray
    unit_id: np.ndarray
    split: np.ndarray
    folds: dict[str, np.ndarray]
    factors: list[str]
    categorical: list[str] = field(default_factory=list)
    source: str = "<samples>"

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.label.size)

    @property
    def kind(self) -> str:
        """``"vector"`` or ``"patch"``."""
        return "vector" if self.X.ndim == 2 else "patch"

    def centre(self) -> np.ndarray:
        """Raw values of the sample cells, ``[n, F]`` (the centre cells of patches)."""
        if self.X.ndim == 2:
            return self.X
        h = self.X.shape[-1] // 2
        return self.X[:, :, h, h]

    def subset(self, mask: np.ndarray) -> SampleSet:
        """Return the samples that ``mask`` (boolean or integer index) selects."""
        return replace(
            self,
            X=self.X[mask],
            label=self.label[mask],
            unit_id=self.unit_id[mask],
            split=self.split[mask],
            folds={k: v[mask] for k, v in self.folds.items()},
        )


def read_selected(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Read ``selected.json``.

    Parameters
    ----------
    path
        The file (``{"factors": [...], "categorical": [...]}``).

    Returns
    -------
    tuple of list of str
        The ordered factor list and the categorical factors.
    """
    data = read_json(path)
    factors = data.get("factors") if isinstance(data, dict) else None
    if not factors or not all(isinstance(f, str) for f in factors):
        raise InputDataError(
            path,
            'no factor list: expected {"factors": [names...], "categorical": [...]}.',
            "re-run the select_factors rule (or check selection.keep/drop in the config).",
        )
    categorical = list(data.get("categorical") or [])
    unknown = [c for c in categorical if c not in factors]
    if unknown:
        raise InputDataError(
            path,
            f"categorical factors {unknown} are not in the factor list.",
            "re-run the select_factors rule.",
        )
    return list(factors), categorical


def read_bins(path: str | os.PathLike) -> dict[str, Any]:
    """Read ``bins.json`` (``{"all": {...}, "spatial": {fold: {...}}, "random": {...}}``).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    dict
        The decoded bins, with ``"path"`` added for error messages.
    """
    data = read_json(path)
    if not isinstance(data, dict) or "all" not in data:
        raise InputDataError(
            path,
            "no 'all' entry (cut points fitted on all training rows).",
            "re-run the chimerge rule.",
        )
    return {**data, "path": os.fspath(path)}


def fold_bins(bins: dict[str, Any] | None, scheme: str | None, fold: int | None) -> dict | None:
    """Cut points fitted without one CV fold (or on all training rows).

    Parameters
    ----------
    bins
        The output of :func:`read_bins`, or None.
    scheme
        ``"spatial"`` or ``"random"``; None for the final model.
    fold
        The held-out fold; None for the final model.

    Returns
    -------
    dict or None
        factor -> cut points; None when ``bins`` is None.
    """
    if bins is None:
        return None
    if scheme is None:
        return bins["all"]
    try:
        return bins[scheme][str(fold)]
    except KeyError:
        raise InputDataError(
            bins.get("path"),
            f"no cut points for {scheme} CV fold {fold} (needed so that the held-out fold "
            "does not influence the discretization).",
            "re-run the chimerge rule with the current folds.",
        ) from None


def _check_columns(path: str | os.PathLike, columns: list[str], wanted: list[str]) -> None:
    for col in wanted:
        if col not in columns:
            raise InputDataError(
                path,
                f"the column '{col}' is missing.",
                "re-run the samples stage; every factor of selected.json must be a column.",
                column=col,
            )


def _meta_arrays(path: str | os.PathLike, df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Return the validated label, split and fold arrays of a samples table."""
    label = pd.to_numeric(df["label"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(label, (-1, 0, 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputDataError(
            path,
            f"label {df['label'].iloc[i]!r} of sample {df['unit_id'].iloc[i]!r} is not 1, 0 or -1.",
            "re-run the samples stage.",
            column="label",
        )
    split = df["split"].astype(str).to_numpy()
    bad = ~np.isin(split, ("train", "test", "predict"))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputDataError(
            path,
            f"split {split[i]!r} of sample {df['unit_id'].iloc[i]!r} is not 'train', 'test' "
            "or 'predict'.",
            "re-run the samples stage.",
            column="split",
        )
    folds = {}
    for scheme, col in SCHEME_COLUMNS.items():
        f = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        if np.isnan(f).any():
            raise InputDataError(
                path,
                f"the column '{col}' has empty values.",
                "re-run the samples stage.",
                column=col,
            )
        folds[scheme] = f.astype(int)
    return {
        "label": label.astype(np.int8),
        "split": split,
        "unit_id": df["unit_id"].to_numpy(),
        "folds": folds,
    }


def load_vector_samples(
    samples_path: str | os.PathLike, selected_path: str | os.PathLike
) -> SampleSet:
    """Read factor vectors of a samples table.

    Parameters
    ----------
    samples_path
        ``samples/pixels.parquet`` or ``samples/plc.parquet``.
    selected_path
        The unit's ``selected.json``.

    Returns
    -------
    SampleSet
        ``X`` is ``[n, F]`` float32 in the order of ``selected.json``.
    """
    import pyarrow.parquet as pq

    factors, categorical = read_selected(selected_path)
    columns = pq.read_schema(samples_path).names
    _check_columns(samples_path, columns, _META + factors)
    df = pd.read_parquet(samples_path, columns=_META + factors)
    meta = _meta_arrays(samples_path, df)
    X = np.empty((len(df), len(factors)), dtype=np.float32)
    for i, f in enumerate(factors):
        v = pd.to_numeric(df[f], errors="coerce")
        if v.isna().sum() > df[f].isna().sum():
            raise InputDataError(
                samples_path, "non-numeric values.", "re-run the samples stage.", column=f
            )
        X[:, i] = v.to_numpy(dtype=np.float32, na_value=np.nan)
    return SampleSet(
        X=X, factors=factors, categorical=categorical, source=str(samples_path), **meta
    )


def load_patch_samples(
    patches_path: str | os.PathLike,
    index_path: str | os.PathLike,
    selected_path: str | os.PathLike,
) -> SampleSet:
    """Read k x k patches and their index.

    Parameters
    ----------
    patches_path
        ``tiles/patches.npz`` (``patches`` float32 [n, F, k, k] raw values, NaN outside the
        raster, ``unit_id`` [n], ``factors`` [F]).
    index_path
        ``tiles/index.parquet`` (``unit_id``, ``label``, ``split``, ``fold``,
        ``fold_random``, …).
    selected_path
        ``selection/pixels/selected.json``.

    Returns
    -------
    SampleSet
        ``X`` is ``[n, F, k, k]`` in the order of ``selected.json``.
    """
    import pyarrow.parquet as pq

    factors, categorical = read_selected(selected_path)
    try:
        with np.load(patches_path, allow_pickle=False) as npz:
            patches = npz["patches"]
            ids = npz["unit_id"]
            names = [str(f) for f in npz["factors"]]
    except (KeyError, ValueError, OSError) as exc:
        raise InputDataError(
            patches_path,
            f"cannot read the arrays patches, unit_id and factors ({exc}).",
            "re-run the tiles rule.",
        ) from None
    if patches.ndim != 4 or patches.shape[1] != len(names) or patches.shape[2] != patches.shape[3]:
        raise InputDataError(
            patches_path,
            f"patches have shape {patches.shape}; expected [n, F={len(names)}, k, k].",
            "re-run the tiles rule.",
        )
    missing = [f for f in factors if f not in names]
    if missing:
        raise InputDataError(
            patches_path,
            f"the patches lack the selected factor(s) {missing}.",
            "re-run the tiles rule after select_factors.",
        )
    order = [names.index(f) for f in factors]
    X = patches[:, order].astype(np.float32, copy=False)
    columns = pq.read_schema(index_path).names
    _check_columns(index_path, columns, _META)
    index = pd.read_parquet(index_path, columns=_META)
    pos = pd.Index(index["unit_id"]).get_indexer(pd.Index(ids))
    if (pos < 0).any() or len(index) != len(ids):
        raise InputDataError(
            index_path,
            "the index and patches.npz list different samples.",
            "re-run the tiles rule (both files are written together).",
            column="unit_id",
        )
    meta = _meta_arrays(index_path, index.iloc[pos].reset_index(drop=True))
    return SampleSet(
        X=X, factors=factors, categorical=categorical, source=str(Path(patches_path)), **meta
    )
