"""segment_image(n_components="auto"): ICL on binned colors, K of at least 2, the exact fit."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from gmmseg import segment_image


def _blocks(colors, size=30, sigma=8.0, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(colors)), size)[None, :].repeat(size, axis=0)
    image = np.asarray(colors, dtype=np.float64)[truth] + rng.normal(0, sigma, (*truth.shape, 3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8), truth


def test_icl_finds_the_painted_colours_and_the_model_is_nearly_the_exact_fit():
    image, truth = _blocks([[230, 40, 40], [40, 200, 60], [40, 60, 220], [200, 200, 60]])
    seg = segment_image(image, "auto", max_components=7, random_state=0)
    assert seg.selection.criterion == "icl" and seg.n_segments == 4
    assert [row["n_components"] for row in seg.selection.table] == list(range(1, 8))
    assert adjusted_rand_score(truth.ravel(), seg.labels.ravel()) == 1.0
    # The chosen K is fitted to the colors binned to 1 Lab unit: within a tenth of a unit of the exact fit.
    exact = segment_image(image, 4, random_state=0)
    np.testing.assert_allclose(np.sort(seg.model.means_[:, 0]), np.sort(exact.model.means_[:, 0]), atol=0.1)


def test_one_flat_colour_still_gets_two_segments():
    # One noisy colour: every criterion prefers K=1, which segments nothing.
    image, _ = _blocks([[120, 120, 120]], size=40, sigma=6)
    seg = segment_image(image, "auto", max_components=5, random_state=0)
    table = seg.selection.table
    assert min(table, key=lambda row: row["icl"])["n_components"] == 1
    assert seg.n_segments == 2
    assert segment_image(image, "auto", max_components=1, random_state=0).n_segments == 1
