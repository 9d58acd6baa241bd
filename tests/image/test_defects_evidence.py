"""Connected evidence of a score map (gmmseg.image.defect_evidence) against an explicit loop."""

from collections import deque

import numpy as np
import pytest

import gmmseg
from gmmseg import DefectModel
from gmmseg.image.defect_evidence import EVIDENCE_QUANTILE, ConnectedEvidence, component_evidence


def _explicit_evidence(m, level, margin):
    """Flood fill over 8 neighbours, one component at a time (the independent reference)."""
    h, w = m.shape
    mh, mw = int(round(margin * h)), int(round(margin * w))
    seen = np.zeros(m.shape, bool)
    best = 0.0
    for y in range(h):
        for x in range(w):
            if seen[y, x] or m[y, x] <= level:
                continue
            queue, pixels = deque([(y, x)]), []
            seen[y, x] = True
            while queue:
                cy, cx = queue.popleft()
                pixels.append((cy, cx))
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny, nx = cy + dy, cx + dx
                        if 0 <= ny < h and 0 <= nx < w and not seen[ny, nx] and m[ny, nx] > level:
                            seen[ny, nx] = True
                            queue.append((ny, nx))
            ys, xs = np.array(pixels).T
            inside = (ys >= mh) & (ys < h - mh) & (xs >= mw) & (xs < w - mw)
            length = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
            excess = float((m[ys, xs] - level)[inside].sum())
            best = max(best, excess * np.sqrt(length / max(inside.sum(), 1)))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_component_evidence_matches_an_explicit_flood_fill(seed):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    m = ndimage.gaussian_filter(rng.normal(size=(40, 56)), 1.5)
    level = float(np.quantile(m, 0.9))
    for margin in (0.0, 0.05, 0.2):
        assert component_evidence(m, level, margin) == pytest.approx(_explicit_evidence(m, level, margin), rel=1e-9)


def test_a_line_outweighs_a_speck_of_the_same_excess_and_the_band_adds_no_mass():
    line = np.zeros((40, 40))
    line[10:30, 20] = 1.0  # 20 pixels of excess 1
    speck = np.zeros((40, 40))
    speck[18:22, 18:23] = 1.0  # 20 pixels of excess 1 in a blob
    assert component_evidence(line, 0.0, 0.05) == pytest.approx(20.0)  # 20 * sqrt(20 / 20)
    assert component_evidence(speck, 0.0, 0.05) == pytest.approx(20 * np.sqrt(5 / 20))
    edge = np.zeros((40, 40))
    edge[0:2, 5:30] = 1.0  # only inside the top band
    assert component_evidence(edge, 0.0, 0.05) == 0.0
    assert component_evidence(np.zeros((8, 8)), 0.5, 0.05) == 0.0


def test_the_held_out_maps_set_the_level_and_add_no_excess():
    rng = np.random.default_rng(3)
    maps = [rng.normal(size=(30, 30)).astype(np.float32) for _ in range(12)]
    ev = ConnectedEvidence(0.05).fit(maps)
    inner = np.concatenate([m[2:28, 2:28].ravel() for m in maps])
    assert ev.level_ == pytest.approx(np.quantile(inner, EVIDENCE_QUANTILE))
    relative = [ev.relative(m) for m in maps]
    assert max(relative) == pytest.approx(1.0) and np.median(relative) == pytest.approx(0.0, abs=1e-12)


def test_a_long_faint_line_is_flagged_by_its_evidence_and_the_model_file_keeps_it(tmp_path):
    rng = np.random.default_rng(4)
    good = [rng.normal(128, 8, size=(64, 64)).clip(0, 255).astype(np.uint8) for _ in range(20)]
    model = DefectModel(n_components=2, work_size=64, scaling="longest", pixels_per_image=500, random_state=0)
    model.fit(good)
    # the held-out images' own evidence adds nothing, so the threshold is the one without it
    assert model.threshold_ == pytest.approx(np.quantile(model.calibration_scores_, 0.99, method="higher"))
    bad = rng.normal(128, 8, size=(64, 64))
    bad[8:56, 30] -= 30  # a long, faint crack
    bad = bad.clip(0, 255).astype(np.uint8)
    small = model.scales_[0].score_map(bad)
    fine = model.scales_[0].image_score(small)
    excess = model.broad_weight_ * max(model.evidence_.relative(small) - 1.0, 0.0)
    assert excess > 0
    assert model.score(bad) == pytest.approx(
        fine + excess + model._image_excess(bad) + float(model._broad_excess(model.broad_.relative_map(bad).max())),
        rel=1e-5,
    )
    loaded = gmmseg.load(model.save(tmp_path / "m.gmmseg"))
    assert loaded.score(bad) == pytest.approx(model.score(bad), rel=1e-6)
    assert loaded.evidence_.level_ == model.evidence_.level_
