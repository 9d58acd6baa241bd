"""Entropy combining of mixture components against an explicit loop and hand-worked cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gmmseg import GaussianMixture
from gmmseg.core.combine import combine_components, elbow
from gmmseg.errors import ParameterError


def _entropy(T, w):
    """-sum_i w_i sum_k t_ik log t_ik, one row and one cluster at a time."""
    total = 0.0
    for row, wi in zip(T, w):
        for t in row:
            if t > 0:
                total -= wi * t * np.log(t)
    return total


def _loop_combine(R, w):
    """Every step: try every pair, recompute the entropy from scratch, keep the lowest."""
    k = R.shape[1]
    clusters = {j: [j] for j in range(k)}
    merges, entropies = [], [_entropy(R, w)]
    for step in range(k - 1):
        best = None
        for a, b in itertools.combinations(sorted(clusters), 2):
            rest = [c for c in sorted(clusters) if c not in (a, b)]
            T = np.column_stack(
                [R[:, clusters[c]].sum(axis=1) for c in rest] + [R[:, clusters[a] + clusters[b]].sum(1)]
            )
            e = _entropy(T, w)
            if best is None or e < best[0] - 1e-12:
                best = (e, a, b)
        e, a, b = best
        clusters[k + step] = clusters.pop(a) + clusters.pop(b)
        merges.append([a, b])
        entropies.append(e)
    return merges, entropies


def test_matches_explicit_loop_on_a_fitted_mixture():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [1.5, 0], [8, 0], [8, 1.5], [0, 9]])
    X = centers[rng.integers(5, size=600)] + rng.normal(size=(600, 2))
    w = rng.integers(1, 4, size=600).astype(float)
    R = GaussianMixture(5, random_state=0).fit(X, sample_weight=w).predict_proba(X)
    tree = combine_components(R, w)
    merges, entropies = _loop_combine(R, w)
    assert tree.merges.tolist() == merges
    np.testing.assert_allclose(tree.entropy, entropies, rtol=1e-10, atol=1e-9)
    assert np.all(np.diff(tree.entropy) <= 1e-9)  # merging never raises the entropy
    assert abs(tree.entropy[-1]) < 1e-9  # one cluster: every posterior is 1


def test_hand_worked_case():
    # Components 0 and 1 share rows 0-1; component 2 owns row 2 alone.
    R = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    tree = combine_components(R)
    assert tree.merges.tolist() == [[0, 1], [2, 3]]
    # Two rows of entropy log 2 each; merging 0 and 1 removes both.
    np.testing.assert_allclose(tree.entropy, [2 * np.log(2), 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(tree.merged_weight, [2.0, 3.0])
    assert tree.labels(3).tolist() == [0, 1, 2]
    assert tree.labels(2).tolist() == [0, 0, 1]
    assert tree.labels(1).tolist() == [0, 0, 0]


def test_integer_weights_are_repeated_rows():
    rng = np.random.default_rng(1)
    R = rng.dirichlet(np.ones(4) * 0.3, size=50)
    w = rng.integers(1, 4, size=50)
    weighted = combine_components(R, w)
    repeated = combine_components(np.repeat(R, w, axis=0))
    assert weighted.merges.tolist() == repeated.merges.tolist()
    np.testing.assert_allclose(weighted.entropy, repeated.entropy, rtol=1e-10)


def test_elbow_of_two_lines():
    # Falls by 4 per step for three steps, then by 0.1: the break is at index 3.
    assert elbow(np.arange(7), [12.0, 8.0, 4.0, 0.0, -0.1, -0.2, -0.3]) == 3
    assert elbow([0, 1], [1.0, 0.0]) == 0


def test_elbow_picks_the_number_of_separated_groups():
    # Three well-separated groups, each fitted by two overlapping components.
    rng = np.random.default_rng(2)
    centers = np.array([[0, 0], [1, 0], [20, 0], [21, 0], [0, 20], [1, 20]])
    X = centers[rng.integers(6, size=1200)] + rng.normal(scale=0.7, size=(1200, 2))
    R = GaussianMixture(6, random_state=0).fit(X).predict_proba(X)
    tree = combine_components(R)
    assert tree.elbow() == 3
    groups = tree.labels(3)[GaussianMixture(6, random_state=0).fit(X).predict(X)]
    truth = np.argmin(np.abs(X[:, :1] - [0, 20, 0]) + np.abs(X[:, 1:] - [0, 0, 20]), axis=1)
    assert len({(g, t) for g, t in zip(groups, truth)}) == 3  # one cluster per group


def test_refuses_bad_input():
    with pytest.raises(ParameterError, match="shape"):
        combine_components(np.ones(3))
    with pytest.raises(ParameterError, match=">= 0"):
        combine_components(np.array([[1.5, -0.5]]))
    tree = combine_components(np.eye(2))
    with pytest.raises(ParameterError, match="from 1 to 2"):
        tree.labels(3)
    with pytest.raises(ParameterError, match="axis"):
        tree.elbow("size")
