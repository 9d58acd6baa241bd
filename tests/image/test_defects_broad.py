"""The broad channel of DefectModel: coarse features, the excess over good parts, model files."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import gmmseg
from gmmseg.errors import ModelFileError
from gmmseg.image.defect_match import MATCH_LEVELS
from gmmseg.image.defects import DefectModel
from gmmseg.image.texture import BROAD_FEATURES, broad_features, resize


def texture(rng, shape=(96, 96)):
    """A fine random texture (blurred noise), uint8."""
    tex = ndimage.gaussian_filter(rng.normal(size=shape), 1.2)
    return np.clip(120 + 25 * tex / tex.std(), 0, 255).astype(np.uint8)


def with_stain(img, factor=0.55):
    """A soft dark stain over about a quarter of the image: broader than the background blur."""
    h, w = img.shape
    yy, xx = np.mgrid[:h, :w]
    alpha = np.clip(1.5 - ((yy - 0.45 * h) / (0.3 * h)) ** 2 - ((xx - 0.5 * w) / (0.3 * w)) ** 2, 0, 1)
    out = img.astype(float) * (1 - alpha * (1 - factor))
    return np.clip(out, 0, 255).astype(np.uint8), alpha >= 0.5


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    good = [texture(rng) for _ in range(30)]
    # the image channel off: these tests measure the broad channel against the fine one
    kwargs = dict(n_components=3, work_size=64, pixels_per_image=600, scaling="longest", random_state=0)
    kwargs["image_channel"] = False
    return DefectModel(broad=True, **kwargs).fit(good), DefectModel(broad=False, **kwargs).fit(good)


def test_broad_features_ignore_gain_and_offset_and_know_the_border():
    img = texture(np.random.default_rng(1), (80, 120)).astype(np.float32)
    feats = broad_features(img, work_size=64)
    assert feats.shape == (11, 16, len(BROAD_FEATURES)) and feats.dtype == np.float32
    np.testing.assert_allclose(broad_features(img * 1.7 + 20, work_size=64), feats, atol=2e-3)
    rows, cols = feats[..., BROAD_FEATURES.index("border_row")], feats[..., BROAD_FEATURES.index("border_col")]
    assert rows[0, 0] == pytest.approx(0.5 / 11) and rows[5, 3] == pytest.approx(5.5 / 11)
    assert cols[2, 15] == pytest.approx(0.5 / 16) and np.all(cols[:, 0] == cols[0, 0])
    # the appearance features are referred to the image itself: each has median 0 over it
    np.testing.assert_allclose(np.median(feats[..., :8].reshape(-1, 8), axis=0), 0.0, atol=1e-6)


def test_broad_features_see_where_oriented_marks_are_missing():
    rng = np.random.default_rng(5)
    h, w = 96, 96
    # vertical machining marks (intensity varies along the columns) with noise; the marks are
    # ground away in the lower right quarter, which keeps the same brightness and noise
    marks = np.tile(np.sin(np.arange(w) * 1.0)[None, :], (h, 1)) * 30
    marks[h // 2 :, w // 2 :] = 0
    img = 128 + marks + rng.normal(0, 6, size=(h, w))
    feats = broad_features(img, work_size=96)
    ex, ey = (feats[..., BROAD_FEATURES.index(name)] for name in ("energy_x", "energy_y"))
    marked, ground = (slice(4, 8), slice(4, 8)), (slice(16, 20), slice(16, 20))
    # referred to the image: the marked three quarters are typical (about 0), the ground patch
    # has much less energy across the marks and about the same along them
    assert abs(ex[marked].mean()) < 0.2 and abs(ey[marked].mean()) < 0.2
    assert ex[ground].mean() < -1.0
    assert abs(ey[ground].mean()) < 0.3


def test_broad_features_see_where_marks_turn_or_fade():
    rng = np.random.default_rng(6)
    h, w = 128, 128
    yy, xx = np.mgrid[:h, :w]
    # vertical marks (the gradient along x): the structure tensor's axes term is near +1
    img = 128 + 30 * np.sin(xx * 1.0) + rng.normal(0, 3, size=(h, w))
    # in one patch the marks run diagonally (the gradient along x + y) ...
    diagonal_marks = 128 + 30 * np.sin((xx + yy) * 0.7) + rng.normal(0, 3, size=(h, w))
    img[64:104, 8:48] = diagonal_marks[64:104, 8:48]
    # ... in another they are gone: noise of the same spread, no direction
    img[64:104, 72:112] = 128 + rng.normal(0, 21, size=(40, 40))
    feats = broad_features(img, work_size=128)
    names = ("coherence", "orient_axes", "orient_diagonal")
    coherence, axes, diagonal = (feats[..., BROAD_FEATURES.index(n)] for n in names)
    marked, turned, gone = (slice(4, 10), slice(4, 10)), (slice(20, 24), slice(5, 9)), (slice(20, 24), slice(21, 25))
    # referred to the image (median 0 over it, most of it vertical marks)
    assert abs(axes[marked].mean()) < 0.1 and abs(diagonal[marked].mean()) < 0.1
    # diagonal marks: the axes term drops by about 1 (to 0 before the reference), the diagonal rises by about 1
    assert axes[turned].mean() < -0.8 and diagonal[turned].mean() > 0.8
    assert abs(coherence[turned].mean() - coherence[marked].mean()) < 0.15
    # marks gone: one direction no longer dominates
    assert coherence[gone].mean() < coherence[marked].mean() - 0.7


def test_broad_stain_is_found_only_with_the_broad_channel(models):
    broad, fine = models
    rng = np.random.default_rng(2)
    stained = [with_stain(texture(rng))[0] for _ in range(6)]
    goods = [texture(rng) for _ in range(12)]
    assert all(broad.score(s) > broad.threshold_ for s in stained)
    assert sum(fine.score(s) > fine.threshold_ for s in stained) <= 1  # the fine channel removes it
    assert sum(broad.score(g) > broad.threshold_ for g in goods) <= 2
    # the map lights up on the stain, not beside it
    img, mask = with_stain(texture(rng))
    smap = broad.score_map(img)
    assert smap[mask].mean() > smap[~mask].mean() + broad.threshold_


def test_the_excess_is_zero_on_the_held_out_good_images(models):
    broad, fine = models
    # with at most 1 / target_fpr held-out images the broad quantile is their maximum
    assert broad.n_holdout_images_ == 6
    np.testing.assert_allclose(broad.calibration_scores_, fine.calibration_scores_, rtol=1e-6)
    assert broad.threshold_ == pytest.approx(fine.threshold_)
    rng = np.random.default_rng(3)
    good = texture(rng)
    relative = broad.broad_.relative_map(good)
    expected = fine.score(good) + broad.broad_weight_ * max(0.0, float(relative.max()) - 1.0)
    assert broad.score(good) == pytest.approx(expected, rel=1e-5)
    # the map is the larger of the fine map and the broad map brought onto its scale
    fine_map = fine.score_map(good, input_resolution=False)
    onto_fine = broad.broad_match_(resize(relative, fine_map.shape))
    combined = broad.score_map(good, input_resolution=False)
    np.testing.assert_allclose(combined, np.maximum(fine_map, onto_fine), rtol=1e-5, atol=1e-5)
    # and the pixel threshold is the held-out images' quantile of that map's interior maxima
    assert broad.pixel_threshold_ >= fine.pixel_threshold_


def test_the_broad_map_lands_on_the_fine_scale_of_the_held_out_good_pixels(models):
    broad, fine = models
    # the held-out images, drawn as fit draws them
    rng = np.random.default_rng(0)
    good = [texture(rng) for _ in range(30)]
    hold = np.random.default_rng(0).permutation(30)[: broad.n_holdout_images_]
    fine_maps = [fine.score_map(good[i], input_resolution=False) for i in hold]
    broad_maps = [
        broad.broad_match_(resize(broad.broad_.relative_map(good[i]), m.shape)) for i, m in zip(hold, fine_maps)
    ]
    # on them both maps have the same quantiles up to the tail level (linear interpolation
    # between the table's levels: within a little of each other)
    f, b = (np.concatenate([m.ravel() for m in maps]) for maps in (fine_maps, broad_maps))
    levels = MATCH_LEVELS[5::10]
    spread = np.quantile(f, 0.99) - np.quantile(f, 0.01)
    np.testing.assert_allclose(np.quantile(b, levels), np.quantile(f, levels), atol=0.02 * spread)
    # and the mean excess over that level too (exponential tails)
    tf, tb = np.quantile(f, MATCH_LEVELS[-1]), np.quantile(b, MATCH_LEVELS[-1])
    assert (b[b > tb] - tb).mean() == pytest.approx((f[f > tf] - tf).mean(), rel=0.05)


def test_broad_models_round_trip_and_older_files_load_without_it(models, tmp_path):
    from gmmseg.core.persist import load_arrays, save_arrays

    broad, fine = models
    img, _ = with_stain(texture(np.random.default_rng(4)))
    loaded = gmmseg.load(broad.save(tmp_path / "broad.gmmseg"))
    assert loaded.broad and loaded.broad_ is not None
    assert loaded.score(img) == pytest.approx(broad.score(img), rel=1e-6)
    np.testing.assert_allclose(loaded.score_map(img), broad.score_map(img), rtol=1e-5, atol=1e-5)
    assert (loaded.threshold_, loaded.pixel_threshold_) == (broad.threshold_, broad.pixel_threshold_)
    # a file of layout version 2 (before the broad channel) loads as a model without it
    header, arrays = load_arrays(fine.save(tmp_path / "fine.gmmseg"), "DefectModel")
    metadata = header["metadata"]
    metadata["version"] = 2
    metadata["params"].pop("broad")
    old = gmmseg.load(save_arrays(tmp_path / "v2.gmmseg", "DefectModel", metadata, arrays))
    assert old.broad is False and old.broad_ is None
    assert old.score(img) == pytest.approx(fine.score(img), rel=1e-6)
    # files of versions 3 to 5 (older broad features or map) load without the broad channel
    # and are refused with it
    for version in (3, 4, 5):
        header, arrays = load_arrays(fine.save(tmp_path / "fine.gmmseg"), "DefectModel")
        header["metadata"]["version"] = version
        path = save_arrays(tmp_path / f"v{version}.gmmseg", "DefectModel", header["metadata"], arrays)
        assert gmmseg.load(path).broad_ is None
        header, arrays = load_arrays(tmp_path / "broad.gmmseg", "DefectModel")
        header["metadata"]["version"] = version
        with pytest.raises(ModelFileError, match=f"version {version}.*re-fit"):
            gmmseg.load(save_arrays(tmp_path / f"v{version}b.gmmseg", "DefectModel", header["metadata"], arrays))
    # a broad file without its broad arrays is refused with one line
    header, arrays = load_arrays(tmp_path / "broad.gmmseg", "DefectModel")
    arrays.pop("broad_mean")
    with pytest.raises(ModelFileError, match="broad_mean"):
        gmmseg.load(save_arrays(tmp_path / "cut.gmmseg", "DefectModel", header["metadata"], arrays))
