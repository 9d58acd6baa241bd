"""Choose the number of components and the covariance type by BIC, AIC or ICL."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConvergenceWarning, FittingError, ParameterError
from . import criteria
from .covariance import COVARIANCE_TYPES, full_matrices
from .em import fit_arrays
from .init import KMEANS_MAX_SAMPLE, check_random_state, count_distinct_rows, kmeans, kmeans_plusplus, weighted_sample
from .mixture import GaussianMixture
from .moments import weighted_mean, weighted_variance
from .threads import limit_blas_threads
from .validation import check_array, check_choice, check_dtype, check_sample_weight

__all__ = ["select_components", "SelectionResult", "CRITERIA", "check_grid", "run_grid"]

CRITERIA = ("bic", "aic", "icl")
#: Extra starts for the chosen K and its two neighbors, each merging one of the closest pairs
#: of components of the next larger K's fit (see :func:`_restart_near_best`).
RESTARTS = 1
#: How many times the restarts follow the choice when it moves.
RESTART_ROUNDS = 3


@dataclass
class SelectionResult:
    """Outcome of :func:`select_components`.

    Attributes
    ----------
    table : list of dict
        One row per fitted (K, covariance type): ``n_components``, ``covariance_type``,
        ``log_likelihood`` (weighted total), ``n_parameters``, ``bic``, ``aic``, ``icl``,
        ``converged``, ``n_iter``, ``fit_seconds``.
    criterion : str
        The criterion used to choose (lower is better for all three).
    best_model : GaussianMixture
        The fitted model with the lowest criterion.
    models : dict
        Every fitted model, keyed by ``(n_components, covariance_type)`` (only when
        ``keep_models=True``; the best is always kept).
    """

    table: list[dict[str, Any]]
    criterion: str
    best_model: GaussianMixture
    models: dict = field(default_factory=dict, repr=False)

    @property
    def best_n_components(self) -> int:
        return int(self.best_model.n_components)

    @property
    def best_covariance_type(self) -> str:
        return str(self.best_model.covariance_type)

    def criterion_values(self, covariance_type: str, criterion: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(K values, criterion values)`` of one covariance type, sorted by K."""
        crit = criterion or self.criterion
        rows = sorted(
            (r for r in self.table if r["covariance_type"] == covariance_type), key=lambda r: r["n_components"]
        )
        return np.array([r["n_components"] for r in rows]), np.array([r[crit] for r in rows], dtype=float)

    def has_interior_minimum(self, covariance_type: str | None = None) -> bool:
        """True when the chosen criterion's minimum over K is not at the smallest or largest K tried."""
        ks, values = self.criterion_values(covariance_type or self.best_covariance_type)
        i = int(np.nanargmin(values))
        return 0 < i < len(ks) - 1

    def summary(self) -> dict[str, Any]:
        """JSON-able summary: criterion, chosen model and the table."""
        return {
            "criterion": self.criterion,
            "best_n_components": self.best_n_components,
            "best_covariance_type": self.best_covariance_type,
            "table": self.table,
        }


