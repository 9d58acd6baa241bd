"""The image channel of DefectModel: per-image descriptors, the excess over good images, model files."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import gmmseg
from gmmseg.image.defect_image import ImageChannel, image_descriptors
from gmmseg.image.defects import DefectModel


def texture(rng, shape=(96, 96)):
    """A fine random texture (blurred noise), uint8."""
    tex = ndimage.gaussian_filter(rng.normal(size=shape), 1.2)
    return np.clip(120 + 25 * tex / tex.std(), 0, 255).astype(np.uint8)


def with_ramp(img, strength=60.0):
    """A brightness ramp across the whole part: no pixel is unusual, the image is."""
    ramp = np.linspace(-strength / 2, strength / 2, img.shape[1])[None, :]
    return np.clip(img.astype(float) + ramp, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    good = [texture(rng) for _ in range(30)]
    # the broad channel off: these tests measure the image channel against the fine one
    kwargs = dict(n_components=3, work_size=64, pixels_per_image=600, scaling="longest", broad=False, random_state=0)
    return DefectModel(**kwargs).fit(good), DefectModel(image_channel=False, **kwargs).fit(good)


def test_descriptors_ignore_gain_and_offset_and_see_a_ramp_and_a_worn_area():
    img = texture(np.random.default_rng(1)).astype(np.float64)
    d = image_descriptors(img, 64)
    assert d.shape == (ImageChannel.n_features,) == (63,)
    np.testing.assert_allclose(image_descriptors(img * 1.5 + 10, 64), d, atol=1e-3)
    # layout: sigma 2, 4, 8; then level, detail, gradient; then the 7 quantiles 1% ... 99%
    level8 = slice(42, 49)
    ramp = image_descriptors(with_ramp(img.astype(np.uint8)), 64)
    # a ramp across the part widens the broad level's tails (99% minus 1% quantile)
    assert ramp[level8][-1] - ramp[level8][0] > 2 * (d[level8][-1] - d[level8][0])
    # a worn (smoothed) half lowers the low quantiles of the fine detail energy (sigma 2)
    worn = img.copy()
    worn[:, :48] = ndimage.gaussian_filter(img, 2.0)[:, :48]
    detail2_5 = 8  # sigma 2, detail, 5% quantile
    assert image_descriptors(worn, 64)[detail2_5] < d[detail2_5] - 0.5


def test_a_ramp_is_found_with_the_image_channel_and_good_images_are_not(models):
    with_image, fine = models
    rng = np.random.default_rng(2)
    ramps = [with_ramp(texture(rng)) for _ in range(6)]
    goods = [texture(rng) for _ in range(12)]
    assert all(with_image.score(r) > with_image.threshold_ for r in ramps)
    assert all(with_image.image_.relative(r) > 1 for r in ramps)  # beyond every good image
    assert sum(fine.score(r) > fine.threshold_ for r in ramps) <= 3  # few pixels are unusual
    # few false alarms on new good images, at most one more than without the channel
    alarms = sum(with_image.score(g) > with_image.threshold_ for g in goods)
    assert alarms <= 2 and alarms <= sum(fine.score(g) > fine.threshold_ for g in goods) + 1
    # the score is the fine score plus the excess over the most unusual good image, in fine units
    good = goods[0]
    expected = fine.score(good) + with_image.broad_weight_ * max(0.0, with_image.image_.relative(good) - 1.0)
    assert with_image.score(good) == pytest.approx(expected, rel=1e-6)
    # the map is the fine one
    np.testing.assert_array_equal(with_image.score_map(ramps[0]), fine.score_map(ramps[0]))


def test_left_out_calibration_puts_the_most_unusual_good_image_at_one():
    rng = np.random.default_rng(3)
    good = [texture(rng) for _ in range(12)]
    channel = ImageChannel(64, 0).fit(good)
    D = np.stack([image_descriptors(g, 64) for g in good])
    Z = (D - D.mean(0)) / (D.std(0) + 1e-6)
    # by hand: each image scored by a Gaussian fitted to the others (reg_covar 0.1 on the diagonal)
    nll = []
    for i in range(len(Z)):
        rest = np.delete(Z, i, 0)
        cov = np.cov(rest, rowvar=False, bias=True) + 0.1 * np.eye(Z.shape[1])
        diff = Z[i] - rest.mean(0)
        _, logdet = np.linalg.slogdet(cov)
        nll.append(0.5 * (diff @ np.linalg.solve(cov, diff) + logdet + Z.shape[1] * np.log(2 * np.pi)))
    assert channel.quantile_ == pytest.approx(max(nll), rel=1e-4)
    assert channel.center_ == pytest.approx(np.median(nll), rel=1e-4)


def test_image_channel_round_trips_and_small_fits_go_without_it(models, tmp_path):
    with_image, _ = models
    img = with_ramp(texture(np.random.default_rng(4)))
    loaded = gmmseg.load(with_image.save(tmp_path / "image.gmmseg"))
    assert loaded.image_ is not None and loaded.info()["image_channel"]
    assert loaded.score(img) == pytest.approx(with_image.score(img), rel=1e-6)
    assert (loaded.threshold_, loaded.pixel_threshold_) == (with_image.threshold_, with_image.pixel_threshold_)
    few = DefectModel(n_components=2, work_size=64, pixels_per_image=200, holdout=0, random_state=0)
    few.fit([texture(np.random.default_rng(5)) for _ in range(4)])
    assert few.image_ is None
    assert gmmseg.load(few.save(tmp_path / "few.gmmseg")).image_ is None


def test_files_with_the_older_image_descriptors_are_refused_with_one_line(models, tmp_path):
    from gmmseg.core.persist import load_arrays, save_arrays
    from gmmseg.errors import ModelFileError

    header, arrays = load_arrays(models[0].save(tmp_path / "image.gmmseg"), "DefectModel")
    arrays["image_mean"] = arrays["image_mean"][:31]  # the 31 descriptors of sessions 5-6
    with pytest.raises(ModelFileError, match="image channel has 31 descriptors.*re-fit"):
        gmmseg.load(save_arrays(tmp_path / "old.gmmseg", "DefectModel", header["metadata"], arrays))
