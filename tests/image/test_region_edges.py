"""Color pieces cut along the photo's edges (issue 12): the edge map and the pieces it cuts."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gmmseg import segment_image
from gmmseg.image.region_edges import EDGE_SIDE, edge_segments
from gmmseg.image.regions import connected_regions


def _three_strips(height=60, width=90, seed=0):
    """Dark | orange | lighter orange, vertical strips with a little noise; the oranges share a K=2 label."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(3), width // 3)[None, :].repeat(height, axis=0)
    colors = np.array([[30, 30, 30], [200, 120, 60], [230, 160, 120]], dtype=np.float64)
    image = colors[truth] + rng.normal(0, 2, (height, width, 3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8), truth


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


def test_cut_pieces_are_the_components_of_equal_label_and_segment():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, (30, 40))
    cut = np.repeat(rng.integers(0, 4, (6, 8)), 5, axis=0).repeat(5, axis=1)
    visible = rng.random(labels.shape) > 0.1
    pieces = connected_regions(labels, visible, cut)
    reference = np.zeros(labels.shape, dtype=np.int64)
    for value in range(3):
        for segment in range(4):
            parts, _ = ndimage.label((labels == value) & (cut == segment) & visible)  # 4-connectivity
            reference[parts > 0] = parts[parts > 0] + reference.max()
    assert (pieces[~visible] == 0).all() and _same_partition(pieces, reference)
    firsts = [np.flatnonzero(pieces.ravel() == r)[0] for r in range(1, pieces.max() + 1)]
    assert firsts == sorted(firsts)


def _misplaced(segments: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Pixels outside the truth region that holds most of their segment."""
    pairs, where = np.unique(np.stack([segments.ravel(), truth.ravel()]), axis=1, return_inverse=True)
    votes = np.bincount(where.ravel())
    majority = {}
    for (segment, region), count in zip(pairs.T.tolist(), votes.tolist()):
        if count > majority.get(segment, (0, -1))[0]:
            majority[segment] = (count, region)
    lut = np.zeros(segments.max() + 1, dtype=np.int64)
    for segment, (_, region) in majority.items():
        lut[segment] = region
    return lut[segments] != truth


def test_edge_segments_do_not_cross_the_steps_at_full_and_reduced_size():
    image, truth = _three_strips()
    segments = edge_segments(image)
    assert segments.shape == truth.shape and segments.dtype == np.uint16
    assert not _misplaced(segments, truth).any()
    # A photo larger than EDGE_SIDE is segmented on a reduced copy and scaled back: the map
    # has the photo's shape and only pixels within one copy pixel of a step are misplaced.
    big = np.repeat(np.repeat(image, 4, axis=0), 4, axis=1)  # 240 x 360
    wide = np.concatenate([big, big[:, ::-1]], axis=1)  # 240 x 720 > EDGE_SIDE
    wide_truth = np.concatenate([np.repeat(truth, 4, axis=1), np.repeat(truth, 4, axis=1)[:, ::-1]], axis=1)
    wide_truth = np.repeat(wide_truth, 4, axis=0)
    segments = edge_segments(wide)
    assert segments.shape == wide.shape[:2]
    cols = np.nonzero(_misplaced(segments, wide_truth))[1]
    steps = np.flatnonzero(np.diff(wide_truth[0]) != 0) + 0.5
    assert (np.abs(cols[:, None] - steps[None, :]).min(axis=1) <= wide.shape[1] / EDGE_SIDE).all()


def test_gray_and_16_bit_photos_are_segmented_like_8_bit_ones():
    image, truth = _three_strips()
    assert _same_partition(edge_segments(image.astype(np.uint16) * 257), edge_segments(image))
    gray = edge_segments(image.mean(axis=2).astype(np.uint8))
    assert gray.shape == truth.shape and not _misplaced(gray, truth).any()


def test_one_color_label_across_an_edge_gives_two_regions_with_the_cut():
    image, truth = _three_strips()
    plain = segment_image(image, 2, random_state=0)  # a fixed K: no contrast merge, no cut
    cut = segment_image(image, 2, random_state=0, contrast_threshold=3.0)
    assert np.unique(plain.labels[truth > 0]).size == 1  # the two oranges share a label
    assert plain.n_regions == 2
    assert cut.n_regions == 3 and _same_partition(cut.regions, truth)


def test_scaled_back_edges_follow_the_photo_not_the_copys_pixels():
    # a slanted edge, segments of a copy 8x smaller: nearest-neighbor scaling alone puts photo
    # pixels up to 4 pixels from the edge on the wrong side (a staircase); guided by the
    # photo's colors, only the pixels on the edge itself may go either way
    import cv2

    from gmmseg.image.region_edges import _scale_back

    height, width, factor = 480, 640, 8
    yy, xx = np.mgrid[0:height, 0:width]
    offset = yy - (0.37 * xx + 60.5)
    image = np.where((offset > 0)[..., None], [40, 90, 200], [220, 180, 60]).astype(np.uint8)
    copy = cv2.resize(image, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    cy, cx = np.mgrid[0 : height // factor, 0 : width // factor]
    centers = (factor - 1) / 2
    segments = ((factor * cy + centers) > 0.37 * (factor * cx + centers) + 60.5).astype(np.uint16)  # the copy's sides
    truth = (offset > 0).astype(np.uint16)
    away = np.abs(offset) > 1.5
    nearest = cv2.resize(segments, (width, height), interpolation=cv2.INTER_NEAREST)
    assert (nearest != truth)[away].sum() > 100
    assert (_scale_back(segments, copy, image) != truth)[away].sum() == 0
