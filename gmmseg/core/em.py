"""The EM loop, once for the package: restarts, iterations, convergence and the M-step.

The loop runs over a *row source*, anything that implements :class:`RowSource`: it can
run the E-step over all its rows and return their added
:class:`~gmmseg.core.stats.Stats`, and it holds rows to seed and re-seed components
from. Because the statistics add, where the rows live does not matter to the loop:
:class:`ArraySource` holds rows in memory (what :meth:`GaussianMixture.fit
<gmmseg.GaussianMixture.fit>` uses) and :mod:`gmmseg.distributed` implements the same
protocol on Dask blocks. A new backend implements :class:`RowSource` and calls
:func:`fit_source`.

One EM iteration is::

    coef  = log_density_coefficients(parameters)     # once per iteration
    stats = source.expectation(funcs, coef, shift, shared)   # E-step: Σ over rows
    lower_bound = stats.loglik / stats.weight_sum
    parameters = maximization_step(stats, ...)      # M-step (re-seeds collapsed components)

and it stops when the lower bound changes by less than ``tol`` with no re-seeding.
"""

from __future__ import annotations

import time
import warnings
from typing import Protocol

import numpy as np

from ..errors import ComponentCollapseWarning, ConvergenceWarning, FittingError, ParameterError
from .covariance import COVARIANCE, COVARIANCE_TYPES, SingularCovarianceError
from .init import (
    INIT_PARAMS,
    check_random_state,
    count_distinct_rows,
    initial_parameters,
    nearest_center,
    weighted_sample,
)
from .moments import weighted_mean, weighted_variance
from .stats import WEIGHT_FLOOR, Stats, auto_chunk_size, expectation, moments
from .threads import available_cores, limit_blas_threads
from .validation import check_choice, check_dtype, check_float, check_int

__all__ = [
    "RowSource",
    "ArraySource",
    "check_settings",
    "chunk_rows",
    "log_density_coefficients",
    "regularization",
    "singular_components",
    "maximization_step",
    "fit_source",
    "fit_arrays",
    "iterate",
    "COLLAPSE_WEIGHT",
    "SINGULAR_RELATIVE_VARIANCE",
    "MAX_RESEEDS",
]

#: A component whose share of the total weight falls below this has collapsed.
COLLAPSE_WEIGHT = 1e-9
#: A component whose variance along a feature is below this fraction of the data's is singular.
SINGULAR_RELATIVE_VARIANCE = 1e-12
#: How often one fit may re-seed collapsed components before giving up.
MAX_RESEEDS = 20
#: Expanded feature count from which the E-step splits rows over threads (measured).
THREADED_MIN_FEATURES = 32


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
        """E-step over every row: the added statistics of the responsibilities under ``coef``.

        Parameters
        ----------
        funcs : CovarianceFunctions
            The covariance type's functions (``funcs.features`` expands rows).
        coef : ndarray of shape (n_components, n_expanded_features)
            Log-density coefficients (see :func:`log_density_coefficients`).
        shift : ndarray of shape (n_features,)
            The rows are centered on ``shift`` before expansion.
        shared : ndarray or None
            The shared factor of a tied covariance (``funcs.shared_factor``).

        Returns
        -------
        Stats
        """

    def moments(self, funcs, shift: np.ndarray, n_components: int, *, centers=None, seed: int | None = None) -> Stats:
        """Statistics of hard nearest-center responsibilities (``centers``) or of uniform random ones (``seed``).

        Parameters
        ----------
        funcs : CovarianceFunctions
        shift : ndarray of shape (n_features,)
        n_components : int
        centers : ndarray of shape (n_components, n_features), optional
        seed : int, optional

        Returns
        -------
        Stats
        """


