"""Dask backend: the EM core run on the chunks of a dask collection.

Nothing else in gmmseg imports Dask; Dask itself is imported lazily here, so
``import gmmseg.distributed`` works without it and every entry point raises a
one-line :class:`DaskNotInstalledError` naming the fix.

How a fit runs (see ``docs/scale-out.md``)::

    client                                   workers (one task per row block)
    ------                                   --------------------------------
    pass 1  shift, variance, n, sample  <--  sums, M2, weighted sample of the block
    init    k-means++ / k-means on sample
    pass 2  initial parameters (M-step) <--  hard-assignment Stats (core ``moments``)
    EM      coef = f(parameters)   ----->    Stats = core ``expectation``(block, coef)
            M-step (core)           <--      Stats added in a tree on the workers

Only parameters (``K × F`` floats), ``Stats`` and the initialisation sample
(at most ``sample_size`` rows) travel; the data stay where they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .core.covariance import COVARIANCE, COVARIANCE_TYPES
from .core.em import check_settings, chunk_rows, fit_source, log_density_coefficients
from .core.init import check_random_state, count_distinct_rows, nearest_center, weighted_sample
from .core.mixture import KMEANS_MAX_SAMPLE, GaussianMixture
from .core.selection import SelectionResult, _check_grid, _run_grid
from .core.stats import Stats, expectation, moments
from .core.validation import check_dtype, check_int
from .errors import FittingError, GmmsegError, InputError, NotFittedError, ParameterError

__all__ = [
    "fit_mixture",
    "select_components",
    "predict",
    "predict_proba",
    "score_samples",
    "get_client",
    "map_files",
    "TaskError",
    "DaskNotInstalledError",
    "read_table_lazy",
    "segment_table",
    "score_table",
    "PREP_SAMPLE_ROWS",
]

DASK_MISSING = "Dask is not installed; pip install 'gmmseg[dask]'"


class DaskNotInstalledError(GmmsegError, ImportError):
    """Dask (or distributed) is needed for this and is not installed."""


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise DaskNotInstalledError(DASK_MISSING) from None
    return dask, da


def _distributed():
    try:
        import distributed
    except ImportError:
        raise DaskNotInstalledError(DASK_MISSING) from None
    return distributed


# --------------------------------------------------------------------------- worker tasks
# Top-level functions so that workers import them from gmmseg (never pickled by value).


def _block_arrays(block, weights, dtype) -> tuple[np.ndarray, np.ndarray | None]:
    X = np.asarray(block, dtype=dtype)
    w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    return X, w


def _summary_task(block, weights, dtype, sample_rows: int | None, seed: int | None) -> dict:
    """Pass 1 on one block: validity, counts, weighted sums, ``M2`` and a weighted sample.

    ``sample_rows=None`` returns every row (the whole data is the sample).
    """
    X, w = _block_arrays(block, weights, dtype)
    n, d = X.shape
    out: dict[str, Any] = {"n": n, "bad_row": None, "bad_weight": None}
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        out["bad_row"] = int(np.flatnonzero(~finite)[0])
        return out
    if w is not None:
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            out["bad_weight"] = "non-finite or negative" if w.shape == (n,) else f"shape {w.shape}"
            return out
    total_w = float(n if w is None else w.sum())
    Xf = X.astype(np.float64, copy=False)
    sums = Xf.sum(axis=0) if w is None else w @ Xf
    mean = sums / total_w if total_w > 0 else np.zeros(d)
    sq = (Xf - mean) ** 2
    out.update(
        weight_sum=total_w,
        n_positive=int(n if w is None else np.count_nonzero(w)),
        sums=sums,
        m2=sq.sum(axis=0) if w is None else w @ sq,
    )
    if sample_rows is None:
        out["sample"], out["sample_weight"] = Xf.copy(), None if w is None else w.copy()
    elif total_w > 0 and sample_rows > 0:
        rows, counts = weighted_sample(X, w, sample_rows, np.random.default_rng(seed))
        # each draw stands for total_w / sample_rows of this block's weight (stratified sample)
        out["sample"], out["sample_weight"] = rows, counts * (total_w / sample_rows)
    return out


def _moments_task(block, weights, params: tuple) -> Stats:
    """Hard-assignment (or random) statistics of one block, through the core's ``moments``."""
    covariance_type, shift, chunk, dtype, n_components, centers, seed = params
    X, w = _block_arrays(block, weights, dtype)
    if centers is not None:
        labels = nearest_center(X, centers)
        eye = np.eye(n_components)

        def resp(start, stop):
            return eye[:, labels[start:stop]]

    else:  # random responsibilities, one seed per chunk as the core does
        seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=(X.shape[0] + chunk - 1) // chunk)

        def resp(start, stop):
            r = np.random.default_rng(seeds[start // chunk]).uniform(size=(n_components, stop - start))
            return r / r.sum(axis=0, keepdims=True)

    funcs = COVARIANCE[covariance_type]
    return moments(X, resp, funcs.features, shift, w, n_components=n_components, chunk_size=chunk, dtype=dtype)


def _estep_task(block, weights, params: tuple) -> Stats:
    """The core's E-step on one block; returns its additive :class:`~gmmseg.core.stats.Stats`."""
    covariance_type, coef, shift, shared, chunk, dtype, entropy = params
    X, w = _block_arrays(block, weights, dtype)
    funcs = COVARIANCE[covariance_type]
    return expectation(
        X, coef, funcs.features, shift, w, chunk_size=chunk, dtype=dtype, entropy=entropy, n_threads=1, shared=shared
    )


def _add_stats(*parts: Stats) -> Stats:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


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


# --------------------------------------------------------------------------- data on the cluster


@dataclass
class _Summary:
    """Pass-1 results, all small: totals, centre, variance and the initialisation sample."""

    n_rows: int
    n_features: int
    weight_sum: float
    n_positive: int
    shift: np.ndarray  # (D,) weighted mean
    variance: np.ndarray  # (D,) weighted variance
    sample: np.ndarray  # (m, D) float64
    sample_weight: np.ndarray | None  # (m,)
    sampled: bool  # False when the sample is the whole data


def _as_dask_array(X, da, *, known_chunks: bool):
    """A 2-D dask array with one column block; dask dataframes via ``to_dask_array``."""
    names = None
    if isinstance(X, da.Array):
        arr = X
    elif hasattr(X, "to_dask_array"):  # dask DataFrame
        names = getattr(X, "columns", None)
        arr = X.to_dask_array(lengths=known_chunks)
    else:
        raise InputError(
            f"X must be a dask array or dask DataFrame, got {type(X).__name__}; "
            "use gmmseg.GaussianMixture for in-memory data or wrap it with dask.array.from_array"
        )
    if arr.ndim != 2:
        raise InputError(f"X must be 2-D (n_samples, n_features), got {arr.ndim} dimension(s)")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError(f"X must be real-valued and numeric, got dtype {arr.dtype}; select numeric columns first")
    if known_chunks and any(np.isnan(c) for c in arr.chunks[0]):
        arr = arr.compute_chunk_sizes()
    if arr.numblocks[1] != 1:
        arr = arr.rechunk({1: -1})
    if names is not None and all(isinstance(c, str) for c in names):
        names = np.asarray(list(names), dtype=object)
    else:
        names = None
    return arr, names


class _ClusterData:
    """Row blocks of ``X`` (and of the weights) as delayed objects, and the passes over them."""

    def __init__(self, X, sample_weight, dtype, *, client, retries: int, split_every: int):
        dask, da = _dask()
        self.dask = dask
        self.dtype = dtype
        self.client = client if client is not None else _default_client()
        self.retries = int(retries)
        self.split_every = max(2, int(split_every))
        arr, self.feature_names = _as_dask_array(X, da, known_chunks=True)
        self.shape = (int(arr.shape[0]), int(arr.shape[1]))
        if self.shape[0] == 0 or self.shape[1] == 0:
            raise InputError(f"X is empty (shape {self.shape}); pass at least one row and one column")
        rows = arr.chunks[0]
        keep = [i for i, r in enumerate(rows) if r > 0]
        self.offsets = np.concatenate([[0], np.cumsum(rows)])[keep]
        self.block_rows = [rows[i] for i in keep]
        delayed_blocks = arr.to_delayed().ravel()
        self.blocks = [delayed_blocks[i] for i in keep]
        if sample_weight is None:
            self.weights = [None] * len(keep)
        else:
            w = sample_weight
            if hasattr(w, "to_dask_array"):
                w = w.to_dask_array(lengths=True)
            elif not isinstance(w, da.Array):
                w = np.asarray(w, dtype=np.float64)
                if w.ndim == 0:
                    w = np.full(self.shape[0], float(w))
                w = da.from_array(w, chunks=(rows,)) if w.shape == (self.shape[0],) else w
            if w.shape != (self.shape[0],):
                raise InputError(
                    f"sample_weight must have shape ({self.shape[0]},), got {w.shape}; pass one weight per row"
                )
            delayed_weights = w.rechunk((rows,)).to_delayed().ravel()
            self.weights = [delayed_weights[i] for i in keep]

    # -- scheduling

    def compute(self, *objs):
        """Compute delayed objects on the client (with Dask retries) or the default scheduler."""
        if self.client is not None:
            futures = self.client.compute(list(objs), retries=self.retries)
            try:
                return self.client.gather(futures)
            finally:
                for future in futures:
                    future.release()
        return self.dask.compute(*objs)

    def _tree(self, parts: list):
        add = self.dask.delayed(_add_stats, pure=True)
        while len(parts) > 1:
            parts = [add(*parts[i : i + self.split_every]) for i in range(0, len(parts), self.split_every)]
        return parts[0]

    def _per_block(self, func, params):
        task = self.dask.delayed(func, pure=True)
        shared = self.dask.delayed(params, pure=True, traverse=False)
        return [task(b, w, shared) for b, w in zip(self.blocks, self.weights)]

    # -- passes

    def summarise(self, sample_size: int, rng: np.random.Generator) -> _Summary:
        """Pass 1: validate, count, centre and draw the initialisation sample chunk by chunk."""
        n, d = self.shape
        task = self.dask.delayed(_summary_task, pure=True)
        if n <= sample_size:  # the whole data is the sample, exactly as in memory
            sizes, seeds = [None] * len(self.blocks), [None] * len(self.blocks)
        else:
            sizes = [max(1, int(round(sample_size * r / n))) for r in self.block_rows]
            seeds = [int(s) for s in rng.integers(0, 2**63 - 1, size=len(self.blocks))]
        parts = self.compute(
            *[task(b, w, self.dtype, m, s) for b, w, m, s in zip(self.blocks, self.weights, sizes, seeds)]
        )
        for offset, part in zip(self.offsets, parts):
            if part["bad_row"] is not None:
                raise InputError(
                    f"X contains NaN or infinity (first at row {int(offset) + part['bad_row']}); "
                    "impute or drop those rows first"
                )
            if part["bad_weight"] is not None:
                raise InputError(
                    f"sample_weight is {part['bad_weight']} near row {int(offset)}; pass finite non-negative weights"
                )
        weight_sum = float(sum(p["weight_sum"] for p in parts))
        if not weight_sum > 0:
            raise InputError("sample_weight sums to 0; at least one row needs a positive weight")
        shift = np.sum([p["sums"] for p in parts], axis=0) / weight_sum
        # Chan et al.'s parallel variance: within-block M2 plus the spread of the block means
        m2 = np.zeros(d)
        for p in parts:
            m2 += p["m2"]
            if p["weight_sum"] > 0:
                m2 += p["weight_sum"] * (p["sums"] / p["weight_sum"] - shift) ** 2
        with_sample = [p for p in parts if "sample" in p]
        sample = np.concatenate([p["sample"] for p in with_sample])
        weights = [p["sample_weight"] for p in with_sample]
        sample_weight = None if all(x is None for x in weights) else np.concatenate(weights)
        return _Summary(
            n_rows=n,
            n_features=d,
            weight_sum=weight_sum,
            n_positive=int(sum(p["n_positive"] for p in parts)),
            shift=shift,
            variance=m2 / weight_sum,
            sample=sample,
            sample_weight=sample_weight,
            sampled=n > sample_size,
        )

    def moments(self, covariance_type, shift, chunk, n_components, centers=None, seed=None) -> Stats:
        params = (covariance_type, shift, chunk, self.dtype, n_components, centers, seed)
        if centers is None:  # one seed per block
            seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=len(self.blocks))
            task = self.dask.delayed(_moments_task, pure=True)
            parts = [
                task(b, w, params[:-1] + (int(s),)) for b, w, s in zip(self.blocks, self.weights, seeds, strict=True)
            ]
        else:
            parts = self._per_block(_moments_task, params)
        return self.compute(self._tree(parts))[0]

    def expectations(self, requests: Sequence[tuple]) -> list[Stats]:
        """One E-step pass per request ``(covariance_type, coef, shift, shared, chunk, entropy)``, computed together."""
        finals = []
        for covariance_type, coef, shift, shared, chunk, entropy in requests:
            params = (covariance_type, coef, shift, shared, chunk, self.dtype, entropy)
            finals.append(self._tree(self._per_block(_estep_task, params)))
        return list(self.compute(*finals))


def _default_client():
    """The current distributed client if there is one, else None (Dask's default scheduler)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


# --------------------------------------------------------------------------- fitting


class _ClusterSource:
    """The row source of the core's EM loop (``GaussianMixture._fit_source``) on Dask blocks.

    E-steps and moments run per block on the workers and come back as added ``Stats``;
    seeding and re-seeding use the client-side initialisation sample.
    """

    def __init__(self, data: _ClusterData, summary: _Summary, chunk: int):
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
    data: _ClusterData,
    summary: _Summary,
    rng: np.random.Generator,
    centers: np.ndarray | None = None,
) -> GaussianMixture:
    """EM on the cluster: the core's own loop (``_fit_source``) with the E-step on the blocks."""
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
            where = f"the initialisation sample of {summary.sample.shape[0]} rows" if summary.sampled else "the data"
            raise FittingError(
                f"n_components={k} but {where} has only {distinct} distinct row(s) with positive weight; "
                f"lower n_components to at most {distinct}"
            )
    source = _ClusterSource(data, summary, chunk_rows(model, d))
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

    Initialisation: one pass computes the weighted mean and variance and draws a
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
        Rows in the initialisation sample.
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
    data = _ClusterData(X, sample_weight, dtype, client=client, retries=retries, split_every=split_every)
    check_settings(model, data.shape[1])  # before any pass over the data
    rng = check_random_state(model.random_state)
    summary = data.summarise(sample_size, rng)
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
) -> SelectionResult:
    """:func:`gmmseg.select_components` on a dask collection: same grid, criteria and result.

    The shared seeding (k-means++ for the largest K, k-means per K) runs on the
    initialisation sample of :func:`fit_mixture` (the whole data when
    ``n_samples <= sample_size``, in which case the table equals the in-memory one
    from the same ``random_state``); every fit and every model's final E-step
    (log-likelihood and entropy for BIC/AIC/ICL) runs chunk-wise on the workers.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
    n_components, covariance_types, criterion, sample_weight, random_state, n_init, max_iter, tol,
    reg_covar, reg_covar_relative, dtype, chunk_size, keep_models, progress
        As :func:`gmmseg.select_components`.
    client, retries, split_every, sample_size
        As :func:`fit_mixture`.

    Returns
    -------
    SelectionResult
    """
    ks, covariance_types, criterion = _check_grid(n_components, covariance_types, criterion)
    data = _ClusterData(X, sample_weight, check_dtype(dtype), client=client, retries=retries, split_every=split_every)
    rng = check_random_state(random_state)
    summary = data.summarise(sample_size, rng)
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
    return _run_grid(
        ks,
        covariance_types,
        criterion,
        distinct,
        summary.sample,
        summary.sample_weight,
        rng,
        params,
        fit,
        keep_models,
        progress,
    )


