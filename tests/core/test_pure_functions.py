"""The pure functions of covariance.py, stats.py, init.py and criteria.py against explicit loops."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from gmmseg.core import criteria
from gmmseg.core.covariance import COVARIANCE, COVARIANCE_TYPES, full_matrices
from gmmseg.core.em import regularization
from gmmseg.core.init import kmeans, kmeans_plusplus, nearest_center
from gmmseg.core.stats import expectation, moments

K, D = 3, 2


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, D)) * [1.0, 3.0] + rng.normal(scale=4, size=(K, D))[rng.integers(K, size=400)]
    w = rng.uniform(0.1, 2.0, size=400)
    R = rng.dirichlet(np.ones(K), size=400)  # (n, K) responsibilities
    return X, w, R


def _loop_moments(X, w, R, shift):
    """Per-component weighted count, sum and outer-product sum, one row at a time."""
    n = np.zeros(K)
    s = np.zeros((K, D))
    S = np.zeros((K, D, D))
    for x, wi, r in zip(X - shift, w, R):
        for k in range(K):
            n[k] += wi * r[k]
            s[k] += wi * r[k] * x
            S[k] += wi * r[k] * np.outer(x, x)
    return n, s, S


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_and_covariances_equal_per_component_weighted_sums(rows, covariance_type):
    X, w, R = rows
    funcs = COVARIANCE[covariance_type]
    shift = X.mean(axis=0)
    stats = moments(X, lambda a, b: R[a:b].T, funcs.features, shift, w, n_components=K, chunk_size=64, dtype=np.float64)
    n_ref, s_ref, S_ref = _loop_moments(X, w, R, shift)
    n, s, _ = funcs.unpack(stats, D)
    np.testing.assert_allclose(n, n_ref, rtol=1e-12)
    np.testing.assert_allclose(s, s_ref, rtol=1e-10, atol=1e-10)
    reg = 1e-6
    cov = funcs.covariances(*funcs.unpack(stats, D), reg)
    means = s_ref / n_ref[:, None]
    per_component = np.array([S_ref[k] / n_ref[k] - np.outer(means[k], means[k]) for k in range(K)])
    if covariance_type == "full":
        expected = per_component + reg * np.eye(D)
    elif covariance_type == "tied":
        expected = np.einsum("k,kij->ij", n_ref, per_component) / n_ref.sum() + reg * np.eye(D)
    elif covariance_type == "diag":
        expected = np.diagonal(per_component, axis1=1, axis2=2) + reg
    else:
        expected = np.diagonal(per_component, axis1=1, axis2=2).mean(axis=1) + reg
    np.testing.assert_allclose(cov, expected, rtol=1e-9, atol=1e-12)


def test_one_component_covariance_equals_scikit_learns_empirical_covariance(rows):
    from sklearn.covariance import EmpiricalCovariance

    X, _, _ = rows
    funcs = COVARIANCE["full"]
    shift = X.mean(axis=0)
    stats = moments(
        X,
        lambda a, b: np.ones((1, b - a)),
        funcs.features,
        shift,
        None,
        n_components=1,
        chunk_size=50,
        dtype=np.float64,
    )
    cov = funcs.covariances(*funcs.unpack(stats, D), 0.0)[0]
    np.testing.assert_allclose(cov, EmpiricalCovariance().fit(X).covariance_, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_densities_equal_scipys_multivariate_normal(rows, covariance_type):
    X, w, _ = rows
    rng = np.random.default_rng(1)
    funcs = COVARIANCE[covariance_type]
    means = rng.normal(scale=3, size=(K, D))
    A = rng.normal(size=(K, D, D))
    full = A @ np.transpose(A, (0, 2, 1)) + np.eye(D)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
        "spherical": np.diagonal(full, axis1=1, axis2=2).mean(axis=1),
    }[covariance_type]
    weights = np.array([0.2, 0.3, 0.5])
    prec_chol = funcs.precision_cholesky(cov)
    shift = X.mean(axis=0)
    coef = funcs.coefficients(np.log(weights), means - shift, prec_chol)
    stats = expectation(
        X, coef, funcs.features, shift, w, chunk_size=97, dtype=np.float64, shared=funcs.shared_factor(prec_chol)
    )
    matrices = full_matrices(covariance_type, cov, K, D)
    densities = np.array([wk * multivariate_normal(m, c).pdf(X) for wk, m, c in zip(weights, means, matrices)])
    assert stats.loglik == pytest.approx(float(w @ np.log(densities.sum(axis=0))), rel=1e-10)
    assert stats.weight_sum == pytest.approx(w.sum(), rel=1e-14)
    # the responsibilities' counts are the posterior sums
    posterior = densities / densities.sum(axis=0)
    np.testing.assert_allclose(funcs.unpack(stats, D)[0], posterior @ w, rtol=1e-9)


def test_nearest_center_and_kmeans_equal_a_naive_lloyd_loop(rows):
    X, w, _ = rows
    start = X[[0, 150, 300]]
    labels = nearest_center(X, start, chunk_size=33)
    naive = np.array([int(np.argmin([np.sum((x - c) ** 2) for c in start])) for x in X])
    np.testing.assert_array_equal(labels, naive)
    centers = start.copy()
    for _ in range(300):  # naive weighted Lloyd to a fixed point
        assign = np.array([int(np.argmin([np.sum((x - c) ** 2) for c in centers])) for x in X])
        new = np.array([np.average(X[assign == j], axis=0, weights=w[assign == j]) for j in range(K)])
        if np.allclose(new, centers, rtol=0, atol=1e-13):
            break
        centers = new
    refined = kmeans(X, start, w, max_iter=300, tol=0.0)
    np.testing.assert_allclose(refined, centers, atol=1e-10)


def test_kmeans_plusplus_seeds_are_distinct_rows_and_weights_act_as_repeats():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 2))
    counts = rng.integers(1, 4, size=60)
    seeds = kmeans_plusplus(X, 4, counts.astype(float), np.random.default_rng(5))
    assert len({tuple(s) for s in seeds}) == 4
    assert all(any(np.array_equal(s, x) for x in X) for s in seeds)
    # the first seed is drawn by inverse CDF of the cumulative weights: the same draw picks the
    # same row whether a row has weight m or is repeated m times
    repeated = np.repeat(X, counts, axis=0)
    first_weighted = kmeans_plusplus(X, 1, counts.astype(float), np.random.default_rng(9))
    first_repeated = kmeans_plusplus(repeated, 1, None, np.random.default_rng(9))
    np.testing.assert_array_equal(first_weighted, first_repeated)


def test_criteria_are_scikit_learns_formulas():
    assert criteria.bic(-100.0, 7, 50.0) == pytest.approx(200.0 + 7 * np.log(50.0), rel=1e-15)
    assert criteria.aic(-100.0, 7) == 214.0
    assert criteria.icl(-100.0, 7, 50.0, 3.0) == pytest.approx(206.0 + 7 * np.log(50.0), rel=1e-15)


def test_relative_regularization_follows_each_features_variance():
    variance = np.array([4.0, 0.0, 0.25])
    assert regularization(1e-3, False, variance) == 1e-3
    np.testing.assert_allclose(regularization(1e-3, True, variance), [4e-3, 2.5e-4, 2.5e-4])
    np.testing.assert_allclose(regularization(1e-3, True, np.zeros(2)), [1e-3, 1e-3])