class ArraySource:
    """Rows in memory as a :class:`RowSource`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    chunk_size : int
        Rows per E-step chunk.
    dtype : numpy dtype
        Compute dtype of the E-step.
    n_threads : int, default=1
        Threads that share the E-step's row blocks.
    """

    def __init__(self, X, sample_weight, *, chunk_size: int, dtype, n_threads: int = 1):
        self.X = X
        self.sample_weight = sample_weight
        self.chunk_size = chunk_size
        self.dtype = dtype
        self.n_threads = n_threads

    @property
    def sample(self) -> np.ndarray:
        """Rows for seeding and re-seeding: all of them (seeding subsamples large inputs itself)."""
        return self.X

    def expectation(self, funcs, coef, shift, shared) -> Stats:
        """E-step over all rows (see :meth:`RowSource.expectation`)."""
        return expectation(
            self.X,
            coef,
            funcs.features,
            shift,
            self.sample_weight,
            chunk_size=self.chunk_size,
            dtype=self.dtype,
            n_threads=self.n_threads,
            shared=shared,
        )

    def moments(self, funcs, shift, n_components: int, *, centers=None, seed: int | None = None) -> Stats:
        """Statistics of hard or random responsibilities (see :meth:`RowSource.moments`)."""
        X, chunk, k = self.X, self.chunk_size, n_components
        if centers is not None:
            labels = nearest_center(X, centers)
            eye = np.eye(k)

            def resp(start, stop):
                return eye[:, labels[start:stop]]

        else:
            seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=max(1, -(-X.shape[0] // chunk)))

            def resp(start, stop):
                r = np.random.default_rng(seeds[start // chunk]).uniform(size=(k, stop - start))
                return r / r.sum(axis=0, keepdims=True)

        return moments(
            X, resp, funcs.features, shift, self.sample_weight, n_components=k, chunk_size=chunk, dtype=self.dtype
        )


def check_settings(model, n_features: int) -> None:
    """Validate ``model``'s parameters for data of ``n_features`` columns (before any pass over the rows).

    Parameters
    ----------
    model : GaussianMixture
    n_features : int

    Raises
    ------
    ParameterError
        Naming the parameter and the values it may take.
    """
    check_int(model.n_components, "n_components", 1)
    check_choice(model.covariance_type, "covariance_type", COVARIANCE_TYPES)
    check_float(model.tol, "tol", 0.0)
    check_float(model.reg_covar, "reg_covar", 0.0)
    check_int(model.max_iter, "max_iter", 0)
    check_int(model.n_init, "n_init", 1)
    check_choice(model.init_params, "init_params", INIT_PARAMS)
    check_dtype(model.dtype)
    if model.chunk_size != "auto":
        check_int(model.chunk_size, "chunk_size", 1)
    check_int(model.n_threads, "n_threads", 1, allow_none=True)
    k, d = model.n_components, n_features
    if model.weights_init is not None:
        w = np.asarray(model.weights_init, dtype=float)
        if w.shape != (k,) or np.any(w < 0) or not np.isclose(w.sum(), 1.0, atol=1e-6):
            raise ParameterError(f"weights_init must be {k} non-negative numbers summing to 1, got shape {w.shape}")
    if model.means_init is not None:
        m = np.asarray(model.means_init, dtype=float)
        if m.shape != (k, d):
            raise ParameterError(f"means_init must have shape ({k}, {d}), got {m.shape}")
    if model.precisions_init is not None:
        p = np.asarray(model.precisions_init, dtype=float)
        want = COVARIANCE[model.covariance_type].covariance_shape(k, d)
        if p.shape != want:
            raise ParameterError(
                f"precisions_init for covariance_type={model.covariance_type!r} must have shape {want}, got {p.shape}"
            )


def chunk_rows(model, n_features: int) -> int:
    """Rows per E-step chunk for ``model`` on data of ``n_features`` columns.

    Parameters
    ----------
    model : GaussianMixture
    n_features : int

    Returns
    -------
    int
        ``model.chunk_size``, or for ``"auto"`` the rows whose temporaries fit a fixed budget.
    """
    if model.chunk_size != "auto":
        return int(model.chunk_size)
    funcs = COVARIANCE[model.covariance_type]
    return auto_chunk_size(
        funcs.n_features(n_features), model.n_components, np.dtype(check_dtype(model.dtype)).itemsize
    )


def log_density_coefficients(model, shift: np.ndarray) -> np.ndarray:
    """The E-step coefficients of a fitted ``model`` for rows centered on ``shift``.

    Parameters
    ----------
    model : GaussianMixture
        Fitted.
    shift : ndarray of shape (n_features,)

    Returns
    -------
    ndarray of shape (n_components, n_expanded_features)
        ``coef @ features(x - shift)`` is ``log w_k + log N(x | k)`` (tied: without the shared quadratic term).
    """
    funcs = COVARIANCE[model.covariance_type]
    with np.errstate(divide="ignore"):
        log_w = np.log(model.weights_)
    return funcs.coefficients(log_w, model.means_ - shift, model.precisions_cholesky_)


def regularization(reg_covar: float, relative: bool, variance: np.ndarray) -> np.ndarray | float:
    """What the M-step adds to the covariance diagonals.

    A constant feature (variance 0) gets ``reg_covar`` times the smallest positive
    feature variance (or 1 when every feature is constant), so it stays regular.

    Parameters
    ----------
    reg_covar : float
    relative : bool
        Scale ``reg_covar`` by each feature's variance.
    variance : ndarray of shape (n_features,)
        Weighted variance of the data.

    Returns
    -------
    float or ndarray of shape (n_features,)
    """
    if not relative:
        return float(reg_covar)
    positive = variance[variance > 0]
    fallback = positive.min() if positive.size else 1.0
    return reg_covar * np.where(variance > 0, variance, fallback)


def singular_components(covariance_type: str, cov: np.ndarray, prec_chol: np.ndarray, variance_floor) -> list[int]:
    """Components that are numerically singular (``[-1]`` for a singular tied covariance).

    A component is singular when its variance along some feature, given the features
    before it (the squared Cholesky pivot ``1 / diag(U)²``), is below ``variance_floor``
    (1e-12 of that feature's variance in the data): e.g. a component sitting on identical
    rows, or on a line, with ``reg_covar=0``.

    Parameters
    ----------
    covariance_type : str
    cov, prec_chol : ndarray
        Covariances and precision Cholesky factors (shapes of the covariance type).
    variance_floor : ndarray of shape (n_features,) or None
        None: no test.

    Returns
    -------
    list of int
    """
    if variance_floor is None:
        return []
    floor = variance_floor
    if covariance_type in ("full", "tied"):
        pivots = np.diagonal(prec_chol, axis1=-2, axis2=-1)
        conditional = 1.0 / np.atleast_2d(pivots) ** 2
    elif covariance_type == "diag":
        conditional = cov
    else:
        conditional = np.broadcast_to(cov[:, None], (cov.shape[0], floor.shape[0]))
        floor = np.full_like(floor, floor.mean())
    low = conditional < floor[None, :]
    if not low.any():  # the usual case: skips the per-component search (EM calls this every iteration)
        return []
    bad = np.flatnonzero(np.any(low, axis=1)).tolist()
    if covariance_type == "tied" and bad:
        return [-1]
    return bad


def maximization_step(stats: Stats, covariance_type: str, reg, variance_floor, rows, row_weight, shift, rng):
    """The M-step with collapse handling.

    A component whose weight falls below :data:`COLLAPSE_WEIGHT` of the total, or whose
    covariance is singular, is re-seeded: the least likely row first, then rows drawn by
    weight from ``rows``, with the pooled covariance; each re-seed warns.

    Parameters
    ----------
    stats : Stats
        Added statistics of rows centered on ``shift``.
    covariance_type : str
    reg : float or ndarray of shape (n_features,)
        From :func:`regularization`.
    variance_floor : ndarray of shape (n_features,) or None
        For :func:`singular_components`.
    rows : ndarray of shape (n_rows, n_features)
        Rows to re-seed from; ``row_weight`` their weights (or None).
    row_weight : ndarray of shape (n_rows,) or None
    shift : ndarray of shape (n_features,)
    rng : numpy Generator

    Returns
    -------
    params : tuple
        ``(weights (K,), centered means (K, D), covariances, precisions_cholesky)``.
    n_reseeded : int

    Raises
    ------
    FittingError
        When a tied covariance is singular or re-seeded components stay singular.
    """
    funcs = COVARIANCE[covariance_type]
    d = rows.shape[1]
    n_k, s, S = funcs.unpack(stats, d)
    n_components = n_k.shape[0]
    n_k = n_k + WEIGHT_FLOOR
    collapsed = set(np.flatnonzero(n_k < COLLAPSE_WEIGHT * stats.weight_sum).tolist())
    means_c = s / n_k[:, None]
    cov = funcs.covariances(n_k, s, S, reg)
    weights = n_k / n_k.sum()
    try:
        prec_chol = funcs.precision_cholesky(cov)
        singular = singular_components(covariance_type, cov, prec_chol, variance_floor)
        if singular == [-1]:
            raise SingularCovarianceError([-1])
        collapsed.update(singular)
        if not collapsed:
            return (weights, means_c, cov, prec_chol), 0
    except SingularCovarianceError as exc:
        if exc.components == [-1]:
            raise FittingError(
                "the tied covariance is singular; raise reg_covar (e.g. 1e-6) or remove constant columns"
            ) from None
        collapsed.update(exc.components)
    collapsed = sorted(collapsed)
    if covariance_type != "tied":
        pooled = Stats(stats.raw.sum(axis=0, keepdims=True))
        global_cov = funcs.covariances(*funcs.unpack(pooled, d), reg)
    extra = weighted_sample(rows, row_weight, len(collapsed), rng)[0]
    for i, comp in enumerate(collapsed):
        row = stats.worst_row if i == 0 and stats.worst_row is not None else extra[i % len(extra)]
        means_c[comp] = np.asarray(row, dtype=np.float64) - shift
        if covariance_type != "tied":
            cov[comp] = global_cov[0]
        n_k[comp] = stats.weight_sum / n_components
        warnings.warn(
            f"component {comp} collapsed (weight {weights[comp]:.3g}, or a singular covariance); "
            "re-seeded at an unlikely row. "
            "If this repeats, lower n_components or raise reg_covar",
            ComponentCollapseWarning,
            stacklevel=4,
        )
    weights = n_k / n_k.sum()
    try:
        prec_chol = funcs.precision_cholesky(cov)
    except SingularCovarianceError as exc:
        raise FittingError(
            f"component(s) {exc.components} collapsed onto identical rows; raise reg_covar or lower n_components"
        ) from None
    return (weights, means_c, cov, prec_chol), len(collapsed)


def fit_source(
    model, source: RowSource, *, shift, variance, weight_sum, centers=None, rng=None, warm_start: bool = False
) -> None:
    """Fit ``model`` in place by EM over ``source``: ``n_init`` runs, the best lower bound kept.

    Parameters
    ----------
    model : GaussianMixture
        Its parameters (``n_components``, ``tol``, ``max_iter``, ``n_init``, ...) drive the loop;
        the fitted attributes (``weights_``, ``means_``, ``converged_``, ...) are set on it.
    source : RowSource
    shift, variance : ndarray of shape (n_features,)
        Weighted mean and variance of all rows (the loop centers on ``shift``).
    weight_sum : float
        Total weight of all rows.
    centers : ndarray of shape (n_components, n_features), optional
        k-means centers to start from (otherwise seeded from ``source.sample``).
    rng : numpy Generator, optional
        Continues a random stream already in use (default: from ``model.random_state``).
    warm_start : bool, default=False
        Run once from the model's current parameters instead of initializing.
    """
    funcs = COVARIANCE[model.covariance_type]
    reg = regularization(model.reg_covar, model.reg_covar_relative, variance)
    floor = SINGULAR_RELATIVE_VARIANCE * variance
    rng = check_random_state(model.random_state) if rng is None else rng
    started = time.perf_counter()
    with limit_blas_threads(1):
        best = None
        for _ in range(1 if warm_start else model.n_init):
            if warm_start:
                params = (model.weights_, model.means_ - shift, model.covariances_, model.precisions_cholesky_)
                start_bound = model.lower_bound_
            else:
                params = initial_parameters(model, source, shift, reg, rng, centers)
                start_bound = -np.inf
            run = _run(model, source, params, start_bound, shift, reg, floor, rng)
            if best is None or run[0] > best[0]:
                best = run
    lower_bound, params, n_iter, converged, lower_bounds, reseeds = best
    weights, means_c, cov, prec_chol = params
    model.weights_ = weights
    model.means_ = means_c + shift
    model.precisions_cholesky_ = prec_chol
    model.covariances_ = cov if cov is not None else funcs.covariances_from_precision_cholesky(prec_chol)
    model.precisions_ = funcs.precisions(prec_chol)
    model.converged_ = converged
    model.n_iter_ = n_iter
    model.lower_bound_ = lower_bound
    model.lower_bounds_ = lower_bounds
    model.n_reseeded_ = reseeds
    model.fit_seconds_ = time.perf_counter() - started
    model.weight_sum_ = weight_sum
    if not converged and model.max_iter > 0:
        change = lower_bounds[-1] - lower_bounds[-2] if len(lower_bounds) > 1 else np.nan
        warnings.warn(
            f"EM did not converge in max_iter={model.max_iter} iterations (last change {change:.3g}, "
            f"tol={model.tol}); raise max_iter or tol",
            ConvergenceWarning,
            stacklevel=4,
        )


def fit_arrays(model, X: np.ndarray, sample_weight, *, centers=None, data_moments=None) -> None:
    """Fit ``model`` in place by EM over validated rows in memory (an :class:`ArraySource`).

    With ``model.warm_start`` and an earlier fit, one run continues from the current parameters.

    Parameters
    ----------
    model : GaussianMixture
    X : ndarray of shape (n_samples, n_features)
        Validated rows (compute dtype).
    sample_weight : ndarray of shape (n_samples,) or None
        Validated weights.
    centers : ndarray of shape (n_components, n_features), optional
        Centers to start from instead of seeding.
    data_moments : tuple of two ndarray of shape (n_features,), optional
        The rows' weighted mean and variance when already known (model selection shares them).

    Raises
    ------
    FittingError
        When fewer rows or distinct rows than components have positive weight.
    """
    w = sample_weight
    n, d = X.shape
    check_settings(model, d)
    k = model.n_components
    funcs = COVARIANCE[model.covariance_type]
    warm = model.warm_start and hasattr(model, "converged_")
    if not warm and model.means_init is None and centers is None:
        n_positive = n if w is None else int(np.count_nonzero(w))
        if n_positive < k:
            raise FittingError(
                f"n_components={k} but only {n_positive} row(s) have positive weight; "
                f"lower n_components to at most {n_positive}"
            )
        distinct = count_distinct_rows(X, w, k)
        if distinct < k:
            raise FittingError(
                f"n_components={k} but the data have only {distinct} distinct row(s) "
                f"with positive weight; lower n_components to at most {distinct}"
            )
    chunk = chunk_rows(model, d)
    threads = available_cores() if model.n_threads is None else int(model.n_threads)
    if funcs.n_features(d) < THREADED_MIN_FEATURES:
        threads = 1  # measured: narrow chunks are memory-bound, threads only add overhead
    source = ArraySource(X, w, chunk_size=chunk, dtype=check_dtype(model.dtype), n_threads=threads)
    if data_moments is None:
        shift = weighted_mean(X, w, chunk)
        variance = weighted_variance(X, w, shift, chunk)
    else:
        shift, variance = data_moments
    fit_source(
        model,
        source,
        shift=shift,
        variance=variance,
        weight_sum=float(n if w is None else w.sum()),
        centers=centers,
        warm_start=warm,
    )


def iterate(e_step, m_step, *, max_iter: int, stop_before_m=None, stop_after_m=None, m_step_on_last: bool = True):
    """The EM iteration, the one loop of the package: E-step, stop test, M-step, stop test.

    The mixture EM (:func:`fit_source`) stops after the M-step, on the change of the lower
    bound; the Potts hidden Markov random field (:func:`gmmseg.image.smoothing.potts_em`)
    has its own E-step (a spatial prior over the labels) and stops before the M-step, on
    the share of labels that changed.

    Parameters
    ----------
    e_step : callable
        ``e_step() -> expected``: the E-step under the current parameters.
    m_step : callable or None
        ``m_step(expected) -> updated``: the M-step (it keeps the new parameters). None:
        parameters stay fixed.
    max_iter : int
        At most this many iterations.
    stop_before_m : callable, optional
        ``stop_before_m(expected, n_iter) -> bool``; True ends the loop, converged, before
        the M-step (the parameters stay those of the last E-step).
    stop_after_m : callable, optional
        ``stop_after_m(expected, updated, n_iter) -> bool``; True ends the loop, converged.
    m_step_on_last : bool, default=True
        False skips the M-step of the last iteration (the result then matches its E-step).

    Returns
    -------
    n_iter : int
        Iterations run.
    converged : bool
    """
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        expected = e_step()
        if stop_before_m is not None and stop_before_m(expected, n_iter):
            return n_iter, True
        if m_step is None or (n_iter == max_iter and not m_step_on_last):
            continue
        updated = m_step(expected)
        if stop_after_m is not None and stop_after_m(expected, updated, n_iter):
            return n_iter, True
    return n_iter, False


class _MixtureRun:
    """One EM run of a mixture over a row source, as the E- and M-step of :func:`iterate`."""

    def __init__(self, model, source, params, lower_bound, shift, reg, floor, rng):
        self.model, self.source, self.params = model, source, params
        self.funcs = COVARIANCE[model.covariance_type]
        self.shift, self.reg, self.floor, self.rng = shift, reg, floor, rng
        self.lower_bound = self.previous = lower_bound
        self.lower_bounds: list[float] = []
        self.reseeds = 0

    def e_step(self) -> Stats:
        weights, means_c, _, prec_chol = self.params
        with np.errstate(divide="ignore"):
            coef = self.funcs.coefficients(np.log(weights), means_c, prec_chol)
        return self.source.expectation(self.funcs, coef, self.shift, self.funcs.shared_factor(prec_chol))

    def m_step(self, stats: Stats) -> int:
        self.previous, self.lower_bound = self.lower_bound, stats.loglik / stats.weight_sum
        model, source = self.model, self.source
        self.params, n_new = maximization_step(
            stats,
            model.covariance_type,
            self.reg,
            self.floor,
            source.sample,
            source.sample_weight,
            self.shift,
            self.rng,
        )
        self.reseeds += n_new
        if self.reseeds > MAX_RESEEDS:
            raise FittingError(
                f"components kept collapsing ({self.reseeds} re-seeds); lower n_components or raise reg_covar"
            )
        self.lower_bounds.append(self.lower_bound)
        if model.verbose:
            print(f"iteration {len(self.lower_bounds)}: lower bound {self.lower_bound:.6f}")
        return n_new

    def converged(self, stats: Stats, n_new: int, n_iter: int) -> bool:
        return abs(self.lower_bound - self.previous) < self.model.tol and n_new == 0


def _run(model, source, params, lower_bound, shift, reg, floor, rng):
    """One EM run from ``params``; returns ``(lower_bound, params, n_iter, converged, lower_bounds, reseeds)``."""
    run = _MixtureRun(model, source, params, lower_bound, shift, reg, floor, rng)
    n_iter, converged = iterate(run.e_step, run.m_step, max_iter=model.max_iter, stop_after_m=run.converged)
    return run.lower_bound, run.params, n_iter, converged, run.lower_bounds, run.reseeds
