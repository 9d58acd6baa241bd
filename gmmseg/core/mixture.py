"""The Gaussian mixture estimator: exact, weighted, chunked EM."""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, clone

from ..errors import ComponentCollapseWarning, ConvergenceWarning, FittingError, NotFittedError, ParameterError
from .covariance import COVARIANCE, COVARIANCE_TYPES, SingularCovarianceError, full_matrices
from .init import check_random_state, count_distinct_rows, kmeans, kmeans_plusplus, nearest_center, weighted_sample
from .stats import Stats, auto_chunk_size, expectation, log_normalise, log_prob_chunks, moments
from .validation import check_array, check_choice, check_dtype, check_float, check_int, check_sample_weight

__all__ = ["GaussianMixture", "ArraySource"]

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
_EPS = 10 * np.finfo(np.float64).eps
#: Rows above which k-means seeding and refinement run on a weighted sample.
KMEANS_MAX_SAMPLE = 100_000
#: A component whose share of the total weight falls below this has collapsed.
COLLAPSE_WEIGHT = 1e-9
#: Expanded feature count from which the E-step splits rows over threads (measured).
THREADED_MIN_FEATURES = 32
#: A component whose variance along a feature is below this fraction of the data's is singular.
SINGULAR_RELATIVE_VARIANCE = 1e-12
#: How often one fit may re-seed collapsed components before giving up.
MAX_RESEEDS = 20