# --------------------------------------------------------------------------- lazy evaluation


def _lazy(model: GaussianMixture, X, func, dtype, n_columns: int | None):
    dask, da = _dask()
    if not hasattr(model, "precisions_cholesky_"):
        raise NotFittedError(f"this {type(model).__name__} is not fitted yet; call fit(X) before using it")
    arr, _ = _as_dask_array(X, da, known_chunks=False)
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
    """
    return _lazy(model, X, _predict_block, np.intp, None)


def predict_proba(model: GaussianMixture, X):
    """Posterior probabilities, lazily: a dask array of shape ``(n_samples, n_components)``."""
    return _lazy(model, X, _predict_proba_block, np.float64, model.n_components)


def score_samples(model: GaussianMixture, X):
    """Log-density ``log p(x)`` of every row, lazily: a dask array of shape ``(n_samples,)``."""
    return _lazy(model, X, _score_samples_block, np.float64, None)


# --------------------------------------------------------------------------- clusters and batches


def get_client(scheduler: str, *, timeout: str | float = "30s"):
    """Connect to (or start) a Dask cluster.

    Parameters
    ----------
    scheduler : str
        ``"local:N"`` starts a :class:`distributed.LocalCluster` of N single-threaded
        worker processes on 127.0.0.1 (``"local"``: one per core); closing the client
        closes that cluster. A path to a ``.json`` scheduler file (``dask scheduler
        --scheduler-file``) or an address such as ``tcp://10.0.0.5:8786`` connects
        to a running scheduler.
    timeout : str or float
        How long to wait for the scheduler.

    Returns
    -------
    distributed.Client
        Use it as a context manager (``with get_client("local:2") as client: ...``)
        or call ``client.close()``.
    """
    distributed = _distributed()
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise ParameterError(f"scheduler must be 'local:N' or an address like tcp://host:8786, got {scheduler!r}")
    scheduler = scheduler.strip()
    if scheduler == "local" or scheduler.startswith("local:"):
        count = scheduler.partition(":")[2]
        if count:
            if not count.isdigit() or int(count) < 1:
                raise ParameterError(f"scheduler 'local:N' needs a worker count N >= 1, got {scheduler!r}")
            n_workers = int(count)
        else:
            import os

            n_workers = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
        return distributed.Client(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # no dashboard; the scheduler's small HTTP server (health, metrics) on a free loopback port
            scheduler_kwargs=_LOOPBACK_HTTP,
            timeout=timeout,
        )
    try:
        if scheduler.endswith(".json"):
            return distributed.Client(scheduler_file=scheduler, timeout=timeout)
        return distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ParameterError(
            f"cannot reach the Dask scheduler at {scheduler} ({exc}); start it with 'dask scheduler' "
            "or use --scheduler local:N"
        ) from None


_LOOPBACK_HTTP = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}


class TaskError(str):
    """The error message of an item that still failed after its retries.

    A ``str`` (``"ValueError: bad image"``), so outcomes stay printable and JSON-able;
    test with ``isinstance(outcome, TaskError)``.
    """

    __slots__ = ()


def _describe(exc: BaseException) -> TaskError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return TaskError(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def map_files(
    func: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    client=None,
    retries: int = 2,
    progress: Callable[[int, int, Any, Any], None] | None = None,
) -> list[tuple[Any, Any]]:
    """Run ``func(item)`` for every item on the cluster; report failures per item.

    Parameters
    ----------
    func : callable
        A top-level, picklable function (use :func:`functools.partial` for options).
        It runs on a worker, so paths must be reachable there; write outputs from
        inside ``func`` or return them small.
    items : iterable
        Usually file paths.
    client : distributed.Client or None
        None runs the items one after the other in this process (same contract).
    retries : int, default=2
        Dask retries of a failed item (an exception, or its worker lost) before it
        is reported as failed.
    progress : callable, optional
        ``progress(done, total, item, outcome)`` is called in this process as each
        item finishes, in completion order: write results there and nothing already
        finished is lost if the run is interrupted later.

    Returns
    -------
    list of (item, outcome)
        In the order of ``items``; ``outcome`` is ``func(item)`` or a
        :class:`TaskError` message.
    """
    items = list(items)
    check_int(retries, "retries", 0)
    total = len(items)
    outcomes: list[Any] = [None] * total
    if client is None:
        for i, item in enumerate(items):
            for attempt in range(retries + 1):
                try:
                    outcomes[i] = func(item)
                    break
                except Exception as exc:
                    if attempt == retries:
                        outcomes[i] = _describe(exc)
            if progress is not None:
                progress(i + 1, total, item, outcomes[i])
        return list(zip(items, outcomes))

    distributed = _distributed()
    futures = client.map(func, items, retries=retries, pure=False)
    index = {future.key: i for i, future in enumerate(futures)}
    done = 0
    try:
        for future in distributed.as_completed(futures, loop=client.loop):
            i = index[future.key]
            if future.status == "finished":
                outcomes[i] = future.result()
            elif future.status == "error":
                outcomes[i] = _describe(future.exception())
            else:
                outcomes[i] = TaskError(f"task {future.status}")
            future.release()
            done += 1
            if progress is not None:
                progress(done, total, items[i], outcomes[i])
    finally:
        client.cancel([f for f in futures if not f.done()])
    return list(zip(items, outcomes))


# --------------------------------------------------------------------------- tables larger than memory
#
# ``gmmseg customers`` / ``gmmseg anomalies`` with ``--scheduler``. The table is read lazily
# (Parquet dataset or CSV glob) with dask.dataframe; FeaturePrep is fitted on a bounded random
# sample pulled to the client; every partition is prepared on the workers with that FeaturePrep;
# the mixture is fitted by :func:`select_components` above (data never gathered); the per-row
# outputs are computed partition by partition and written by the workers.

#: Rows of the random sample FeaturePrep is fitted on (medians, skew and log1p decisions, scaling,
#: lattice/dequantisation decisions, category levels); also the rows of the sample-based summaries.
PREP_SAMPLE_ROWS = 200_000
_PARQUET_SUFFIXES = (".parquet", ".pq")


def _dask_dataframe():
    try:
        import dask.dataframe as dd
    except ImportError:
        raise DaskNotInstalledError(DASK_MISSING) from None
    return dd


def read_table_lazy(path, *, id_column: str | None = None, names: Sequence[str] | None = None, blocksize="64MB"):
    """A lazy ``dask.dataframe`` of a Parquet dataset (folder, file or glob) or of CSV files (a file or a glob).

    CSV files must all have the same header (or none, with ``names``); the delimiter and the
    encoding are sniffed on the first file. Integer columns are read as floats
    (``assume_missing``) so that partitions agree on dtypes; ``id_column`` is read as text.
    """
    import glob
    from pathlib import Path

    from .errors import TableError
    from .tables.io import sniff_text

    dd = _dask_dataframe()
    text = str(path)
    if any(ch in text for ch in "*?["):
        files = sorted(glob.glob(text))
        if not files:
            raise TableError(f"no file matches {text}; check the pattern (quote it so the shell does not expand it)")
    else:
        if not Path(text).exists():
            raise TableError(f"file not found: {text}; check the path")
        files = [text]
    parquet = Path(files[0]).is_dir() or all(Path(f).suffix.lower() in _PARQUET_SUFFIXES for f in files)
    try:
        if parquet:
            frame = dd.read_parquet(files if len(files) > 1 else files[0])
        else:
            encoding, delim = sniff_text(files[0])
            kwargs: dict[str, Any] = {
                "sep": r"\s+" if delim == "whitespace" else delim,
                "encoding": encoding,
                "assume_missing": True,
                "blocksize": blocksize,
            }
            if names is not None:
                kwargs.update(header=None, names=list(names))
            if id_column is not None:
                kwargs["dtype"] = {id_column: "string"}
            if delim != "whitespace":
                kwargs["skipinitialspace"] = True
            frame = dd.read_csv(files, **kwargs)
    except (OSError, ValueError) as exc:
        raise TableError(f"{text} could not be read as a table ({' '.join(str(exc).split())})") from None
    if id_column is not None and parquet and id_column in frame.columns:
        frame = frame.astype({id_column: "string"})
    return frame


def _check_columns(frame, source, *groups) -> None:
    from .errors import TableError

    have = [str(c) for c in frame.columns]
    for group in groups:
        missing = [str(c) for c in (group or ()) if str(c) not in have]
        if missing:
            raise TableError(
                f"column(s) {', '.join(missing)} not found in {source}; the columns are: {', '.join(have)}"
            )


def _compute(client, *objs):
    dask, _ = _dask()
    if client is None:
        return dask.compute(*objs)
    return dask.compute(*objs, scheduler=client)


def _lengths_and_sample(frame, sample_rows: int, seed, client):
    """Rows per partition (one pass) and a uniform random sample of about ``sample_rows`` rows (pandas)."""
    lengths = [int(n) for n in _compute(client, frame.map_partitions(len))[0]]
    n = sum(lengths)
    from .errors import TableError

    if n < 2:
        raise TableError(f"the table has {n} row(s); at least 2 are needed")
    if n <= sample_rows:
        sample = _compute(client, frame)[0]
    else:
        sample = _compute(client, frame.sample(frac=sample_rows / n, random_state=seed))[0]
    return lengths, sample.reset_index(drop=True)


def _prep_partition(part, prep, noise: bool, seed, columns, partition_info=None):
    """Worker: the prepared feature matrix of one partition (a DataFrame, so lengths stay aligned)."""
    import pandas as pd

    number = 0 if partition_info is None else int(partition_info["number"])
    if part.shape[0] == 0:
        return pd.DataFrame(np.empty((0, len(columns))), columns=columns)
    noise_seed = None if seed is None else [int(seed), number]  # other noise in every partition, reproducible
    return pd.DataFrame(prep.transform(part, dequantize=noise, seed=noise_seed), columns=columns)


def _feature_array(frame, prep, lengths, *, noise: bool, seed):
    """The prepared features of every partition as a dask array with known row blocks (lazy)."""
    import pandas as pd

    columns = [str(c) for c in prep.feature_names_out_]
    meta = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    features = frame.map_partitions(_prep_partition, prep, noise, seed, columns, meta=meta)
    return features.to_dask_array(lengths=list(lengths))


def _row_ids(part, id_column, offsets, partition_info):
    number = 0 if partition_info is None else int(partition_info["number"])
    if id_column is None:
        start = int(offsets[number]) if number < len(offsets) else 0
        return np.arange(start, start + part.shape[0])
    ids = part[id_column]
    if ids.dtype.kind == "f":  # integer identifiers read as floats (assume_missing)
        values = ids.to_numpy()
        if np.all(np.isfinite(values) & (np.mod(values, 1) == 0)):
            return ids.astype("Int64").to_numpy()
    return ids.to_numpy()


def _segment_stats_partition(part, model, numeric: list) -> np.ndarray:
    """Worker: per segment, ``[rows, sum of each numeric column, non-missing count of each]`` of one partition."""
    import pandas as pd

    k = len(model.names)
    out = np.zeros((k, 1 + 2 * len(numeric)))
    if part.shape[0] == 0:
        return out
    labels = model.predict(part)
    out[:, 0] = np.bincount(labels, minlength=k)
    for j, col in enumerate(numeric):
        values = pd.to_numeric(part[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        ok = np.isfinite(values)
        out[:, 1 + j] = np.bincount(labels[ok], weights=values[ok], minlength=k)
        out[:, 1 + len(numeric) + j] = np.bincount(labels[ok], minlength=k)
    return out


def _assign_partition(part, model, id_name: str, id_column, offsets, partition_info=None):
    """Worker: the ``assignments.csv`` rows of one partition."""
    import pandas as pd

    k = len(model.names)
    proba = model.predict_proba(part) if part.shape[0] else np.empty((0, k))
    labels = proba.argmax(axis=1)
    data = {
        id_name: _row_ids(part, id_column, offsets, partition_info),
        "segment": labels,
        "segment_name": np.asarray(model.names, dtype=object)[labels],
        "confidence": np.round(proba.max(axis=1) if part.shape[0] else np.empty(0), 6),
    }
    for j in range(k):
        data[f"p_segment_{j}"] = np.round(proba[:, j], 6)
    return pd.DataFrame(data)


def _score_partition(part, prep, mixture, id_name: str, id_column, offsets, threshold, partition_info=None):
    """Worker: ``scores.csv`` rows of one partition (``flagged`` only when ``threshold`` is given)."""
    import pandas as pd

    scores = mixture.score_samples(prep.transform(part)) if part.shape[0] else np.empty(0)
    out = pd.DataFrame({id_name: _row_ids(part, id_column, offsets, partition_info), "score": scores})
    if threshold is not None:
        out["flagged"] = scores < threshold
    out["score"] = np.round(scores, 6)
    return out


def _write_csv_lazy(frame, path, client) -> None:
    """Write a dask DataFrame to ``path`` partition by partition (``to_csv(single_file=True)``: the
    workers append the partitions in order to one temporary file), then rename it into place."""
    from .core.persist import atomic_target

    with atomic_target(path) as tmp:
        _compute(client, frame.to_csv(str(tmp), single_file=True, index=False, compute=False))


def _customer_prep(sample, id_column, columns, exclude, seed):
    """FeaturePrep (fitted on the sample) with the column choices of :func:`gmmseg.tables.customers.segment_customers`."""
    from .tables.customers import column_roles
    from .tables.prepare import FeaturePrep

    roles, id_column, profile_only = column_roles(sample, id_column, columns, exclude)
    prep = FeaturePrep(roles, id_column=id_column, random_state=seed).fit(sample)
    return prep, id_column, profile_only


def segment_table(
    path,
    outdir,
    *,
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    n_components: int | str = "auto",
    covariance_type: str = "auto",
    k_max: int = 8,
    random_state: int | None = 0,
    n_seeds: int = 5,
    model=None,
    names: Sequence[str] | None = None,
    client=None,
    sample_rows: int = PREP_SAMPLE_ROWS,
    reg_covar: float = 1e-4,
    progress: Callable | None = None,
) -> dict[str, Any]:
    """``gmmseg customers`` on a table larger than memory (Parquet dataset or CSV glob), on Dask.

    What is computed where:

    - FeaturePrep (roles, fill medians, log1p and dequantisation decisions, scaling, category
      levels) is fitted on a uniform random sample of ``sample_rows`` rows pulled to the client.
    - The features of every partition are made on the workers; K and the covariance type are
      chosen by BIC with :func:`select_components` on them (dequantised as in memory, with
      other noise per partition). No final multi-start refit.
    - Segment sizes, shares and the mean of every numeric column are exact (one pass of
      per-partition sums). Medians, top categories, distinguishing features, segment names and
      the stability ARI (at most 20,000 rows) come from the sample.
    - ``assignments.csv`` is written by the workers partition by partition into a temporary
      file in ``outdir``, then renamed (so ``outdir`` must be reachable from the workers).

    Writes ``assignments.csv`` and (when fitting) ``model.gmmseg`` into ``outdir``; returns
    ``{"profiles": DataFrame, "summary": dict}`` for the caller to write.
    """
    from pathlib import Path

    from .core.restarts import seed_stability
    from .errors import TableError
    from .tables.customers import COVARIANCE_AUTO, CustomerSegmentModel
    from .tables.naming import segment_names
    from .tables.profiles import distinguishing_features, segment_profiles

    outdir = Path(outdir)
    frame = read_table_lazy(path, id_column=id_column, names=names)
    _check_columns(frame, path, [id_column] if id_column else (), columns, exclude)
    lengths, sample = _lengths_and_sample(frame, sample_rows, random_state, client)
    n_rows = sum(lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    selection = None
    profile_only: list[str] = []
    if model is not None:
        prep, id_column = model.prep, (model.id_column if model.id_column in frame.columns else None)
        _check_columns(frame, path, prep.columns_)
        seg_model = model
    else:
        prep, id_column, profile_only = _customer_prep(sample, id_column, columns, exclude, random_state)
        types = COVARIANCE_AUTO if covariance_type == "auto" else (covariance_type,)
        ks = list(range(1, int(k_max) + 1)) if n_components == "auto" else [int(n_components)]
        Z_fit = _feature_array(frame, prep, lengths, noise=True, seed=random_state)
        selection = select_components(
            Z_fit, ks, types, random_state=random_state, reg_covar=reg_covar, client=client, progress=progress
        )
        mixture = selection.best_model
        k = mixture.n_components
        seg_model = CustomerSegmentModel(prep, mixture, np.arange(k), [str(i) for i in range(k)], id_column)
    if id_column is not None and id_column not in frame.columns:
        raise TableError(f"id column {id_column!r} not found in {path}")
    numeric = []
    for col in frame.columns:
        role = prep.roles_.get(str(col))
        if col != id_column and role not in ("id", "date") and frame[col].dtype.kind in "iuf":
            numeric.append(col)
    # exact per-segment sizes and sums: one pass, small arrays back
    dask, _ = _dask()
    shared = dask.delayed(seg_model, pure=True, traverse=False)
    task = dask.delayed(_segment_stats_partition, pure=True)
    parts = _compute(client, *[task(p, shared, numeric) for p in frame.to_delayed()])
    stats = np.sum(parts, axis=0)
    k = stats.shape[0]
    if model is None:  # segments numbered by size, largest first
        order = np.argsort(-stats[:, 0], kind="stable")
        seg_model.mixture.permute_components(order)
        stats = stats[order]
    Z_sample = prep.transform(sample)
    labels_sample = seg_model.predict(sample)
    distinguishing = distinguishing_features(sample, prep, Z_sample, labels_sample, k)
    if model is None:
        seg_model.names = segment_names(distinguishing)
        rows = np.random.default_rng(random_state).permutation(sample.shape[0])[:20_000]
        sub = sample.iloc[np.sort(rows)]
        stability = seed_stability(
            prep.transform(sub, dequantize=True),
            seg_model.predict(sub),
            seg_model.mixture,
            n_seeds=n_seeds,
            n_init=4,
            random_state=random_state,
            reg_covar=reg_covar,
            dtype="float64",
        )
        seg_model.save(outdir / "model.gmmseg")
    else:
        stability = {}
    profiles = segment_profiles(sample, labels_sample, seg_model.names, id_column, prep)
    sizes = stats[:, 0]
    profiles["size"] = sizes.astype(int)
    profiles["share"] = sizes / max(1, n_rows)
    for j, col in enumerate(numeric):
        with np.errstate(invalid="ignore", divide="ignore"):
            profiles[f"{col}_mean"] = stats[:, 1 + j] / stats[:, 1 + len(numeric) + j]
    id_name = id_column or "row"
    out = frame.map_partitions(
        _assign_partition,
        seg_model,
        id_name,
        id_column,
        offsets,
        meta=_assign_meta(id_name, k),
    )
    _write_csv_lazy(out, outdir / "assignments.csv", client)
    mix = seg_model.mixture
    summary = {
        "n_rows": int(n_rows),
        "id_column": id_column,
        "columns": prep.summary(),
        "model_columns": list(prep.columns_),
        "profile_only_columns": profile_only,
        "n_segments": int(k),
        "covariance_type": mix.covariance_type,
        "criterion": selection.criterion if selection else None,
        "criterion_table": selection.table if selection else [],
        "interior_minimum": bool(selection.has_interior_minimum()) if selection else None,
        "segments": [
            {
                "segment": s,
                "name": seg_model.names[s],
                "size": int(sizes[s]),
                "share": float(sizes[s] / max(1, n_rows)),
                "distinguishing": distinguishing[s][:5],
            }
            for s in range(k)
        ],
        "stability": stability,
        "distributed": {
            "partitions": len(lengths),
            "prep_sample_rows": int(sample.shape[0]),
            "from_sample": "FeaturePrep, medians, top categories, distinguishing features, names, stability",
        },
    }
    return {"profiles": profiles, "summary": summary}


def _assign_meta(id_name: str, k: int):
    import pandas as pd

    data = {
        id_name: pd.Series(dtype="object"),
        "segment": pd.Series(dtype="int64"),
        "segment_name": pd.Series(dtype="object"),
        "confidence": pd.Series(dtype="float64"),
    }
    data.update({f"p_segment_{j}": pd.Series(dtype="float64") for j in range(k)})
    return pd.DataFrame(data)


def score_table(
    path,
    outdir,
    *,
    reference=None,
    contamination: float | None = 0.01,
    threshold: float | None = None,
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    random_state: int | None = 0,
    client=None,
    sample_rows: int = PREP_SAMPLE_ROWS,
    k_max: int = 5,
    trim: float = 0.1,
    reg_covar: float = 1e-3,
) -> dict[str, Any]:
    """``gmmseg anomalies`` on a table larger than memory (Parquet dataset or CSV glob), on Dask.

    The joint-mixture part of :class:`~gmmseg.tables.anomalies.TableAnomalyDetector`: FeaturePrep
    (robust scaling) is fitted on a random sample of ``sample_rows`` rows of the reference
    (default: the table itself); K = 1..``k_max`` and full/diag are chosen by BIC with
    :func:`select_components` on the workers (skipping models with a component under 1% of the
    rows); with ``trim`` the fit is repeated without the least likely ``trim`` share of the rows
    (weight 0, cut at an approximate dask quantile). One member, no marginal ensemble, no
    per-row reasons. The threshold is ``threshold`` or the ``contamination`` quantile of the
    reference scores (approximate: dask's quantile of partitioned data).

    Writes ``scores.csv`` (id, score, flagged) into ``outdir`` (by the workers, partition by
    partition, into a temporary file that is then renamed); returns the summary dict.
    """
    from pathlib import Path

    from .tables.anomalies import FULL_MAX_FEATURES, best_without_tiny_components
    from .tables.prepare import FeaturePrep

    if threshold is None and not (contamination is not None and 0.0 < float(contamination) < 0.5):
        raise ParameterError(f"contamination must be in (0, 0.5), got {contamination!r}")
    keep = [id_column] if id_column else []

    def load(source):
        frame = read_table_lazy(source, id_column=id_column, names=names)
        _check_columns(frame, source, keep, columns, exclude)
        if columns:
            wanted = set(keep) | set(columns)
            frame = frame[[c for c in frame.columns if c in wanted]]
        if exclude:
            frame = frame[[c for c in frame.columns if c not in set(exclude)]]
        return frame

    frame = load(path)
    ref = load(reference) if reference is not None else frame
    ref_lengths, sample = _lengths_and_sample(ref, sample_rows, random_state, client)
    roles = {id_column: "id"} if id_column else None
    prep = FeaturePrep(roles, scaling="robust", random_state=random_state).fit(sample)
    Z_fit = _feature_array(ref, prep, ref_lengths, noise=True, seed=random_state)
    d = Z_fit.shape[1]
    types = ("full", "diag") if d <= FULL_MAX_FEATURES else ("diag",)
    ks = range(1, int(k_max) + 1)
    n_ref = sum(ref_lengths)
    grid = dict(random_state=random_state, reg_covar=reg_covar, keep_models=True, client=client)
    selection = select_components(Z_fit, ks, types, **grid)
    mixture = best_without_tiny_components(selection, n_ref, d)
    if trim > 0:
        dask, da = _dask()
        first = score_samples(mixture, Z_fit)
        cut = float(np.ravel(_compute(client, da.percentile(first, [100.0 * float(trim)]))[0])[0])
        weights = (first > cut).astype(np.float64)
        n_kept = int(_compute(client, weights.sum())[0])
        selection = select_components(Z_fit, ks, types, sample_weight=weights, **grid)
        mixture = best_without_tiny_components(selection, n_kept, d)
    id_name = id_column or "row"
    if threshold is None:
        ref_offsets = np.concatenate([[0], np.cumsum(ref_lengths)]).tolist()
        meta = _pd_frame({id_name: "object", "score": "float64"})
        ref_scores = ref.map_partitions(
            _score_partition, prep, mixture, id_name, id_column, ref_offsets, None, meta=meta
        )
        threshold_score = float(_compute(client, ref_scores["score"].quantile(float(contamination)))[0])
    else:
        threshold_score = float(threshold)
    lengths = ref_lengths if reference is None else [int(n) for n in _compute(client, frame.map_partitions(len))[0]]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    meta = _pd_frame({id_name: "object", "score": "float64", "flagged": "bool"})
    scores = frame.map_partitions(
        _score_partition, prep, mixture, id_name, id_column, offsets, threshold_score, meta=meta
    )
    _write_csv_lazy(scores, Path(outdir) / "scores.csv", client)
    n_flagged = int(_compute(client, scores["flagged"].sum())[0])
    return {
        "n_components": int(mixture.n_components),
        "covariance_type": mixture.covariance_type,
        "ensemble": "none",
        "n_estimators": 1,
        "trim": float(trim),
        "marginal_components": [],
        "threshold_score": threshold_score,
        "contamination": None if threshold is not None else float(contamination),
        "columns": prep.summary(),
        "criterion_table": selection.table,
        "data": str(path),
        "reference": str(reference) if reference is not None else None,
        "n_rows": int(sum(lengths)),
        "n_flagged": n_flagged,
        "id_column": id_column,
        "distributed": {
            "partitions": len(lengths),
            "prep_sample_rows": int(sample.shape[0]),
            "from_sample": "FeaturePrep (medians, skew decisions, robust scaling, category levels)",
            "approximate": "threshold quantile and trim cut (dask quantiles of partitioned data)",
        },
    }


def _pd_frame(dtypes: dict):
    """An empty pandas DataFrame with these column dtypes (a ``meta`` for ``map_partitions``)."""
    import pandas as pd

    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
