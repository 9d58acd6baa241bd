"""Bounded memory: EM allocates O(chunk_size × (K + F)), never an N × K × D temporary."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

from gmmseg import GaussianMixture


def _peak_bytes(func) -> int:
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_em_iterations_use_memory_independent_of_n(covariance_type):
    rng = np.random.default_rng(0)
    k, d = 8, 4
    centers = rng.normal(scale=5, size=(k, d))
    init = GaussianMixture(k, covariance_type=covariance_type, random_state=0, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init.fit(centers[rng.integers(k, size=5000)] + rng.normal(size=(5000, d)))
    params = dict(weights_init=init.weights_, means_init=init.means_, precisions_init=init.precisions_)
    peaks = []
    for n in (50_000, 400_000):
        X = centers[rng.integers(k, size=n)] + rng.normal(size=(n, d))
        gm = GaussianMixture(k, covariance_type=covariance_type, tol=0, max_iter=3, chunk_size=4096, **params)
        peaks.append(_peak_bytes(lambda: gm.fit(X)))  # noqa: B023
    # 8x more rows, (almost) the same memory: chunk buffers only
    assert peaks[1] < 1.5 * peaks[0] + 1e6
    assert peaks[1] < 0.05 * 400_000 * k * d * 8


def test_whole_fit_stays_well_below_an_n_by_k_by_d_temporary():
    rng = np.random.default_rng(1)
    n, k, d = 400_000, 8, 4
    X = rng.normal(size=(n, d)) + rng.normal(scale=5, size=(k, d))[rng.integers(k, size=n)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peak = _peak_bytes(lambda: GaussianMixture(k, random_state=0, max_iter=5).fit(X))
    assert peak < 0.3 * n * k * d * 8


def test_float32_halves_the_data_memory():
    X32 = np.random.default_rng(2).normal(size=(200_000, 4)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init = GaussianMixture(2, max_iter=2, random_state=0).fit(X32[:5000])
        params = dict(weights_init=init.weights_, means_init=init.means_, precisions_init=init.precisions_)
        peaks = {}
        for dtype in ("float64", "float32"):
            gm = GaussianMixture(2, max_iter=2, dtype=dtype, chunk_size=2048, **params)
            peaks[dtype] = _peak_bytes(lambda gm=gm: gm.fit(X32))
    # in float64 the float32 rows are copied (2 * X32.nbytes); in float32 they are used as given
    assert peaks["float64"] - peaks["float32"] > 0.9 * 2 * X32.nbytes
    assert peaks["float32"] < 0.5 * X32.nbytes
