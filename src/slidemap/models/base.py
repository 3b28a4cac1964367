"""Model bundles: preprocessing fitted on training rows plus an estimator, saved as one file.

A :class:`ModelBundle` is what every later stage uses. It takes **raw** factor values, in the
order of ``selected.json``, and returns P(landslide):

- vector models (logistic, rf, xgboost, cnn1d, rnn) take ``[n, F]`` rows;
- the patch model (cnn2d) takes ``[n, F, k, k]`` neighbourhood patches centred on each sample.

Preprocessing (:class:`FactorPreprocessor`) is fitted on the training rows only and works on
any array whose axis 1 holds the factors, so the same code transforms sample rows, patches and
whole raster blocks:

1. continuous factors are optionally discretized with ChiMerge cut points
   (bin = ``searchsorted(cuts, v, side="right")``, so 0 .. len(cuts));
2. continuous factors are optionally standardised, ``(v - mean) / std`` with the mean and
   standard deviation of the training rows (of the discretized values when discretizing);
3. categorical factors (integer codes >= 1; 0 and NaN are nodata) become one indicator
   channel per code seen in training (codes never seen give all-zero channels), or stay as
   their code for tree models.

A cell is *invalid* when any continuous factor is NaN or any categorical code is NaN or 0.
Invalid sample rows get probability NaN; :meth:`ModelBundle.predict_grid` writes NaN there.
Inside a patch, invalid neighbour cells (outside the raster or nodata) are set to 0 after
standardisation, i.e. to the training mean, and their indicator channels to 0; only the
centre cell decides whether a patch is valid.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from slidemap.errors import InputDataError

__all__ = ["FactorPreprocessor", "Estimator", "ModelBundle", "BUNDLE_FORMAT"]

#: Version of the on-disk bundle layout (bumped when the pickled structure changes).
BUNDLE_FORMAT = 1


@dataclass
class FactorPreprocessor:
    """Channel-wise preprocessing of raw factor values (axis 1 = factors).

    Parameters
    ----------
    factors
        Factor names in input order (the order of ``selected.json``).
    categorical
        The factors that hold integer class codes (never discretized).
    bins
        ChiMerge cut points per continuous factor, or None to keep raw values.
    standardize
        Standardise continuous channels with training mean and standard deviation.
    onehot
        One indicator channel per categorical code seen in training; False keeps the code.
    """

    factors: list[str]
    categorical: list[str] = field(default_factory=list)
    bins: dict[str, list[float]] | None = None
    standardize: bool = True
    onehot: bool = True
    mean_: np.ndarray | None = None
    std_: np.ndarray | None = None
    codes_: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.factors = list(self.factors)
        self.categorical = [f for f in self.factors if f in set(self.categorical)]
        if self.bins is not None:
            missing = [f for f in self.continuous if f not in self.bins]
            if missing:
                raise InputDataError(
                    "bins.json",
                    f"no ChiMerge cut points for the continuous factor(s) {missing}.",
                    "re-run the chimerge rule, or set discretize: false for this model.",
                )
            self.bins = {f: [float(c) for c in self.bins[f]] for f in self.continuous}

    @property
    def continuous(self) -> list[str]:
        """Names of the continuous factors, in input order."""
        cat = set(self.categorical)
        return [f for f in self.factors if f not in cat]

    @property
    def n_factors(self) -> int:
        """Number of raw input factors F."""
        return len(self.factors)

    @property
    def feature_names(self) -> list[str]:
        """Names of the output channels (``lithology=3`` for an indicator channel)."""
        names: list[str] = []
        for f in self.factors:
            if f in self.codes_ and self.onehot:
                names.extend(f"{f}={c}" for c in self.codes_[f])
            else:
                names.append(f)
        return names

    @property
    def passthrough(self) -> bool:
        """Whether :meth:`transform` returns valid rows unchanged (as float32).

        True without standardisation, one-hot coding and discretization: a valid cell's raw
        float32 values are then the model's input (tree models), and map prediction skips
        the copy.
        """
        return not self.standardize and not self.onehot and self.bins is None

    @property
    def n_channels(self) -> int:
        """Number of output channels C."""
        return len(self.feature_names)

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim < 2 or X.shape[1] != self.n_factors:
            raise ValueError(
                f"expected raw factor values with {self.n_factors} factors on axis 1 "
                f"({', '.join(self.factors)}), got an array of shape {X.shape}"
            )
        return X

    def valid_mask(self, X: np.ndarray) -> np.ndarray:
        """Return True where every factor of a cell holds data.

        Parameters
        ----------
        X
            Raw values, shape ``[n, F, ...]``.

        Returns
        -------
        numpy.ndarray
            Boolean array of shape ``[n, ...]``.
        """
        X = self._check(X)
        ok = np.ones((X.shape[0], *X.shape[2:]), dtype=bool)
        for i, f in enumerate(self.factors):
            v = X[:, i]
            ok &= np.isfinite(v)
            if f in self.categorical:
                ok &= v != 0
        return ok

    def _discretized(self, i: int, f: str, v: np.ndarray) -> np.ndarray:
        """Bin index of continuous factor ``f`` (NaN preserved), or the raw values."""
        if self.bins is None:
            return v.astype(np.float64, copy=False)
        out = np.searchsorted(np.asarray(self.bins[f]), v, side="right").astype(np.float64)
        out[~np.isfinite(v)] = np.nan
        return out

    def fit(self, X: np.ndarray) -> FactorPreprocessor:
        """Fit means, standard deviations and categorical codes on training rows.

        Parameters
        ----------
        X
            Raw training values ``[n, F]`` (for patches pass the centre cells).

        Returns
        -------
        FactorPreprocessor
            ``self``.
        """
        X = self._check(X)
        if X.ndim != 2:
            raise ValueError("fit the preprocessing on [n, F] rows (centre cells of patches)")
        means, stds = [], []
        self.codes_ = {}
        for i, f in enumerate(self.factors):
            v = X[:, i].astype(np.float64)
            if f in self.categorical:
                codes = np.unique(v[np.isfinite(v) & (v != 0)]).astype(int)
                self.codes_[f] = [int(c) for c in codes]
                continue
            d = self._discretized(i, f, v)
            d = d[np.isfinite(d)]
            mu = float(d.mean()) if d.size else 0.0
            sd = float(d.std()) if d.size else 1.0
            means.append(mu)
            stds.append(sd if sd > 0 else 1.0)
        self.mean_ = np.asarray(means)
        self.std_ = np.asarray(stds)
        return self

    def transform(self, X: np.ndarray, *, fill: float | None = 0.0) -> np.ndarray:
        """Transform raw values into model channels.

        Parameters
        ----------
        X
            Raw values, shape ``[n, F, ...]`` (rows, patches or a raster block with n = 1).
        fill
            Value written where a channel's input is invalid (NaN, or categorical code 0);
            None leaves NaN.

        Returns
        -------
        numpy.ndarray
            float32 array of shape ``[n, C, ...]``.
        """
        if self.mean_ is None:
            raise RuntimeError("FactorPreprocessor.transform called before fit")
        X = self._check(X)
        chans: list[np.ndarray] = []
        j = 0
        for i, f in enumerate(self.factors):
            v = X[:, i]
            if f in self.categorical:
                bad = ~np.isfinite(v) | (v == 0)
                if self.onehot:
                    for c in self.codes_[f]:
                        ch = (v == c).astype(np.float32)
                        if fill is None:
                            ch[bad] = np.nan
                        chans.append(ch)
                else:
                    ch = v.astype(np.float32)
                    ch[bad] = np.nan if fill is None else fill
                    chans.append(ch)
                continue
            d = self._discretized(i, f, v)
            if self.standardize:
                d = (d - self.mean_[j]) / self.std_[j]
            j += 1
            ch = d.astype(np.float32)
            if fill is not None:
                ch[~np.isfinite(ch)] = fill
            chans.append(ch)
        return np.stack(chans, axis=1)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description of the fitted preprocessing (for config.json)."""
        cont = self.continuous
        return {
            "factors": self.factors,
            "categorical": self.categorical,
            "discretize": self.bins is not None,
            "bins": self.bins,
            "standardize": self.standardize,
            "onehot": self.onehot,
            "mean": dict(zip(cont, [float(m) for m in self.mean_], strict=True))
            if self.mean_ is not None
            else None,
            "std": dict(zip(cont, [float(s) for s in self.std_], strict=True))
            if self.std_ is not None
            else None,
            "codes": self.codes_,
            "channels": self.feature_names,
        }


