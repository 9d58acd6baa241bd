"""Best-of-n restarts and seed-stability refits of a fitted mixture.

Both refit the same K and covariance type with other EM initializations: the first keeps
the best (a guard against a poor local optimum), the second measures how much the labels
depend on the seed (the adjusted Rand index of each refit against the reported labels).
The applications call these instead of writing restart loops of their own.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import ConvergenceWarning
from .agreement import adjusted_rand_index
from .mixture import GaussianMixture

__all__ = ["refit_best_of", "seed_stability"]


def refit_best_of(
    model: GaussianMixture,
    X,
    *,
    n_init: int,
    random_state=None,
    reg_covar: float = 1e-6,
    dtype: str = "float64",
    rows: np.ndarray | None = None,
) -> GaussianMixture:
    """Refit ``model``'s K and covariance type with ``n_init`` starts; keep the better of refit and model.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture (e.g. the one model selection chose).
    X : ndarray of shape (n_samples, n_features)
        The rows ``model`` was fitted on.
    n_init : int
        Starts of the refit; 1 (or K = 1) returns ``model`` unchanged.
    random_state : int or None
    reg_covar : float
    dtype : {"float64", "float32"}
    rows : ndarray of int, optional
        On a large table, run the starts on these rows only and then polish the best
        by EM on every row, starting from its parameters.

    Returns
    -------
    GaussianMixture
        The refit when its mean log-likelihood on ``X`` beats ``model``'s, else ``model``.
    """
    if n_init <= 1 or model.n_components == 1:
        return model
    params = {"covariance_type": model.covariance_type, "reg_covar": reg_covar, "dtype": dtype}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        refit = GaussianMixture(model.n_components, n_init=n_init, random_state=random_state, **params)
        refit.fit(X if rows is None else X[rows])
        if rows is not None:
            refit = GaussianMixture(
                model.n_components,
                weights_init=refit.weights_,
                means_init=refit.means_,
                precisions_init=refit.precisions_,
                **params,
            ).fit(X)
    return refit if refit.lower_bound_ > model.score(X) else model


def seed_stability(
    X,
    labels,
    model: GaussianMixture,
    *,
    n_seeds: int,
    n_init: int = 1,
    random_state=None,
    reg_covar: float = 1e-6,
    dtype: str = "float64",
) -> dict[str, Any]:
    """Adjusted Rand index of refits with other EM seeds against ``labels``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows to refit on (a sample on large tables).
    labels : ndarray of shape (n_samples,)
        The reported labels of those rows.
    model : GaussianMixture
        Gives K and the covariance type.
    n_seeds : int
        Number of refits, seeded ``random_state + 1`` … ``random_state + n_seeds``; 0 skips.
    n_init, random_state, reg_covar, dtype
        Settings of every refit.

    Returns
    -------
    dict
        ``seeds``, ``aris`` (rounded to 4 digits), ``mean``, ``min`` and ``rows``.
    """
    if n_seeds <= 0 or model.n_components == 1:
        return {"seeds": 0, "aris": [], "mean": None, "min": None, "rows": 0}
    base = (0 if random_state is None else int(random_state)) + 1
    aris = []
    for seed in range(base, base + int(n_seeds)):
        refit = GaussianMixture(
            model.n_components,
            covariance_type=model.covariance_type,
            reg_covar=reg_covar,
            n_init=max(1, int(n_init)),
            random_state=seed,
            dtype=dtype,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            refit.fit(X)
        aris.append(adjusted_rand_index(labels, refit.predict(X)))
    return {
        "seeds": int(n_seeds),
        "aris": [round(a, 4) for a in aris],
        "mean": float(np.mean(aris)),
        "min": float(np.min(aris)),
        "rows": int(X.shape[0]),
    }
