"""Synthetic images with known truth, for the image tests and the segmentation scripts (no downloads)."""

from __future__ import annotations

import numpy as np

__all__ = ["PALETTE", "painted_regions", "random_color_scene"]

#: Colors of the four painted regions (RGB).
PALETTE = np.array([[200, 60, 60], [60, 170, 70], [60, 80, 200], [230, 210, 90]], dtype=float)


def painted_regions(sigma: float, size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four regions (two halves, a rectangle, a disc) painted with :data:`PALETTE` plus Gaussian RGB noise.

    Parameters
    ----------
    sigma : float
        Standard deviation of the noise, per channel (0..255 scale).
    size : int, default=128
        Side of the square image.
    seed : int, default=0
        Seed of the noise.

    Returns
    -------
    image : ndarray of shape (size, size, 3), uint8
    truth : ndarray of shape (size, size), int
        The region of every pixel (0 to 3).

    >>> image, truth = painted_regions(30.0, size=16)
    >>> image.shape, sorted(set(truth.ravel().tolist()))
    ((16, 16, 3), [0, 1, 2, 3])
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    truth = np.zeros((size, size), dtype=int)
    truth[xx > size * 0.5] = 1
    truth[(yy > size * 0.55) & (xx < size * 0.6)] = 2
    truth[(yy - size * 0.3) ** 2 + (xx - size * 0.3) ** 2 < (size * 0.18) ** 2] = 3
    image = PALETTE[truth] + rng.normal(0, sigma, (size, size, 3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8), truth


def random_color_scene(sigma: float, seed: int, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Five Voronoi regions of random colors plus Gaussian RGB noise (the scenes of issue 12)."""
    rng = np.random.default_rng(seed)
    centers = rng.random((5, 2)) * size
    yy, xx = np.mgrid[:size, :size]
    truth = np.argmin((yy[..., None] - centers[:, 0]) ** 2 + (xx[..., None] - centers[:, 1]) ** 2, axis=2)
    image = rng.integers(0, 256, (5, 3))[truth] + rng.normal(0, sigma, (size, size, 3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8), truth
