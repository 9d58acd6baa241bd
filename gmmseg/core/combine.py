"""Combine mixture components into clusters by the entropy criterion (Baudry et al. 2010).

A Gaussian mixture chosen by BIC fits the *density*: a skewed or curved cluster takes
several components, so BIC's K is more than the number of clusters a person sees. Baudry,
Raftery, Celeux, Lo and Gottardo ("Combining mixture components for clustering", JCGS 2010;
mclust's ``clustCombi``) merge the components hierarchically: at each step the two clusters
whose union most lowers the entropy of the posteriors,

    Ent = -sum_i w_i sum_k t_ik log t_ik,

merge (a merged cluster's posterior is the sum of its components'). Merging two components
that overlap removes much entropy; merging two well-separated ones removes almost none, so
the entropy against the number of clusters falls steeply and then flattens: the elbow, found
by a two-piece linear fit, is the number of clusters.

Posteriors and weights in, merge tree out: nothing here knows about images.

Examples
--------
>>> import numpy as np
>>> R = np.array([[0.5, 0.5, 0.0], [0.4, 0.6, 0.0], [0.0, 0.0, 1.0]])
>>> tree = combine_components(R)
>>> tree.merges.tolist()  # the two overlapping components merge first, into cluster 3
[[0, 1], [2, 3]]
>>> tree.labels(2).tolist()
[0, 0, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from .validation import check_sample_weight

__all__ = ["CombineResult", "combine_components", "elbow"]


@dataclass(frozen=True)
class CombineResult:
    """The merge tree of :func:`combine_components`.

    Attributes
    ----------
    merges : ndarray of shape (K - 1, 2), int
        Row ``s`` holds the two clusters merged at step ``s`` (smaller id first). Clusters
        ``0..K-1`` are the components; step ``s`` makes cluster ``K + s`` (as scipy's linkage).
    entropy : ndarray of shape (K,)
        ``entropy[s]``: the entropy of the posteriors with ``K - s`` clusters (after ``s``
        merges), in nats, weighted by the sample weights. ``entropy[K - 1]`` is 0.
    merged_weight : ndarray of shape (K - 1,)
        Weighted number of rows whose posterior mass was in the two clusters merged at
        step ``s`` (the sum of both clusters' posteriors): the paper's x-axis for the elbow
        when merges differ in size.
    """

    merges: np.ndarray
    entropy: np.ndarray
    merged_weight: np.ndarray

    @property
    def n_components(self) -> int:
        """K, the number of components merged."""
        return int(self.entropy.shape[0])

    def labels(self, n_clusters: int) -> np.ndarray:
        """The cluster (0..n_clusters-1) of every component after ``K - n_clusters`` merges.

        Parameters
        ----------
        n_clusters : int
            From 1 to K.

        Returns
        -------
        ndarray of shape (K,), int
            Clusters numbered by their smallest component.
        """
        k = self.n_components
        if isinstance(n_clusters, bool) or int(n_clusters) != n_clusters or not 1 <= n_clusters <= k:
            raise ParameterError(f"n_clusters must be an integer from 1 to {k}, got {n_clusters!r}")
        owner = np.arange(2 * k - 1)
        for step in range(k - int(n_clusters)):
            a, b = self.merges[step]
            owner[owner == a] = k + step
            owner[owner == b] = k + step
        _, first, labels = np.unique(owner[:k], return_index=True, return_inverse=True)
        rank = np.empty(first.size, dtype=np.intp)
        rank[np.argsort(first)] = np.arange(first.size)
        return rank[labels]

    def elbow(self, axis: str = "merges") -> int:
        """The number of clusters at the elbow of the entropy (see :func:`elbow`).

        Parameters
        ----------
        axis : {"merges", "weight"}, default="merges"
            x of the entropy: the number of merges, or the cumulative ``merged_weight``.

        Returns
        -------
        int
            From 1 to K.
        """
        if axis == "merges":
            x = np.arange(self.n_components, dtype=np.float64)
        elif axis == "weight":
            x = np.concatenate([[0.0], np.cumsum(self.merged_weight)])
        else:
            raise ParameterError(f"axis must be 'merges' or 'weight', got {axis!r}")
        return self.n_components - elbow(x, self.entropy)


def _xlogx(t: np.ndarray) -> np.ndarray:
    return t * np.log(np.where(t > 0, t, 1.0))


def combine_components(responsibilities, sample_weight=None) -> CombineResult:
    """Merge mixture components hierarchically, the pair that most lowers the entropy first.

    Parameters
    ----------
    responsibilities : array-like of shape (n_samples, K)
        Posterior probabilities of the components (rows summing to 1), e.g.
        ``GaussianMixture.predict_proba(X)``.
    sample_weight : array-like of shape (n_samples,), optional
        Row weights (e.g. pixel counts of distinct colors); integer weights are repeated rows.

    Returns
    -------
    CombineResult
        The merge tree, the entropy at every number of clusters and the merged weights.

    Notes
    -----
    Merging clusters ``a`` and ``b`` lowers the entropy by
    ``sum_i w_i [(t_a + t_b) log(t_a + t_b) - t_a log t_a - t_b log t_b] >= 0``. Ties go to
    the pair of smallest ids. Cost: O(n K^2) for the first step, O(n K) per later step.
    """
    R = np.asarray(responsibilities, dtype=np.float64)
    if R.ndim != 2 or R.shape[1] < 1 or R.shape[0] < 1:
        raise ParameterError(f"responsibilities must have shape (n_samples, K) with K >= 1, got {R.shape}")
    if not np.all(np.isfinite(R)) or R.min() < 0:
        raise ParameterError("responsibilities must be finite and >= 0; pass predict_proba's output")
    w = check_sample_weight(sample_weight, R.shape[0])
    w = np.ones(R.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
    k = R.shape[1]
    columns = {j: R[:, j].copy() for j in range(k)}
    own = {j: float(w @ _xlogx(col)) for j, col in columns.items()}
    gain: dict[tuple[int, int], float] = {}

    def pair_gain(a: int, b: int) -> float:
        return float(w @ _xlogx(columns[a] + columns[b])) - own[a] - own[b]

    ids = list(range(k))
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            gain[(a, b)] = pair_gain(a, b)
    entropy = [-sum(own.values())]
    merges, merged_weight = [], []
    for step in range(k - 1):
        a, b = max(gain, key=lambda pair: (gain[pair], -pair[0], -pair[1]))
        new = k + step
        columns[new] = columns.pop(a) + columns.pop(b)
        merged_weight.append(float(w @ columns[new]))
        own[new] = float(w @ _xlogx(columns[new]))
        del own[a], own[b]
        gain = {pair: g for pair, g in gain.items() if a not in pair and b not in pair}
        for c in columns:
            if c != new:
                gain[(c, new)] = pair_gain(c, new)
        merges.append((a, b))
        entropy.append(max(-sum(own.values()), 0.0))
    return CombineResult(
        merges=np.asarray(merges, dtype=np.intp).reshape(-1, 2),
        entropy=np.asarray(entropy),
        merged_weight=np.asarray(merged_weight),
    )


def elbow(x, y) -> int:
    """Index of the break of the best two-piece linear fit of ``y`` against ``x``.

    Each piece is a least-squares line, the first through points ``0..c`` and the second
    through ``c..n-1`` (both share the break ``c``); ``c`` minimises the total squared
    residual (Baudry et al. 2010, Section 4.2). With fewer than 3 points, 0.

    Parameters
    ----------
    x, y : array-like of shape (n,)

    Returns
    -------
    int
        ``c`` in 1..n-2 (0 when n < 3).

    Examples
    --------
    >>> elbow([0, 1, 2, 3, 4], [10.0, 6.0, 2.0, 1.9, 1.8])
    2
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ParameterError(f"x and y must be 1-d of one length, got shapes {x.shape} and {y.shape}")
    if x.size < 3:
        return 0

    def residual(xs: np.ndarray, ys: np.ndarray) -> float:
        if xs.size < 3 or np.ptp(xs) == 0:
            return 0.0
        slope, intercept = np.polyfit(xs, ys, 1)
        return float(np.sum((ys - (slope * xs + intercept)) ** 2))

    costs = [residual(x[: c + 1], y[: c + 1]) + residual(x[c:], y[c:]) for c in range(1, x.size - 1)]
    return 1 + int(np.argmin(costs))
