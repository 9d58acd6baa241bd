"""Agreement between two labelings of the same rows (adjusted Rand index)."""

from __future__ import annotations

import numpy as np

__all__ = ["adjusted_rand_index"]


def adjusted_rand_index(labels_a, labels_b) -> float:
    """Adjusted Rand index of two labelings (Hubert & Arabie 1985), as scikit-learn computes it.

    1 for identical partitions (up to renaming), about 0 for independent ones.

    Parameters
    ----------
    labels_a, labels_b : array-like of shape (n_samples,)

    Returns
    -------
    float

    >>> adjusted_rand_index([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1])
    -0.5
    """
    a = np.unique(np.asarray(labels_a).ravel(), return_inverse=True)[1].ravel()
    b = np.unique(np.asarray(labels_b).ravel(), return_inverse=True)[1].ravel()
    if a.shape != b.shape:
        raise ValueError(f"labelings differ in length: {a.size} and {b.size}")
    n = int(a.size)
    n_b = int(b.max(initial=-1)) + 1
    table = np.bincount(a * n_b + b).astype(np.int64)
    rows = np.bincount(a).astype(np.int64)
    cols = np.bincount(b).astype(np.int64)
    # pair counts (same/different cluster in each labeling), exact in integers
    sum_squares = int((table**2).sum())
    both = sum_squares - n
    only_b = int((cols**2).sum()) - sum_squares
    only_a = int((rows**2).sum()) - sum_squares
    neither = n * n - only_a - only_b - sum_squares
    if only_a == 0 and only_b == 0:
        return 1.0
    return (
        2.0
        * (both * neither - only_a * only_b)
        / ((both + only_a) * (only_a + neither) + (both + only_b) * (only_b + neither))
    )
