"""The row blocks of a Dask collection and the passes over them that the EM loop needs.

Each pass runs one task per row block on the workers (a summary, hard-assignment moments or
an E-step through the core's :func:`~gmmseg.core.stats.expectation`) and adds the blocks'
:class:`~gmmseg.core.stats.Stats` in a tree on the workers; only small results travel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.covariance import COVARIANCE
from ..core.init import nearest_center, weighted_sample
from ..core.stats import Stats, expectation, moments
from ..errors import InputError
from ._dask import require_dask
from .cluster import default_client

__all__ = ["RowSummary", "RowBlocks", "as_dask_array"]

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


# --------------------------------------------------------------------------- data on the cluster


@dataclass
class RowSummary:
    """Pass-1 results, all small: totals, center, variance and the initialization sample."""

    n_rows: int
    n_features: int
    weight_sum: float
    n_positive: int
    shift: np.ndarray  # (D,) weighted mean
    variance: np.ndarray  # (D,) weighted variance
    sample: np.ndarray  # (m, D) float64
    sample_weight: np.ndarray | None  # (m,)
    sampled: bool  # False when the sample is the whole data


def as_dask_array(X, da, *, known_chunks: bool):
    """``X`` as a 2-D dask array with one column block (dask DataFrames via ``to_dask_array``).

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
    da : module
        ``dask.array``.
    known_chunks : bool
        Compute unknown row-block sizes (needed to fit, not to predict).

    Returns
    -------
    arr : dask.array.Array of shape (n_samples, n_features)
    names : ndarray of shape (n_features,) or None
        The column names of a DataFrame whose columns are all strings.
    """
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


class RowBlocks:
    """Row blocks of ``X`` (and of the weights) as delayed objects, and the passes over them.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
    sample_weight : array-like, dask array or dask Series of shape (n_samples,) or None
        Rechunked to the row blocks of ``X``.
    dtype : numpy dtype
        Precision of the E-step (statistics are accumulated in float64).
    client : distributed.Client or None
        None: the current default client, else Dask's local scheduler.
    retries : int
        Dask retries of a failed task.
    split_every : int
        Fan-in of the tree that adds the blocks' statistics.
    """

    def __init__(self, X, sample_weight, dtype, *, client, retries: int, split_every: int):
        dask, da = require_dask()
        self.dask = dask
        self.dtype = dtype
        self.client = client if client is not None else default_client()
        self.retries = int(retries)
        self.split_every = max(2, int(split_every))
        arr, self.feature_names = as_dask_array(X, da, known_chunks=True)
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

    def summarize(self, sample_size: int, rng: np.random.Generator) -> RowSummary:
        """Pass 1: validate, count, center and draw the initialization sample chunk by chunk."""
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
        return RowSummary(
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