def select_components(
    X,
    n_components: int | Iterable[int] = range(1, 11),
    covariance_types: str | Sequence[str] = COVARIANCE_TYPES,
    criterion: str = "bic",
    sample_weight=None,
    random_state=None,
    *,
    n_init: int = 1,
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    reg_covar_relative: bool = False,
    dtype: str = "float64",
    chunk_size: int | str = "auto",
    n_threads: int | None = None,
    keep_models: bool = False,
    progress=None,
    restarts: int = RESTARTS,
) -> SelectionResult:
    """Fit a grid of K × covariance type and pick the best by an information criterion.

    Work is shared across the grid: one weighted k-means++ seeding for the largest
    K (its first K seeds seed every smaller K, as k-means++ is sequential), one
    k-means refinement per K shared by every covariance type, and one final
    E-step per model for the log-likelihood and the responsibilities' entropy.
    With ``n_init=1``, the chosen K and the next smaller and larger K then get ``restarts``
    more starts each, from the next larger K's fit with its closest pair of components merged
    (the best log-likelihood per K is kept and K chosen again), as one start at the true
    K often lands in a poor optimum that makes the criterion prefer another K; the next
    larger K also starts once from the chosen K's fit with its widest component split.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_components : int or iterable of int, default=range(1, 11)
        Values of K to try; K larger than the number of distinct rows is skipped.
    covariance_types : str or sequence of str, default all four
    criterion : {"bic", "aic", "icl"}, default="bic"
        Lower is better for all three. ICL is BIC plus twice the entropy of the
        responsibilities (it prefers well-separated components).
    sample_weight : array-like of shape (n_samples,), optional
        Row weights; criteria count ``n = Σ w``.
    random_state : int, Generator or None
    n_init, max_iter, tol, reg_covar, reg_covar_relative, dtype, chunk_size, n_threads
        Passed to every :class:`~gmmseg.GaussianMixture`.
    keep_models : bool, default=False
        Keep every fitted model in ``result.models`` (memory: one small model each).
    progress : callable, optional
        Called as ``progress(done, total, row)`` after each fit.
    restarts : int, default=1
        Extra starts for the chosen K and the next smaller and larger K when ``n_init=1``,
        each from the next larger K's fit with one of its ``restarts`` closest pairs of
        components merged (0: one start per K); in the first round the next larger K also
        gets one start from the chosen K's fit with its widest component split. They add
        about a tenth to the one-start grid's time.

    Returns
    -------
    SelectionResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (200, 2)), rng.normal(8, 1, (200, 2))])
    >>> result = select_components(X, range(1, 5), "full", random_state=0)
    >>> result.best_n_components
    2
    """
    ks, covariance_types, criterion = check_grid(n_components, covariance_types, criterion)
    names = getattr(X, "columns", None)
    Xa = check_array(X, check_dtype(dtype))
    w = check_sample_weight(sample_weight, Xa.shape[0])
    rng = check_random_state(random_state)
    params = dict(
        tol=tol,
        reg_covar=reg_covar,
        reg_covar_relative=reg_covar_relative,
        max_iter=max_iter,
        n_init=n_init,
        random_state=rng,
        dtype=dtype,
        chunk_size=chunk_size,
        n_threads=n_threads,
    )
    n_positive = Xa.shape[0] if w is None else int(np.count_nonzero(w))
    if n_positive > KMEANS_MAX_SAMPLE:
        sample, sw = weighted_sample(Xa, w, KMEANS_MAX_SAMPLE, rng)
    else:
        sample, sw = np.asarray(Xa, dtype=np.float64), w

    chunk = 65536
    shift = weighted_mean(Xa, w, chunk)
    data_moments = (shift, weighted_variance(Xa, w, shift, chunk))  # the same for every model

    def fit(model, centers):
        if names is not None and all(isinstance(c, str) for c in names):
            model.feature_names_in_ = np.asarray(list(names), dtype=object)
        model.n_features_in_ = Xa.shape[1]
        fit_arrays(model, Xa, w, centers=centers, data_moments=data_moments)

    def evaluate(model):
        return model.expectation(Xa, w, entropy=True)

    with limit_blas_threads(1):
        distinct = count_distinct_rows(Xa, w, ks[-1])
        return run_grid(
            ks,
            covariance_types,
            criterion,
            distinct,
            sample,
            sw,
            rng,
            params,
            (fit, evaluate),
            keep_models,
            progress,
            restarts,
        )


def check_grid(n_components, covariance_types, criterion) -> tuple[list[int], tuple[str, ...], str]:
    """Validate the grid arguments of :func:`select_components` (also used by the Dask backend).

    Parameters
    ----------
    n_components : int or iterable of int
    covariance_types : str or sequence of str
    criterion : str
        ``"bic"``, ``"aic"`` or ``"icl"`` (any case).

    Returns
    -------
    ks : list of int
        Sorted, distinct.
    covariance_types : tuple of str
    criterion : str
        Lower case.

    Raises
    ------
    ParameterError
    """
    criterion = check_choice(str(criterion).lower(), "criterion", CRITERIA)
    if isinstance(covariance_types, str):
        covariance_types = (covariance_types,)
    covariance_types = tuple(covariance_types)
    if not covariance_types:
        raise ParameterError("covariance_types is empty; pass at least one of full, tied, diag, spherical")
    for ct in covariance_types:
        check_choice(ct, "covariance type", COVARIANCE_TYPES)
    ks = [int(n_components)] if np.isscalar(n_components) else sorted({int(k) for k in n_components})
    if not ks or ks[0] < 1:
        raise ParameterError(f"n_components must be positive integers, got {list(ks)!r}")
    return ks, covariance_types, criterion


