"""The EM loop over the row-source protocol: any source whose statistics add gives the same fit."""

from __future__ import annotations

import numpy as np
import pytest

from gmmseg import GaussianMixture
from gmmseg.core.em import ArraySource, fit_source
from gmmseg.core.moments import weighted_mean, weighted_variance
from tests.conftest import make_mixture


class SplitSource:
    """Rows held in two parts (as two machines would): E-steps and moments add the parts' statistics."""

    def __init__(self, X, w, cut: int, chunk: int):
        self.parts = [
            ArraySource(X[:cut], w[:cut], chunk_size=chunk, dtype=np.float64),
            ArraySource(X[cut:], w[cut:], chunk_size=chunk, dtype=np.float64),
        ]
        self.sample, self.sample_weight = X, w
        self.calls = 0

    def expectation(self, funcs, coef, shift, shared):
        self.calls += 1
        a, b = (p.expectation(funcs, coef, shift, shared) for p in self.parts)
        return a + b

    def moments(self, funcs, shift, n_components, *, centers=None, seed=None):
        a, b = (p.moments(funcs, shift, n_components, centers=centers, seed=seed) for p in self.parts)
        return a + b


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_em_over_a_source_split_in_two_equals_in_memory_em(covariance_type):
    X, _, _, _ = make_mixture(1200, 3, 3, separation=5.0, seed=4)
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=X.shape[0])
    chunk = 256  # a multiple of the cut keeps the chunk boundaries of the whole
    reference = GaussianMixture(
        3, covariance_type=covariance_type, random_state=0, chunk_size=chunk, n_threads=1, n_init=2
    ).fit(X, sample_weight=w)
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0, chunk_size=chunk, n_init=2)
    source = SplitSource(X, w, cut=512, chunk=chunk)
    shift = weighted_mean(X, w, chunk)
    fit_source(model, source, shift=shift, variance=weighted_variance(X, w, shift, chunk), weight_sum=float(w.sum()))
    assert source.calls >= model.n_iter_ + 1  # two initializations, each at least one E-step
    assert model.n_iter_ == reference.n_iter_ and model.converged_
    # two initializations may reach the same optimum in another component order: compare sorted
    for fitted in (model, reference):
        fitted.permute_components(np.argsort(fitted.means_[:, 0]))
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(model.covariances_, reference.covariances_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.weights_, reference.weights_, rtol=1e-10)
    assert model.lower_bound_ == pytest.approx(reference.lower_bound_, rel=1e-12)


def test_warm_start_is_one_em_step_from_the_current_parameters():
    X, _, _, _ = make_mixture(600, 2, 2, separation=6.0, seed=2)
    with pytest.warns(Warning):
        model = GaussianMixture(2, random_state=0, max_iter=2, tol=0).fit(X)
    posterior = model.predict_proba(X)
    source = ArraySource(X, None, chunk_size=128, dtype=np.float64)
    model.set_params(max_iter=1)
    with pytest.warns(Warning, match="did not converge"):
        fit_source(model, source, shift=X.mean(axis=0), variance=X.var(axis=0), weight_sum=600.0, warm_start=True)
    step = GaussianMixture.from_responsibilities(X, posterior)  # the M-step of that E-step
    assert model.n_iter_ == 1
    np.testing.assert_allclose(model.means_, step.means_, rtol=1e-9)
    np.testing.assert_allclose(model.covariances_, step.covariances_, rtol=1e-8)
