"""EM and model selection on a Dask collection: the core's EM loop over a row source of Dask blocks.

How a fit runs (see ``docs/scale-out.md``)::

    client                                   workers (one task per row block)
    ------                                   --------------------------------
    pass 1  shift, variance, n, sample  <--  sums, M2, weighted sample of the block
    init    k-means++ / k-means on sample
    pass 2  initial parameters (M-step) <--  hard-assignment Stats (core ``moments``)
    EM      coef = f(parameters)   ----->    Stats = core ``expectation``(block, coef)
            M-step (core)           <--      Stats added in a tree on the workers

Only parameters (``K × F`` floats), ``Stats`` and the initialization sample
(at most ``sample_size`` rows) travel; the data stay where they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..core.covariance import COVARIANCE, COVARIANCE_TYPES
from ..core.em import check_settings, chunk_rows, fit_source, log_density_coefficients
from ..core.init import KMEANS_MAX_SAMPLE, check_random_state, count_distinct_rows
from ..core.mixture import GaussianMixture
from ..core.selection import RESTARTS, SelectionResult, check_grid, run_grid
from ..core.stats import Stats
from ..core.validation import check_dtype, check_int
from ..errors import FittingError, InputError, NotFittedError, ParameterError
from ._dask import require_dask
from .blocks import RowBlocks, RowSummary, as_dask_array

__all__ = ["DaskRowSource", "fit_mixture", "select_components", "predict", "predict_proba", "score_samples"]


class DaskRowSource:
    """The :class:`~gmmseg.core.em.RowSource` of the core's EM loop on Dask row blocks.

    E-steps and moments run per block on the workers and come back as added ``Stats``;
    seeding and re-seeding use the client-side initialization sample.

    Parameters
    ----------
    data : RowBlocks
    summary : RowSummary
        Pass-1 results of ``data`` (its sample seeds the components).
    chunk : int
        Rows per E-step chunk inside a block.
    """

    def __init__(self, data: RowBlocks, summary: RowSummary, chunk: int):
        self.data = data
        self.sample = summary.sample
        self.sample_weight = summary.sample_weight
        self.chunk = chunk

    def expectation(self, funcs, coef, shift, shared) -> Stats:
        return self.data.expectations([(funcs.name, coef, shift, shared, self.chunk, False)])[0]

    def moments(self, funcs, shift, n_components: int, *, centers=None, seed: int | None = None) -> Stats:
        return self.data.moments(funcs.name, shift, self.chunk, n_components, centers=centers, seed=seed)


def _fit_model(
    model: GaussianMixture,
    data: RowBlocks,
    summary: RowSummary,
    rng: np.random.Generator,
    centers: np.ndarray | None = None,
) -> GaussianMixture:
    """EM on the cluster: the core's own loop (:func:`~gmmseg.core.em.fit_source`) with the E-step on the blocks."""
    d = summary.n_features
    check_settings(model, d)
    if model.warm_start:
        raise ParameterError(
            "warm_start is not supported on dask data; pass weights_init, means_init and precisions_init instead"
        )
    k = model.n_components
    if model.means_init is None and centers is None:
        if summary.n_positive < k:
            raise FittingError(
                f"n_components={k} but only {summary.n_positive} row(s) have positive weight; "
                f"lower n_components to at most {summary.n_positive}"
            )
        distinct = count_distinct_rows(summary.sample, summary.sample_weight, k)
        if distinct < k:
            where = f"the initialization sample of {summary.sample.shape[0]} rows" if summary.sampled else "the data"
            raise FittingError(
                f"n_components={k} but {where} has only {distinct} distinct row(s) with positive weight; "
                f"lower n_components to at most {distinct}"
            )
    source = DaskRowSource(data, summary, chunk_rows(model, d))
    fit_source(
        model,
        source,
        shift=summary.shift,
        variance=summary.variance,
        weight_sum=summary.weight_sum,
        centers=centers,
        rng=rng,
    )
    model.n_features_in_ = d
    if data.feature_names is not None:
        model.feature_names_in_ = data.feature_names
    return model


