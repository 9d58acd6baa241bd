"""Boundary-contrast merging against hand-worked cases and explicit-loop references."""

from __future__ import annotations

import numpy as np
import pytest

from gmmseg.image import region_merge
from gmmseg.image.region_merge import boundary_contrast, merge_by_contrast


def contrast_of(regions, features):
    """boundary_contrast of per-pixel features (H, W, C)."""
    return boundary_contrast(
        regions, features.reshape(-1, features.shape[-1]), np.arange(regions.size).reshape(regions.shape)
    )


def loop_boundary_sums(regions, features):
    """Per adjacent pair of regions [step sum, pairs], and the mean step inside regions, by explicit loops."""
    height, width = regions.shape
    sums, total, count = {}, 0.0, 0
    for r in range(height):
        for c in range(width):
            for rr, cc in ((r, c + 1), (r + 1, c)):
                if rr >= height or cc >= width:
                    continue
                a, b = int(regions[r, c]), int(regions[rr, cc])
                if a == 0 or b == 0:
                    continue
                step = float(np.sqrt(((features[r, c] - features[rr, cc]) ** 2).sum()))
                total += step
                count += 1
                if a != b:
                    entry = sums.setdefault((min(a, b), max(a, b)), [0.0, 0])
                    entry[0] += step
                    entry[1] += 1
    return sums, total / count


def partition(labels):
    """A label map as a set of frozen pixel sets (label values ignored)."""
    return {frozenset(np.flatnonzero(labels.ravel() == v).tolist()) for v in np.unique(labels)}


def two_regions(step):
    """2 x 4 map, regions 1 | 2; one channel 0, 2 | 2 + step, 4 + step in both rows."""
    regions = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    row = [0.0, 2.0, 2.0 + step, 4.0 + step]
    return regions, np.array([row, row])[..., None]


def test_two_ramped_regions_weak_step_merges_strong_step_stays():
    # Pairs: per row 3 horizontal steps (2, s, 2), 4 vertical steps of 0: mean (8 + 2s) / 10.
    # Boundary: 2 pairs of step s, contrast 10 s / (8 + 2 s); size factor 1 + 4 / (1.0 * 8).
    for step, cost in ((1.0, 1.5), (8.0, 5.0)):
        regions, features = two_regions(step)
        contrast = contrast_of(regions, features)
        assert contrast.mean_step == pytest.approx((8 + 2 * step) / 10)
        assert contrast.step_sum.tolist() == [2 * step] and contrast.length.tolist() == [2]
        assert 10 * step / (8 + 2 * step) * 1.5 == pytest.approx(cost)
        merged = merge_by_contrast(np.bincount(regions.ravel()), contrast, threshold=2.0, size_scale=1.0)
        assert merged.tolist() == ([0, 1, 1] if step == 1.0 else [0, 1, 2])
    regions, features = two_regions(1.0)
    contrast = contrast_of(regions, features)
    assert merge_by_contrast(np.bincount(regions.ravel()), contrast, threshold=1.5, size_scale=1.0).tolist() == [
        0,
        1,
        1,
    ]
    assert merge_by_contrast(np.bincount(regions.ravel()), contrast, threshold=1.49, size_scale=1.0).tolist() == [
        0,
        1,
        2,
    ]
    assert merge_by_contrast(np.bincount(regions.ravel()), contrast, threshold=0.0, size_scale=1.0).tolist() == [
        0,
        1,
        2,
    ]


def test_flat_regions_weak_step_merges_strong_step_stays():
    # Flat regions 1 | 2 | 3 (two columns each, two rows) of values 0 | 1 | 11: per row the
    # horizontal steps are 0, 1, 0, 10, 0 and the 6 vertical steps 0, so the photo's mean
    # step is 22 / 16. Costs (size factor 1 + 4 / 12): weak 1 / 1.375 * 4/3 = 0.970,
    # strong 10 / 1.375 * 4/3 = 9.70 (after the weak merge, the smaller side still has 4).
    regions = np.array([[1, 1, 2, 2, 3, 3]] * 2)
    values = np.array([[0.0, 0.0, 1.0, 1.0, 11.0, 11.0]] * 2)
    contrast = contrast_of(regions, values[..., None])
    assert contrast.mean_step == pytest.approx(22 / 16)
    assert contrast.step_sum.tolist() == [2.0, 20.0] and contrast.length.tolist() == [2, 2]
    area = np.bincount(regions.ravel())
    assert merge_by_contrast(area, contrast, threshold=2.0, size_scale=1.0).tolist() == [0, 1, 1, 2]
    assert merge_by_contrast(area, contrast, threshold=0.96, size_scale=1.0).tolist() == [0, 1, 2, 3]
    assert merge_by_contrast(area, contrast, threshold=9.8, size_scale=1.0).tolist() == [0, 1, 1, 1]


