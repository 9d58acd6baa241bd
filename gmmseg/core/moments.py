"""Weighted column means and variances computed chunk by chunk (no copy of the data).

EM centers the data on the weighted mean before accumulating second moments (so that
``S/n - mu mu^T`` does not cancel) and scales relative regularization by the weighted
variance; model selection computes both once for a whole grid of models.
"""

from __future__ import annotations

import numpy as np

__all__ = ["weighted_mean", "weighted_variance"]

#: Rows per pass; the result does not depend on it beyond floating-point rounding.
CHUNK_ROWS = 65536


def weighted_mean(X, sample_weight=None, chunk_size: int = CHUNK_ROWS) -> np.ndarray:
    """Weighted mean of every column, accumulated in float64.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    chunk_size : int
        Rows converted to float64 at a time.

    Returns
    -------
    ndarray of shape (n_features,)

    >>> weighted_mean(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 1.0, 2.0])).tolist()
    [1.25]
    """
    w = sample_weight
    total = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], chunk_size):
        block = np.asarray(X[start : start + chunk_size], dtype=np.float64)
        total += block.sum(axis=0) if w is None else w[start : start + chunk_size] @ block
    return total / (X.shape[0] if w is None else w.sum())


def weighted_variance(X, sample_weight, mean: np.ndarray, chunk_size: int = CHUNK_ROWS) -> np.ndarray:
    """Weighted (biased) variance of every column about ``mean``, accumulated in float64.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    mean : ndarray of shape (n_features,)
        Usually :func:`weighted_mean` of the same rows and weights.
    chunk_size : int

    Returns
    -------
    ndarray of shape (n_features,)

    >>> weighted_variance(np.array([[0.0], [2.0]]), None, np.array([1.0])).tolist()
    [1.0]
    """
    w = sample_weight
    total = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], chunk_size):
        block = (np.asarray(X[start : start + chunk_size], dtype=np.float64) - mean) ** 2
        total += block.sum(axis=0) if w is None else w[start : start + chunk_size] @ block
    return total / (X.shape[0] if w is None else w.sum())
