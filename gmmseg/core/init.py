"""Weighted k-means++ seeding and k-means (Lloyd) refinement.

All random draws of rows go through the inverse CDF of the cumulative weights,
so a row with integer weight ``m`` is drawn exactly as ``m`` repeated copies of
it would be: weights are equivalent to repeats for the initialisation too.

Large inputs are refined on a weighted sample of at most ``max_sample`` distinct
rows (drawn with probability proportional to weight); the final assignment of
every row to its nearest centre is always made on all rows.
"""

from __future__ import annotations

import numpy as np

from ..errors import FittingError

__all__ = [
    "check_random_state",
    "kmeans_plusplus",
    "kmeans",
    "weighted_sample",
    "nearest_center",
    "count_distinct_rows",
]


def check_random_state(seed) -> np.random.Generator:
    """Turn ``None``, an int, a ``RandomState`` or a ``Generator`` into a ``Generator``.

    >>> int(check_random_state(0).integers(10))
    8
    """
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(0, 2**31 - 1))
    raise TypeError(f"random_state must be None, an int, a RandomState or a Generator, got {seed!r}")


def _weights_or_ones(X: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    return np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=np.float64)


def _draw(cumulative: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices drawn by inverse CDF; ``u`` in ``[0, 1)`` scaled by the total."""
    idx = np.searchsorted(cumulative, u * cumulative[-1], side="right")
    return np.minimum(idx, cumulative.shape[0] - 1)


def weighted_sample(
    X: np.ndarray, w: np.ndarray | None, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``size`` rows with probability proportional to weight (with replacement).

    Returns the distinct drawn rows and how many times each was drawn.
    """
    cumulative = np.cumsum(_weights_or_ones(X, w))
    idx = _draw(cumulative, rng.random(size))
    uniq, counts = np.unique(idx, return_counts=True)
    return np.asarray(X[uniq], dtype=np.float64), counts.astype(np.float64)


def _sq_dist(X: np.ndarray, centers: np.ndarray, x_sq: np.ndarray | None = None) -> np.ndarray:
    """Squared distances ``(k, n)`` (centres × rows: reductions over centres run along
    contiguous memory), by the expanded form, clipped at 0."""
    if x_sq is None:
        x_sq = np.einsum("ij,ij->i", X, X)
    d = centers @ X.T
    d *= -2.0
    d += np.einsum("ij,ij->i", centers, centers)[:, None]
    d += x_sq[None, :]
    np.maximum(d, 0.0, out=d)
    return d


def kmeans_plusplus(
    X: np.ndarray, n_clusters: int, sample_weight: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """Greedy weighted k-means++ seeds, shape ``(n_clusters, n_features)``.

    Raises :class:`~gmmseg.errors.FittingError` when ``X`` has fewer than
    ``n_clusters`` distinct rows with positive weight.
    """
    X = np.asarray(X, dtype=np.float64)
    w = _weights_or_ones(X, sample_weight)
    n, d = X.shape
    n_trials = 2 + int(np.log(n_clusters))
    centers = np.empty((n_clusters, d))
    first = _draw(np.cumsum(w), rng.random(1))[0]
    centers[0] = X[first]
    x_sq = np.einsum("ij,ij->i", X, X)
    closest = _sq_dist(X, centers[:1], x_sq)[0]
    potential = float(w @ closest)
    for c in range(1, n_clusters):
        if potential <= 0.0:
            raise FittingError(
                f"n_components={n_clusters} but the data have only {c} distinct row(s) "
                f"with positive weight; lower n_components to at most {c}"
            )
        candidates = _draw(np.cumsum(w * closest), rng.random(n_trials))
        dist = _sq_dist(X, X[candidates], x_sq)
        np.minimum(dist, closest[None, :], out=dist)
        pots = dist @ w
        best = int(np.argmin(pots))
        centers[c] = X[candidates[best]]
        closest = dist[best]
        potential = float(pots[best])
    return centers


def _nearest(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (``‖c‖² − 2 c·x`` is enough: ``‖x‖²`` is common to all)."""
    scores = centers @ X.T
    scores *= -2.0
    scores += np.einsum("ij,ij->i", centers, centers)[:, None]
    return scores.argmin(axis=0)


def nearest_center(X: np.ndarray, centers: np.ndarray, chunk_size: int = 65536) -> np.ndarray:
    """Index of the nearest centre for every row, computed in chunks."""
    labels = np.empty(X.shape[0], dtype=np.intp)
    centers = np.asarray(centers, dtype=np.float64)
    for start in range(0, X.shape[0], chunk_size):
        block = np.asarray(X[start : start + chunk_size], dtype=np.float64)
        labels[start : start + chunk_size] = _nearest(block, centers)
    return labels


def kmeans(
    X: np.ndarray,
    centers: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> np.ndarray:
    """Weighted Lloyd iterations from ``centers``; return the refined centres.

    Stops when the total squared centre shift falls below ``tol`` times the
    mean per-feature variance (scikit-learn's rule). An empty cluster is moved
    to the row farthest from its centre.
    """
    X = np.asarray(X, dtype=np.float64)
    w = _weights_or_ones(X, sample_weight)
    k, d = centers.shape
    mean = (w @ X) / w.sum()
    threshold = tol * float(np.mean((w @ (X - mean) ** 2) / w.sum()))
    wX = X * w[:, None]
    centers = np.array(centers, dtype=np.float64)
    for _ in range(max_iter):
        labels = _nearest(X, centers)
        counts = np.bincount(labels, weights=w, minlength=k)
        sums = np.stack([np.bincount(labels, weights=wX[:, j], minlength=k) for j in range(d)], axis=1)
        new = centers.copy()
        filled = counts > 0
        new[filled] = sums[filled] / counts[filled, None]
        if not filled.all():
            own = ((X - centers[labels]) ** 2).sum(axis=1) * (w > 0)
            for j in np.flatnonzero(~filled):
                far = int(np.argmax(own))
                new[j] = X[far]
                own[far] = 0.0
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= threshold:
            break
    return centers


def count_distinct_rows(X: np.ndarray, sample_weight: np.ndarray | None, at_least: int, chunk_size: int = 65536) -> int:
    """Count distinct rows with positive weight, stopping once ``at_least`` are found.

    Cost is ``O(at_least · n · D)`` at most; it is used to turn "more components than
    distinct rows" into a clear error instead of a degenerate fit.
    """
    n = X.shape[0]
    alive = np.ones(n, dtype=bool) if sample_weight is None else np.asarray(sample_weight) > 0
    found = 0
    while found < at_least:
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        row = X[idx[0]]
        found += 1
        for start in range(0, idx.size, chunk_size):
            sl = idx[start : start + chunk_size]
            alive[sl] = np.any(X[sl] != row, axis=1)
    return found