def test_large_regions_need_a_weaker_boundary():
    # Regions 1 | 2 | 3 with equal steps across both boundaries; 3 is a 1-column sliver.
    regions = np.array([[1] * 6 + [2] * 6 + [3]] * 4)
    values = np.tile(np.r_[np.arange(6.0) % 2, 3 + np.arange(6.0) % 2, [6.0]], (4, 1))
    contrast = contrast_of(regions, values[..., None])
    assert contrast.step_sum.tolist() == [8.0, 8.0]  # 4 rows of step 2 each
    # Cost = (2 / mean) * (1 + min area / (0.1 * 52)): areas 24 (1 | 2) vs 4 (2 | 3).
    small = 2 / contrast.mean_step * (1 + 4 / 5.2)
    large = 2 / contrast.mean_step * (1 + 24 / 5.2)
    assert merge_by_contrast(
        np.bincount(regions.ravel()), contrast, threshold=(small + large) / 2, size_scale=0.1
    ).tolist() == [0, 1, 2, 2]


def test_boundary_sums_match_an_explicit_loop(monkeypatch):
    rng = np.random.default_rng(0)
    regions = rng.integers(0, 5, size=(9, 11))  # 0: outside every region
    features = rng.normal(size=(9, 11, 3))
    index = np.arange(regions.size).reshape(regions.shape)
    index[regions == 0] = -1  # not read there
    contrast = boundary_contrast(regions, features.reshape(-1, 3), index)
    sums, mean = loop_boundary_sums(regions, features)
    assert list(zip(contrast.first.tolist(), contrast.second.tolist())) == sorted(sums)
    np.testing.assert_allclose(contrast.step_sum, [sums[k][0] for k in sorted(sums)])
    assert contrast.length.tolist() == [sums[k][1] for k in sorted(sums)]
    assert contrast.mean_step == pytest.approx(mean)
    # Above SCALE_PIXELS the scale is the mean step of the pairs starting in every k-th row
    # (k = ceil(99 / 40) = 3: rows 0, 3, 6, each with its right and lower neighbor).
    monkeypatch.setattr(region_merge, "SCALE_PIXELS", 40)
    sampled = boundary_contrast(regions, features.reshape(-1, 3), index)
    np.testing.assert_array_equal(sampled.step_sum, contrast.step_sum)
    steps = [
        np.sqrt(((features[r, c] - features[rr, cc]) ** 2).sum())
        for r in (0, 3, 6)
        for c in range(11)
        for rr, cc in ((r, c + 1), (r + 1, c))
        if cc < 11 and regions[r, c] > 0 and regions[rr, cc] > 0
    ]
    assert sampled.mean_step == pytest.approx(np.mean(steps))


def test_graph_merge_matches_merging_on_the_pixels():
    """Every merge re-measured on the merged pixel map gives the same partition."""
    rng = np.random.default_rng(1)
    blocks = rng.normal(size=(4, 5, 3)) * 6  # 20 flat blocks of 3 x 3 pixels, plus noise
    features = np.kron(blocks, np.ones((3, 3, 1))) + rng.normal(size=(12, 15, 3))
    regions = np.kron(np.arange(1, 21).reshape(4, 5), np.ones((3, 3), dtype=int))
    threshold, size_scale = 3.0, 0.2
    ids = merge_by_contrast(
        np.bincount(regions.ravel()), contrast_of(regions, features), threshold=threshold, size_scale=size_scale
    )

    current = regions.copy()
    n_pixels = regions.size
    scale = contrast_of(regions, features).mean_step  # every pair of region pixels: merging keeps it
    while True:
        c = contrast_of(current, features)
        area = np.bincount(current.ravel())
        costs = [
            s / length / scale * (1 + min(area[x], area[y]) / (size_scale * n_pixels))
            for x, y, s, length in zip(c.first, c.second, c.step_sum, c.length)
        ]
        if not costs or min(costs) > threshold:
            break
        best = int(np.argmin(costs))
        current[current == c.second[best]] = c.first[best]
    assert partition(ids[regions]) == partition(current)
    assert 1 < np.unique(current).size < 20  # the case merges some regions, not all
    # Numbered 1..R' in raster order of the merged regions' first pixels.
    first_seen = list(dict.fromkeys(ids[regions].ravel().tolist()))
    assert first_seen == list(range(1, len(first_seen) + 1))


def test_flat_photo_and_outside_pixels_stay():
    regions = np.array([[0, 1, 1], [0, 2, 2]])
    contrast = contrast_of(regions, np.zeros((2, 3, 3)))
    assert contrast.mean_step == 0.0
    assert merge_by_contrast(np.bincount(regions.ravel()), contrast).tolist() == [0, 1, 2]