class ArraySource:
    """Rows in memory as a source for the EM loop (the Dask backend has its own source).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    chunk_size, dtype, n_threads
        E-step settings (see :func:`gmmseg.core.stats.expectation`).
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
        """Statistics of hard nearest-centre responsibilities, or of uniform random ones (``seed``)."""
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


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by exact, weighted, chunked EM.

    A drop-in for :class:`sklearn.mixture.GaussianMixture` (same parameters,
    attributes, criteria and sign conventions) that also takes ``sample_weight``,
    works in bounded memory and is many times faster. Started from the same
    initial parameters it produces scikit-learn's fit to floating-point accuracy.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Shape of the component covariances.
    tol : float, default=1e-3
        EM stops when the mean log-likelihood improves by less than ``tol``.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance (see ``reg_covar_relative``).
    reg_covar_relative : bool, default=False
        If True, the amount added to feature ``d`` is ``reg_covar × var(X[:, d])``
        (weighted variance), so the regularisation follows each feature's scale.
    max_iter : int, default=100
        Maximum EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the best lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How initial responsibilities are made. ``kmeans``: weighted k-means++ seeds
        refined by Lloyd iterations (on a weighted sample of at most 100,000 rows
        for larger inputs), then every row assigned to its nearest centre;
        ``k-means++``: the seeds without refinement; ``random_from_data``: K rows
        drawn in proportion to weight; ``random``: uniform random responsibilities.
    weights_init, means_init, precisions_init : array-like, optional
        User-provided initial parameters (as in scikit-learn).
    random_state : int, RandomState, Generator or None
        Seed for the initialisation.
    warm_start : bool, default=False
        Continue from the current fit on the next ``fit`` call.
    dtype : {"float64", "float32"}, default="float64"
        Compute dtype. float32 halves the memory of the data and doubles the speed;
        statistics are always accumulated in float64.
    chunk_size : int or "auto", default="auto"
        Rows per E-step chunk (memory beyond the data is ``O(chunk_size × (K + F))``).
    n_threads : int or None, default=None
        Threads for the E-step (None: all cores). Rows are split into fixed blocks
        whose statistics are added in order, so results do not depend on it.
    verbose : int, default=0
        Print the lower bound every iteration when > 0.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shapes depend on ``covariance_type`` (see :mod:`gmmseg.core.covariance`).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Weighted mean log-likelihood of the best initialisation, as scikit-learn.
    lower_bounds_ : list of float
        The lower bound at every iteration of the best initialisation.
    n_features_in_ : int
    n_reseeded_ : int
        How many times a collapsed component was re-seeded during the kept fit.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmseg import GaussianMixture
    >>> X = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
    >>> gm = GaussianMixture(2, random_state=0).fit(X)
    >>> sorted(np.round(gm.means_.ravel(), 2).tolist())
    [0.1, 10.1]
    >>> gm.predict([[0.05], [9.9]]).tolist() == [gm.predict([[0.0]])[0], gm.predict([[10.0]])[0]]
    True
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        reg_covar_relative: bool = False,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start: bool = False,
        dtype: str = "float64",
        chunk_size: int | str = "auto",
        n_threads: int | None = None,
        verbose: int = 0,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.reg_covar_relative = reg_covar_relative
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.dtype = dtype
        self.chunk_size = chunk_size
        self.n_threads = n_threads
        self.verbose = verbose

    # ------------------------------------------------------------------ checks

    def _check_parameters(self, n_features: int) -> None:
        check_int(self.n_components, "n_components", 1)
        check_choice(self.covariance_type, "covariance_type", COVARIANCE_TYPES)
        check_float(self.tol, "tol", 0.0)
        check_float(self.reg_covar, "reg_covar", 0.0)
        check_int(self.max_iter, "max_iter", 0)
        check_int(self.n_init, "n_init", 1)
        check_choice(self.init_params, "init_params", INIT_PARAMS)
        check_dtype(self.dtype)
        if self.chunk_size != "auto":
            check_int(self.chunk_size, "chunk_size", 1)
        check_int(self.n_threads, "n_threads", 1, allow_none=True)
        k, d = self.n_components, n_features
        if self.weights_init is not None:
            w = np.asarray(self.weights_init, dtype=float)
            if w.shape != (k,) or np.any(w < 0) or not np.isclose(w.sum(), 1.0, atol=1e-6):
                raise ParameterError(f"weights_init must be {k} non-negative numbers summing to 1, got shape {w.shape}")
        if self.means_init is not None:
            m = np.asarray(self.means_init, dtype=float)
            if m.shape != (k, d):
                raise ParameterError(f"means_init must have shape ({k}, {d}), got {m.shape}")
        if self.precisions_init is not None:
            p = np.asarray(self.precisions_init, dtype=float)
            want = COVARIANCE[self.covariance_type].covariance_shape(k, d)
            if p.shape != want:
                raise ParameterError(
                    f"precisions_init for covariance_type={self.covariance_type!r} must have shape {want}, "
                    f"got {p.shape}"
                )

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "precisions_cholesky_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) before using it")

    def _validate_X(self, X, *, reset: bool) -> np.ndarray:
        names = getattr(X, "columns", None)
        arr = check_array(
            X,
            check_dtype(self.dtype),
            n_features=None if reset else self.n_features_in_,
            estimator=type(self).__name__,
        )
        if reset:
            self.n_features_in_ = arr.shape[1]
            if names is not None and all(isinstance(c, str) for c in names):
                self.feature_names_in_ = np.asarray(list(names), dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        return arr

    # ------------------------------------------------------------------ public API

    def fit(self, X, y=None, sample_weight=None) -> GaussianMixture:
        """Estimate the parameters with EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights. An integer weight ``m`` is the same as the
            row repeated ``m`` times; 0 is the same as leaving the row out.

        Returns
        -------
        self : GaussianMixture
        """
        X = self._validate_X(X, reset=not (self.warm_start and hasattr(self, "converged_")))
        w = check_sample_weight(sample_weight, X.shape[0])
        self._fit(X, w)
        return self

    def fit_predict(self, X, y=None, sample_weight=None) -> np.ndarray:
        """Fit, then return the most likely component of every row, shape ``(n_samples,)``."""
        X = self._validate_X(X, reset=not (self.warm_start and hasattr(self, "converged_")))
        w = check_sample_weight(sample_weight, X.shape[0])
        self._fit(X, w)
        return self._predict_validated(X)

    def predict(self, X) -> np.ndarray:
        """Most likely component of every row, shape ``(n_samples,)``."""
        self._check_is_fitted()
        return self._predict_validated(self._validate_X(X, reset=False))

    def predict_proba(self, X) -> np.ndarray:
        """Posterior probability of every component, shape ``(n_samples, n_components)``."""
        self._check_is_fitted()
        X = self._validate_X(X, reset=False)
        out = np.empty((X.shape[0], self.n_components))
        for start, stop, _, L in self._log_prob_chunks(X):
            log_normalise(L)
            out[start:stop] = L.T
        return out

    def score_samples(self, X) -> np.ndarray:
        """Log-density ``log p(x)`` of every row, shape ``(n_samples,)``."""
        self._check_is_fitted()
        X = self._validate_X(X, reset=False)
        out = np.empty(X.shape[0])
        for start, stop, _, L in self._log_prob_chunks(X):
            out[start:stop] = log_normalise(L)
        return out

    def score(self, X, y=None, sample_weight=None) -> float:
        """Weighted mean log-likelihood of ``X`` (higher is better)."""
        logp = self.score_samples(X)
        w = check_sample_weight(sample_weight, logp.shape[0])
        return float(np.average(logp, weights=w))

    def bic(self, X, sample_weight=None) -> float:
        """Bayesian information criterion (lower is better); ``n`` is the sum of the weights.

        ``-2 Σ w log p(x) + n_parameters · log(Σ w)``, scikit-learn's formula and sign.
        """
        logp = self.score_samples(X)
        w = check_sample_weight(sample_weight, logp.shape[0])
        total = float(logp.sum() if w is None else w @ logp)
        n = float(logp.shape[0] if w is None else w.sum())
        return -2.0 * total + self.n_parameters_ * np.log(n)

    def aic(self, X, sample_weight=None) -> float:
        """Akaike information criterion (lower is better): ``-2 Σ w log p(x) + 2 n_parameters``."""
        logp = self.score_samples(X)
        w = check_sample_weight(sample_weight, logp.shape[0])
        total = float(logp.sum() if w is None else w @ logp)
        return -2.0 * total + 2.0 * self.n_parameters_

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` rows from the fitted mixture.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
        """
        self._check_is_fitted()
        check_int(n_samples, "n_samples", 1)
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        d = self.means_.shape[1]
        parts = []
        covariances = full_matrices(self.covariance_type, self.covariances_, self.n_components, d)
        for mean, cov, c in zip(self.means_, covariances, counts):
            parts.append(rng.multivariate_normal(mean, cov, int(c)))
        labels = np.repeat(np.arange(self.n_components), counts)
        return np.vstack(parts), labels

    def component_log_prob(self, X) -> np.ndarray:
        """``log w_k + log N(x | μ_k, Σ_k)`` for every row and component, shape ``(n_samples, n_components)``.

        This is the input of any E-step that adds a prior over the labels (e.g. the
        Markov random field of image smoothing).
        """
        self._check_is_fitted()
        X = self._validate_X(X, reset=False)
        out = np.empty((X.shape[0], self.n_components))
        for start, stop, _, L in self._log_prob_chunks(X):
            out[start:stop] = L.T
        return out

    @classmethod
    def from_responsibilities(
        cls, X, responsibilities, sample_weight=None, *, covariance_type: str = "full", **params
    ) -> GaussianMixture:
        """The M-step: a fitted mixture whose parameters maximise the expected log-likelihood
        for given ``responsibilities`` ``(n_samples, n_components)`` (rows summing to 1).

        Use it to alternate an E-step of your own (e.g. with a spatial prior) with the
        exact weighted M-step of the core, instead of writing a second EM loop.
        ``params`` are other :class:`GaussianMixture` parameters (``reg_covar``, ...).
        """
        R = np.asarray(responsibilities, dtype=np.float64)
        model = cls(R.shape[1], covariance_type=covariance_type, **params)
        X = model._validate_X(X, reset=True)
        if R.ndim != 2 or R.shape[0] != X.shape[0]:
            raise ParameterError(f"responsibilities must have shape ({X.shape[0]}, n_components), got {R.shape}")
        model._check_parameters(X.shape[1])
        w = check_sample_weight(sample_weight, X.shape[0])
        funcs = COVARIANCE[covariance_type]
        dtype = check_dtype(model.dtype)
        chunk = model._chunk_rows(X.shape[1])
        shift = _weighted_mean(X, w, chunk)
        variance = _weighted_variance(X, w, shift, chunk)
        reg = model._regularisation(variance)
        model._variance_floor = SINGULAR_RELATIVE_VARIANCE * variance
        stats = moments(
            X, lambda s, e: R[s:e].T, funcs.features, shift, w, n_components=R.shape[1], chunk_size=chunk, dtype=dtype
        )
        (weights, means_c, cov, prec_chol), _ = model._maximisation(
            stats, reg, funcs, X, w, shift, check_random_state(model.random_state)
        )
        model.weights_ = weights
        model.means_ = means_c + shift
        model.covariances_ = cov
        model.precisions_cholesky_ = prec_chol
        model.precisions_ = funcs.precisions(prec_chol)
        model.converged_ = True
        model.n_iter_ = 0
        model.lower_bound_ = -np.inf
        model.lower_bounds_ = []
        model.n_reseeded_ = 0
        return model

    @classmethod
    def mixture_of(cls, parts, shares) -> GaussianMixture:
        """One fitted mixture whose density is ``Σ_i shares[i] · p_i(x)`` for fitted mixtures ``parts``.

        The components of every part are kept, their weights scaled by the part's share
        (e.g. a mixture of the bulk of the data plus one fitted to its rare tail). All parts
        must have the same covariance type and number of features (tied parts cannot be
        combined: their shared covariances differ). The result takes its other parameters
        from ``parts[0]``.

        Parameters
        ----------
        parts : sequence of fitted GaussianMixture
        shares : sequence of float
            Positive, one per part, summing to 1.

        Returns
        -------
        GaussianMixture
            Fitted, with ``n_components`` the sum of the parts'.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(500, 2))
        >>> a = GaussianMixture(2, random_state=0).fit(X)
        >>> b = GaussianMixture(1, random_state=0).fit(X + 5)
        >>> both = GaussianMixture.mixture_of([a, b], [0.9, 0.1])
        >>> both.n_components, bool(np.allclose(both.score_samples(X),
        ...     np.logaddexp(np.log(0.9) + a.score_samples(X), np.log(0.1) + b.score_samples(X))))
        (3, True)
        """
        parts = list(parts)
        shares = np.asarray(shares, dtype=np.float64)
        if not parts or shares.shape != (len(parts),):
            raise ParameterError(f"give one share per part: {len(parts)} part(s), shares of shape {shares.shape}")
        if not (np.all(np.isfinite(shares)) and np.all(shares > 0) and abs(shares.sum() - 1.0) < 1e-9):
            raise ParameterError(f"shares must be positive and sum to 1, got {shares.tolist()}")
        for part in parts:
            part._check_is_fitted()
        kinds = {p.covariance_type for p in parts}
        dims = {p.means_.shape[1] for p in parts}
        if len(kinds) != 1 or len(dims) != 1:
            raise ParameterError(
                f"parts must share one covariance type and feature count, got {sorted(kinds)} and {sorted(dims)}"
            )
        if kinds == {"tied"} and len(parts) > 1:
            raise ParameterError("tied mixtures cannot be combined (each has its own shared covariance); use full")
        first = parts[0]
        model = clone(first)
        model.set_params(
            n_components=int(sum(p.n_components for p in parts)),
            weights_init=None,
            means_init=None,
            precisions_init=None,
        )
        model.weights_ = np.concatenate([share * p.weights_ for share, p in zip(shares, parts)])
        model.means_ = np.concatenate([p.means_ for p in parts])
        for name in ("covariances_", "precisions_", "precisions_cholesky_"):
            setattr(model, name, np.concatenate([np.asarray(getattr(p, name)) for p in parts]))
        model.n_features_in_ = first.n_features_in_
        if hasattr(first, "feature_names_in_"):
            model.feature_names_in_ = first.feature_names_in_
        model.converged_ = all(p.converged_ for p in parts)
        model.n_iter_ = int(sum(p.n_iter_ for p in parts))
        model.lower_bound_ = -np.inf  # no single EM run produced this mixture
        model.lower_bounds_ = []
        model.n_reseeded_ = int(sum(getattr(p, "n_reseeded_", 0) for p in parts))
        return model

    def permute_components(self, order) -> GaussianMixture:
        """Renumber the components in place: component ``order[j]`` becomes component ``j``.

        Used to give components a canonical order (by lightness, by size, ...). Returns self.
        """
        self._check_is_fitted()
        order = np.asarray(order)
        if sorted(order.tolist()) != list(range(self.n_components)):
            raise ParameterError(f"order must be a permutation of 0..{self.n_components - 1}, got {order.tolist()}")
        self.weights_ = self.weights_[order]
        self.means_ = self.means_[order]
        if self.covariance_type != "tied":  # one shared covariance: nothing to renumber
            self.covariances_ = self.covariances_[order]
            self.precisions_ = self.precisions_[order]
            self.precisions_cholesky_ = self.precisions_cholesky_[order]
        return self

    @property
    def n_parameters_(self) -> int:
        """Number of free parameters (scikit-learn's count)."""
        return int(COVARIANCE[self.covariance_type].n_parameters(self.n_components, self.means_.shape[1]))

    def _n_parameters(self) -> int:  # scikit-learn's private name, for users of it
        return self.n_parameters_

    # ------------------------------------------------------------------ chunked evaluation

    def _chunk_rows(self, n_features: int) -> int:
        if self.chunk_size != "auto":
            return int(self.chunk_size)
        funcs = COVARIANCE[self.covariance_type]
        return auto_chunk_size(
            funcs.n_features(n_features), self.n_components, np.dtype(check_dtype(self.dtype)).itemsize
        )

    def _coefficients(self, shift: np.ndarray) -> np.ndarray:
        funcs = COVARIANCE[self.covariance_type]
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights_)
        return funcs.coefficients(log_w, self.means_ - shift, self.precisions_cholesky_)

    def _log_prob_chunks(self, X: np.ndarray):
        shift = self.weights_ @ self.means_
        funcs = COVARIANCE[self.covariance_type]
        yield from log_prob_chunks(
            X,
            self._coefficients(shift),
            funcs.features,
            shift,
            self._chunk_rows(X.shape[1]),
            check_dtype(self.dtype),
            funcs.shared_factor(self.precisions_cholesky_),
        )

    def _predict_validated(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape[0], dtype=np.intp)
        for start, stop, _, L in self._log_prob_chunks(X):
            out[start:stop] = L.argmax(axis=0)
        return out

    def expectation(self, X, sample_weight=None, *, entropy: bool = False) -> Stats:
        """E-step of the current parameters over ``X``: the additive :class:`~gmmseg.core.stats.Stats`.

        The statistics are of rows centred on the mixture mean ``weights_ @ means_``.
        """
        self._check_is_fitted()
        X = self._validate_X(X, reset=False)
        w = check_sample_weight(sample_weight, X.shape[0])
        shift = self.weights_ @ self.means_
        funcs = COVARIANCE[self.covariance_type]
        return expectation(
            X,
            self._coefficients(shift),
            funcs.features,
            shift,
            w,
            chunk_size=self._chunk_rows(X.shape[1]),
            dtype=check_dtype(self.dtype),
            entropy=entropy,
            shared=funcs.shared_factor(self.precisions_cholesky_),
        )

    # ------------------------------------------------------------------ fitting

    def _fit(self, X: np.ndarray, w: np.ndarray | None, centers: np.ndarray | None = None, moments=None) -> None:
        """Fit on validated data.

        ``centers`` (K, D) replaces the k-means seeding and ``moments`` = ``(mean, variance)``
        of the data the two passes that compute them (model selection shares both).
        """
        n, d = X.shape
        self._check_parameters(d)
        k = self.n_components
        funcs = COVARIANCE[self.covariance_type]
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if do_init and self.means_init is None and centers is None:
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
        chunk = self._chunk_rows(d)
        threads = _n_threads(self.n_threads)
        if funcs.n_features(d) < THREADED_MIN_FEATURES:
            threads = 1  # measured: narrow chunks are memory-bound, threads only add overhead
        source = ArraySource(X, w, chunk_size=chunk, dtype=check_dtype(self.dtype), n_threads=threads)
        if moments is None:
            shift = _weighted_mean(X, w, chunk)
            variance = _weighted_variance(X, w, shift, chunk)
        else:
            shift, variance = moments
        self._fit_source(source, shift, variance, float(n if w is None else w.sum()), centers, do_init)

    def _fit_source(self, source, shift, variance, weight_sum, centers=None, do_init=True, rng=None) -> None:
        """EM over any row source (in memory, or Dask blocks in :mod:`gmmseg.distributed`).

        ``source`` provides ``expectation(funcs, coef, shift, shared) -> Stats``,
        ``moments(funcs, shift, n_components, centers=..., seed=...) -> Stats`` and the
        rows ``sample`` / ``sample_weight`` used for seeding and re-seeding.
        ``shift`` and ``variance`` are the weighted mean and variance of the data; ``rng``
        continues a random stream already in use (default: from ``random_state``).
        """
        funcs = COVARIANCE[self.covariance_type]
        reg = self._regularisation(variance)
        self._variance_floor = SINGULAR_RELATIVE_VARIANCE * variance
        rng = check_random_state(self.random_state) if rng is None else rng
        n_init = self.n_init if do_init else 1
        started = time.perf_counter()
        with _single_threaded_blas(1):
            best = self._run_inits(source, shift, reg, rng, funcs, centers, do_init, n_init)
        lower_bound, params, n_iter, converged, lower_bounds, reseeds = best
        weights, means_c, cov, prec_chol = params
        self.weights_ = weights
        self.means_ = means_c + shift
        self.precisions_cholesky_ = prec_chol
        self.covariances_ = cov if cov is not None else funcs.covariances_from_precision_cholesky(prec_chol)
        self.precisions_ = funcs.precisions(prec_chol)
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.lower_bound_ = lower_bound
        self.lower_bounds_ = lower_bounds
        self.n_reseeded_ = reseeds
        self.fit_seconds_ = time.perf_counter() - started
        self.weight_sum_ = weight_sum
        if not converged and self.max_iter > 0:
            change = lower_bounds[-1] - lower_bounds[-2] if len(lower_bounds) > 1 else np.nan
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations (last change {change:.3g}, "
                f"tol={self.tol}); raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _run_inits(self, source, shift, reg, rng, funcs, centers, do_init, n_init):
        """The EM loop, once per initialisation; returns the best run's state."""
        best = None
        for _ in range(n_init):
            if do_init:
                params = self._initial_parameters(source, shift, reg, rng, funcs, centers)
                lower_bound = -np.inf
            else:
                params = self._current_parameters(shift)
                lower_bound = self.lower_bound_
            lower_bounds: list[float] = []
            converged = False
            n_iter = 0
            reseeds = 0
            for n_iter in range(1, self.max_iter + 1):
                previous = lower_bound
                weights, means_c, _, prec_chol = params
                with np.errstate(divide="ignore"):
                    coef = funcs.coefficients(np.log(weights), means_c, prec_chol)
                stats = source.expectation(funcs, coef, shift, funcs.shared_factor(prec_chol))
                lower_bound = stats.loglik / stats.weight_sum
                params, n_new = self._maximisation(stats, reg, funcs, source.sample, source.sample_weight, shift, rng)
                reseeds += n_new
                if reseeds > MAX_RESEEDS:
                    raise FittingError(
                        f"components kept collapsing ({reseeds} re-seeds); lower n_components or raise reg_covar"
                    )
                lower_bounds.append(lower_bound)
                if self.verbose:
                    print(f"iteration {n_iter}: lower bound {lower_bound:.6f}")
                if abs(lower_bound - previous) < self.tol and n_new == 0:
                    converged = True
                    break
            if self.max_iter == 0:
                lower_bound = -np.inf if do_init else self.lower_bound_
            if best is None or lower_bound > best[0]:
                best = (lower_bound, params, n_iter, converged, lower_bounds, reseeds)
        return best

    def _regularisation(self, var: np.ndarray) -> np.ndarray | float:
        """``reg_covar`` (absolute), or ``reg_covar × var_d`` per feature when relative.

        A constant feature (variance 0) gets ``reg_covar`` times the smallest positive
        feature variance (or 1 when every feature is constant), so it stays regular.
        """
        if not self.reg_covar_relative:
            return float(self.reg_covar)
        positive = var[var > 0]
        fallback = positive.min() if positive.size else 1.0
        return self.reg_covar * np.where(var > 0, var, fallback)

    def _current_parameters(self, shift):
        return (self.weights_, self.means_ - shift, self.covariances_, self.precisions_cholesky_)

    def _initial_parameters(self, source, shift, reg, rng, funcs, centers):
        """Initial parameters: the M-step of k-means (or random) responsibilities, or the given ones."""
        k = self.n_components
        if self.weights_init is not None and self.means_init is not None and self.precisions_init is not None:
            # Fully specified: the responsibilities would only feed parameters that are replaced.
            weights = np.asarray(self.weights_init, dtype=np.float64).copy()
            means_c = np.asarray(self.means_init, dtype=np.float64) - shift
            return weights, means_c, None, funcs.precision_cholesky_from_precisions(self.precisions_init)
        if self.init_params == "random" and centers is None:
            stats = source.moments(funcs, shift, k, seed=int(rng.integers(0, 2**63 - 1)))
        else:
            if centers is None:
                centers = self._seed_centers(source.sample, source.sample_weight, rng)
            stats = source.moments(funcs, shift, k, centers=np.asarray(centers, dtype=np.float64))
        n_k, s, S = funcs.unpack(stats, shift.shape[0])
        n_k = n_k + _EPS
        weights = n_k / stats.weight_sum
        means_c = s / n_k[:, None]
        cov = funcs.covariances(n_k, s, S, reg)
        if self.weights_init is not None:
            weights = np.asarray(self.weights_init, dtype=np.float64).copy()
        if self.means_init is not None:
            means_c = np.asarray(self.means_init, dtype=np.float64) - shift
        if self.precisions_init is not None:
            prec_chol = funcs.precision_cholesky_from_precisions(self.precisions_init)
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

    def _seed_centers(self, X, w, rng) -> np.ndarray:
        k = self.n_components
        n_positive = X.shape[0] if w is None else int(np.count_nonzero(w))
        if n_positive > KMEANS_MAX_SAMPLE:
            sample, sw = weighted_sample(X, w, KMEANS_MAX_SAMPLE, rng)
        else:
            sample, sw = np.asarray(X, dtype=np.float64), w
        if self.init_params == "random_from_data":
            p = np.ones(sample.shape[0]) if sw is None else np.asarray(sw, dtype=float)
            # distinct rows, drawn without replacement in proportion to weight
            uniq, index = np.unique(sample, axis=0, return_index=True)
            pu = np.bincount(np.unique(sample, axis=0, return_inverse=True)[1].ravel(), weights=p)
            chosen = rng.choice(uniq.shape[0], size=k, replace=False, p=pu / pu.sum())
            return uniq[chosen]
        seeds = kmeans_plusplus(sample, k, sw, rng)
        if self.init_params == "k-means++":
            return seeds
        return kmeans(sample, seeds, sw)

    def _singular_components(self, cov: np.ndarray, prec_chol: np.ndarray) -> list[int]:
        """Components that are numerically singular (``[-1]`` for a singular tied covariance).

        A component is singular when its variance along some feature, given the
        features before it (the squared Cholesky pivot ``1 / diag(U)²``), is below
        1e-12 of that feature's variance in the data: e.g. a component sitting on
        identical rows, or on a line, with ``reg_covar=0``.
        """
        floor = getattr(self, "_variance_floor", None)
        if floor is None:
            return []
        ct = self.covariance_type
        if ct in ("full", "tied"):
            pivots = np.diagonal(prec_chol, axis1=-2, axis2=-1)
            conditional = 1.0 / np.atleast_2d(pivots) ** 2
        elif ct == "diag":
            conditional = cov
        else:
            conditional = np.broadcast_to(cov[:, None], (cov.shape[0], floor.shape[0]))
            floor = np.full_like(floor, floor.mean())
        bad = np.flatnonzero(np.any(conditional < floor[None, :], axis=1)).tolist()
        if ct == "tied" and bad:
            return [-1]
        return bad

    def _maximisation(self, stats: Stats, reg, funcs, X, w, shift, rng):
        """M-step with collapse handling; returns ``(params, n_reseeded)``."""
        d = X.shape[1]
        n_k, s, S = funcs.unpack(stats, d)
        n_k = n_k + _EPS
        collapsed = set(np.flatnonzero(n_k < COLLAPSE_WEIGHT * stats.weight_sum).tolist())
        means_c = s / n_k[:, None]
        cov = funcs.covariances(n_k, s, S, reg)
        weights = n_k / n_k.sum()
        try:
            prec_chol = funcs.precision_cholesky(cov)
            singular = self._singular_components(cov, prec_chol)
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
        # Re-seed collapsed components: the least likely row first, then rows drawn by weight.
        collapsed = sorted(collapsed)
        if self.covariance_type != "tied":
            pooled = Stats(stats.raw.sum(axis=0, keepdims=True))
            global_cov = funcs.covariances(*funcs.unpack(pooled, d), reg)
        extra = weighted_sample(X, w, len(collapsed), rng)[0]
        for i, comp in enumerate(collapsed):
            row = stats.worst_row if i == 0 and stats.worst_row is not None else extra[i % len(extra)]
            means_c[comp] = np.asarray(row, dtype=np.float64) - shift
            if self.covariance_type != "tied":
                cov[comp] = global_cov[0]
            n_k[comp] = stats.weight_sum / self.n_components
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    # ------------------------------------------------------------------ model files

    def _to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_is_fitted()
        metadata = {
            "params": _jsonable_params(self.get_params()),
            "n_features": int(self.n_features_in_),
            "feature_names": ([str(c) for c in self.feature_names_in_] if hasattr(self, "feature_names_in_") else None),
            "converged": bool(self.converged_),
            "n_iter": int(self.n_iter_),
            "lower_bound": float(self.lower_bound_),
        }
        arrays = {
            "weights": self.weights_,
            "means": self.means_,
            "covariances": self.covariances_,
            "precisions_cholesky": self.precisions_cholesky_,
        }
        return metadata, arrays

    @classmethod
    def _from_file(cls, metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> GaussianMixture:
        model = cls(**metadata["params"])
        funcs = COVARIANCE[model.covariance_type]
        k, d = int(model.n_components), int(metadata["n_features"])
        model.weights_ = np.asarray(arrays["weights"], dtype=np.float64)
        model.means_ = np.asarray(arrays["means"], dtype=np.float64)
        model.covariances_ = np.asarray(arrays["covariances"], dtype=np.float64)
        model.precisions_cholesky_ = np.asarray(arrays["precisions_cholesky"], dtype=np.float64)
        want = funcs.covariance_shape(k, d)
        if (
            model.weights_.shape != (k,)
            or model.means_.shape != (k, d)
            or model.covariances_.shape != want
            or model.precisions_cholesky_.shape != want
        ):
            raise ValueError("array shapes do not match n_components and n_features")
        model.precisions_ = funcs.precisions(model.precisions_cholesky_)
        model.converged_ = bool(metadata["converged"])
        model.n_iter_ = int(metadata["n_iter"])
        model.lower_bound_ = float(metadata["lower_bound"])
        model.n_features_in_ = d
        if metadata.get("feature_names"):
            model.feature_names_in_ = np.asarray(metadata["feature_names"], dtype=object)
        return model

    def save(self, path) -> None:
        """Save to ``path`` as ``.npz`` arrays plus a JSON header (never pickle); see :func:`gmmseg.load`."""
        from .persist import save

        save(self, path)


def _n_threads(requested: int | None) -> int:
    if requested is not None:
        return int(requested)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def _single_threaded_blas(threads: int):
    """Keep BLAS single-threaded while EM runs.

    The per-chunk products are small (K × F by F × chunk): BLAS threads cost more in
    start-up and spinning than they save, badly so on a loaded machine (measured 10x),
    and when our own threads share the blocks they would oversubscribe the cores.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _jsonable_params(params: dict) -> dict:
    out = {}
    for key, value in params.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        elif isinstance(value, np.integer):
            out[key] = int(value)
        elif isinstance(value, np.floating):
            out[key] = float(value)
    return out


def _weighted_mean(X, w, chunk) -> np.ndarray:
    total = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], chunk):
        block = np.asarray(X[start : start + chunk], dtype=np.float64)
        total += block.sum(axis=0) if w is None else w[start : start + chunk] @ block
    return total / (X.shape[0] if w is None else w.sum())


def _weighted_variance(X, w, mean, chunk) -> np.ndarray:
    total = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], chunk):
        block = (np.asarray(X[start : start + chunk], dtype=np.float64) - mean) ** 2
        total += block.sum(axis=0) if w is None else w[start : start + chunk] @ block
    return total / (X.shape[0] if w is None else w.sum())
