"""Smooth Gaussian random fields and their sampling at scattered points."""

from __future__ import annotations

import zlib

import numpy as np
from scipy import ndimage

__all__ = [
    "component_rng",
    "gaussian_random_field",
    "powerlaw_random_field",
    "powerlaw_screens_mm",
    "sample_grid",
]


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


def powerlaw_random_field(
    rng: np.random.Generator,
    shape: tuple[int, int],
    beta: float,
    count: int | None = None,
    pad_factor: int = 2,
) -> np.ndarray:
    """Zero-mean, unit-variance random field(s) with a power-law spectrum ``P(k) ~ k**-beta``.

    White noise on a grid ``pad_factor`` times larger than ``shape`` in each direction is
    Fourier transformed, multiplied by ``k**(-beta / 2)`` (``k`` the radial wavenumber; the
    mean is set to 0) and transformed back; the ``shape`` corner of the result is kept (so
    the field is not periodic over the output) and standardised to mean 0 and standard
    deviation 1. ``beta = 8/3`` is the turbulent atmospheric delay of Hanssen (2001) at
    scales of a few km. The field is scale-free: the cell size does not enter.

    Parameters
    ----------
    rng
        Random generator.
    shape
        Output shape ``(rows, cols)``.
    beta
        Spectral exponent (dimensionless, > 0).
    count
        Number of independent fields; None returns a single 2-D field.
    pad_factor
        Size of the padded grid relative to the output (>= 1).

    Returns
    -------
    numpy.ndarray
        ``shape`` or ``(count, *shape)`` array (dimensionless).
    """
    from scipy import fft

    ny, nx = shape
    py = fft.next_fast_len(int(pad_factor * ny), real=True)
    px = fft.next_fast_len(int(pad_factor * nx), real=True)
    ky = fft.fftfreq(py)[:, np.newaxis]
    kx = fft.rfftfreq(px)[np.newaxis, :]
    k = np.hypot(ky, kx)
    with np.errstate(divide="ignore"):
        amp = np.where(k > 0, k ** (-beta / 2.0), 0.0)
    n = 1 if count is None else count
    out = np.empty((n, ny, nx))
    for j in range(n):
        white = rng.standard_normal((py, px))
        field = fft.irfft2(fft.rfft2(white) * amp, s=(py, px))[:ny, :nx]
        out[j] = (field - field.mean()) / field.std()
    return out[0] if count is None else out


def powerlaw_screens_mm(
    rng: np.random.Generator,
    shape: tuple[int, int],
    beta: float,
    sd_range_mm: tuple[float, float],
    count: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Power-law atmospheric phase screens, one per acquisition, with random strengths.

    Each screen is a :func:`powerlaw_random_field` scaled to a standard deviation (over the
    grid) drawn uniformly from ``sd_range_mm``; the fields are drawn first, then the
    ``count`` standard deviations.

    Parameters
    ----------
    rng
        Random generator.
    shape
        Grid shape ``(rows, cols)``.
    beta
        Spectral exponent (dimensionless).
    sd_range_mm
        ``(low, high)`` range of the per-screen standard deviation (mm).
    count
        Number of screens (acquisitions).

    Returns
    -------
    tuple of numpy.ndarray
        ``(screens_mm, sd_mm)``: ``(count, *shape)`` delays (mm) and the ``(count,)``
        standard deviations (mm) they have over the grid.
    """
    fields = powerlaw_random_field(rng, shape, beta, count=count)
    sd_mm = rng.uniform(sd_range_mm[0], sd_range_mm[1], size=count)
    return fields * sd_mm[:, np.newaxis, np.newaxis], sd_mm


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
