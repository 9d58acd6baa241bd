"""Additive sufficient statistics and the chunked E-step that makes them.

One EM iteration is: for every chunk of rows, :func:`expectation` returns a
:class:`Stats`; the chunks' ``Stats`` are **added**; the M-step turns the total
into new parameters. Because statistics add, the same code gives exact
weighted EM, bounded memory, exact EM over unique rows (weighted by their
counts) and distributed EM (each Dask chunk returns ``Stats``).

Memory beyond the data is one chunk's features ``(chunk_size, F)`` and
log-densities ``(chunk_size, K)``; there is never an ``N × K × D`` temporary.
Statistics are accumulated in float64 even when the compute dtype is float32.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Stats", "expectation", "moments", "log_prob_chunks", "log_normalize", "auto_chunk_size", "WEIGHT_FLOOR"]

#: Target size in bytes of one chunk's feature block when ``chunk_size="auto"``.
CHUNK_BYTES = 2 * 2**20
#: Added to every component's weighted count before dividing, so an empty component divides safely.
WEIGHT_FLOOR = 10 * np.finfo(np.float64).eps


def auto_chunk_size(n_features_expanded: int, n_components: int, itemsize: int) -> int:
    """Rows per chunk so that one chunk's temporaries take about :data:`CHUNK_BYTES`.

    >>> auto_chunk_size(10, 8, 8)
    8192
    """
    per_row = (n_features_expanded + n_components + 4) * itemsize
    return int(max(256, min(8192, CHUNK_BYTES // per_row)))


@dataclass
class Stats:
    """Sufficient statistics of one or more chunks, added with ``+``.

    Attributes
    ----------
    raw : ndarray of shape (n_components, F), float64
        ``Σ w·r_k·Phi(x)``: column 0 is ``n_k``, then ``s_k`` (D columns), then the
        second moments (upper triangle of ``x xᵀ`` or ``x²``) of the centered rows.
    loglik : float
        ``Σ w·log p(x)``.
    weight_sum : float
        ``Σ w``.
    n_rows : int
        Number of rows seen (including zero-weight rows).
    entropy : float
        ``-Σ w Σ_k r_k log r_k`` (only when requested, else 0).
    worst_loglik, worst_row : float, ndarray (D,)
        The least likely row with positive weight (used to re-seed collapsed components).
    second : ndarray of shape (D, D) or None
        ``Σ w x xᵀ`` of the centered rows, for tied covariances (whose features are ``[1, x]``).
    """

    raw: np.ndarray
    loglik: float = 0.0
    weight_sum: float = 0.0
    n_rows: int = 0
    entropy: float = 0.0
    worst_loglik: float = np.inf
    worst_row: np.ndarray | None = field(default=None, repr=False)
    second: np.ndarray | None = None

    def __add__(self, other: Stats) -> Stats:
        if self.worst_loglik <= other.worst_loglik:
            worst, row = self.worst_loglik, self.worst_row
        else:
            worst, row = other.worst_loglik, other.worst_row
        return Stats(
            self.raw + other.raw,
            self.loglik + other.loglik,
            self.weight_sum + other.weight_sum,
            self.n_rows + other.n_rows,
            self.entropy + other.entropy,
            worst,
            row,
            None if self.second is None else self.second + other.second,
        )

    @classmethod
    def zeros(cls, n_components: int, n_features_expanded: int) -> Stats:
        return cls(np.zeros((n_components, n_features_expanded)))


def _chunks(n: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, chunk_size):
        yield start, min(n, start + chunk_size)


#: Row-major feature blocks at least this wide compute the E-step product transposed (see
#: :func:`log_prob_chunks`); measured: 1.5x faster at F = 129, about even at 33, slower at 17.
TRANSPOSED_GEMM_MIN_FEATURES = 48


def log_prob_chunks(
    X: np.ndarray,
    coef: np.ndarray,
    features: Callable,
    shift: np.ndarray,
    chunk_size: int,
    dtype=np.float64,
    shared: np.ndarray | None = None,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Yield ``(start, stop, phi, L)`` for each chunk of rows.

    ``phi`` ``(F, m)`` is the chunk's feature expansion (transposed: features × rows)
    and ``L[k, i] = log w_k + log N(x_i | k)`` has shape ``(K, m)``. Both are reused
    buffers: copy them if they must outlive the next step. ``shared`` is the tied
    factor ``U``: ``-½ ‖Uᵀx‖²`` is added to every component.
    """
    n, d = X.shape
    coef = np.asarray(coef, dtype=dtype)
    row_major = getattr(features, "row_major", True)
    shift = np.asarray(shift, dtype=dtype)
    size = min(chunk_size, n)
    if shared is not None:
        shared = np.asarray(shared, dtype=dtype)
    n_feat = coef.shape[1]
    xbuf = None if row_major else np.empty((d, size), dtype=dtype)
    fbuf = np.empty((size, n_feat) if row_major else (n_feat, size), dtype=dtype)
    lbuf = np.empty((coef.shape[0], size), dtype=dtype)
    # Wide row-major blocks: BLAS runs ``block @ coefᵀ`` (rows × K) about 1.8x faster than
    # ``coef @ blockᵀ`` (K × rows) at K = 16, F = 129; the small transposing copy back to
    # ``(K, m)`` costs far less. Narrow blocks are faster the direct way (measured).
    tbuf = (
        np.empty((size, coef.shape[0]), dtype=dtype) if row_major and n_feat >= TRANSPOSED_GEMM_MIN_FEATURES else None
    )
    for start, stop in _chunks(n, chunk_size):
        m = stop - start
        if row_major:  # rows are centered straight into the feature block (one pass less over the chunk)
            phi = features(X[start:stop], out=fbuf[:m], shift=shift)
            xc = fbuf[:m, 1 : 1 + d]
        else:
            xc = xbuf[:, :m]
            np.subtract(X[start:stop].T, shift[:, None], out=xc, casting="unsafe")
            phi = features(xc, out=fbuf[:, :m])
        L = lbuf[:, :m]
        if tbuf is None:
            np.matmul(coef, phi, out=L)
        else:
            np.matmul(phi.T, coef.T, out=tbuf[:m])
            np.copyto(L, tbuf[:m].T)
        if shared is not None:
            y = xc @ shared
            L -= 0.5 * np.einsum("ij,ij->i", y, y)
        yield start, stop, phi, L


