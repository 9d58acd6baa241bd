"""Covariance maths, one small set of pure functions per covariance type.

Every E-step in gmmseg is a single matrix product. A chunk of (centered) rows is
expanded into *features* ``Phi = [1, x, q(x)]`` where ``q(x)`` is the upper
triangle of ``x xᵀ`` (full, tied) or ``x²`` (diag, spherical); the weighted
log-density of every component is then ``coef @ Phi`` with ``coef`` computed
once per iteration from the parameters. The same features make the
M-step a single product too: ``(w·R) @ Phiᵀ`` holds, per component, the
weighted count ``n_k``, the first moment ``s_k`` and the second moment
``S_k`` (the additive sufficient statistics of :mod:`gmmseg.core.stats`).

Tied covariances share one precision ``P``, so the quadratic term ``-½ xᵀPx`` is
the same for every component and ``Σ w x xᵀ`` does not depend on the
responsibilities: tied uses the features ``[1, x]`` plus one ``D × D`` product
per chunk (``Stats.second``), which makes it nearly as cheap as diag.

The functions are picked from :data:`COVARIANCE` by ``covariance_type``; the
loop that uses them lives once, in :class:`gmmseg.GaussianMixture`.

Shapes (K components, D features)::

    type        covariances_     precisions_cholesky_    second moment
    full        (K, D, D)        (K, D, D)                (K, D, D)
    tied        (D, D)           (D, D)                   (D, D), shared
    diag        (K, D)           (K, D)                   (K, D)
    spherical   (K,)             (K,)                     (K, D)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["COVARIANCE", "CovarianceFunctions", "COVARIANCE_TYPES", "full_matrices"]

_LOG_2PI = np.log(2.0 * np.pi)


class SingularCovarianceError(ArithmeticError):
    """Raised by :func:`precision_cholesky` naming the components that are not positive definite."""

    def __init__(self, components: list[int]):
        super().__init__(f"components {components} have no positive-definite covariance")
        self.components = components


# --------------------------------------------------------------------------- features


@functools.lru_cache(maxsize=64)
def _triu_index(n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Upper-triangle indices, cached: ``np.triu_indices`` cost 12% of a model selection on
    small data, where EM runs hundreds of short iterations (the arrays are made read-only)."""
    iu, ju = np.triu_indices(n_features)
    iu.flags.writeable = False
    ju.flags.writeable = False
    return iu, ju