def run_grid(ks, covariance_types, criterion, distinct, sample, sw, rng, params, fit, keep_models, progress, restarts):
    """Fit the K × covariance-type grid with shared seeding, wherever the rows live.

    Shared by :func:`select_components` and :func:`gmmseg.distributed.select_components`.

    Parameters
    ----------
    ks, covariance_types, criterion
        From :func:`check_grid`.
    distinct : int
        Distinct rows with positive weight (at least ``max(ks)`` when that many exist);
        larger K are skipped.
    sample : ndarray of shape (n_sample, n_features)
        Weighted sample of the rows for the shared seeding; ``sw`` its weights (or None).
    sw : ndarray of shape (n_sample,) or None
    rng : numpy Generator
    params : dict
        Other :class:`GaussianMixture` parameters of every model.
    fit : tuple of two callables
        ``(fit, evaluate)``: ``fit(model, centers)`` fits one model in place (from ``centers``
        when not None); ``evaluate(model) -> Stats`` returns the statistics, with entropy, of
        its final E-step: they give the table row (a restart that does not improve its K
        skips it).
    keep_models : bool
    progress : callable or None
        Called as ``progress(done, total, row)``.
    restarts : int
        Extra starts for the chosen K and its neighbors (see :func:`_restart_near_best`).

    Returns
    -------
    SelectionResult

    Raises
    ------
    ParameterError
        ``fit`` is not a ``(fit, evaluate)`` pair of callables (a single callable was the
        signature before session 11).
    """
    if not (isinstance(fit, tuple) and len(fit) == 2 and all(callable(f) for f in fit)):
        raise ParameterError(
            "run_grid's fit must be a (fit, evaluate) pair of callables: fit(model, centers) fits in place, "
            "evaluate(model) returns the final E-step's statistics"
        )
    usable = [k for k in ks if k <= distinct]
    if not usable:
        raise FittingError(f"the data have only {distinct} distinct row(s); ask for at most {distinct} components")
    # Shared seeding: k-means++ for the largest K on one weighted sample; its first K seeds seed each K.
    k_seed = count_distinct_rows(sample, sw, usable[-1])
    seeds = kmeans_plusplus(sample, k_seed, sw, rng)
    table: list[dict[str, Any]] = []
    fitted: dict = {}  # every model of the grid: the restarts start from their neighbors
    best_model, best_value = None, np.inf
    total = len(usable) * len(covariance_types)
    for k in usable:
        centers = kmeans(sample, seeds[:k], sw) if k <= k_seed else None
        for ct in covariance_types:
            model, row = _fit_row(k, ct, centers if params.get("n_init", 1) == 1 else None, params, fit)
            table.append(row)
            fitted[(k, ct)] = model
            if row[criterion] < best_value:
                best_value, best_model = row[criterion], model
            if progress is not None:
                progress(len(table), total, row)
    if restarts > 0 and params.get("n_init", 1) == 1:
        best_model = _restart_near_best(table, fitted, best_model, criterion, params, fit, restarts)
    models = dict(fitted) if keep_models else {}
    models.setdefault((best_model.n_components, best_model.covariance_type), best_model)
    return SelectionResult(table, criterion, best_model, models)


