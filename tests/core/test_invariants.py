"""Invariants checked on many random inputs with hypothesis."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gmmseg import GaussianMixture
from gmmseg.core.covariance import COVARIANCE_TYPES
from gmmseg.core.stats import Stats

shapes = st.tuples(st.integers(20, 120), st.integers(1, 4), st.integers(1, 4))


@settings(max_examples=25, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**16), covariance_type=st.sampled_from(COVARIANCE_TYPES))
def test_lower_bound_never_decreases_and_probabilities_sum_to_one(shape, seed, covariance_type):
    n, d, k = shape
    rng = np.random.default_rng(seed)
    X = (
        rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d)
        + rng.normal(scale=5, size=(k, d))[rng.integers(k, size=n)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(k, covariance_type=covariance_type, tol=0, max_iter=30, random_state=seed).fit(X)
    bounds = np.array(gm.lower_bounds_)
    if gm.n_reseeded_ == 0:
        # EM never decreases the likelihood; at convergence the computed value may wobble by the
        # rounding of the expanded quadratic form, eps * |x|^2 / var (a few 1e-9 for very tight
        # components on 20 rows), hence the tolerance
        assert np.all(np.diff(bounds) >= -1e-7 * np.maximum(1.0, np.abs(bounds[1:])))
    proba = gm.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(proba >= 0)
    np.testing.assert_array_equal(gm.predict(X), proba.argmax(axis=1))


@settings(max_examples=20, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**16), covariance_type=st.sampled_from(COVARIANCE_TYPES))
def test_statistics_add_over_any_split(shape, seed, covariance_type):
    n, d, k = shape
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + rng.normal(scale=4, size=(k, d))[rng.integers(k, size=n)]
    w = rng.uniform(0, 3, size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(k, covariance_type=covariance_type, max_iter=5, random_state=0).fit(X)
    cut = int(rng.integers(1, n))
    whole = gm.expectation(X, w, entropy=True)
    parts: Stats = gm.expectation(X[:cut], w[:cut], entropy=True) + gm.expectation(X[cut:], w[cut:], entropy=True)
    np.testing.assert_allclose(parts.raw, whole.raw, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(parts.loglik, whole.loglik, rtol=1e-10)
    np.testing.assert_allclose(parts.entropy, whole.entropy, rtol=1e-9, atol=1e-9)
    assert parts.weight_sum == np.float64(w[:cut].sum()) + np.float64(w[cut:].sum())
    # the statistics match an explicit loop over rows
    R = gm.predict_proba(X)
    np.testing.assert_allclose(whole.raw[:, 0], (R * w[:, None]).sum(axis=0), rtol=1e-9)
    np.testing.assert_allclose(whole.loglik, float(w @ gm.score_samples(X)), rtol=1e-9)
