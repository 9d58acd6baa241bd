"""Position features of a segmentation with ``spatial_weight > 0``.

The fit uses distinct (color, cell of a ``POSITION_GRID`` × ``POSITION_GRID`` grid) rows
weighted by their pixel counts: exact in color, approximate in position only (every row
sits at its cell's center). Labels and probabilities are then computed for every pixel
with its exact position, in chunks of a million pixels.
"""

from __future__ import annotations

import numpy as np

from .colors import DistinctColors
from .features import position_features

__all__ = ["POSITION_GRID", "spatial_rows", "predict_spatial", "spatial_probabilities"]

#: Cells per side of the position grid used in the fit.
POSITION_GRID = 64
_CHUNK = 1 << 20


def _cells(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    g = POSITION_GRID
    return (np.arange(h) * g) // h, (np.arange(w) * g) // w


def spatial_rows(
    colors: DistinctColors, color_features: np.ndarray, spatial_weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (color, grid cell) rows of an image and their pixel counts.

    Parameters
    ----------
    colors : DistinctColors
    color_features : ndarray of shape (N, D)
        Feature row of every distinct color.
    spatial_weight : float
        Weight of the position features (see :func:`~gmmseg.image.features.position_features`).

    Returns
    -------
    X : ndarray of shape (M, D + 2), float64
        Color features followed by the x/y features of the cell center.
    weights : ndarray of shape (M,), float64
        Pixels of each row.
    """
    h, w = colors.shape
    g = POSITION_GRID
    cell_r, cell_c = _cells((h, w))
    inv = colors.inverse()
    combined = inv.astype(np.int64) * (g * g) + (cell_r[:, None] * g + cell_c[None, :])
    visible = inv >= 0
    values = combined[visible] if not visible.all() else combined.ravel()
    rows, counts = np.unique(values, return_counts=True)
    color_index, cell = rows // (g * g), rows % (g * g)
    # Cell centers in pixel coordinates.
    center_r = ((cell // g) + 0.5) * h / g - 0.5
    center_c = ((cell % g) + 0.5) * w / g - 0.5
    X = np.hstack([color_features[color_index], position_features(center_r, center_c, (h, w), spatial_weight)])
    return X, counts.astype(np.float64)


def _pixel_rows(colors, color_features, spatial_weight, start, stop):
    h, w = colors.shape
    flat = np.arange(start, stop)
    inv = colors.inverse().ravel()[start:stop]
    pos = position_features(flat // w, flat % w, (h, w), spatial_weight)
    return np.hstack([color_features[np.maximum(inv, 0)], pos]), inv


def predict_spatial(colors: DistinctColors, color_features: np.ndarray, model, spatial_weight: float) -> np.ndarray:
    """Component of every pixel under a mixture fitted to :func:`spatial_rows`.

    Parameters
    ----------
    colors : DistinctColors
    color_features : ndarray of shape (N, D)
    model : GaussianMixture
        Fitted on ``D + 2`` features.
    spatial_weight : float

    Returns
    -------
    ndarray of shape (H, W), intp
        -1 at excluded pixels.
    """
    h, w = colors.shape
    out = np.empty(h * w, dtype=np.intp)
    for start in range(0, h * w, _CHUNK):
        stop = min(h * w, start + _CHUNK)
        X, inv = _pixel_rows(colors, color_features, spatial_weight, start, stop)
        out[start:stop] = np.where(inv >= 0, model.predict(X), -1)
    return out.reshape(h, w)


def spatial_probabilities(
    colors: DistinctColors, color_features: np.ndarray, model, spatial_weight: float, component: int
) -> np.ndarray:
    """Posterior probability of one component at every pixel (with its exact position).

    Parameters
    ----------
    colors : DistinctColors
    color_features : ndarray of shape (N, D)
    model : GaussianMixture
        Fitted on ``D + 2`` features.
    spatial_weight : float
    component : int
        Index of the mixture component.

    Returns
    -------
    ndarray of shape (H, W), float32
        0 at excluded pixels.
    """
    h, w = colors.shape
    out = np.empty(h * w, dtype=np.float32)
    for start in range(0, h * w, _CHUNK):
        stop = min(h * w, start + _CHUNK)
        X, inv = _pixel_rows(colors, color_features, spatial_weight, start, stop)
        out[start:stop] = np.where(inv >= 0, model.predict_proba(X)[:, component], 0.0)
    return out.reshape(h, w)
