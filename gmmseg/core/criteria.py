"""Information criteria of a fitted mixture (lower is better), scikit-learn's formulas and signs.

``n`` is the total weight of the rows (the row count without weights), ``log_likelihood``
the weighted total ``Σ w log p(x)`` and ``entropy`` that of the responsibilities
``-Σ w Σ_k r_k log r_k``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bic", "aic", "icl"]


def bic(log_likelihood: float, n_parameters: int, n: float) -> float:
    """Bayesian information criterion ``-2 log L + n_parameters · log n``.

    Parameters
    ----------
    log_likelihood : float
        Weighted total log-likelihood.
    n_parameters : int
    n : float
        Total weight of the rows.

    Returns
    -------
    float

    >>> bic(-10.0, 2, np.e)
    22.0
    """
    return float(-2.0 * log_likelihood + n_parameters * np.log(n))


def aic(log_likelihood: float, n_parameters: int) -> float:
    """Akaike information criterion ``-2 log L + 2 n_parameters``.

    Parameters
    ----------
    log_likelihood : float
    n_parameters : int

    Returns
    -------
    float

    >>> aic(-10.0, 2)
    24.0
    """
    return float(-2.0 * log_likelihood + 2.0 * n_parameters)


def icl(log_likelihood: float, n_parameters: int, n: float, entropy: float) -> float:
    """Integrated completed likelihood: BIC plus twice the responsibilities' entropy.

    It prefers well-separated components.

    Parameters
    ----------
    log_likelihood : float
    n_parameters : int
    n : float
    entropy : float
        ``-Σ w Σ_k r_k log r_k`` over the rows.

    Returns
    -------
    float

    >>> icl(-10.0, 2, np.e, 1.5)
    25.0
    """
    return float(-2.0 * log_likelihood + n_parameters * np.log(n) + 2.0 * entropy)
