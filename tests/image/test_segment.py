"""segment_image: exactness of the distinct-color fit, labeling, order, determinism, options, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from gmmseg import GaussianMixture, segment_image
from gmmseg.errors import FittingError, InputError, ParameterError
from gmmseg.image.colors import DistinctColors
from gmmseg.image.features import color_features, rgb_to_lab
from gmmseg.image.io import LoadedImage
from gmmseg.image.segment import REG_COVAR

#: Four painted colours of the synthetic truth (the issue's benchmark).


def blocks(colours, size=24, sigma=4.0, seed=0, dtype=np.uint8):
    """Vertical stripes of the given colours plus noise."""
    rng = np.random.default_rng(seed)
    colours = np.asarray(colours, dtype=float)
    truth = np.repeat(np.arange(len(colours)), size)[None, :].repeat(size, axis=0)
    image = colours[truth] + rng.normal(0, sigma, (*truth.shape, colours.shape[1]))
    top = 255 if dtype == np.uint8 else 65535
    return np.clip(np.round(image), 0, top).astype(dtype), truth


# ---------------------------------------------------------------------------- exactness


def test_distinct_colours_match_numpy_unique(painted_regions):
    image, _ = painted_regions(20, size=48)
    for bits in (None, 5):
        dc = DistinctColors(image, bits=bits)
        shift = 0 if bits is None else 8 - bits
        colours, counts = np.unique((image >> shift).reshape(-1, 3), axis=0, return_counts=True)
        np.testing.assert_array_equal(dc.colors, colours)
        np.testing.assert_array_equal(dc.counts, counts)
        inv = dc.inverse()
        np.testing.assert_array_equal(dc.colors[inv], image >> shift)


def test_distinct_colours_of_a_large_image_use_the_lookup_table():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 40, (2100, 1000, 3), dtype=np.uint8)  # 2.1 MP: the bincount path
    dc = DistinctColors(image)
    assert dc.lut_size == 2**24
    packed = (image[..., 0].astype(np.int64) * 256 + image[..., 1]) * 256 + image[..., 2]
    codes, counts = np.unique(packed, return_counts=True)
    np.testing.assert_array_equal(dc.colors, np.column_stack([codes // 65536, codes // 256 % 256, codes % 256]))
    np.testing.assert_array_equal(dc.counts, counts)
    np.testing.assert_array_equal(dc.colors[dc.inverse()[::97, ::89]], image[::97, ::89])


def test_weighted_fit_on_distinct_colours_equals_fit_on_all_pixels(painted_regions):
    """The reduction is exact: same initial parameters, same fitted mixture as EM on every pixel."""
    image, _ = painted_regions(25, size=64, seed=3)
    dc = DistinctColors(image)
    assert dc.n_colors < image.shape[0] * image.shape[1]  # a real reduction
    all_pixels = color_features(image.reshape(-1, 3), "lab")  # features computed per pixel
    distinct = color_features(dc.colors, "lab")
    init = GaussianMixture(4, random_state=0, reg_covar=REG_COVAR, max_iter=2).fit(all_pixels)
    params = {
        "weights_init": init.weights_,
        "means_init": init.means_,
        "precisions_init": init.precisions_,
        "reg_covar": REG_COVAR,
        "tol": 1e-8,
        "max_iter": 30,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_pixels = GaussianMixture(4, **params).fit(all_pixels)
        on_colours = GaussianMixture(4, **params).fit(distinct, sample_weight=dc.counts)
    np.testing.assert_allclose(on_colours.means_, on_pixels.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(on_colours.covariances_, on_pixels.covariances_, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(on_colours.weights_, on_pixels.weights_, rtol=1e-9)
    assert on_colours.n_iter_ == on_pixels.n_iter_


def test_lookup_labels_equal_per_pixel_prediction_of_the_fitted_model(painted_regions):
    image, _ = painted_regions(30, size=64, seed=4)
    seg = segment_image(image, 4, random_state=0)
    per_pixel = seg.model.predict(color_features(image.reshape(-1, 3), "lab")).reshape(image.shape[:2])
    np.testing.assert_array_equal(seg.labels, per_pixel)  # model components are in label order
    # the model is a converged EM fit of all pixels: one more EM step on every pixel barely moves it
    X = color_features(image.reshape(-1, 3), "lab")
    step = GaussianMixture.from_responsibilities(X, seg.model.predict_proba(X), reg_covar=REG_COVAR)
    np.testing.assert_allclose(step.means_, seg.model.means_, atol=0.5)


def test_probabilities_are_the_model_posteriors_and_sum_to_one(painted_regions):
    image, _ = painted_regions(40, size=48, seed=5)
    seg = segment_image(image, 3, random_state=0)
    maps = seg.probability_maps()
    assert maps.shape == (3, 48, 48) and maps.dtype == np.float32
    np.testing.assert_allclose(maps.sum(axis=0), 1.0, atol=1e-5)
    reference = seg.model.predict_proba(color_features(image.reshape(-1, 3), "lab"))
    np.testing.assert_allclose(maps.reshape(3, -1).T, reference, atol=1e-6)
    np.testing.assert_array_equal(maps.argmax(axis=0), seg.labels)
    np.testing.assert_array_equal(seg.probabilities(1), maps[1])
    with pytest.raises(ParameterError):
        seg.probabilities(3)


# ---------------------------------------------------------------------------- quality and order


def test_plain_mixture_recovers_painted_regions_at_sigma_30(painted_regions):
    image, truth = painted_regions(30)
    seg = segment_image(image, 4, random_state=0)
    assert adjusted_rand_score(truth.ravel(), seg.labels.ravel()) >= 0.93


def test_canonical_order_by_lightness_is_independent_of_the_seed():
    image, truth = blocks([[250, 250, 240], [20, 30, 40], [200, 40, 40], [90, 140, 90]], sigma=6)
    results = [segment_image(image, 4, random_state=seed) for seed in (0, 1, 7)]
    for seg in results[1:]:
        np.testing.assert_array_equal(seg.labels, results[0].labels)
    lightness = [row["mean_lab"][0] for row in results[0].segments]
    assert lightness == sorted(lightness)
    # darkest painted colour is label 0, the near-white one is label 3
    assert results[0].labels[0, 30] == 0 and results[0].labels[0, 0] == 3


def test_segment_table_matches_pixel_means(painted_regions):
    image, _ = painted_regions(30, size=64)
    seg = segment_image(image, 4, random_state=1)
    assert sum(row["n_pixels"] for row in seg.segments) == 64 * 64
    for row in seg.segments:
        pixels = image[seg.labels == row["label"]].astype(float)
        assert row["n_pixels"] == pixels.shape[0]
        np.testing.assert_allclose(row["mean_rgb"], pixels.mean(axis=0), atol=1e-3)
        np.testing.assert_allclose(row["mean_lab"], rgb_to_lab(pixels / 255).mean(axis=0), atol=1e-3)
        assert row["share"] == pytest.approx(pixels.shape[0] / 64**2)
    painted = seg.segmented_image()
    for row in seg.segments:
        np.testing.assert_array_equal(
            painted[seg.labels == row["label"]][0], np.round(row["mean_rgb"]).astype(np.uint8)
        )
    overlay = seg.overlay_image()
    edges = seg.boundaries()
    assert edges.any() and np.all(overlay[edges] == (255, 255, 0))
    np.testing.assert_array_equal(overlay[~edges], image[~edges])


def test_same_seed_same_bytes_and_input_untouched(painted_regions):
    image, _ = painted_regions(30, size=64)
    copy = image.copy()
    image.setflags(write=False)  # any in-place change would raise
    a = segment_image(image, 4, random_state=3)
    b = segment_image(image, 4, random_state=3)
    assert a.labels.tobytes() == b.labels.tobytes()
    assert a.segmented_image().tobytes() == b.segmented_image().tobytes()
    np.testing.assert_array_equal(image, copy)


# ---------------------------------------------------------------------------- inputs


def test_transparent_pixels_are_left_out_and_get_label_0():
    image, truth = blocks([[20, 20, 20], [220, 220, 220]], sigma=5)
    alpha = np.full(truth.shape, 255, np.uint8)
    alpha[:, :5] = 0
    wild = image.copy()
    wild[:, :5] = (255, 0, 255)  # colours of invisible pixels must not matter
    seg = segment_image(np.dstack([wild, alpha]), 2, random_state=0)
    assert seg.transparent_label == 0 and seg.segment_labels == [1, 2]
    assert np.all(seg.labels[:, :5] == 0) and np.all(seg.labels[:, 5:] > 0)
    assert seg.n_pixels == int((alpha > 0).sum())
    # identical to segmenting with a mask of the visible pixels
    masked = segment_image(image, 2, random_state=0, mask=alpha > 0)
    np.testing.assert_array_equal(masked.labels, seg.labels)
    np.testing.assert_allclose(masked.model.means_, seg.model.means_)
    # LoadedImage with its alpha mask gives the same
    loaded = LoadedImage(pixels=wild, alpha=alpha > 0, path=None, mode="RGBA", bit_depth=8)
    np.testing.assert_array_equal(segment_image(loaded, 2, random_state=0).labels, seg.labels)
    rgba = seg.segmented_image()
    assert rgba.shape == (*truth.shape, 4) and np.all(rgba[:, :5, 3] == 0) and np.all(rgba[:, 5:, 3] == 255)
    assert np.all(seg.probabilities(1)[:, :5] == 0)


def test_gray_and_16_bit_images():
    gray, truth = blocks([[30], [120], [220]], sigma=6)
    seg = segment_image(gray[..., 0], 3, random_state=0)
    assert seg.model.means_.shape == (3, 1)
    assert adjusted_rand_score(truth.ravel(), seg.labels.ravel()) == 1.0
    assert seg.segmented_image().shape == gray.shape[:2]

    colour16, truth = blocks([[5000, 5000, 60000], [60000, 6000, 3000]], sigma=800, dtype=np.uint16)
    seg16 = segment_image(colour16, 2, random_state=0)
    assert adjusted_rand_score(truth.ravel(), seg16.labels.ravel()) == 1.0
    dc = DistinctColors(colour16)
    colours, counts = np.unique(colour16.reshape(-1, 3), axis=0, return_counts=True)
    np.testing.assert_array_equal(dc.colors, colours)
    np.testing.assert_array_equal(dc.counts, counts)
    painted = seg16.segmented_image()
    assert painted.dtype == np.uint16
    np.testing.assert_allclose(painted[0, 0], colour16[truth == 0].mean(axis=0), atol=0.5)
    # float images in [0, 1] are taken at 16 bits
    seg_float = segment_image(colour16 / 65535.0, 2, random_state=0)
    np.testing.assert_array_equal(seg_float.labels, seg16.labels)


def test_more_than_255_segments_give_16_bit_labels():
    levels = np.repeat(np.arange(300, dtype=np.uint16) * 200, 4).reshape(30, 40)
    seg = segment_image(levels, 260, covariance_type="spherical", random_state=0, max_iter=5)
    assert seg.labels.dtype == np.uint16 and seg.labels.max() == 259


# ---------------------------------------------------------------------------- options


def test_auto_k_chooses_the_number_of_painted_colours():
    image, truth = blocks([[230, 40, 40], [40, 200, 60], [40, 60, 220]], size=30, sigma=8)
    seg = segment_image(image, "auto", max_components=6, random_state=0)
    assert seg.n_segments == 3
    assert [row["n_components"] for row in seg.selection.table] == list(range(1, 7))
    assert adjusted_rand_score(truth.ravel(), seg.labels.ravel()) == 1.0


def test_hsv_keeps_red_hues_on_both_sides_of_zero_together():
    # reds at hue ~ 0.98 and ~ 0.02 (they differ by 0.96 in raw hue) and a green
    image, truth = blocks([[230, 30, 60], [230, 60, 30], [40, 200, 60]], size=20, sigma=2)
    seg = segment_image(image, 2, color_space="hsv", random_state=0)
    labels = seg.labels
    assert len(np.unique(labels[truth <= 1])) == 1 and labels[0, 50] != labels[0, 0]


def test_position_features_make_regions_compact():
    rng = np.random.default_rng(0)
    image = rng.integers(90, 160, (40, 60, 3), dtype=np.uint8)  # same colours everywhere
    left = np.repeat((np.arange(60) >= 30)[None, :], 40, axis=0)
    plain = segment_image(image, 2, random_state=0)
    spatial = segment_image(image, 2, random_state=0, spatial_weight=5.0)
    assert adjusted_rand_score(left.ravel(), spatial.labels.ravel()) > 0.9
    assert adjusted_rand_score(left.ravel(), plain.labels.ravel()) < 0.2
    maps = spatial.probability_maps()
    np.testing.assert_allclose(maps.sum(axis=0), 1.0, atol=1e-5)


def test_bits_is_a_close_approximation(painted_regions):
    image, truth = painted_regions(30, size=64)
    exact = segment_image(image, 4, random_state=0)
    rounded = segment_image(image, 4, random_state=0, bits=5)
    assert rounded.n_colors < exact.n_colors
    assert adjusted_rand_score(exact.labels.ravel(), rounded.labels.ravel()) > 0.9


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n_components": 0}, ParameterError),
        ({"n_components": "many"}, ParameterError),
        ({"color_space": "xyz"}, ParameterError),
        ({"covariance_type": "round"}, ParameterError),
        ({"smoothing": -1}, ParameterError),
        ({"smoothing": 1.0, "spatial_weight": 1.0}, ParameterError),
        ({"bits": 9}, ParameterError),
        ({"neighborhood": 6}, ParameterError),
        ({"n_components": 50}, FittingError),
    ],
)
def test_invalid_settings_raise_one_line_errors(kwargs, error):
    image, _ = blocks([[0, 0, 0], [255, 255, 255]], size=4, sigma=0)
    with pytest.raises(error) as exc_info:
        segment_image(image, **kwargs)
    assert "\n" not in str(exc_info.value)


def test_invalid_images():
    with pytest.raises(InputError):
        segment_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InputError):
        segment_image(np.full((4, 4), 2.0))
    with pytest.raises(InputError, match="no visible pixel"):
        segment_image(np.zeros((4, 4, 4), np.uint8))


def test_regions_split_a_color_segment_into_its_connected_parts():
    # two red squares on blue: K=2 gives one red segment, the regions keep the squares apart
    rng = np.random.default_rng(0)
    image = np.zeros((30, 40, 3)) + (40, 60, 200)
    image[5:15, 5:15] = image[15:25, 25:35] = (200, 40, 40)
    image = np.clip(np.round(image + rng.normal(0, 6, image.shape)), 0, 255).astype(np.uint8)
    alpha = np.full((30, 40), 255, dtype=np.uint8)
    alpha[:, :2] = 0
    seg = segment_image(np.dstack([image, alpha]), 2, random_state=0, blur=1.0)
    assert seg.n_segments == 2 and seg.n_regions == 3 and seg.regions.dtype == np.int32
    assert (seg.regions[:, :2] == 0).all() and (seg.regions[:, 2:] > 0).all()
    squares = [row for row in seg.region_table if row["area"] == 100]
    assert [row["bbox"] for row in squares] == [[5, 5, 15, 15], [15, 25, 25, 35]]
    assert squares[0]["segment"] == squares[1]["segment"] == seg.labels[10, 10]
    assert seg.summary()["n_regions"] == 3 and len(seg.summary()["regions"]) == 3
    edges = seg.boundaries()
    assert edges[10, 14] and not edges[10, 10]
    gray = segment_image(image[:, :, 0].astype(np.uint16) * 257, 2, random_state=0, min_region_size=0)
    assert gray.region_table[0]["mean_rgb"][0] == gray.region_table[0]["mean_rgb"][2] <= 255


@pytest.mark.parametrize(("shape", "dtype", "sigma"), [((37, 41, 3), np.uint8, 1.0), ((2, 3), np.uint16, 2.5)])
def test_blur_is_scipy_gaussian_filter_rounded(shape, dtype, sigma):
    from scipy import ndimage

    from gmmseg.image.segment import _blurred

    pixels = np.random.default_rng(0).integers(0, np.iinfo(dtype).max, shape).astype(dtype)
    exact = ndimage.gaussian_filter(pixels.astype(np.float64), (sigma, sigma, 0)[: pixels.ndim])
    blurred = _blurred(pixels, sigma)
    assert blurred.dtype == dtype and blurred.shape == shape
    # OpenCV's float32 sums may round a value lying near .5 the other way (float32 resolution)
    close_to_half = np.abs(exact - np.floor(exact) - 0.5) < 1e-3 * np.iinfo(dtype).max / 255
    np.testing.assert_array_equal(blurred[~close_to_half], np.rint(exact)[~close_to_half])
    assert _blurred(pixels, 0) is pixels
