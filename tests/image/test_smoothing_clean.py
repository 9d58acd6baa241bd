"""Smoothing on clean images (flat graphics): never below the plain fit; the noise estimate that detects them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.signal import convolve2d
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gmmseg.image.segment as segment_module
from gmmseg import segment_image
from gmmseg.image.smoothing import noise_sigma
from tests.image.synthetic import random_color_scene
from tests.image.synthetic_clean import clean_scene


def ari(truth, labels):
    return adjusted_rand_score(truth.ravel(), labels.ravel())


def dense_dots(seed: int = 31, size: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free 2 x 2 and 3 x 3 squares of 3 colors on a background (edges on most pixels)."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((size, size), dtype=int)
    n_colors = int(rng.integers(3, 5))
    for _ in range(int(rng.integers(40, 200))):
        side = int(rng.integers(2, 4))
        y, x = rng.integers(0, size - side, 2)
        truth[y : y + side, x : x + side] = rng.integers(1, n_colors)
    colors = rng.integers(0, 256, (n_colors, 3)).astype(np.uint8)
    return colors[truth], truth


def test_noise_sigma_is_the_lower_quartile_of_immerkaers_response():
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]])
    rng = np.random.default_rng(0)
    for shape in [(3, 3), (7, 9), (40, 33, 3)]:
        image = rng.integers(0, 256, shape).astype(np.uint8)
        channels = image.reshape(shape[0], shape[1], -1).astype(float)
        expected = np.mean(
            [
                np.quantile(np.abs(convolve2d(channels[..., c], kernel, mode="valid")), 0.25, method="inverted_cdf")
                for c in range(channels.shape[2])
            ]
        ) / (6 * 0.31863936)
        assert noise_sigma(image) == pytest.approx(expected, rel=1e-6)
        assert noise_sigma(image.astype(np.uint16) * 257) == pytest.approx(expected, rel=1e-6)
    noisy = np.clip(np.rint(128 + rng.normal(0, 20, (200, 200))), 0, 255).astype(np.uint8)
    assert noise_sigma(noisy) == pytest.approx(20, rel=0.05)
    image, _ = dense_dots()
    assert noise_sigma(image) == 0.0  # edges on more than half of the pixels: the median would say 3.5
    visible = np.zeros((200, 200), dtype=bool)
    visible[:, :100] = True
    noisy[:, :100] = 7  # the visible half is flat
    assert noise_sigma(noisy, visible) == 0.0
    assert noise_sigma(noisy[:2]) == 0.0  # no 3 x 3 window


def test_smoothing_keeps_a_noise_free_dot_scene_exact():
    # The plain fit (and scikit-learn's) labels every pixel right; ranked on the blurred colors,
    # the start fitted to the blurred copy won (ARI 0.963): its blurred edge colors make a label.
    image, truth = dense_dots()
    k = int(truth.max()) + 1
    reference = SkGaussianMixture(k, random_state=0, reg_covar=1e-3).fit_predict(image.reshape(-1, 3).astype(float))
    assert ari(truth, reference) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = segment_image(image, k, random_state=0)
        smoothed = {beta: segment_image(image, k, random_state=0, smoothing=beta) for beta in (2.0, "auto")}
    assert ari(truth, plain.labels) == 1.0
    for result in smoothed.values():
        assert ari(truth, result.labels) >= ari(truth, plain.labels)
        assert "the only start (a clean image: noise sigma 0.00 <" in result.settings["smoothing_start"]


def test_a_little_noise_on_well_separated_colors_is_clean_too():
    # Noise of sigma 2: no flat windows left, but the plain fit is all but certain of every pixel.
    image, truth = dense_dots()
    noisy = np.clip(np.rint(image + np.random.default_rng(1).normal(0, 2, image.shape)), 0, 255).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = segment_image(noisy, int(truth.max()) + 1, random_state=0)
        smooth = segment_image(noisy, int(truth.max()) + 1, random_state=0, smoothing=2.0)
    assert "expected mislabelled share" in smooth.settings["smoothing_start"]
    assert ari(truth, smooth.labels) >= ari(truth, plain.labels) == 1.0


def test_no_refill_on_a_clean_image():
    # Dots of 2-4 px after JPEG at quality 90 (plain fit ARI 0.324): the prior empties the dot
    # segment, and the refill of a noisy image split the background to fill it (ARI 0.064).
    image, truth = clean_scene(0, 900, jpeg=90)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = segment_image(image, 4, random_state=0)
        smooth = segment_image(image, 4, random_state=0, smoothing=2.0)
    assert "refilled" not in smooth.settings["smoothing_start"]
    assert ari(truth, smooth.labels) >= ari(truth, plain.labels)


def test_the_three_starts_would_make_the_dot_scene_worse(monkeypatch):
    # Why the rule exists: with the filtered starts (as on a noisy image) the dots lose.
    image, truth = dense_dots()
    monkeypatch.setattr(segment_module, "CLEAN_NOISE", 0.0)
    monkeypatch.setattr(segment_module, "CLEAN_AMBIGUITY", 0.0)
    monkeypatch.setattr(segment_module, "LOW_NOISE", 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smooth = segment_image(image, int(truth.max()) + 1, random_state=0, smoothing=2.0)
    assert smooth.settings["smoothing_start"] == "blurred fit"
    assert ari(truth, smooth.labels) < 0.97


def test_noisy_scenes_are_not_clean():
    # Their smoothing keeps the three starts (test_smoothing_does_not_collapse_on_noisy_random_color_scenes).
    for sigma in (10, 30, 60):
        image, _ = random_color_scene(sigma, seed=4)
        assert noise_sigma(image) > max(
            segment_module.CLEAN_NOISE, 0.7 * sigma
        )  # clipped at 0 and 255: a little under sigma


def test_jpegd_line_art_of_low_noise_keeps_thin_lines(monkeypatch):
    # Thin lines under noise of sigma 3, then JPEG at quality 90: the noise estimate is 0.52 (like a
    # smooth photo), the plain fit well separated. The filtered starts thicken the lines by the
    # JPEG halo (ARI 0.72 -> 0.42); the low-noise rule keeps the plain start only.
    image, truth = clean_scene(3, 1216, jpeg=90)
    assert segment_module.CLEAN_NOISE <= noise_sigma(image) < segment_module.LOW_NOISE
    k = int(truth.max()) + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = segment_image(image, k, random_state=0)
        smooth = segment_image(image, k, random_state=0, smoothing=2.0)
        monkeypatch.setattr(segment_module, "LOW_NOISE", 0.0)
        three = segment_image(image, k, random_state=0, smoothing=2.0)
    assert "at noise sigma 0.52 < 0.6" in smooth.settings["smoothing_start"]
    assert ari(truth, smooth.labels) >= ari(truth, plain.labels) > 0.7
    assert three.settings["smoothing_start"] == "blurred fit"
    assert ari(truth, three.labels) < ari(truth, plain.labels) - 0.2