_EXP_FLOOR = {np.float32: np.float32(-80.0), np.float64: -700.0}


def log_normalize(L: np.ndarray) -> np.ndarray:
    """Turn log-densities ``(K, m)`` into responsibilities in place; return ``log Σ_k exp L`` ``(m,)``."""
    top = L.max(axis=0)
    # rows where every component underflows to -inf keep a finite max
    if not np.all(np.isfinite(top)):
        top[~np.isfinite(top)] = 0.0
    L -= top
    # Keep exp() out of the subnormal range: subnormal floats are ~100x slower on x86, in
    # exp and in the GEMM that follows. exp(-80) = 1.8e-35 (float32) and exp(-700) = 1e-304
    # (float64) are as good as zero next to the largest term, which is exp(0) = 1.
    np.maximum(L, _EXP_FLOOR[L.dtype.type], out=L)
    np.exp(L, out=L)
    total = L.sum(axis=0)
    np.divide(1.0, total, out=total)
    L *= total
    return top - np.log(total)


def _expectation_block(X, coef, features, shift, w, chunk_size, dtype, entropy, shared) -> Stats:
    n_comp, n_feat = coef.shape
    total = np.zeros((n_comp, n_feat))
    loglik = 0.0
    wsum = 0.0
    ent = 0.0
    worst = np.inf
    worst_row = None
    second = None if shared is None else np.zeros((X.shape[1], X.shape[1]))
    for start, stop, phi, L in log_prob_chunks(X, coef, features, shift, chunk_size, dtype, shared):
        log_norm = log_normalize(L)
        if second is not None:  # tied: features are [1, x] (row-major), phi[1:] is x transposed
            xt = phi[1:]
            xw = xt if w is None else xt * w[start:stop].astype(dtype)
            second += (xw @ xt.T).astype(np.float64)
        if entropy:
            with np.errstate(divide="ignore", invalid="ignore"):
                per_row = -np.where(L > 0, L * np.log(L), 0.0).sum(axis=0)
        if w is None:
            loglik += float(np.sum(log_norm, dtype=np.float64))
            wsum += stop - start
            R = L
            ln = log_norm
            if entropy:
                ent += float(np.sum(per_row, dtype=np.float64))
        else:
            wb = w[start:stop]
            positive = wb > 0
            ln = log_norm[positive]
            loglik += float(np.dot(wb[positive], ln.astype(np.float64)))
            wsum += float(wb.sum())
            L *= wb.astype(dtype)
            R = L
            if entropy:
                ent += float(np.dot(wb, per_row.astype(np.float64)))
        total += np.matmul(R, phi.T).astype(np.float64)
        if ln.size:
            i = int(np.argmin(ln))
            if ln[i] < worst:
                worst = float(ln[i])
                rows = X[start:stop] if w is None else X[start:stop][positive]
                worst_row = np.array(rows[i], dtype=np.float64)
    return Stats(total, loglik, wsum, X.shape[0], ent, worst, worst_row, second)


