"""The Gaussian mixture estimator: the public face of the core's exact, weighted, chunked EM.

The loop lives in :mod:`gmmseg.core.em`, the initialization in :mod:`gmmseg.core.init`,
the covariance maths in :mod:`gmmseg.core.covariance`, the criteria in
:mod:`gmmseg.core.criteria` and the model-file mapping in :mod:`gmmseg.core.mixture_file`.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..errors import NotFittedError, ParameterError
from . import criteria
from .covariance import COVARIANCE, full_matrices
from .em import (
    SINGULAR_RELATIVE_VARIANCE,
    check_settings,
    chunk_rows,
    fit_arrays,
    log_density_coefficients,
    maximization_step,
    regularization,
)
from .estimator import EstimatorBase
from .init import check_random_state
from .moments import weighted_mean, weighted_variance
from .stats import Stats, expectation, log_normalize, log_prob_chunks, moments
from .threads import limit_blas_threads
from .validation import check_array, check_dtype, check_int, check_sample_weight

__all__ = ["GaussianMixture"]


class GaussianMixture(EstimatorBase):
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
        (weighted variance), so the regularization follows each feature's scale.
    max_iter : int, default=100
        Maximum EM iterations per initialization.
    n_init : int, default=1
        Number of initializations; the one with the best lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How initial responsibilities are made. ``kmeans``: weighted k-means++ seeds
        refined by Lloyd iterations (on a weighted sample of at most 100,000 rows
        for larger inputs), then every row assigned to its nearest center;
        ``k-means++``: the seeds without refinement; ``random_from_data``: K rows
        drawn in proportion to weight; ``random``: uniform random responsibilities.
    weights_init, means_init, precisions_init : array-like, optional
        User-provided initial parameters (as in scikit-learn).
    random_state : int, RandomState, Generator or None
        Seed for the initialization.
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
        Weighted mean log-likelihood of the best initialization, as scikit-learn.
    lower_bounds_ : list of float
        The lower bound at every iteration of the best initialization.
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

    _estimator_type = "density_estimator"

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
        fit_arrays(self, X, w)
        return self

    def fit_predict(self, X, y=None, sample_weight=None) -> np.ndarray:
        """Fit, then return the most likely component of every row, shape ``(n_samples,)``."""
        X = self._validate_X(X, reset=not (self.warm_start and hasattr(self, "converged_")))
        w = check_sample_weight(sample_weight, X.shape[0])
        fit_arrays(self, X, w)
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
        with limit_blas_threads(1):
            for start, stop, _, L in self._log_prob_chunks(X):
                log_normalize(L)
                out[start:stop] = L.T
        return out

    def score_samples(self, X) -> np.ndarray:
        """Log-density ``log p(x)`` of every row, shape ``(n_samples,)``."""
        self._check_is_fitted()
        X = self._validate_X(X, reset=False)
        out = np.empty(X.shape[0])
        with limit_blas_threads(1):  # as in fitting: BLAS threads on these small products cost (9x on a busy machine)
            for start, stop, _, L in self._log_prob_chunks(X):
                out[start:stop] = log_normalize(L)
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
        return criteria.bic(total, self.n_parameters_, n)

    def aic(self, X, sample_weight=None) -> float:
        """Akaike information criterion (lower is better): ``-2 Σ w log p(x) + 2 n_parameters``."""
        logp = self.score_samples(X)
        w = check_sample_weight(sample_weight, logp.shape[0])
        total = float(logp.sum() if w is None else w @ logp)
        return criteria.aic(total, self.n_parameters_)

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
        """The M-step: a fitted mixture whose parameters maximize the expected log-likelihood
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
        check_settings(model, X.shape[1])
        w = check_sample_weight(sample_weight, X.shape[0])
        funcs = COVARIANCE[covariance_type]
        dtype = check_dtype(model.dtype)
        chunk = chunk_rows(model, X.shape[1])
        shift = weighted_mean(X, w, chunk)
        variance = weighted_variance(X, w, shift, chunk)
        reg = regularization(model.reg_covar, model.reg_covar_relative, variance)
        stats = moments(
            X, lambda s, e: R[s:e].T, funcs.features, shift, w, n_components=R.shape[1], chunk_size=chunk, dtype=dtype
        )
        (weights, means_c, cov, prec_chol), _ = maximization_step(
            stats,
            covariance_type,
            reg,
            SINGULAR_RELATIVE_VARIANCE * variance,
            X,
            w,
            shift,
            check_random_state(model.random_state),
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
        model = type(first)(**{name: copy.deepcopy(v) for name, v in first.get_params(deep=False).items()})
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

    def kept_components(self, keep) -> GaussianMixture:
        """A fitted copy with only the components where ``keep`` is true, their weights renormalized.

        Its density is ``Σ_{k kept} w_k p_k(x) / Σ_{k kept} w_k``. A tied mixture keeps its shared
        covariance.

        Parameters
        ----------
        keep : array-like of bool, shape (n_components,)
            At least one true.

        Returns
        -------
        GaussianMixture
            Fitted, with ``n_components`` the number kept.
        """
        self._check_is_fitted()
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n_components,) or not keep.any():
            raise ParameterError(
                f"keep must be {self.n_components} booleans with at least one true, got shape {keep.shape}"
            )
        model = type(self).mixture_of([self], [1.0])  # a fitted copy
        model.set_params(n_components=int(np.count_nonzero(keep)))
        model.weights_ = self.weights_[keep] / self.weights_[keep].sum()
        model.means_ = self.means_[keep]
        if self.covariance_type != "tied":  # one shared covariance: nothing to select
            for name in ("covariances_", "precisions_", "precisions_cholesky_"):
                setattr(model, name, getattr(self, name)[keep])
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

    # ------------------------------------------------------------------ chunked evaluation

    def _log_prob_chunks(self, X: np.ndarray):
        shift = self.weights_ @ self.means_
        funcs = COVARIANCE[self.covariance_type]
        yield from log_prob_chunks(
            X,
            log_density_coefficients(self, shift),
            funcs.features,
            shift,
            chunk_rows(self, X.shape[1]),
            check_dtype(self.dtype),
            funcs.shared_factor(self.precisions_cholesky_),
        )

    def _predict_validated(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape[0], dtype=np.intp)
        with limit_blas_threads(1):
            for start, stop, _, L in self._log_prob_chunks(X):
                out[start:stop] = L.argmax(axis=0)
        return out

    def expectation(self, X, sample_weight=None, *, entropy: bool = False) -> Stats:
        """E-step of the current parameters over ``X``: the additive :class:`~gmmseg.core.stats.Stats`.

        The statistics are of rows centered on the mixture mean ``weights_ @ means_``.
        """
        self._check_is_fitted()
        X = self._validate_X(X, reset=False)
        w = check_sample_weight(sample_weight, X.shape[0])
        shift = self.weights_ @ self.means_
        funcs = COVARIANCE[self.covariance_type]
        with limit_blas_threads(1):
            return expectation(
                X,
                log_density_coefficients(self, shift),
                funcs.features,
                shift,
                w,
                chunk_size=chunk_rows(self, X.shape[1]),
                dtype=check_dtype(self.dtype),
                entropy=entropy,
                shared=funcs.shared_factor(self.precisions_cholesky_),
            )

    # ------------------------------------------------------------------ model files

    def _to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        # the hook gmmseg.core.persist.save calls
        from .mixture_file import mixture_to_file

        return mixture_to_file(self)

    @classmethod
    def _from_file(cls, metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> GaussianMixture:
        # the hook gmmseg.core.persist.load calls
        from .mixture_file import mixture_from_file

        return mixture_from_file(metadata, arrays)

    def save(self, path) -> None:
        """Save to ``path`` as ``.npz`` arrays plus a JSON header (never pickle); see :func:`gmmseg.load`."""
        from .persist import save

        save(self, path)
