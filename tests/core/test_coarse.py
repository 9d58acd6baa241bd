"""Choosing K on binned rows: the bins against an explicit loop, the choice against the exact grid."""

from __future__ import annotations

import numpy as np
import pytest

from gmmseg import GaussianMixture, select_components
from gmmseg.core.coarse import bin_rows, select_on_bins
from gmmseg.errors import ParameterError


def test_bins_match_an_explicit_loop():
    rng = np.random.default_rng(0)
    X = rng.normal(scale=3, size=(300, 2))
    w = rng.uniform(0, 2, size=300)
    w[:10] = 0  # dropped
    Xb, wb = bin_rows(X, w, step=2.0)
    cells: dict = {}
    for x, wi in zip(X, w):
        if wi > 0:
            total, s = cells.get(tuple(np.floor(x / 2.0)), (0.0, np.zeros(2)))
            cells[tuple(np.floor(x / 2.0))] = (total + wi, s + wi * x)
    expected = sorted((tuple(s / total), total) for total, s in cells.values())
    got = sorted((tuple(row), weight) for row, weight in zip(Xb, wb))
    assert len(got) == len(expected)
    np.testing.assert_allclose([g[0] for g in got], [e[0] for e in expected])
    np.testing.assert_allclose([g[1] for g in got], [e[1] for e in expected])
    assert wb.sum() == pytest.approx(w.sum())


def test_choice_matches_the_exact_grid_and_the_model_is_fitted_to_the_exact_rows():
    rng = np.random.default_rng(1)
    centers = np.array([[0, 0], [30, 0], [0, 30]])
    X = centers[rng.integers(3, size=3000)] + rng.normal(scale=3, size=(3000, 2))
    for criterion in ("bic", "icl"):
        exact = select_components(X, range(1, 6), "full", criterion, random_state=0)
        coarse = select_on_bins(X, range(1, 6), criterion, step=2.0, random_state=0)
        assert coarse.best_n_components == exact.best_n_components == 3
        assert [row["n_components"] for row in coarse.table] == [1, 2, 3, 4, 5]
    direct = GaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_allclose(np.sort(coarse.best_model.means_[:, 0]), np.sort(direct.means_[:, 0]), atol=1e-6)


def test_refuses_a_bad_step():
    with pytest.raises(ParameterError, match="step"):
        bin_rows(np.zeros((3, 1)), step=0.0)


def test_fit_step_fits_the_chosen_k_to_the_finer_bins():
    rng = np.random.default_rng(2)
    centers = np.array([[0, 0], [30, 0], [0, 30]])
    X = centers[rng.integers(3, size=3000)] + rng.normal(scale=3, size=(3000, 2))
    result = select_on_bins(X, range(1, 5), "icl", step=4.0, fit_step=0.5, random_state=0, reg_covar=0.01)
    Xf, wf = bin_rows(X, step=0.5)
    direct = GaussianMixture(3, random_state=0, reg_covar=0.01 + 0.5**2 / 12).fit(Xf, sample_weight=wf)
    assert result.best_n_components == 3
    np.testing.assert_allclose(result.best_model.means_, direct.means_)
    np.testing.assert_allclose(result.best_model.covariances_, direct.covariances_)
    exact = GaussianMixture(3, random_state=0, reg_covar=0.01).fit(X)
    np.testing.assert_allclose(np.sort(result.best_model.means_[:, 0]), np.sort(exact.means_[:, 0]), atol=0.05)