def _restart_near_best(table, fitted, best_model, criterion, params, fit, restarts):
    """Re-fit the chosen K and its two neighbors from merges of the next larger K's fit.

    A single start at the true K often lands in a poor optimum (two components share one
    cluster while another covers two) and the criterion then prefers a larger K. The fit
    with one more component usually splits that cluster pair correctly: merging its
    closest pair gives a start at K next to the good optimum, which EM reaches in a few
    iterations. This found the true K at least as often as three k-means++ restarts per K
    for about a tenth of their time (docs/segment.md). In each round K* + 1, K* and K* - 1
    are re-fitted in that order, so that in the first round K*'s merge comes from a
    restarted K* + 1; a K already restarted is not restarted again (the rounds follow a new
    choice, up to ``RESTART_ROUNDS`` times). K* + 1 catches a poor fit at the true K that
    made the criterion take one K too few. Larger K are not: better optima there remove the
    criterion's interior minimum on real data (session 8's k-means++ restarts of K* + 1 did
    on the CDNOW customers; one merged start there does not).

    In the first round K* + 1 also starts from K*'s fit with its widest component split
    (:func:`_split_start`), before its merged start: when the shared seeding put every K from
    K* up in one poor optimum, no merge of a larger K leaves it, and a split of K*'s fit does.
    ``fitted`` holds the current model of every (K, type); each row of ``table`` (and
    entry of ``fitted``) is replaced by a restart with a log-likelihood
    higher by more than ``tol`` per row. Returns the best model after the restarts.
    """
    index = {(r["n_components"], r["covariance_type"]): i for i, r in enumerate(table)}
    ct = best_model.covariance_type
    fit_model, evaluate = fit
    restarted: set[int] = set()
    for round_ in range(RESTART_ROUNDS):
        chosen = best_model.n_components
        candidates = [k for k in (chosen + 1, chosen, chosen - 1) if (k, ct) in index and k not in restarted]
        for k in candidates:
            restarted.add(k)
            i = index[(k, ct)]
            starts = _merged_starts(fitted[(k + 1, ct)], restarts) if (k + 1, ct) in fitted else []
            if round_ == 0 and k == chosen + 1:
                starts.insert(0, _split_start(fitted[(chosen, ct)]))
            for start in starts:
                model, started = _fitted(k, ct, None, {**params, **start}, fit_model)
                # Better by more than EM's stopping tolerance (per row): the same optimum
                # reached again keeps the grid's model, whose log-likelihood differs only by
                # rounding (the Dask backend's sums would otherwise pick the other one).
                if model.lower_bound_ - fitted[(k, ct)].lower_bound_ <= params["tol"]:
                    continue  # no table row: its final E-step is not needed
                row = _table_row(model, evaluate(model), time.perf_counter() - started)
                if row["log_likelihood"] > table[i]["log_likelihood"]:
                    table[i] = row
                    fitted[(k, ct)] = model
                    if row[criterion] < min(r[criterion] for r in table if r is not row):
                        best_model = model
        if best_model.n_components == chosen:
            break
    return best_model


def _split_start(model: GaussianMixture) -> dict[str, np.ndarray]:
    """A start with one component more than ``model``: its widest component split in two.

    The component of the largest weight times variance along its main axis is replaced by
    two of half its weight at ``mean ± a``, ``a`` half a standard deviation along that axis,
    each with the covariance less ``a aᵀ`` (the pair keeps the component's mean and
    covariance). Tied: the shared covariance is kept (the component of the largest weight is
    split); spherical: the split is along the last feature (every axis is a main axis).

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture of K components.

    Returns
    -------
    dict
        ``weights_init`` (K+1,), ``means_init`` (K+1, D) and ``precisions_init`` (the shape
        of ``model.precisions_`` with K+1 components) for :class:`GaussianMixture`.
    """
    k, ct = model.n_components, model.covariance_type
    w = np.asarray(model.weights_, dtype=np.float64)
    mu = np.asarray(model.means_, dtype=np.float64)
    cov = full_matrices(ct, np.asarray(model.covariances_, dtype=np.float64), k, mu.shape[1])
    variance, axes = np.linalg.eigh(cov)  # ascending: the main axis is the last
    j = int(np.argmax(w * variance[:, -1]))
    a = 0.5 * np.sqrt(variance[j, -1]) * axes[j, :, -1]
    keep = [i for i in range(k) if i != j]
    half = cov[j] - np.outer(a, a)
    weights = np.concatenate([w[keep], [w[j] / 2, w[j] / 2]])
    return dict(
        weights_init=weights / weights.sum(),
        means_init=np.vstack([mu[keep], mu[j] + a, mu[j] - a]),
        precisions_init=_precisions(ct, np.concatenate([cov[keep], half[None], half[None]]), model),
    )


