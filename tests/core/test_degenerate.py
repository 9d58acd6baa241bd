"""Degenerate data never crash; bad input raises a GmmsegError that names the fix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gmmseg import (
    ComponentCollapseWarning,
    FittingError,
    GaussianMixture,
    GmmsegError,
    InputError,
    NotFittedError,
    ParameterError,
)
from gmmseg.core.covariance import COVARIANCE_TYPES
from tests.conftest import make_mixture


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_duplicate_points_and_a_constant_column(covariance_type):
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(40, 3)), 25, axis=0)
    X[:, 1] = 7.0  # constant column
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    assert np.all(np.isfinite(gm.means_)) and np.isfinite(gm.lower_bound_)
    np.testing.assert_allclose(gm.means_[:, 1], 7.0)


def test_fewer_distinct_rows_than_components_is_a_clear_error():
    X = np.repeat(np.array([[0.0, 1.0], [2.0, 3.0]]), 50, axis=0)
    with pytest.raises(FittingError, match="only 2 distinct row.*lower n_components to at most 2"):
        GaussianMixture(3).fit(X)
    w = np.zeros(len(X))
    w[:50] = 1.0  # only one distinct row keeps weight
    with pytest.raises(FittingError, match="only 1 distinct"):
        GaussianMixture(2).fit(X, sample_weight=w)


def test_component_that_collapses_mid_fit_is_reseeded_with_a_warning():
    X, _, _, _ = make_mixture(500, 2, 2, seed=3)
    means = np.vstack([X[:250].mean(axis=0), X[250:].mean(axis=0), [1e3, 1e3]])  # third is hopeless
    gm = GaussianMixture(3, means_init=means, random_state=0, max_iter=200)
    with pytest.warns(ComponentCollapseWarning, match="component 2 collapsed"):
        gm.fit(X)
    assert gm.n_reseeded_ >= 1
    assert np.all(gm.weights_ > 1e-6)
    assert np.all(np.isfinite(gm.covariances_))


def test_zero_reg_covar_on_identical_rows_names_the_fix():
    X = np.vstack([np.zeros((30, 2)), np.ones((30, 2)), np.random.default_rng(0).normal(size=(30, 2)) + 5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FittingError, match="raise reg_covar"):
            GaussianMixture(3, reg_covar=0.0, random_state=0).fit(X)


def test_relative_reg_covar_follows_feature_scale():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)) * [1e-4, 1e4]
    gm = GaussianMixture(1, reg_covar=1e-3, reg_covar_relative=True).fit(X)
    var = X.var(axis=0)
    np.testing.assert_allclose(np.diag(gm.covariances_[0]), var * (1 + 1e-3), rtol=1e-9)


@pytest.mark.parametrize(
    "X, message",
    [
        (np.array([[1.0, np.nan], [2.0, 3.0]]), "NaN or infinity"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), "NaN or infinity"),
        (np.arange(5.0), "must be 2-D.*reshape"),
        (np.zeros((2, 2, 2)), "must be 2-D"),
        (np.zeros((0, 3)), "0 sample"),
        (np.array([["a", "b"]]), "numeric"),
    ],
)
def test_bad_input_raises_input_error(X, message):
    with pytest.raises(InputError, match=message):
        GaussianMixture(1).fit(X)


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.array([1.0, -1.0, 1.0]), "negative"),
        (np.array([1.0, 1.0]), "shape"),
        (np.array([0.0, 0.0, 0.0]), "all zero"),
        (np.array([1.0, np.nan, 1.0]), "NaN"),
    ],
)
def test_bad_weights_raise_input_error(weights, message):
    with pytest.raises(InputError, match=message):
        GaussianMixture(1).fit(np.arange(6.0).reshape(3, 2), sample_weight=weights)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_components": 0}, "n_components"),
        ({"covariance_type": "bogus"}, "covariance_type"),
        ({"init_params": "magic"}, "init_params"),
        ({"tol": -1.0}, "tol"),
        ({"dtype": "float16"}, "dtype"),
        ({"means_init": np.zeros((3, 2))}, "means_init must have shape"),
        ({"weights_init": np.array([0.5, 0.6])}, "weights_init"),
    ],
)
def test_bad_parameters_raise_parameter_error(params, message):
    params = {"n_components": 2, **params}
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ParameterError, match=message):
        GaussianMixture(**params).fit(X)


def test_unfitted_and_wrong_width_errors():
    gm = GaussianMixture(2)
    with pytest.raises(NotFittedError, match="call fit"):
        gm.predict(np.zeros((2, 2)))
    gm.fit(np.random.default_rng(0).normal(size=(50, 2)))
    with pytest.raises(InputError, match="3 features, but GaussianMixture is expecting 2"):
        gm.predict(np.zeros((2, 3)))


def test_passes_scikit_learns_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(GaussianMixture(), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert len(results) > 30
    assert failed == []


def test_every_error_is_a_gmmseg_error():
    for cls in (InputError, ParameterError, FittingError, NotFittedError):
        assert issubclass(cls, GmmsegError)
