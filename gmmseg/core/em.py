"""The EM loop's public seam: the row-source protocol and fitting a mixture from a source.

The loop itself runs over a *row source*: anything that can run the E-step over its rows
and return the added :class:`~gmmseg.core.stats.Stats`. Rows in memory
(:class:`gmmseg.core.mixture.ArraySource`) and Dask blocks (:mod:`gmmseg.distributed`)
are the two sources; a new backend implements :class:`RowSource` and calls :func:`fit_source`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .stats import Stats

__all__ = ["RowSource", "check_settings", "chunk_rows", "log_density_coefficients", "fit_source"]


class RowSource(Protocol):
    """Rows the EM loop can pass over, wherever they live.

    Attributes
    ----------
    sample : ndarray of shape (n_rows_sample, n_features)
        Rows for seeding and re-seeding collapsed components (all rows, or a sample).
    sample_weight : ndarray of shape (n_rows_sample,) or None
        Weights of ``sample``.
    """

    sample: np.ndarray
    sample_weight: np.ndarray | None

    def expectation(self, funcs, coef: np.ndarray, shift: np.ndarray, shared) -> Stats:
        """E-step over every row: the added statistics of the responsibilities under ``coef``."""

    def moments(self, funcs, shift: np.ndarray, n_components: int, *, centers=None, seed: int | None = None) -> Stats:
        """Statistics of hard nearest-centre responsibilities (``centers``) or of uniform random ones (``seed``)."""


def check_settings(model, n_features: int) -> None:
    """Validate ``model``'s parameters for data of ``n_features`` columns (before any pass over the rows)."""
    model._check_parameters(n_features)


def chunk_rows(model, n_features: int) -> int:
    """Rows per E-step chunk for ``model`` on data of ``n_features`` columns."""
    return model._chunk_rows(n_features)


def log_density_coefficients(model, shift: np.ndarray) -> np.ndarray:
    """The E-step coefficients of a fitted ``model`` for rows centred on ``shift``."""
    return model._coefficients(shift)


def fit_source(model, source: RowSource, *, shift, variance, weight_sum, centers=None, rng=None) -> None:
    """Fit ``model`` in place by EM over ``source``.

    Parameters
    ----------
    model : GaussianMixture
    source : RowSource
    shift, variance : ndarray of shape (n_features,)
        Weighted mean and variance of all rows (the loop centres on ``shift``).
    weight_sum : float
        Total weight of all rows.
    centers : ndarray of shape (n_components, n_features), optional
        k-means centres to start from (otherwise seeded from ``source.sample``).
    rng : numpy Generator, optional
        Continues a random stream already in use.
    """
    model._fit_source(source, shift, variance, weight_sum, centers, rng=rng)