def fit_mixture(
    X,
    n_components: int = 1,
    *,
    covariance_type: str = "full",
    sample_weight=None,
    client=None,
    retries: int = 2,
    split_every: int = 8,
    sample_size: int = KMEANS_MAX_SAMPLE,
    **params,
) -> GaussianMixture:
    """Fit a :class:`~gmmseg.GaussianMixture` to a dask collection, chunk by chunk on the workers.

    Each row block's E-step runs on a worker through the core's
    :func:`~gmmseg.core.stats.expectation` and returns :class:`~gmmseg.Stats`; the
    statistics are added in a tree on the workers and the client runs the core's
    M-step. The data are never gathered to the client. Started from the same
    initial parameters, the result equals the in-memory fit to about 1e-12
    (only the order of floating-point sums differs).

    Initialization: one pass computes the weighted mean and variance and draws a
    weighted sample of about ``sample_size`` rows, stratified by block (the whole
    data when ``n_samples <= sample_size``, so small inputs reproduce the
    in-memory fit from the same ``random_state``); k-means++ and k-means run on the
    sample on the client; a second pass computes hard-assignment statistics of
    all rows, from which the core's M-step makes the initial parameters.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
        Numeric rows. Chunks along the rows are the unit of work; columns are
        rechunked into one block. A DataFrame is converted with ``to_dask_array(lengths=True)``.
        Persist ``X`` first (``X = X.persist()``) when it fits in the workers' memory,
        or every EM iteration recomputes it from its source.
    n_components : int, default=1
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    sample_weight : array-like, dask array or dask Series of shape (n_samples,), optional
        Non-negative row weights (rechunked to the row blocks of ``X``).
    client : distributed.Client, optional
        Where to compute; default: the current default client, else Dask's local scheduler.
    retries : int, default=2
        Dask retries of a failed task (e.g. a worker lost mid-iteration).
    split_every : int, default=8
        Fan-in of the tree that adds the blocks' statistics.
    sample_size : int, default=100000
        Rows in the initialization sample.
    **params
        Any other :class:`~gmmseg.GaussianMixture` parameter (``tol``, ``max_iter``,
        ``n_init``, ``init_params``, ``weights_init``, ``means_init``,
        ``precisions_init``, ``reg_covar``, ``reg_covar_relative``, ``random_state``,
        ``dtype``, ``chunk_size``, ``verbose``). ``n_threads`` is ignored (one task
        per block); ``warm_start`` is not supported.

    Returns
    -------
    GaussianMixture
        A normal fitted in-memory model (``predict``, ``save``, ...).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (300, 2)), rng.normal(6, 1, (300, 2))])
    >>> gm = fit_mixture(da.from_array(X, chunks=(100, 2)), 2, random_state=0)
    >>> sorted(np.round(gm.means_[:, 0]).astype(int).tolist())
    [0, 6]
    """
    dtype = check_dtype(params.get("dtype", "float64"))
    check_int(sample_size, "sample_size", 1)
    check_int(retries, "retries", 0)
    check_int(split_every, "split_every", 2)
    model = GaussianMixture(n_components, covariance_type=covariance_type, **params)
    data = RowBlocks(X, sample_weight, dtype, client=client, retries=retries, split_every=split_every)
    check_settings(model, data.shape[1])  # before any pass over the data
    rng = check_random_state(model.random_state)
    summary = data.summarize(sample_size, rng)
    return _fit_model(model, data, summary, rng)