class Estimator(ABC):
    """A fitted classifier on preprocessed channels; subclasses wrap one algorithm.

    Class attributes say what preprocessing the algorithm wants; ``fit`` receives the
    transformed training channels (``[n, C]`` or ``[n, C, k, k]``) and 0/1 labels.
    """

    #: ``"vector"`` ([n, F] rows) or ``"patch"`` ([n, F, k, k] patches).
    input_kind: ClassVar[str] = "vector"
    #: Standardise continuous channels.
    standardize: ClassVar[bool] = True
    #: One-hot encode categorical factors (else keep the integer code).
    onehot: ClassVar[bool] = True

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)
        self.info: dict[str, Any] = {}

    @abstractmethod
    def fit(
        self,
        Z: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        threads: int = 1,
        log_dir: str | os.PathLike | None = None,
        name: str = "fit",
    ) -> Estimator:
        """Fit on channels ``Z`` and labels ``y`` (0/1).

        Parameters
        ----------
        Z
            Transformed training channels.
        y
            Labels, 0 or 1.
        seed
            Random seed (every random choice derives from it).
        threads
            CPU threads to use.
        log_dir
            Folder for per-epoch CSV logs (torch models), or None.
        name
            Name of this fit in the logs (e.g. ``spatial_fold2``).

        Returns
        -------
        Estimator
            ``self``.
        """

    @abstractmethod
    def predict_proba(self, Z: np.ndarray) -> np.ndarray:
        """Return P(landslide) in [0, 1] for transformed channels ``Z`` (shape ``[n]``)."""

    def dense_proba(self, frame: np.ndarray, patch_size: int) -> np.ndarray:
        """Return P(landslide) of every k x k window of a channel frame (patch models).

        Parameters
        ----------
        frame
            Transformed channels ``[C, H + 2h, W + 2h]`` with invalid cells filled.
        patch_size
            k (odd); h = k // 2.

        Returns
        -------
        numpy.ndarray
            ``[H, W]`` probabilities of the windows centred on the inner cells.
        """
        raise NotImplementedError(f"{type(self).__name__} is not a patch model")

    def set_threads(self, threads: int) -> None:  # noqa: B027 (optional hook)
        """Set the number of CPU threads used for prediction (no-op unless overridden)."""


