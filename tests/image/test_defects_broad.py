"""The broad channel of DefectModel: coarse features, the excess over good parts, model files."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import gmmseg
from gmmseg.errors import ModelFileError
from gmmseg.image.defects import DefectModel
from gmmseg.image.texture import BROAD_FEATURES, broad_features


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
    kwargs = dict(n_components=3, work_size=64, pixels_per_image=600, scaling="longest", random_state=0)
    return DefectModel(broad=True, **kwargs).fit(good), DefectModel(**kwargs).fit(good)


def test_broad_features_ignore_gain_and_offset_and_know_the_border():
    img = texture(np.random.default_rng(1), (80, 120)).astype(np.float32)
    feats = broad_features(img, work_size=64)
    assert feats.shape == (11, 16, len(BROAD_FEATURES)) and feats.dtype == np.float32
    np.testing.assert_allclose(broad_features(img * 1.7 + 20, work_size=64), feats, atol=2e-3)
    rows, cols = feats[..., BROAD_FEATURES.index("border_row")], feats[..., BROAD_FEATURES.index("border_col")]
    assert rows[0, 0] == pytest.approx(0.5 / 11) and rows[5, 3] == pytest.approx(5.5 / 11)
    assert cols[2, 15] == pytest.approx(0.5 / 16) and np.all(cols[:, 0] == cols[0, 0])


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


def test_broad_models_round_trip_and_older_files_load_without_it(models, tmp_path):
    from gmmseg.core.persist import load_arrays, save_arrays

    broad, fine = models
    img, _ = with_stain(texture(np.random.default_rng(4)))
    loaded = gmmseg.load(broad.save(tmp_path / "broad.gmmseg"))
    assert loaded.broad and loaded.broad_ is not None
    assert loaded.score(img) == pytest.approx(broad.score(img), rel=1e-6)
    np.testing.assert_allclose(loaded.score_map(img), broad.score_map(img), rtol=1e-5, atol=1e-5)
    # a file of layout version 2 (before the broad channel) loads as a model without it
    header, arrays = load_arrays(fine.save(tmp_path / "fine.gmmseg"), "DefectModel")
    metadata = header["metadata"]
    metadata["version"] = 2
    metadata["params"].pop("broad")
    old = gmmseg.load(save_arrays(tmp_path / "v2.gmmseg", "DefectModel", metadata, arrays))
    assert old.broad is False and old.broad_ is None
    assert old.score(img) == pytest.approx(fine.score(img), rel=1e-6)
    # a broad file without its broad arrays is refused with one line
    header, arrays = load_arrays(tmp_path / "broad.gmmseg", "DefectModel")
    arrays.pop("broad_mean")
    with pytest.raises(ModelFileError, match="broad_mean"):
        gmmseg.load(save_arrays(tmp_path / "cut.gmmseg", "DefectModel", header["metadata"], arrays))
