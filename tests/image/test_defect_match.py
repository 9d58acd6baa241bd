"""Quantile matching of one score map onto another's scale (gmmseg.image.defect_match)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from gmmseg.image.defect_match import MATCH_LEVELS, TAIL_LEVEL, MapMatch


def test_matching_a_normal_onto_an_exponential_follows_both_distributions():
    rng = np.random.default_rng(0)
    source = [rng.normal(3.0, 2.0, size=(300, 300))]
    target = [rng.exponential(0.5, size=(300, 300))]
    match = MapMatch().fit(source, target)
    # inside the table: the value of the same rank, from the two distributions' own quantiles
    levels = np.array([0.1, 0.5, 0.9, 0.98])
    x = stats.norm.ppf(levels, 3.0, 2.0)
    np.testing.assert_allclose(match(x), stats.expon.ppf(levels, scale=0.5), rtol=0.03, atol=0.01)
    # beyond the tail level: a straight line from the tables' last points
    beyond = match.source_[-1] + np.array([1.0, 4.0])
    np.testing.assert_allclose(match(beyond), match.target_[-1] + match.slope_ * np.array([1.0, 4.0]), rtol=1e-5)
    # the exponential target's mean excess is its scale; the normal's beyond its 99% point is about 0.33 sigma
    assert match.slope_ == pytest.approx(0.5 / (2.0 * 0.34), rel=0.1)
    values = rng.normal(3.0, 4.0, size=1000)
    assert np.all(np.diff(match(np.sort(values))) >= 0)
    assert match(values).dtype == np.float32


def test_matching_is_learned_over_every_pixel_of_every_map_and_restores():
    rng = np.random.default_rng(1)
    source = [rng.uniform(0, 1, size=(40, 50)), rng.uniform(1, 2, size=(20, 20))]
    target = [2 * m for m in source]
    match = MapMatch().fit(source, target)
    assert match.source_.shape == MATCH_LEVELS.shape and MATCH_LEVELS[-1] == TAIL_LEVEL
    np.testing.assert_allclose(match.target_, 2 * match.source_, rtol=1e-9)
    assert match.slope_ == pytest.approx(2.0)
    x = np.linspace(-1, 3, 50)
    np.testing.assert_allclose(match(x)[(x > 0) & (x < 1.9)], 2 * x[(x > 0) & (x < 1.9)], rtol=1e-5)
    again = MapMatch().set_state(match.source_, match.target_, match.slope_)
    np.testing.assert_array_equal(again(x), match(x))