def quadratic_features(XT: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Return ``[1, x, upper-triangle of x xᵀ]`` as rows, shape ``(1 + D + D(D+1)/2, n)``.

    The layout is transposed (features × rows, ``XT`` is ``(D, n)``) so that every
    product and every reduction over components runs along contiguous memory.

    >>> quadratic_features(np.array([[1.0], [2.0]])).ravel()
    array([1., 1., 2., 1., 2., 4.])
    """
    d, n = XT.shape
    n_feat = 1 + d + d * (d + 1) // 2
    if out is None:
        out = np.empty((n_feat, n), dtype=XT.dtype)
    out[0] = 1.0
    out[1 : 1 + d] = XT
    row = 1 + d
    for i in range(d):
        width = d - i
        np.multiply(XT[i], XT[i:], out=out[row : row + width])
        row += width
    return out


def _linear_block(X: np.ndarray, out: np.ndarray | None, width: int, shift: np.ndarray | None) -> np.ndarray:
    """Fill ``out[:, 0] = 1`` and ``out[:, 1:1+D] = X − shift`` (centered straight into the block: no copy of ``X``)."""
    n, d = X.shape
    if out is None:
        out = np.empty((n, width), dtype=X.dtype)
    out[:, 0] = 1.0
    if shift is None:
        out[:, 1 : 1 + d] = X
    else:
        np.subtract(X, shift, out=out[:, 1 : 1 + d], casting="unsafe")
    return out


def square_features(X: np.ndarray, out: np.ndarray | None = None, shift: np.ndarray | None = None) -> np.ndarray:
    """Return ``[1, x, x²]`` for rows ``X`` ``(n, D)``, as a ``(1 + 2D, n)`` view of an ``(n, 1 + 2D)`` array.

    Row-major (its ``row_major`` attribute): the products read
    and write contiguous rows, and BLAS takes the transposed view without a copy.
    With ``shift``, ``x = X − shift`` is written into the block directly.

    >>> square_features(np.array([[1.0, 3.0]])).ravel()
    array([1., 1., 3., 1., 9.])
    """
    d = X.shape[1]
    out = _linear_block(X, out, 1 + 2 * d, shift)
    np.square(out[:, 1 : 1 + d], out=out[:, 1 + d :])
    return out.T


def linear_features(X: np.ndarray, out: np.ndarray | None = None, shift: np.ndarray | None = None) -> np.ndarray:
    """Return ``[1, x]`` for rows ``X`` ``(n, D)`` as a ``(1 + D, n)`` view (tied: the quadratic term is shared).

    >>> linear_features(np.array([[1.0, 3.0]])).ravel()
    array([1., 1., 3.])
    """
    return _linear_block(X, out, 1 + X.shape[1], shift).T


# Layout each expansion takes: rows ``(n, D)`` (row-major) or the transposed ``(D, n)``.
quadratic_features.row_major = False
square_features.row_major = True
linear_features.row_major = True


def _n_linear(d: int) -> int:
    return 1 + d


def _n_quadratic(d: int) -> int:
    return 1 + d + d * (d + 1) // 2


def _n_square(d: int) -> int:
    return 1 + 2 * d


# --------------------------------------------------------------------------- moments


def unpack_quadratic(stats, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``(K, F)`` quadratic statistics into ``n (K,)``, ``s (K, D)``, ``S (K, D, D)``."""
    raw = stats.raw
    k = raw.shape[0]
    n = raw[:, 0].copy()
    s = raw[:, 1 : 1 + d].copy()
    iu, ju = _triu_index(d)
    S = np.zeros((k, d, d), dtype=raw.dtype)
    S[:, iu, ju] = raw[:, 1 + d :]
    S[:, ju, iu] = raw[:, 1 + d :]
    return n, s, S


def unpack_square(stats, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``(K, F)`` square statistics into ``n (K,)``, ``s (K, D)``, ``S (K, D)``."""
    raw = stats.raw
    return raw[:, 0].copy(), raw[:, 1 : 1 + d].copy(), raw[:, 1 + d :].copy()


def unpack_linear(stats, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split tied statistics into ``n (K,)``, ``s (K, D)`` and the shared ``Σ w x xᵀ`` ``(D, D)``."""
    raw = stats.raw
    return raw[:, 0].copy(), raw[:, 1 : 1 + d].copy(), stats.second.copy()


# --------------------------------------------------------------------------- M-step


def _means(n: np.ndarray, s: np.ndarray) -> np.ndarray:
    return s / n[:, None]


def covariances_full(n, s, S, reg):
    """Full covariances ``S_k/n_k − μ_k μ_kᵀ + diag(reg)``, shape ``(K, D, D)``."""
    mu = _means(n, s)
    cov = S / n[:, None, None] - mu[:, :, None] * mu[:, None, :]
    d = mu.shape[1]
    cov[:, np.arange(d), np.arange(d)] += reg
    return cov


def covariances_tied(n, s, S, reg):
    """One covariance shared by all components, shape ``(D, D)``; ``S`` is ``Σ w x xᵀ`` ``(D, D)``."""
    mu = _means(n, s)
    cov = (S - (n[:, None] * mu).T @ mu) / n.sum()
    d = mu.shape[1]
    cov[np.arange(d), np.arange(d)] += reg
    return cov


def covariances_diag(n, s, S, reg):
    """Per-feature variances ``S_k/n_k − μ_k² + reg``, shape ``(K, D)``."""
    mu = _means(n, s)
    return S / n[:, None] - mu * mu + reg


def covariances_spherical(n, s, S, reg):
    """One variance per component (the mean of the diagonal), shape ``(K,)``."""
    return covariances_diag(n, s, S, reg).mean(axis=1)


# --------------------------------------------------------------------------- precisions


def _check_finite_positive(values: np.ndarray, axis) -> list[int]:
    bad = ~np.all(np.isfinite(values) & (values > 0), axis=axis) if axis is not None else None
    return [int(i) for i in np.flatnonzero(bad)]


def precision_cholesky_full(cov: np.ndarray) -> np.ndarray:
    """Upper factor ``U`` with ``U Uᵀ = Σ⁻¹`` for each ``(D, D)`` block, as scikit-learn.

    Batched: one Cholesky and one triangular inverse for the whole ``(K, D, D)`` stack
    (per-component LAPACK calls cost more in overhead than in arithmetic for small D).
    """
    if not np.all(np.isfinite(cov)):
        bad = [int(i) for i in np.flatnonzero(~np.all(np.isfinite(cov), axis=(1, 2)))]
        raise SingularCovarianceError(bad)
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        bad = []
        for i in range(cov.shape[0]):
            try:
                np.linalg.cholesky(cov[i])
            except np.linalg.LinAlgError:
                bad.append(i)
        raise SingularCovarianceError(bad) from None
    eye = np.broadcast_to(np.eye(cov.shape[-1], dtype=cov.dtype), cov.shape)
    return np.swapaxes(_solve_lower(chol, eye), -1, -2)


def _solve_lower(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve ``L X = B`` for lower-triangular ``L`` (batched), by forward substitution over rows."""
    k, d, _ = L.shape
    X = np.zeros(np.broadcast_shapes(L.shape, B.shape), dtype=L.dtype)
    for i in range(d):
        acc = B[:, i, :] - np.einsum("kj,kjm->km", L[:, i, :i], X[:, :i, :])
        X[:, i, :] = acc / L[:, i, i][:, None]
    return X


def precision_cholesky_tied(cov: np.ndarray) -> np.ndarray:
    try:
        return precision_cholesky_full(cov[None])[0]
    except SingularCovarianceError:
        raise SingularCovarianceError([-1]) from None


def precision_cholesky_diag(cov: np.ndarray) -> np.ndarray:
    bad = _check_finite_positive(cov, axis=1)
    if bad:
        raise SingularCovarianceError(bad)
    return 1.0 / np.sqrt(cov)


def precision_cholesky_spherical(cov: np.ndarray) -> np.ndarray:
    bad = [int(i) for i in np.flatnonzero(~(np.isfinite(cov) & (cov > 0)))]
    if bad:
        raise SingularCovarianceError(bad)
    return 1.0 / np.sqrt(cov)


def precisions_full(prec_chol):
    return prec_chol @ np.swapaxes(prec_chol, -1, -2)


def precisions_diag(prec_chol):
    return prec_chol**2


def covariances_from_precision_cholesky_full(prec_chol):
    prec = precisions_full(prec_chol)
    return np.linalg.inv(prec)


def covariances_from_precision_cholesky_diag(prec_chol):
    return 1.0 / prec_chol**2


def precision_cholesky_from_precisions_full(prec):
    """Cholesky factor of given precisions (lower, as scikit-learn does for ``precisions_init``)."""
    prec = np.asarray(prec, dtype=float)
    single = prec.ndim == 2
    blocks = prec[None] if single else prec
    out = np.linalg.cholesky(blocks)
    return out[0] if single else out


def precision_cholesky_from_precisions_diag(prec):
    return np.sqrt(np.asarray(prec, dtype=float))


# --------------------------------------------------------------------------- log-density coefficients


def coefficients_full(log_weights, means, prec_chol):
    """Coefficients ``(K, F)`` so that ``coef @ quadratic_features(XT)`` = log w_k + log N(x | μ_k, Σ_k)."""
    k, d = means.shape
    prec = precisions_full(prec_chol)
    log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    pm = np.einsum("kij,kj->ki", prec, means)
    mpm = np.einsum("ki,ki->k", pm, means)
    iu, ju = _triu_index(d)
    quad = prec[:, iu, ju] * np.where(iu == ju, -0.5, -1.0)
    const = log_weights - 0.5 * d * _LOG_2PI + log_det - 0.5 * mpm
    return np.ascontiguousarray(np.concatenate([const[:, None], pm, quad], axis=1))


def coefficients_tied(log_weights, means, prec_chol):
    """Coefficients ``(K, 1 + D)`` for ``linear_features``; the shared ``-½ xᵀPx`` is added separately."""
    d = means.shape[1]
    prec = prec_chol @ prec_chol.T
    log_det = np.log(np.diagonal(prec_chol)).sum()
    pm = means @ prec
    const = log_weights - 0.5 * d * _LOG_2PI + log_det - 0.5 * np.einsum("ki,ki->k", pm, means)
    return np.ascontiguousarray(np.concatenate([const[:, None], pm], axis=1))


def shared_factor_tied(prec_chol):
    """``U`` with ``P = U Uᵀ``: the E-step adds ``-½ ‖Uᵀx‖²`` to every component."""
    return prec_chol


def _no_shared_factor(prec_chol):
    return None


def coefficients_diag(log_weights, means, prec_chol):
    """Coefficients ``(K, F)`` for ``square_features``; diag ``(K, D)`` or spherical ``(K,)`` factors."""
    k, d = means.shape
    if prec_chol.ndim == 1:  # spherical
        log_det = d * np.log(prec_chol)
        prec = np.broadcast_to((prec_chol**2)[:, None], (k, d))
    else:
        log_det = np.log(prec_chol).sum(axis=1)
        prec = prec_chol**2
    pm = prec * means
    const = log_weights - 0.5 * d * _LOG_2PI + log_det - 0.5 * (pm * means).sum(axis=1)
    return np.ascontiguousarray(np.concatenate([const[:, None], pm, -0.5 * prec], axis=1))


# --------------------------------------------------------------------------- parameter counts


def n_parameters_full(k, d):
    return k * d * (d + 1) // 2 + k * d + k - 1


def n_parameters_tied(k, d):
    return d * (d + 1) // 2 + k * d + k - 1


def n_parameters_diag(k, d):
    return k * d + k * d + k - 1


def n_parameters_spherical(k, d):
    return k + k * d + k - 1


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class CovarianceFunctions:
    """The pure functions that make up one covariance type."""

    name: str
    features: Callable  # XT (D, n) -> Phi (F, n)
    n_features: Callable  # D -> F
    unpack: Callable  # Stats, D -> n, s, S
    covariances: Callable  # n, s, S, reg -> covariances
    precision_cholesky: Callable  # covariances -> precisions_cholesky
    precisions: Callable  # precisions_cholesky -> precisions
    covariances_from_precision_cholesky: Callable
    precision_cholesky_from_precisions: Callable
    coefficients: Callable  # log_weights, means, precisions_cholesky -> coef (K, F)
    n_parameters: Callable  # K, D -> int
    covariance_shape: Callable  # K, D -> tuple
    shared_factor: Callable = _no_shared_factor  # precisions_cholesky -> U (D, D) or None


COVARIANCE: dict[str, CovarianceFunctions] = {
    "full": CovarianceFunctions(
        "full",
        quadratic_features,
        _n_quadratic,
        unpack_quadratic,
        covariances_full,
        precision_cholesky_full,
        precisions_full,
        covariances_from_precision_cholesky_full,
        precision_cholesky_from_precisions_full,
        coefficients_full,
        n_parameters_full,
        lambda k, d: (k, d, d),
    ),
    "tied": CovarianceFunctions(
        "tied",
        linear_features,
        _n_linear,
        unpack_linear,
        covariances_tied,
        precision_cholesky_tied,
        precisions_full,
        covariances_from_precision_cholesky_full,
        precision_cholesky_from_precisions_full,
        coefficients_tied,
        n_parameters_tied,
        lambda k, d: (d, d),
        shared_factor_tied,
    ),
    "diag": CovarianceFunctions(
        "diag",
        square_features,
        _n_square,
        unpack_square,
        covariances_diag,
        precision_cholesky_diag,
        precisions_diag,
        covariances_from_precision_cholesky_diag,
        precision_cholesky_from_precisions_diag,
        coefficients_diag,
        n_parameters_diag,
        lambda k, d: (k, d),
    ),
    "spherical": CovarianceFunctions(
        "spherical",
        square_features,
        _n_square,
        unpack_square,
        covariances_spherical,
        precision_cholesky_spherical,
        precisions_diag,
        covariances_from_precision_cholesky_diag,
        precision_cholesky_from_precisions_diag,
        coefficients_diag,
        n_parameters_spherical,
        lambda k, d: (k,),
    ),
}

COVARIANCE_TYPES: tuple[str, ...] = tuple(COVARIANCE)


def full_matrices(covariance_type: str, values: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
    """Covariances (or precisions) of any covariance type as ``(K, D, D)`` matrices.

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}
    values : ndarray
        ``covariances_`` or ``precisions_`` in the shape of that type (see the table above).
    n_components, n_features : int
        K and D.

    Returns
    -------
    ndarray of shape (n_components, n_features, n_features)

    >>> full_matrices("diag", np.array([[1.0, 2.0]]), 1, 2).tolist()
    [[[1.0, 0.0], [0.0, 2.0]]]
    >>> full_matrices("spherical", np.array([3.0]), 1, 2).tolist()
    [[[3.0, 0.0], [0.0, 3.0]]]
    """
    values = np.asarray(values, dtype=np.float64)
    if covariance_type == "full":
        return values
    if covariance_type == "tied":
        return np.repeat(values[None], n_components, axis=0)
    if covariance_type == "diag":
        return np.array([np.diag(row) for row in values])
    return np.array([np.eye(n_features) * v for v in values])
