"""Position features: the (color, grid cell) rows of the fit against an explicit count."""

from __future__ import annotations

from collections import Counter

import numpy as np

from gmmseg.image.colors import DistinctColors
from gmmseg.image.features import position_features
from gmmseg.image.spatial import POSITION_GRID, spatial_rows


def test_spatial_rows_count_every_pixel_once_per_color_and_cell():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 3, size=(70, 90, 3)).astype(np.uint8) * 100
    mask = np.ones((70, 90), dtype=bool)
    mask[:5] = False
    colors = DistinctColors(pixels, mask)
    features = colors.unit.copy()
    X, weights = spatial_rows(colors, features, 1.0)
    assert weights.sum() == mask.sum()
    # explicit count of (color row, grid cell) over the visible pixels
    inverse = colors.inverse()
    counts = Counter()
    for r in range(70):
        for c in range(90):
            if mask[r, c]:
                counts[(int(inverse[r, c]), r * POSITION_GRID // 70, c * POSITION_GRID // 90)] += 1
    assert len(counts) == X.shape[0]
    for (color, cell_r, cell_c), n in counts.items():
        center = position_features(
            np.array([(cell_r + 0.5) * 70 / POSITION_GRID - 0.5]),
            np.array([(cell_c + 0.5) * 90 / POSITION_GRID - 0.5]),
            (70, 90),
            1.0,
        )[0]
        row = np.flatnonzero(np.all(np.isclose(X, np.concatenate([features[color], center])), axis=1))
        assert row.size == 1 and weights[row[0]] == n
