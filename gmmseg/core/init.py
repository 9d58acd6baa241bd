"""Initialization: weighted k-means++ seeding, k-means (Lloyd) refinement and initial parameters.

All random draws of rows go through the inverse CDF of the cumulative weights,
so a row with integer weight ``m`` is drawn exactly as ``m`` repeated copies of
it would be: weights are equivalent to repeats for the initialization too.

Large inputs are refined on a weighted sample of at most ``max_sample`` distinct
rows (drawn with probability proportional to weight); the final assignment of
every row to its nearest center is always made on all rows.
"""

from __future__ import annotations

import numpy as np

from ..errors import FittingError
from .covariance import COVARIANCE, SingularCovarianceError
from .stats import WEIGHT_FLOOR

__all__ = [
    "INIT_PARAMS",
    "KMEANS_MAX_SAMPLE",
    "check_random_state",
    "seed_centers",
    "initial_parameters",
    "kmeans_plusplus",
    "kmeans",
    "weighted_sample",
    "nearest_center",
    "count_distinct_rows",
]

#: How initial responsibilities can be made (``GaussianMixture(init_params=...)``).
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
#: Rows above which k-means seeding and refinement run on a weighted sample.
KMEANS_MAX_SAMPLE = 100_000


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
    """Squared distances ``(k, n)`` (centers × rows: reductions over centers run along
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
    """Index of the nearest center (``‖c‖² − 2 c·x`` is enough: ``‖x‖²`` is common to all)."""
    scores = centers @ X.T
    scores *= -2.0
    scores += np.einsum("ij,ij->i", centers, centers)[:, None]
    return scores.argmin(axis=0)


def nearest_center(X: np.ndarray, centers: np.ndarray, chunk_size: int = 65536) -> np.ndarray:
    """Index of the nearest center for every row, computed in chunks."""
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
    """Weighted Lloyd iterations from ``centers``; return the refined centers.

    Stops when the total squared center shift falls below ``tol`` times the
    mean per-feature variance (scikit-learn's rule). An empty cluster is moved
    to the row farthest from its center.
    """
    X = np.asarray(X, dtype=np.float64)
    w = _weights_or_ones(X, sample_weight)
    k, d = centers.shape
    mean = (w @ X) / w.sum()
    threshold = tol * float(np.mean((w @ (X - mean) ** 2) / w.sum()))
    wX = (X * w[:, None]).ravel()
    columns = np.arange(d)
    centers = np.array(centers, dtype=np.float64)
    for _ in range(max_iter):
        labels = _nearest(X, centers)
        counts = np.bincount(labels, weights=w, minlength=k)
        # one bincount over (label, column) codes: every sum adds its rows in row order, as a
        # per-column bincount does (the same bits), without d strided passes over the columns
        sums = np.bincount((labels[:, None] * d + columns).ravel(), weights=wX, minlength=k * d).reshape(k, d)
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


def seed_centers(X: np.ndarray, sample_weight, n_components: int, init_params: str, rng) -> np.ndarray:
    """Initial centers by ``init_params`` (on a weighted sample of large inputs).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    n_components : int
    init_params : {"kmeans", "k-means++", "random_from_data"}
        ``kmeans``: k-means++ seeds refined by Lloyd iterations; ``k-means++``: the seeds;
        ``random_from_data``: distinct rows drawn without replacement in proportion to weight.
    rng : numpy Generator

    Returns
    -------
    ndarray of shape (n_components, n_features)
    """
    w = sample_weight
    n_positive = X.shape[0] if w is None else int(np.count_nonzero(w))
    if n_positive > KMEANS_MAX_SAMPLE:
        sample, sw = weighted_sample(X, w, KMEANS_MAX_SAMPLE, rng)
    else:
        sample, sw = np.asarray(X, dtype=np.float64), w
    if init_params == "random_from_data":
        p = np.ones(sample.shape[0]) if sw is None else np.asarray(sw, dtype=float)
        uniq, inverse = np.unique(sample, axis=0, return_inverse=True)
        pu = np.bincount(inverse.ravel(), weights=p)
        chosen = rng.choice(uniq.shape[0], size=n_components, replace=False, p=pu / pu.sum())
        return uniq[chosen]
    seeds = kmeans_plusplus(sample, n_components, sw, rng)
    if init_params == "k-means++":
        return seeds
    return kmeans(sample, seeds, sw)


def initial_parameters(model, source, shift: np.ndarray, reg, rng, centers=None):
    """Initial parameters: the M-step of k-means (or random) responsibilities, or the given ones.

    Parameters
    ----------
    model : GaussianMixture
        Supplies ``n_components``, ``covariance_type``, ``init_params`` and the optional
        ``weights_init``/``means_init``/``precisions_init`` (which replace the computed ones).
    source : RowSource
        Its ``moments`` gives the statistics of the initial responsibilities.
    shift : ndarray of shape (n_features,)
        Rows are centered on it; the returned means are too.
    reg : float or ndarray of shape (n_features,)
        Covariance regularization.
    rng : numpy Generator
    centers : ndarray of shape (n_components, n_features), optional
        Centers to assign rows to instead of seeding.

    Returns
    -------
    tuple
        ``(weights (K,), centered means (K, D), covariances or None, precisions_cholesky)``.

    Raises
    ------
    FittingError
        When an initial covariance is singular.
    """
    k = model.n_components
    funcs = COVARIANCE[model.covariance_type]
    if model.weights_init is not None and model.means_init is not None and model.precisions_init is not None:
        # Fully specified: the responsibilities would only feed parameters that are replaced.
        weights = np.asarray(model.weights_init, dtype=np.float64).copy()
        means_c = np.asarray(model.means_init, dtype=np.float64) - shift
        return weights, means_c, None, funcs.precision_cholesky_from_precisions(model.precisions_init)
    if model.init_params == "random" and centers is None:
        stats = source.moments(funcs, shift, k, seed=int(rng.integers(0, 2**63 - 1)))
    else:
        if centers is None:
            centers = seed_centers(source.sample, source.sample_weight, k, model.init_params, rng)
        stats = source.moments(funcs, shift, k, centers=np.asarray(centers, dtype=np.float64))
    n_k, s, S = funcs.unpack(stats, shift.shape[0])
    n_k = n_k + WEIGHT_FLOOR
    weights = n_k / stats.weight_sum
    means_c = s / n_k[:, None]
    cov = funcs.covariances(n_k, s, S, reg)
    if model.weights_init is not None:
        weights = np.asarray(model.weights_init, dtype=np.float64).copy()
    if model.means_init is not None:
        means_c = np.asarray(model.means_init, dtype=np.float64) - shift
    if model.precisions_init is not None:
        prec_chol = funcs.precision_cholesky_from_precisions(model.precisions_init)
        cov = None
    else:
        try:
            prec_chol = funcs.precision_cholesky(cov)
        except SingularCovarianceError as exc:
            raise FittingError(
                f"the initial covariance of component(s) {exc.components} is singular; "
                "raise reg_covar (e.g. 1e-6) or remove constant columns"
            ) from None
    return weights, means_c, cov, prec_chol
