"""Smooth Gaussian random fields and their sampling at scattered points."""

from __future__ import annotations

import zlib

import numpy as np
from scipy import ndimage

__all__ = ["component_rng", "gaussian_random_field", "sample_grid"]


def component_rng(seed: int, name: str) -> np.random.Generator:
    """Return the random generator of one named part of the simulation.

    Each part (slides, points of a track, noise…) draws from its own stream, derived from the
    seed and the part's name, so changing one part never shifts the numbers of another.

    Parameters
    ----------
    seed
        The simulation seed.
    name
        Name of the part, e.g. ``"slides"`` or ``"points/asc_018"``.

    Returns
    -------
    numpy.random.Generator
        A PCG64 generator (its stream is stable across numpy versions).
    """
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def gaussian_random_field(
    rng: np.random.Generator, shape: tuple[int, int], sigma_cells: float, count: int | None = None
) -> np.ndarray:
    """Zero-mean, unit-variance random field(s) with a Gaussian correlation function.

    White noise is filtered with a Gaussian kernel of standard deviation ``sigma_cells`` on a
    grid padded by four kernel widths (so the edges are as random as the centre), then
    cropped and standardised to mean 0 and standard deviation 1 over the grid. The
    correlation between two cells a distance ``r`` apart is ``exp(-r**2 / (4 sigma**2))``.

    Parameters
    ----------
    rng
        Random generator.
    shape
        Output shape ``(rows, cols)``.
    sigma_cells
        Kernel standard deviation (cells).
    count
        Number of independent fields; None returns a single 2-D field.

    Returns
    -------
    numpy.ndarray
        ``shape`` or ``(count, *shape)`` array (dimensionless).
    """
    pad = int(np.ceil(4 * sigma_cells)) + 1
    n = 1 if count is None else count
    out = np.empty((n, *shape))
    for k in range(n):
        white = rng.standard_normal((shape[0] + 2 * pad, shape[1] + 2 * pad))
        field = ndimage.gaussian_filter(white, sigma_cells, mode="wrap")
        field = field[pad : pad + shape[0], pad : pad + shape[1]]
        out[k] = (field - field.mean()) / field.std()
    return out[0] if count is None else out


def sample_grid(grid: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a grid (or a stack of grids) at fractional cell positions.

    Parameters
    ----------
    grid
        2-D grid, or 3-D stack ``(k, rows, cols)`` sampled layer by layer.
    rows, cols
        Fractional positions in cell units, 0 = centre of the first cell.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` or ``(k, n)`` values; positions outside the grid take the nearest edge value.
    """
    coords = np.vstack([rows, cols])
    if grid.ndim == 2:
        return ndimage.map_coordinates(grid, coords, order=1, mode="nearest")
    return np.stack([ndimage.map_coordinates(g, coords, order=1, mode="nearest") for g in grid])
