"""Region measures (PRI, VI in bits, covering): hand-worked cases and independent references."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gmmseg.image.region_metrics import (
    contingency_table,
    probabilistic_rand_index,
    rand_index,
    region_scores,
    segmentation_covering,
    variation_of_information,
)


def pairwise_rand(a, b) -> float:
    """Rand index by an explicit loop over the unordered pairs of distinct pixels, O(n^2)."""
    a, b = np.ravel(a), np.ravel(b)
    agree = total = 0
    for i, j in itertools.combinations(range(a.size), 2):
        agree += (a[i] == a[j]) == (b[i] == b[j])
        total += 1
    return agree / total


def pairwise_pri(a, truths) -> float:
    """PRI by its definition: mean over pairs of c p + (1 - c)(1 - p), p the share of humans."""
    a = np.ravel(a)
    ts = [np.ravel(t) for t in truths]
    acc = []
    for i, j in itertools.combinations(range(a.size), 2):
        c = float(a[i] == a[j])
        p = np.mean([t[i] == t[j] for t in ts])
        acc.append(c * p + (1 - c) * (1 - p))
    return float(np.mean(acc))


# ---------------------------------------------------------------------------- hand-worked cases


def test_contingency_table_counts_pixels_of_every_pair():
    a = np.array([[3, 3, 9], [3, 9, 9]])
    b = np.array([[0, 1, 1], [0, 1, 1]])
    rows, cols, counts = contingency_table(a, b)
    dense = np.zeros((2, 2), int)
    dense[rows, cols] = counts
    # label 3: pixels (0,0),(0,1),(1,0) -> b = 0, 1, 0; label 9: (0,2),(1,1),(1,2) -> b = 1, 1, 1
    assert dense.tolist() == [[2, 1], [0, 3]]


def test_rand_index_hand_worked():
    # S = [0 0 1 1], G = [0 0 0 1]; the 6 pairs (1-based pixels):
    # (1,2) same/same agree, (1,3) diff/same dis, (1,4) diff/diff agree,
    # (2,3) diff/same dis, (2,4) diff/diff agree, (3,4) same/diff dis  -> 3/6
    assert rand_index([[0, 0, 1, 1]], [[0, 0, 0, 1]]) == pytest.approx(0.5)


def test_pri_hand_worked_two_humans():
    # S = [0 0 1]; G1 = [0 0 1] (RI 1); G2 = [0 1 1]: pairs (1,2) same/diff dis,
    # (1,3) diff/diff agree, (2,3) diff/same dis -> RI 1/3; PRI = (1 + 1/3) / 2 = 2/3.
    # By the pair definition: p12 = 1/2, p13 = 0, p23 = 1/2; c = (1, 0, 0):
    # (1/2 + 1 + 1/2) / 3 = 2/3 as well.
    s = np.array([[0, 0, 1]])
    truths = np.array([[[0, 0, 1]], [[0, 1, 1]]])
    assert probabilistic_rand_index(s, truths) == pytest.approx(2 / 3)
    assert pairwise_pri(s, truths) == pytest.approx(2 / 3)


def test_vi_hand_worked():
    # S = [0 0 1 1], G = [0 0 0 1]: joint cells (0,0):2, (1,0):1, (1,1):1 of 4.
    # H(S) = 1, H(G) = -(3/4 log2 3/4 + 1/4 log2 1/4) = 0.811278..., H(S,G) = 1.5 (cells 1/2, 1/4, 1/4)
    # VI = 2 H(S,G) - H(S) - H(G) = 3 - 1 - 0.811278 = 1.188722...
    expected = 3 - 1 - (-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))
    assert variation_of_information([[0, 0, 1, 1]], [[0, 0, 0, 1]]) == pytest.approx(expected)
    # independent halves: H(S|G) = H(G|S) = 1 bit -> VI = 2
    assert variation_of_information([[0, 0, 1, 1]], [[0, 1, 0, 1]]) == pytest.approx(2.0)


def test_covering_hand_worked():
    # S = [a a a b b b], G = [x x y y y y]. Human region x (2 px) overlaps a: IoU 2/3;
    # y (4 px): with a IoU 1/5, with b IoU 3/4 -> best 3/4. Covering = (2 * 2/3 + 4 * 3/4) / 6 = 13/18.
    s = [[1, 1, 1, 2, 2, 2]]
    g = [[7, 7, 8, 8, 8, 8]]
    assert segmentation_covering(s, g) == pytest.approx(13 / 18)
    # the other direction (G covers S) differs: a best IoU 2/3 (x), b best 3/4 (y): (3*2/3 + 3*3/4)/6 = 17/24
    assert segmentation_covering(g, s) == pytest.approx(17 / 24)


def test_mean_over_humans():
    s = np.array([[0, 0, 1, 1]])
    g1, g2 = np.array([[0, 0, 1, 1]]), np.array([[0, 0, 0, 0]])
    for fn in (probabilistic_rand_index, variation_of_information, segmentation_covering):
        assert fn(s, [g1, g2]) == pytest.approx((fn(s, g1) + fn(s, g2)) / 2)
    # a stacked (n_humans, H, W) array and a list give the same
    assert region_scores(s, np.stack([g1, g2])) == region_scores(s, [g1, g2])


def test_identical_maps_score_perfectly_whatever_the_label_values():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (12, 9))
    b = np.array([10, 3, 77, 0, 5])[a]  # the same partition, other label values
    scores = region_scores(a, [b, b])
    assert scores["pri"] == pytest.approx(1.0)
    assert scores["vi"] == pytest.approx(0.0, abs=1e-12)
    assert scores["covering"] == pytest.approx(1.0)


def test_one_segment_against_singletons():
    # one segment of N pixels vs N singletons: RI 0, VI = log2 N, covering: every singleton IoU 1/N -> 1/N
    n = 8
    one, singles = np.zeros((1, n), int), np.arange(n)[None, :]
    assert rand_index(one, singles) == pytest.approx(0.0)
    assert variation_of_information(one, singles) == pytest.approx(math.log2(n))
    assert segmentation_covering(one, singles) == pytest.approx(1 / n)
    assert segmentation_covering(singles, one) == pytest.approx(1 / n)


# ---------------------------------------------------------------------------- references


@pytest.mark.parametrize("seed", range(5))
def test_rand_index_matches_the_pairwise_loop(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, (5, 6))
    truths = [rng.integers(0, k, (5, 6)) for k in (2, 4, 5)]
    for t in truths:
        assert rand_index(a, t) == pytest.approx(pairwise_rand(a, t), abs=1e-12)
    assert probabilistic_rand_index(a, truths) == pytest.approx(pairwise_pri(a, truths), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_vi_matches_scikit_image_in_bits(seed):
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, (30, 20))
    t = rng.integers(1, 4, (30, 20))
    t[10:20] = a[10:20] + 1  # partly agreeing
    # scikit-image returns the two conditional entropies [H(t|a), H(a|t)]; their sum is VI. The
    # unit is read off a case worth exactly 1 bit (one even split against one segment): it is
    # 1.0 (bits: scikit-image 0.26 uses log2 in _xlogx), or ln 2 = 0.693 for a version in nats.
    one_bit = float(np.sum(metrics.variation_of_information(np.array([[0, 0, 1, 1]]), np.zeros((1, 4), int))))
    assert one_bit == pytest.approx(1.0) or one_bit == pytest.approx(math.log(2))
    reference = float(np.sum(metrics.variation_of_information(a, t))) / one_bit
    assert variation_of_information(a, t) == pytest.approx(reference, rel=1e-9)


def test_vi_is_a_metric_on_examples():
    rng = np.random.default_rng(3)
    x, y, z = (rng.integers(0, 4, (10, 10)) for _ in range(3))
    vi = variation_of_information
    assert vi(x, y) == pytest.approx(vi(y, x))
    assert vi(x, z) <= vi(x, y) + vi(y, z) + 1e-12


def test_covering_against_a_dense_loop():
    rng = np.random.default_rng(4)
    s = rng.integers(0, 4, (8, 8))
    g = rng.integers(0, 3, (8, 8))
    expected = 0.0
    for r in np.unique(g):
        R = g == r
        expected += R.sum() * max((R & (s == q)).sum() / (R | (s == q)).sum() for q in np.unique(s))
    assert segmentation_covering(s, g) == pytest.approx(expected / g.size)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="does not match"):
        region_scores(np.zeros((3, 3), int), [np.zeros((3, 4), int)])
    with pytest.raises(ValueError, match="at least one"):
        region_scores(np.zeros((3, 3), int), [])