class ModelBundle:
    """Factor list + fitted preprocessing + fitted estimator: the saved model of one algorithm.

    Parameters
    ----------
    algorithm
        Algorithm key (``logistic``, ``rf``, ``xgboost``, ``cnn1d``, ``cnn2d``, ``rnn``).
    preprocessor
        Fitted :class:`FactorPreprocessor`.
    estimator
        Fitted :class:`Estimator`.
    patch_size
        k of the patches for a patch model; None for vector models.
    params
        The exact hyper-parameters used (recorded for config.json).
    """

    def __init__(
        self,
        algorithm: str,
        preprocessor: FactorPreprocessor,
        estimator: Estimator,
        *,
        patch_size: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.algorithm = algorithm
        self.preprocessor = preprocessor
        self.estimator = estimator
        self.patch_size = patch_size
        self.params = dict(params or {})
        self.format = BUNDLE_FORMAT
        if estimator.input_kind == "patch" and (patch_size is None or patch_size % 2 == 0):
            raise ValueError(f"a patch model needs an odd patch_size, got {patch_size}")

    # -- what map prediction needs --------------------------------------------------------
    @property
    def factors(self) -> list[str]:
        """Raw input factors, in order (axis 1 of ``predict_proba``'s input)."""
        return list(self.preprocessor.factors)

    @property
    def categorical(self) -> list[str]:
        """The categorical factors among :attr:`factors`."""
        return list(self.preprocessor.categorical)

    @property
    def input_kind(self) -> str:
        """``"vector"`` or ``"patch"``."""
        return self.estimator.input_kind

    @property
    def halo(self) -> int:
        """Cells of context :meth:`predict_grid` needs on each side (k // 2, or 0)."""
        return 0 if self.patch_size is None else self.patch_size // 2

    @property
    def feature_names(self) -> list[str]:
        """Names of the channels the estimator sees (after one-hot encoding)."""
        return self.preprocessor.feature_names

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Preprocess raw values into the estimator's channels (for SHAP explainers).

        Parameters
        ----------
        X
            Raw values ``[n, F]`` or ``[n, F, k, k]``.

        Returns
        -------
        numpy.ndarray
            float32 ``[n, C]`` or ``[n, C, k, k]``, invalid inputs filled with 0.
        """
        return self.preprocessor.transform(X)

    def _centre(self, X: np.ndarray) -> np.ndarray:
        """Raw centre cells ``[n, F]`` of patches (or the rows themselves)."""
        if X.ndim == 2:
            return X
        h = X.shape[-1] // 2
        return X[:, :, h, h]

    def _check_input(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        want = 2 if self.input_kind == "vector" else 4
        if X.ndim != want or X.shape[1] != len(self.factors):
            shape = "[n, F]" if want == 2 else f"[n, F, {self.patch_size}, {self.patch_size}]"
            raise ValueError(
                f"{self.algorithm} expects raw factor values of shape {shape} with "
                f"F = {len(self.factors)} ({', '.join(self.factors)}), got {X.shape}"
            )
        if want == 4 and X.shape[2:] != (self.patch_size, self.patch_size):
            raise ValueError(
                f"{self.algorithm} was trained on {self.patch_size} x {self.patch_size} "
                f"patches, got {X.shape[2]} x {X.shape[3]}"
            )
        return X

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Return P(landslide) for raw factor values.

        Parameters
        ----------
        X
            ``[n, F]`` rows (vector models) or ``[n, F, k, k]`` patches (patch models),
            raw values in the order of :attr:`factors`; NaN (and code 0 for categorical
            factors) is nodata.

        Returns
        -------
        numpy.ndarray
            float64 ``[n]`` probabilities in [0, 1]; NaN where the row (the centre cell of
            a patch) has nodata in any factor.
        """
        X = self._check_input(X)
        valid = self.preprocessor.valid_mask(self._centre(X))
        out = np.full(X.shape[0], np.nan)
        if valid.any():
            Z = self.preprocessor.transform(X[valid])
            out[valid] = np.clip(self.estimator.predict_proba(Z), 0.0, 1.0)
        return out

    def predict_grid(self, stack: np.ndarray, *, block: int = 128) -> np.ndarray:
        """Predict every cell of a raster block.

        Parameters
        ----------
        stack
            float32 ``[F, H + 2h, W + 2h]`` raw factor values on the study grid (axis 0 in
            the order of :attr:`factors`), with a halo of h = :attr:`halo` cells on each
            side (0 for vector models); cells outside the raster are NaN.
        block
            Edge in cells of the sub-blocks a patch model evaluates at once (bounds memory:
            roughly ``block**2 x 7 kB`` for the seed-004 CNN-2D).

        Returns
        -------
        numpy.ndarray
            float32 ``[H, W]`` probabilities of the inner cells; NaN where any factor of the
            cell is nodata. Equals :meth:`predict_proba` of the same cells' rows or patches.
        """
        stack = np.asarray(stack, dtype=np.float32)
        F = len(self.factors)
        if stack.ndim != 3 or stack.shape[0] != F:
            raise ValueError(f"stack must be [F={F}, H, W], got {stack.shape}")
        h = self.halo
        H, W = stack.shape[1] - 2 * h, stack.shape[2] - 2 * h
        if H <= 0 or W <= 0:
            raise ValueError(f"stack {stack.shape} is smaller than twice the halo ({h})")
        inner = stack[:, h : h + H, h : h + W]
        valid = self.preprocessor.valid_mask(inner[np.newaxis])[0]
        out = np.full((H, W), np.nan, dtype=np.float32)
        if not valid.any():
            return out
        if self.input_kind == "vector":
            flat = inner.reshape(F, -1)
            cells = np.flatnonzero(valid.ravel())
            probs = np.empty(cells.size)
            step = 1 << 18
            for i in range(0, cells.size, step):
                rows = np.ascontiguousarray(flat[:, cells[i : i + step]].T)  # [n, F]
                Z = rows if self.preprocessor.passthrough else self.preprocessor.transform(rows)
                probs[i : i + step] = self.estimator.predict_proba(Z)
            out[valid] = np.clip(probs, 0.0, 1.0)
            return out
        frame = self.preprocessor.transform(stack[np.newaxis])[0]
        for r0 in range(0, H, block):
            for c0 in range(0, W, block):
                r1, c1 = min(r0 + block, H), min(c0 + block, W)
                sub = frame[:, r0 : r1 + 2 * h, c0 : c1 + 2 * h]
                p = self.estimator.dense_proba(sub, self.patch_size)
                out[r0:r1, c0:c1] = np.clip(p, 0.0, 1.0)
        out[~valid] = np.nan
        return out

    def set_threads(self, threads: int) -> None:
        """Set the CPU threads used by prediction (sklearn ``n_jobs``, xgboost, torch).

        Map prediction also reads the factor rasters of a window with this many threads.
        """
        self.threads = max(1, int(threads))
        self.estimator.set_threads(threads)

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the bundle to one file (joblib pickle), atomically.

        Parameters
        ----------
        path
            Output file, conventionally ``model.joblib``.
        """
        import joblib

        from slidemap.io import atomic_path

        with atomic_path(path) as tmp:
            joblib.dump(self, tmp, compress=3)

    @staticmethod
    def load(path: str | os.PathLike) -> ModelBundle:
        """Read a bundle written by :meth:`save`.

        Parameters
        ----------
        path
            The ``model.joblib`` file (trusted: it is unpickled).

        Returns
        -------
        ModelBundle
            The bundle, ready to predict on the CPU.
        """
        import joblib

        obj = joblib.load(path)
        if not isinstance(obj, ModelBundle):
            raise InputDataError(
                path, "the file does not hold a slidemap model bundle.", "re-run training."
            )
        if getattr(obj, "format", None) != BUNDLE_FORMAT:
            raise InputDataError(
                path,
                f"the bundle has format {getattr(obj, 'format', None)}, this slidemap reads "
                f"format {BUNDLE_FORMAT}.",
                "re-run the train rule with this version of slidemap.",
            )
        return obj

    def __repr__(self) -> str:
        shape = "[n, F]" if self.input_kind == "vector" else f"[n, F, {self.patch_size}]*2"
        return f"ModelBundle({self.algorithm!r}, factors={self.factors}, input={shape})"
