"""Regions of a score map against an explicit flood fill (8-connectivity)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from gmmseg.image.regions import (
    Region,
    RegionStats,
    connected_regions,
    defect_mask,
    label_regions,
    merge_regions,
    region_adjacency,
    region_table,
    regions_from_map,
)


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


# ---------------------------------------------------------------------------- photo regions


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label maps group the pixels identically (a one-to-one map between their ids)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


def test_connected_regions_match_scipy_label_per_class():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, (40, 50))
    visible = rng.random((40, 50)) > 0.1
    regions = connected_regions(labels, visible)
    reference = np.zeros(labels.shape, dtype=np.int64)
    for value in range(3):
        pieces, n = ndimage.label((labels == value) & visible)  # 4-connectivity by default
        reference[pieces > 0] = pieces[pieces > 0] + reference.max()
    assert regions.dtype == np.int32 and (regions[~visible] == 0).all()
    assert _same_partition(regions, reference) and regions.max() == len(np.unique(reference)) - 1
    firsts = [np.flatnonzero(regions.ravel() == r)[0] for r in range(1, regions.max() + 1)]
    assert firsts == sorted(firsts)  # raster order of the first pixel


def _merged(pieces: np.ndarray, feature: np.ndarray, **options) -> np.ndarray:
    """The merged region map of hand-made pieces (each piece its own label) and an (H, W, F) feature."""
    stats = RegionStats.of_pieces(pieces, pieces, lab=np.moveaxis(feature, 2, 0))
    return merge_regions(pieces, stats, **options)[pieces]


def test_merge_regions_on_a_hand_made_image():
    # Four pieces: A (left, L=10), B (middle, L=15), C (right, L=60) and a 2-pixel speck D inside C
    # of L=0. D (under min_size) joins C, its only neighbor; A and B (5 apart) merge under the
    # threshold 12; B and C (45 apart) stay separate.
    feature = np.zeros((6, 9, 1))
    pieces = np.zeros((6, 9), dtype=np.int32)
    pieces[:, :3], feature[:, :3] = 1, 10.0
    pieces[:, 3:6], feature[:, 3:6] = 2, 15.0
    pieces[:, 6:], feature[:, 6:] = 3, 60.0
    pieces[2, 7:9], feature[2, 7:9] = 4, 0.0
    assert region_adjacency(pieces)[0].tolist() == [1, 2, 3]
    merged = _merged(pieces, feature, min_size=3, threshold=12.0)
    expected = np.where(pieces <= 2, 1, 2)
    np.testing.assert_array_equal(merged, expected)
    # no threshold: only the speck goes; a high one merges everything
    np.testing.assert_array_equal(_merged(pieces, feature, min_size=3, threshold=0), np.minimum(pieces, 3))
    assert _merged(pieces, feature, min_size=0, threshold=100.0).max() == 1


def test_small_regions_merge_into_the_closest_neighbor():
    # a 1-pixel piece between two big ones goes to the one of the closer color (L=40 -> 50, not 0)
    pieces = np.array([[1, 1, 1, 3, 2, 2, 2]] * 3, dtype=np.int32)
    pieces[[0, 2], 3] = (1, 2)
    feature = np.where(pieces == 1, 0.0, 50.0)[..., None]
    feature[1, 3] = 40.0
    merged = _merged(pieces, feature, min_size=2, threshold=0)
    assert merged[1, 3] == merged[1, 4] != merged[1, 0]


@pytest.mark.parametrize("channels", [3, 1])
def test_region_table_against_explicit_sums(channels):
    rng = np.random.default_rng(channels)
    labels = rng.integers(0, 3, (12, 15))
    visible = rng.random((12, 15)) > 0.1
    rgb = rng.integers(0, 256, (12, 15, channels))
    lab = rng.random((12, 15, 3)) * 100
    pieces = connected_regions(labels, visible)
    stats = RegionStats.of_pieces(pieces, labels, rgb=np.moveaxis(rgb, 2, 0), lab=np.moveaxis(lab, 2, 0))
    for piece in range(1, pieces.max() + 1):
        inside = pieces == piece
        rows, cols = np.nonzero(inside)
        assert stats.area[piece] == inside.sum() and stats.label[piece] == labels[inside][0]
        assert stats.bbox[piece].tolist() == [rows.min(), cols.min(), rows.max() + 1, cols.max() + 1]
    assert stats.area[0] == (~visible).sum()
    ids = merge_regions(pieces, stats, min_size=4)
    regions = ids[pieces]
    table = region_table(stats, ids)
    assert [row["region"] for row in table] == list(range(1, regions.max() + 1)) and regions.max() < pieces.max()
    for row in table:
        inside = regions == row["region"]
        rows, cols = np.nonzero(inside)
        assert row["area"] == inside.sum()
        assert row["bbox"] == [rows.min(), cols.min(), rows.max() + 1, cols.max() + 1]
        np.testing.assert_allclose(row["mean_rgb"], np.resize(rgb[inside].mean(axis=0), 3), atol=1e-3)
        np.testing.assert_allclose(row["mean_lab"], lab[inside].mean(axis=0), atol=1e-3)
        assert row["segment"] == np.bincount(labels[inside]).argmax()  # the majority, ties to the smallest


def test_a_map_without_pieces_has_an_empty_table():
    labels, visible = np.zeros((3, 4), dtype=int), np.zeros((3, 4), dtype=bool)
    pieces = connected_regions(labels, visible)
    stats = RegionStats.of_pieces(pieces, labels, rgb=[labels], lab=[labels] * 3)
    ids = merge_regions(pieces, stats)
    assert pieces.max() == 0 and ids.tolist() == [0] and region_table(stats, ids) == []
