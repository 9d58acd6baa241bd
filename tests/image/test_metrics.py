"""Detection metrics against explicit, independent references."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import label

from gmmseg.errors import InputError
from gmmseg.image.metrics import aupro, auroc, detection_metrics, f1_max, pro_curve


def pairwise_auroc(y, s):
    """Mann-Whitney: share of (positive, negative) pairs ranked right, ties one half."""
    pos, neg = s[y], s[~y]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (pos.size * neg.size)


def brute_f1_max(y, s):
    best = 0.0
    for t in np.unique(s):
        pred = s >= t
        tp = np.sum(pred & y)
        fp = np.sum(pred & ~y)
        fn = np.sum(~pred & y)
        if tp:
            best = max(best, 2 * tp / (2 * tp + fp + fn))
    return best


def test_auroc_matches_pairwise_count_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    s = np.round(rng.normal(size=300) + y, 1)  # rounding makes ties
    assert auroc(y, s) == pytest.approx(pairwise_auroc(y, s), abs=1e-12)


def test_auroc_one_class_is_nan():
    assert np.isnan(auroc([0, 0, 0], [0.1, 0.2, 0.3]))


def test_f1_max_matches_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(5):
        y = rng.random(200) < 0.2
        s = np.round(rng.normal(size=200) + 1.5 * y, 1)
        assert f1_max(y, s) == pytest.approx(brute_f1_max(y, s), abs=1e-12)


def brute_aupro(masks, maps, max_fpr=0.3):
    """PRO curve from explicit loops over every normal-pixel score, then the trapezoid up to max_fpr."""
    neg = np.concatenate([m[~k] for k, m in zip(masks, maps)])
    regions = []
    for k, m in zip(masks, maps):
        lab = label(k, connectivity=2)
        for r in range(1, lab.max() + 1):
            regions.append(m[lab == r])
    points = [(0.0, 0.0)]
    for t in np.unique(neg)[::-1]:
        fpr = np.mean(neg > t)
        pro = np.mean([np.mean(r > t) for r in regions])
        points.append((fpr, pro))
    f, p = np.array(points).T
    order = np.argsort(f, kind="mergesort")
    f, p = f[order], p[order]
    p_end = np.interp(max_fpr, f, p)
    keep = f <= max_fpr
    f, p = np.r_[f[keep], max_fpr], np.r_[p[keep], p_end]
    return np.trapezoid(p, f) / max_fpr


def test_aupro_matches_explicit_loops():
    rng = np.random.default_rng(2)
    masks, maps = [], []
    for i in range(4):
        m = np.zeros((24, 24), bool)
        if i:
            m[3 + i : 8 + i, 4:9] = True  # one square region
            m[15:17, 10 + i : 20] = True  # one bar region
        masks.append(m)
        maps.append(rng.normal(size=(24, 24)) + 1.5 * m)
    ref = brute_aupro(masks, maps)
    assert aupro(masks, maps, n_thresholds=2000) == pytest.approx(ref, abs=2e-3)


def test_aupro_bounds_perfect_and_random():
    rng = np.random.default_rng(3)
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    perfect = mask.astype(float) + rng.random((40, 40)) * 0.1
    assert aupro([mask], [perfect]) == pytest.approx(1.0, abs=1e-3)
    noise = rng.random((40, 40))
    # Random scores: PRO ~ FPR, so the normalised area is ~ max_fpr / 2.
    assert aupro([mask], [noise]) == pytest.approx(0.15, abs=0.05)


def test_pro_curve_is_monotone_and_bounded():
    rng = np.random.default_rng(4)
    mask = np.zeros((30, 30), bool)
    mask[5:9, 5:25] = True
    fpr, pro = pro_curve([mask], [rng.normal(size=(30, 30)) + mask])
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(pro) >= -1e-12)
    assert fpr[0] == 0 and fpr[-1] <= 0.3 + 1e-9 and 0 <= pro.min() and pro.max() <= 1


def test_aupro_needs_a_region_and_matching_shapes():
    with pytest.raises(InputError, match="no defect"):
        aupro([np.zeros((5, 5), bool)], [np.zeros((5, 5))])
    with pytest.raises(InputError, match="differ"):
        aupro([np.zeros((5, 5), bool)], [np.zeros((5, 6))])


def test_detection_metrics_keys_and_values():
    masks = [np.zeros((8, 8), bool), np.pad(np.ones((2, 2), bool), 3)]
    maps = [np.zeros((8, 8)), masks[1].astype(float)]
    out = detection_metrics([False, True], [0.0, 1.0], masks, maps)
    assert out["image_auroc"] == 1.0 and out["pixel_auroc"] == 1.0 and out["pixel_f1_max"] == 1.0
    assert out["aupro"] == pytest.approx(1.0)