def _merged_starts(model: GaussianMixture, n_starts: int) -> list[dict[str, np.ndarray]]:
    """Starts with one component fewer than ``model``, each merging one of its closest pairs.

    Pairs are ranked by the Bhattacharyya distance between their Gaussians; a merged pair
    keeps the pair's total weight, mean and covariance (moment matching).

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture of K >= 2 components.
    n_starts : int
        Starts to return (the closest pairs first; fewer when there are fewer pairs).

    Returns
    -------
    list of dict
        ``weights_init`` (K-1,), ``means_init`` (K-1, D) and ``precisions_init`` (the
        shape of ``model.precisions_`` with K-1 components) for :class:`GaussianMixture`.
    """
    k, ct = model.n_components, model.covariance_type
    w = np.asarray(model.weights_, dtype=np.float64)
    mu = np.asarray(model.means_, dtype=np.float64)
    cov = full_matrices(ct, np.asarray(model.covariances_, dtype=np.float64), k, mu.shape[1])
    a_all, b_all = np.triu_indices(k, 1)
    mid, gap = (cov[a_all] + cov[b_all]) / 2, mu[a_all] - mu[b_all]
    logdet = np.linalg.slogdet(cov)[1]
    mahalanobis = np.einsum("pd,pd->p", gap, np.linalg.solve(mid, gap[..., None])[..., 0])
    distance = mahalanobis / 8 + (np.linalg.slogdet(mid)[1] - (logdet[a_all] + logdet[b_all]) / 2) / 2
    closest = np.argsort(distance, kind="stable")[:n_starts]  # ties: the first pair in (a, b) order
    starts = []
    for a, b in zip(a_all[closest], b_all[closest]):
        keep = [j for j in range(k) if j not in (a, b)]
        weight = w[a] + w[b]
        mean = (w[a] * mu[a] + w[b] * mu[b]) / weight
        merged = sum(w[j] * (cov[j] + np.outer(mu[j] - mean, mu[j] - mean)) for j in (a, b)) / weight
        weights = np.append(w[keep], weight)
        covs = np.concatenate([cov[keep], merged[None]])
        starts.append(
            dict(
                weights_init=weights / weights.sum(),
                means_init=np.vstack([mu[keep], mean]),
                precisions_init=_precisions(ct, covs, model),
            )
        )
    return starts


def _precisions(ct: str, covs: np.ndarray, model: GaussianMixture) -> np.ndarray:
    """``precisions_init`` of type ``ct`` from full covariances of shape (K, D, D)."""
    if ct == "full":
        return np.linalg.inv(covs)
    if ct == "tied":  # one covariance for every component, merged or not
        return np.asarray(model.precisions_, dtype=np.float64)
    variances = np.diagonal(covs, axis1=1, axis2=2)
    return 1.0 / (variances if ct == "diag" else variances.mean(axis=1))


def _fit_row(k: int, ct: str, centers, params, fit) -> tuple[GaussianMixture, dict[str, Any]]:
    """One model of the grid fitted by ``fit`` (from ``centers`` when not None), and its table row."""
    fit_model, evaluate = fit
    model, started = _fitted(k, ct, centers, params, fit_model)
    return model, _table_row(model, evaluate(model), time.perf_counter() - started)


def _fitted(k: int, ct: str, centers, params, fit_model) -> tuple[GaussianMixture, float]:
    """A model of K ``k`` and type ``ct`` fitted by ``fit_model`` (quietly), and when its fit started."""
    model = GaussianMixture(k, covariance_type=ct, **params)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit_model(model, centers)
    return model, started


def _table_row(model: GaussianMixture, stats, seconds: float) -> dict[str, Any]:
    """One row of the criterion table from a fitted model and its final statistics."""
    p = model.n_parameters_
    loglik = stats.loglik
    n = stats.weight_sum
    return {
        "n_components": int(model.n_components),
        "covariance_type": model.covariance_type,
        "log_likelihood": float(loglik),
        "n_parameters": int(p),
        "bic": float(criteria.bic(loglik, p, n)),
        "aic": float(criteria.aic(loglik, p)),
        "icl": float(criteria.icl(loglik, p, n, stats.entropy)),
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "fit_seconds": round(seconds, 4),
    }