def select_components(
    X,
    n_components: int | Iterable[int] = range(1, 11),
    covariance_types: str | Sequence[str] = COVARIANCE_TYPES,
    criterion: str = "bic",
    sample_weight=None,
    random_state=None,
    *,
    client=None,
    n_init: int = 1,
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    reg_covar_relative: bool = False,
    dtype: str = "float64",
    chunk_size: int | str = "auto",
    keep_models: bool = False,
    progress: Callable | None = None,
    retries: int = 2,
    split_every: int = 8,
    sample_size: int = KMEANS_MAX_SAMPLE,
    restarts: int = RESTARTS,
) -> SelectionResult:
    """:func:`gmmseg.select_components` on a dask collection: same grid, criteria and result.

    The shared seeding (k-means++ for the largest K, k-means per K) runs on the
    initialization sample of :func:`fit_mixture` (the whole data when
    ``n_samples <= sample_size``, in which case the table equals the in-memory one
    from the same ``random_state``); every fit and every model's final E-step
    (log-likelihood and entropy for BIC/AIC/ICL) runs chunk-wise on the workers.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
    n_components, covariance_types, criterion, sample_weight, random_state, n_init, max_iter, tol,
    reg_covar, reg_covar_relative, dtype, chunk_size, keep_models, progress, restarts
        As :func:`gmmseg.select_components`.
    client, retries, split_every, sample_size
        As :func:`fit_mixture`.

    Returns
    -------
    SelectionResult
    """
    ks, covariance_types, criterion = check_grid(n_components, covariance_types, criterion)
    data = RowBlocks(X, sample_weight, check_dtype(dtype), client=client, retries=retries, split_every=split_every)
    rng = check_random_state(random_state)
    summary = data.summarize(sample_size, rng)
    params = dict(
        tol=tol,
        reg_covar=reg_covar,
        reg_covar_relative=reg_covar_relative,
        max_iter=max_iter,
        n_init=n_init,
        random_state=rng,
        dtype=dtype,
        chunk_size=chunk_size,
    )

    def fit(model, centers):
        _fit_model(model, data, summary, rng, centers=centers)

    def evaluate(model):
        shift = model.weights_ @ model.means_
        funcs = COVARIANCE[model.covariance_type]
        request = (
            model.covariance_type,
            log_density_coefficients(model, shift),
            shift,
            funcs.shared_factor(model.precisions_cholesky_),
            chunk_rows(model, summary.n_features),
            True,
        )
        return data.expectations([request])[0]

    distinct = count_distinct_rows(summary.sample, summary.sample_weight, ks[-1])
    return run_grid(
        ks,
        covariance_types,
        criterion,
        distinct,
        summary.sample,
        summary.sample_weight,
        rng,
        params,
        (fit, evaluate),
        keep_models,
        progress,
        restarts,
    )


# --------------------------------------------------------------------------- lazy evaluation
# Top-level block functions so that workers import them from gmmseg (never pickled by value).


def _predict_block(block, model: GaussianMixture) -> np.ndarray:
    if block.shape[0] == 0:
        return np.empty(0, dtype=np.intp)
    return model.predict(block)


def _predict_proba_block(block, model: GaussianMixture) -> np.ndarray:
    if block.shape[0] == 0:
        return np.empty((0, model.n_components))
    return model.predict_proba(block)


def _score_samples_block(block, model: GaussianMixture) -> np.ndarray:
    if block.shape[0] == 0:
        return np.empty(0)
    return model.score_samples(block)


def _lazy(model: GaussianMixture, X, func, dtype, n_columns: int | None):
    dask, da = require_dask()
    if not hasattr(model, "precisions_cholesky_"):
        raise NotFittedError(f"this {type(model).__name__} is not fitted yet; call fit(X) before using it")
    arr, _ = as_dask_array(X, da, known_chunks=False)
    if arr.shape[1] != model.n_features_in_:
        raise InputError(
            f"X has {arr.shape[1]} features but the model was fitted on {model.n_features_in_}; "
            "pass data with the same columns"
        )
    shared = dask.delayed(model, pure=True, traverse=False)
    if n_columns is None:
        return arr.map_blocks(func, shared, dtype=dtype, drop_axis=1, meta=np.empty((0,), dtype=dtype))
    meta = np.empty((0, 0), dtype=dtype)
    return arr.map_blocks(func, shared, dtype=dtype, chunks=(arr.chunks[0], (n_columns,)), meta=meta)


def predict(model: GaussianMixture, X):
    """Most likely component of every row, lazily: a dask array of shape ``(n_samples,)``.

    One task per row block runs ``model.predict`` on it; nothing is computed until
    you call ``.compute()`` (or ``.to_zarr`` ...). A DataFrame is converted with
    ``to_dask_array()`` (row counts may be unknown; they stay lazy).

    Parameters
    ----------
    model : GaussianMixture
        A fitted model.
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)

    Returns
    -------
    dask.array.Array of shape (n_samples,)
    """
    return _lazy(model, X, _predict_block, np.intp, None)


def predict_proba(model: GaussianMixture, X):
    """Posterior probabilities, lazily, as :func:`predict`.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model.
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)

    Returns
    -------
    dask.array.Array of shape (n_samples, n_components)
    """
    return _lazy(model, X, _predict_proba_block, np.float64, model.n_components)


def score_samples(model: GaussianMixture, X):
    """Log-density ``log p(x)`` of every row, lazily, as :func:`predict`.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model.
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)

    Returns
    -------
    dask.array.Array of shape (n_samples,)
    """
    return _lazy(model, X, _score_samples_block, np.float64, None)
