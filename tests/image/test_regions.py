"""Regions of a score map against an explicit flood fill (8-connectivity)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from gmmseg.image.regions import Region, defect_mask, label_regions, regions_from_map


def flood_fill_regions(mask: np.ndarray) -> list[set[tuple[int, int]]]:
    """The 8-connected pixel sets of a mask, by an explicit stack-based flood fill."""
    seen = np.zeros(mask.shape, dtype=bool)
    out = []
    h, w = mask.shape
    for r0 in range(h):
        for c0 in range(w):
            if not mask[r0, c0] or seen[r0, c0]:
                continue
            pixels, stack = set(), [(r0, c0)]
            seen[r0, c0] = True
            while stack:
                r, c = stack.pop()
                pixels.add((r, c))
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        rr, cc = r + dr, c + dc
                        if 0 <= rr < h and 0 <= cc < w and mask[rr, cc] and not seen[rr, cc]:
                            seen[rr, cc] = True
                            stack.append((rr, cc))
            out.append(pixels)
    return out


@pytest.fixture
def score_map():
    rng = np.random.default_rng(8)
    return ndimage.gaussian_filter(rng.normal(size=(40, 50)), 1.5) * 10


def test_labels_are_the_flood_fill_components(score_map):
    mask = score_map > 1.0
    labels, areas = label_regions(mask)
    reference = flood_fill_regions(mask)
    assert labels.max() == len(reference) > 3
    for pixels in reference:
        values = {int(labels[p]) for p in pixels}
        assert len(values) == 1 and 0 not in values  # one label per component
        assert areas[values.pop()] == len(pixels)
    assert areas[0] == int((~mask).sum())


def test_region_records_match_the_flood_fill(score_map):
    regions = regions_from_map(score_map, 1.0, min_area=3)
    reference = [p for p in flood_fill_regions(score_map > 1.0) if len(p) >= 3]
    assert len(regions) == len(reference)
    assert [r.area for r in regions] == sorted((len(p) for p in reference), reverse=True)
    want = {}
    for pixels in reference:
        rows, cols = zip(*pixels)
        bbox = (min(rows), min(cols), max(rows) + 1, max(cols) + 1)
        want[bbox] = (len(pixels), (np.mean(rows), np.mean(cols)), max(score_map[p] for p in pixels))
    for region in regions:
        area, centroid, peak = want[region.bbox]
        assert region.area == area
        assert region.centroid == pytest.approx(centroid)
        assert region.peak_score == pytest.approx(peak)


def test_defect_mask_is_the_union_of_the_reported_regions(score_map):
    mask = defect_mask(score_map, 1.0, min_area=4)
    want = np.zeros(score_map.shape, dtype=bool)
    for pixels in flood_fill_regions(score_map > 1.0):
        if len(pixels) >= 4:
            for p in pixels:
                want[p] = True
    np.testing.assert_array_equal(mask, want)
    assert mask.sum() == sum(r.area for r in regions_from_map(score_map, 1.0, min_area=4))


def test_diagonal_neighbors_join_and_nothing_above_gives_nothing():
    smap = np.zeros((4, 4))
    smap[0, 0] = smap[1, 1] = smap[3, 3] = 5.0
    regions = regions_from_map(smap, 1.0)
    assert [r.area for r in regions] == [2, 1]
    assert regions[0] == Region(bbox=(0, 0, 2, 2), area=2, centroid=(0.5, 0.5), peak_score=5.0)
    assert regions_from_map(smap, 9.0) == []
    assert not defect_mask(smap, 9.0).any()
    assert regions[0].to_dict() == {"bbox": [0, 0, 2, 2], "area": 2, "centroid": [0.5, 0.5], "peak_score": 5.0}
