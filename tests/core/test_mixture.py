"""GaussianMixture against independent references: scikit-learn, scipy.stats, explicit loops."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.mixture import GaussianMixture as SkGM

from gmmseg import GaussianMixture, ParameterError
from gmmseg.core.covariance import COVARIANCE_TYPES
from tests.conftest import make_mixture

RTOL = 1e-8


def _initial_params(X, k, covariance_type, seed=1):
    """Initial parameters from a short scikit-learn fit (independent of gmmseg)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SkGM(k, covariance_type=covariance_type, random_state=seed, max_iter=1).fit(X)
    return {"weights_init": ref.weights_, "means_init": ref.means_, "precisions_init": ref.precisions_}


def _assert_close(a, b, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_equals_scikit_learn_from_identical_initial_parameters(covariance_type):
    X, _, _, _ = make_mixture(500, 3, 4, seed=3, elongation=3.0)
    init = _initial_params(X, 3, covariance_type)
    kw = dict(covariance_type=covariance_type, tol=0.0, max_iter=25, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SkGM(3, **kw).fit(X)
        ours = GaussianMixture(3, **kw).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        _assert_close(getattr(ours, name), getattr(ref, name), atol=1e-12)
    _assert_close(ours.lower_bound_, ref.lower_bound_)
    _assert_close(ours.lower_bounds_, ref.lower_bounds_)
    assert ours.n_iter_ == ref.n_iter_ == 25
    _assert_close(ours.bic(X), ref.bic(X))
    _assert_close(ours.aic(X), ref.aic(X))
    _assert_close(ours.score_samples(X), ref.score_samples(X))
    _assert_close(ours.predict_proba(X), ref.predict_proba(X), atol=1e-10)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    assert ours.n_parameters_ == ref._n_parameters()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_converges_like_scikit_learn_with_default_tolerance(covariance_type):
    X, _, _, _ = make_mixture(400, 2, 3, seed=5)
    init = _initial_params(X, 2, covariance_type, seed=2)
    ref = SkGM(2, covariance_type=covariance_type, **init).fit(X)
    ours = GaussianMixture(2, covariance_type=covariance_type, **init).fit(X)
    assert ours.converged_ and ref.converged_
    assert ours.n_iter_ == ref.n_iter_
    _assert_close(ours.means_, ref.means_, rtol=1e-7)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_samples_equals_scipy_mixture_density(covariance_type):
    X, _, _, _ = make_mixture(300, 3, 3, seed=7)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    d = X.shape[1]
    dens = np.zeros(X.shape[0])
    for k in range(3):
        if covariance_type == "full":
            cov = gm.covariances_[k]
        elif covariance_type == "tied":
            cov = gm.covariances_
        elif covariance_type == "diag":
            cov = np.diag(gm.covariances_[k])
        else:
            cov = np.eye(d) * gm.covariances_[k]
        dens += gm.weights_[k] * sps.multivariate_normal(gm.means_[k], cov).pdf(X)
    _assert_close(gm.score_samples(X), np.log(dens), rtol=1e-10)


def test_probabilities_sum_to_one_and_predict_is_argmax(blobs):
    X, _ = blobs
    gm = GaussianMixture(3, random_state=0).fit(X)
    proba = gm.predict_proba(X)
    _assert_close(proba.sum(axis=1), np.ones(len(X)), rtol=1e-12)
    np.testing.assert_array_equal(gm.predict(X), proba.argmax(axis=1))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_predict_equals_fit_then_predict(covariance_type, blobs):
    X, _ = blobs
    a = GaussianMixture(3, covariance_type=covariance_type, random_state=4).fit_predict(X)
    b = GaussianMixture(3, covariance_type=covariance_type, random_state=4).fit(X).predict(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_initialization_recovers_separated_clusters(init_params):
    from sklearn.metrics import adjusted_rand_score

    X, labels, _, _ = make_mixture(600, 3, 2, separation=10.0, seed=11)
    # "random" (uniform random responsibilities, scikit-learn's definition) starts every mean
    # near the global mean and separates slowly: it needs a tight tolerance
    gm = GaussianMixture(3, init_params=init_params, n_init=3, random_state=0, max_iter=500, tol=1e-8).fit(X)
    assert adjusted_rand_score(labels, gm.predict(X)) > 0.95


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows_with_default_initialization(covariance_type):
    X, _, _, _ = make_mixture(300, 3, 3, seed=13)
    w = np.random.default_rng(0).integers(1, 5, size=len(X))
    a = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X, sample_weight=w)
    b = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(np.repeat(X, w, axis=0))
    for name in ("weights_", "means_", "covariances_"):
        _assert_close(getattr(a, name), getattr(b, name), rtol=1e-10, atol=1e-12)
    _assert_close(a.lower_bound_, b.lower_bound_, rtol=1e-10)
    assert a.n_iter_ == b.n_iter_
    _assert_close(a.bic(X, sample_weight=w), b.bic(np.repeat(X, w, axis=0)), rtol=1e-10)
    _assert_close(a.aic(X, sample_weight=w), b.aic(np.repeat(X, w, axis=0)), rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weight_equals_dropping_the_row(covariance_type):
    X, _, _, _ = make_mixture(300, 3, 2, seed=17)
    w = np.ones(len(X))
    w[::4] = 0.0
    a = GaussianMixture(3, covariance_type=covariance_type, random_state=1).fit(X, sample_weight=w)
    b = GaussianMixture(3, covariance_type=covariance_type, random_state=1).fit(X[w > 0])
    for name in ("weights_", "means_", "covariances_"):
        _assert_close(getattr(a, name), getattr(b, name), rtol=1e-10, atol=1e-12)
    _assert_close(a.bic(X, sample_weight=w), b.bic(X[w > 0]), rtol=1e-10)


def test_fractional_weights_scale_invariance():
    X, _, _, _ = make_mixture(300, 2, 2, seed=19)
    w = np.random.default_rng(1).uniform(0.1, 2.0, size=len(X))
    a = GaussianMixture(2, random_state=0).fit(X, sample_weight=w)
    b = GaussianMixture(2, random_state=0).fit(X, sample_weight=w * 7.5)
    _assert_close(a.means_, b.means_, rtol=1e-9)
    _assert_close(a.covariances_, b.covariances_, rtol=1e-9)


def test_row_permutation_changes_nothing():
    X, _, _, _ = make_mixture(400, 3, 3, seed=23)
    init = _initial_params(X, 3, "full")
    perm = np.random.default_rng(0).permutation(len(X))
    a = GaussianMixture(3, tol=0, max_iter=15, **init).fit(X)
    b = GaussianMixture(3, tol=0, max_iter=15, **init).fit(X[perm])
    _assert_close(a.means_, b.means_, rtol=1e-10)
    _assert_close(a.covariances_, b.covariances_, rtol=1e-10)
    _assert_close(a.lower_bound_, b.lower_bound_, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunk_size_and_threads_do_not_change_the_result(covariance_type):
    X, _, _, _ = make_mixture(3000, 4, 5, seed=29)
    init = _initial_params(X, 4, covariance_type)
    base = GaussianMixture(4, covariance_type=covariance_type, tol=0, max_iter=10, chunk_size=3000, n_threads=1, **init)
    ref = base.fit(X)
    for chunk, threads in [(7, 1), (256, 2), (1000, 2)]:
        gm = GaussianMixture(
            4, covariance_type=covariance_type, tol=0, max_iter=10, chunk_size=chunk, n_threads=threads, **init
        ).fit(X)
        _assert_close(gm.means_, ref.means_, rtol=1e-10)
        _assert_close(gm.lower_bound_, ref.lower_bound_, rtol=1e-12)


def test_thread_count_is_bit_identical():
    from gmmseg.core import stats

    X, _, _, _ = make_mixture(2 * stats.BLOCK_ROWS + 100, 3, 40, seed=31)
    init = _initial_params(X[:5000], 3, "diag")
    a = GaussianMixture(3, covariance_type="diag", tol=0, max_iter=3, n_threads=1, **init).fit(X)
    b = GaussianMixture(3, covariance_type="diag", tol=0, max_iter=3, n_threads=2, **init).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert a.lower_bound_ == b.lower_bound_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_mean_log_likelihood_within_1e4_of_float64(covariance_type):
    X, _, _, _ = make_mixture(20000, 4, 6, seed=37, separation=8.0)
    init = _initial_params(X, 4, covariance_type)
    a = GaussianMixture(4, covariance_type=covariance_type, tol=0, max_iter=20, **init).fit(X)
    b = GaussianMixture(4, covariance_type=covariance_type, tol=0, max_iter=20, dtype="float32", **init).fit(
        X.astype(np.float32)
    )
    assert abs(a.score(X) - b.score(X)) < 1e-4
    assert abs(a.lower_bound_ - b.lower_bound_) < 1e-4


def test_sample_draws_from_the_fitted_mixture():
    X, _, _, _ = make_mixture(500, 2, 2, seed=41)
    gm = GaussianMixture(2, random_state=0).fit(X)
    S, labels = gm.sample(20000)
    assert S.shape == (20000, 2) and labels.shape == (20000,)
    np.testing.assert_allclose(np.bincount(labels) / 20000, gm.weights_, atol=0.02)
    np.testing.assert_allclose(S.mean(axis=0), gm.weights_ @ gm.means_, atol=0.1)


def test_warm_start_continues_from_the_previous_fit():
    X, _, _, _ = make_mixture(500, 3, 2, seed=43)
    gm = GaussianMixture(3, warm_start=True, max_iter=2, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
        first = gm.lower_bound_
        gm.fit(X)
    assert gm.lower_bound_ >= first - 1e-12
    cold = GaussianMixture(3, max_iter=4, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cold.fit(X)
    _assert_close(gm.means_, cold.means_, rtol=1e-10)


def test_works_with_clone_and_in_a_pipeline(blobs):
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _ = blobs
    gm = GaussianMixture(3, covariance_type="diag", random_state=0)
    twin = clone(gm)
    assert twin.get_params() == gm.get_params() and twin is not gm
    pipe = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0)).fit(X)
    direct = GaussianMixture(3, random_state=0).fit(StandardScaler().fit_transform(X))
    np.testing.assert_array_equal(pipe.predict(X), direct.predict(StandardScaler().fit_transform(X)))
    assert np.isfinite(pipe.score(X))


def test_feature_names_from_a_dataframe(blobs):
    import pandas as pd

    X, _ = blobs
    gm = GaussianMixture(2, random_state=0).fit(pd.DataFrame(X, columns=["a", "b"]))
    assert list(gm.feature_names_in_) == ["a", "b"]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_permute_components_renumbers_without_changing_the_density(covariance_type, blobs):
    X, _ = blobs
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    before = gm.component_log_prob(X)
    density = gm.score_samples(X)
    order = np.array([2, 0, 1])
    gm.permute_components(order)
    np.testing.assert_allclose(gm.component_log_prob(X), before[:, order], rtol=1e-12)
    np.testing.assert_allclose(gm.score_samples(X), density, rtol=1e-12)
    with pytest.raises(ParameterError, match="permutation"):
        gm.permute_components([0, 0, 1])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_kept_components_is_the_renormalized_density_of_the_kept_ones(covariance_type, blobs):
    X, _ = blobs
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    keep = np.array([True, False, True])
    kept = gm.kept_components(keep)
    assert kept.n_components == 2 and gm.n_components == 3
    # reference: the kept components' weighted densities from the original model, renormalized
    log_w = np.log(gm.weights_[keep] / gm.weights_[keep].sum())
    expected = np.logaddexp.reduce(gm.component_log_prob(X)[:, keep] - np.log(gm.weights_[keep]) + log_w, axis=1)
    np.testing.assert_allclose(kept.score_samples(X), expected, rtol=1e-10)
    with pytest.raises(ParameterError, match="at least one true"):
        gm.kept_components([False, False, False])


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_mixture_of_is_the_share_weighted_density_of_its_parts(covariance_type, blobs, tmp_path):
    X, _ = blobs
    a = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    b = GaussianMixture(3, covariance_type=covariance_type, random_state=1).fit(X[::3] * 2.0 + 1.0)
    both = GaussianMixture.mixture_of([a, b], [0.8, 0.2])
    assert both.n_components == 5 and both.covariance_type == covariance_type
    # reference: explicit sum over every component of both parts with scipy.stats
    ref = np.zeros(len(X))
    for share, part in ((0.8, a), (0.2, b)):
        for k in range(part.n_components):
            cov = part.covariances_[k]
            cov = np.diag(cov) if cov.ndim == 1 else (cov * np.eye(X.shape[1]) if cov.ndim == 0 else cov)
            ref += share * part.weights_[k] * sps.multivariate_normal(part.means_[k], cov).pdf(X)
    _assert_close(both.score_samples(X), np.log(ref), rtol=1e-10)
    _assert_close(both.predict_proba(X).sum(axis=1), np.ones(len(X)), rtol=1e-12)
    both.save(tmp_path / "m.gmmseg")
    from gmmseg import load

    np.testing.assert_array_equal(load(tmp_path / "m.gmmseg").score_samples(X), both.score_samples(X))


def test_mixture_of_refuses_what_it_cannot_combine(blobs):
    X, _ = blobs
    a = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ParameterError, match="sum to 1"):
        GaussianMixture.mixture_of([a, a], [0.5, 0.6])
    with pytest.raises(ParameterError, match="one share per part"):
        GaussianMixture.mixture_of([a, a], [1.0])
    with pytest.raises(ParameterError, match="covariance type"):
        GaussianMixture.mixture_of([a, GaussianMixture(2, covariance_type="diag").fit(X)], [0.5, 0.5])
    with pytest.raises(ParameterError, match="tied"):
        t = GaussianMixture(2, covariance_type="tied", random_state=0).fit(X)
        GaussianMixture.mixture_of([t, t], [0.5, 0.5])
