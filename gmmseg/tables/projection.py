"""A 2-D projection of the modelled features for plotting segments."""

from __future__ import annotations

import numpy as np

__all__ = ["principal_projection", "STABILITY_MAX_ROWS"]

#: Rows used for the stability refits, the starts of the final refit and the projection
#: basis on large tables.
STABILITY_MAX_ROWS = 20_000


def principal_projection(Z, random_state) -> tuple[np.ndarray, list[float]]:
    """First two principal axes of the (standardized) features, fitted on at most 20,000 rows.

    Parameters
    ----------
    Z : ndarray of shape (n_rows, n_features)
        The prepared features.
    random_state : int or None
        Seed of the row sample on larger tables.

    Returns
    -------
    projection : ndarray of shape (n_rows, 2)
        Rows on the two axes (the second is zero with a single feature).
    explained : list of 2 float
        Share of the variance along each axis.
    """
    rng = np.random.default_rng(random_state)
    rows = Z if Z.shape[0] <= STABILITY_MAX_ROWS else Z[rng.choice(Z.shape[0], STABILITY_MAX_ROWS, replace=False)]
    center = rows.mean(axis=0)
    _, s, vt = np.linalg.svd(rows - center, full_matrices=False)
    axes = vt[:2]
    if axes.shape[0] < 2:
        axes = np.vstack([axes, np.zeros_like(axes)])
    var = s**2
    explained = [float(v) for v in (var[:2] / var.sum() if var.sum() > 0 else np.zeros(2))]
    out = np.empty((Z.shape[0], 2))
    for start in range(0, Z.shape[0], 65536):  # chunks: no second copy of Z
        out[start : start + 65536] = (Z[start : start + 65536] - center) @ axes.T
    return out, explained
