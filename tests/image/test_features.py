"""Color features: the in-house sRGB -> Lab conversion equals scikit-image's to the bit."""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2lab

from gmmseg.image.features import lab_lightness, rgb_to_lab


def test_rgb_to_lab_equals_scikit_image_bit_for_bit():
    levels = np.arange(0, 256, 3)  # 86^3 = 636,056 8-bit colors, both sides of every branch
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3) / 255.0
    random = np.random.default_rng(0).uniform(size=(10_000, 3))
    for rgb in (grid, random, grid[:1]):
        expected = rgb2lab(rgb.reshape(-1, 1, 3)).reshape(-1, 3)
        assert np.array_equal(rgb_to_lab(rgb), expected)
    assert rgb_to_lab(np.zeros((0, 3))).shape == (0, 3)


def test_lab_lightness_of_black_and_white():
    assert np.allclose(lab_lightness(np.array([0.0, 1.0])), [0.0, 100.0])