#: Rows per unit of threaded work; fixed so that results do not depend on the thread count.
#: Small enough that the blocks balance over the threads (measured: 200k x 64 diag went from
#: 3.5x to 4.3x scikit-learn's speed in float32 going from 2**17 to 2**15 rows).
BLOCK_ROWS = 2**15


def expectation(
    X: np.ndarray,
    coef: np.ndarray,
    features: Callable,
    shift: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    chunk_size: int,
    dtype=np.float64,
    entropy: bool = False,
    n_threads: int = 1,
    shared: np.ndarray | None = None,
) -> Stats:
    """E-step over ``X`` in chunks; return the total :class:`Stats`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows in the original coordinates (``shift`` is subtracted chunk by chunk).
    coef : ndarray of shape (n_components, F)
        Log-density coefficients from :mod:`gmmseg.core.covariance`.
    features : callable
        The feature expansion matching ``coef``.
    shift : ndarray of shape (n_features,)
        Centre subtracted from every row (improves the conditioning of the moments).
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative row weights; ``None`` means all ones.
    chunk_size : int
        Rows per chunk.
    dtype : {float64, float32}
        Compute dtype; totals are float64 either way.
    entropy : bool
        Also accumulate the entropy of the responsibilities (for ICL).
    shared : ndarray of shape (D, D), optional
        Tied covariances: the shared precision factor (see :func:`log_prob_chunks`).
    n_threads : int
        Threads that share the blocks of :data:`BLOCK_ROWS` rows. The blocks'
        statistics are added in block order, so the result is the same for any
        thread count.
    """
    n = X.shape[0]
    bounds = [(s, min(n, s + BLOCK_ROWS)) for s in range(0, n, BLOCK_ROWS)] or [(0, 0)]

    def run(bound):
        s, e = bound
        wb = None if sample_weight is None else sample_weight[s:e]
        return _expectation_block(X[s:e], coef, features, shift, wb, chunk_size, dtype, entropy, shared)

    if n_threads > 1 and len(bounds) > 1:
        parts = list(_executor(n_threads).map(run, bounds))
    else:
        parts = [run(b) for b in bounds]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


_EXECUTORS: dict = {}


def _executor(n_threads: int):
    from concurrent.futures import ThreadPoolExecutor

    if n_threads not in _EXECUTORS:
        _EXECUTORS[n_threads] = ThreadPoolExecutor(n_threads, thread_name_prefix="gmmseg-estep")
    return _EXECUTORS[n_threads]


def moments(
    X: np.ndarray,
    responsibilities: Callable[[int, int], np.ndarray],
    features: Callable,
    shift: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    n_components: int,
    chunk_size: int,
    dtype=np.float64,
) -> Stats:
    """Statistics for given responsibilities (hard k-means labels or random ones).

    ``responsibilities(start, stop)`` returns the ``(K, stop - start)`` block of
    responsibilities of those rows; no log-likelihood is computed.
    """
    n, d = X.shape
    shift = np.asarray(shift, dtype=dtype)
    row_major = getattr(features, "row_major", True)
    total = None
    second = np.zeros((d, d))
    for start, stop in _chunks(n, chunk_size):
        xc = np.subtract(X[start:stop], shift, dtype=dtype).T
        phi = features(xc.T if row_major else np.ascontiguousarray(xc))
        R = np.asarray(responsibilities(start, stop), dtype=dtype)
        xw = xc
        if sample_weight is not None:
            R = R * sample_weight[start:stop].astype(dtype)
            xw = xc * sample_weight[start:stop].astype(dtype)
        second += (xw @ xc.T).astype(np.float64)
        block = np.matmul(R, phi.T).astype(np.float64)
        total = block if total is None else total + block
    if total is None:
        total = np.zeros((n_components, features(np.zeros((d, 0), dtype=dtype)).shape[0]))
    wsum = float(n if sample_weight is None else np.sum(sample_weight, dtype=np.float64))
    return Stats(total, 0.0, wsum, n, second=second)
