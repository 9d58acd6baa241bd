"""DefectModel: finds drawn defects where they are, leaves good images alone, saves without pickle."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import label, regionprops

import gmmseg
from gmmseg.errors import ImageError, InputError, ModelFileError, NotFittedError, ParameterError
from gmmseg.image.defect_scale import ScaleModel
from gmmseg.image.defects import DefectModel
from gmmseg.image.regions import regions_from_map
from gmmseg.image.texture import TextureSettings, normalize_exposure, texture_features

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def good_image(rng, shape=(64, 64), gain=1.0, offset=0.0):
    """A fine random texture (blurred noise) with a given exposure, uint8."""
    tex = ndimage.gaussian_filter(rng.normal(size=shape), 1.2)
    tex = 120 + 25 * tex / tex.std()
    return np.clip(tex * gain + offset, 0, 255).astype(np.uint8)


def with_spot(img, center=(40, 20), radius=4):
    out = img.copy()
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    spot = (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2
    out[spot] = 5
    return out, spot


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    good = [good_image(rng, gain=rng.uniform(0.7, 1.3), offset=rng.uniform(-20, 20)) for _ in range(24)]
    model = DefectModel(n_components=3, work_size=64, pixels_per_image=800, holdout=0.5, random_state=0).fit(good)
    return model, rng


def test_spot_is_found_where_it_is_and_good_image_is_not_flagged(fitted):
    model, _ = fitted
    rng = np.random.default_rng(11)
    # The threshold is the max of 12 held-out scores: a new good image exceeds it with
    # probability ~1/13, so check a batch, not one image.
    flagged_good = [model.score(good_image(rng)) > model.threshold_ for _ in range(12)]
    assert sum(flagged_good) <= 2
    for center in [(20, 44), (32, 32), (44, 24)]:
        assert model.score(with_spot(good_image(rng), center=center)[0]) > model.threshold_
    bad, spot = with_spot(good_image(rng), center=(40, 20))
    assert model.score(bad) > model.threshold_
    smap = model.score_map(bad)
    assert smap.shape == bad.shape and smap.dtype == np.float32
    peak = np.unravel_index(np.argmax(smap), smap.shape)
    assert np.hypot(peak[0] - 40, peak[1] - 20) <= 5
    regions = model.regions(bad)
    assert regions, "the spot gives a region"
    r0, c0, r1, c1 = regions[0].bbox
    assert r0 <= 40 < r1 and c0 <= 20 < c1
    assert regions[0].peak_score == pytest.approx(float(smap[r0:r1, c0:c1].max()), rel=1e-5)


def test_sizes_and_exposures_can_be_mixed():
    rng = np.random.default_rng(1)
    shapes = [(64, 64), (48, 80), (96, 72)]
    good = [good_image(rng, shapes[i % 3], gain=0.6 + 0.1 * (i % 7), offset=-10 + 3 * i) for i in range(15)]
    model = DefectModel(n_components=3, work_size=64, pixels_per_image=500, random_state=0).fit(good)
    for shape in shapes:
        img = good_image(rng, shape)
        assert model.score_map(img).shape == shape
    # Exposure normalization: a brighter, more contrasted copy has nearly the same score.
    img = good_image(rng, (64, 64))
    brighter = np.clip(img.astype(float) * 1.4 - 30, 0, 255).astype(np.uint8)
    assert abs(model.score(img) - model.score(brighter)) < 0.25 * abs(model.threshold_) + 1.0


def test_threshold_is_calibrated_on_the_holdout(fitted):
    model, _ = fitted
    scores = model.calibration_scores_
    assert model.n_holdout_images_ == len(scores) == 12
    assert model.n_train_images_ == 12
    # The threshold is an order statistic of the held-out scores: at most fpr share above it.
    assert model.threshold_ in scores
    assert np.mean(scores > model.threshold_) <= model.target_fpr


def test_rgb_and_grey_inputs_agree(fitted):
    model, _ = fitted
    img = good_image(np.random.default_rng(5))
    rgb = np.repeat(img[..., None], 3, axis=2)
    np.testing.assert_allclose(model.score_map(rgb), model.score_map(img), atol=1e-3)


def test_input_is_not_modified(fitted):
    model, _ = fitted
    img = good_image(np.random.default_rng(6))
    before = img.copy()
    model.detect(img)
    np.testing.assert_array_equal(img, before)


def test_save_load_round_trip_without_pickle(fitted, tmp_path):
    model, _ = fitted
    bad, _ = with_spot(good_image(np.random.default_rng(7)))
    path = model.save(tmp_path / "model.gmmseg")
    with np.load(path, allow_pickle=False) as archive:  # readable with pickle disabled
        names = archive.files  # a two-scale model keeps one set per scale: member0_..., member1_...
        assert any(n.endswith("mixture_means") for n in names) and any(n.endswith("pca_components") for n in names)
    with zipfile.ZipFile(path) as zf:
        assert all(name.endswith(".npy") for name in zf.namelist())
    loaded = gmmseg.load(path)
    assert isinstance(loaded, DefectModel)
    assert loaded.threshold_ == model.threshold_
    assert loaded.get_params() == model.get_params()
    np.testing.assert_allclose(loaded.score_map(bad), model.score_map(bad), rtol=1e-5, atol=1e-5)
    with pytest.raises(ModelFileError, match="GaussianMixture"):
        gmmseg.load(path, kind="GaussianMixture")


def test_regions_match_skimage_regionprops():
    rng = np.random.default_rng(8)
    smap = ndimage.gaussian_filter(rng.normal(size=(50, 60)), 2) * 10
    regions = regions_from_map(smap, 1.0, min_area=3)
    ref = [p for p in regionprops(label(smap > 1.0, connectivity=2), intensity_image=smap) if p.area >= 3]
    assert len(regions) == len(ref) > 1
    got = sorted((r.bbox, r.area, r.centroid, r.peak_score) for r in regions)
    want = sorted((tuple(p.bbox), int(p.area), tuple(p.centroid), float(p.intensity_max)) for p in ref)
    for (b, a, c, pk), (rb, ra, rc, rpk) in zip(got, want):
        assert b == rb and a == ra
        assert c == pytest.approx(rc) and pk == pytest.approx(rpk)


def test_errors_name_the_problem():
    with pytest.raises(NotFittedError, match="fit"):
        DefectModel().score(np.zeros((20, 20), np.uint8))
    with pytest.raises(InputError, match="at least 2"):
        DefectModel().fit([np.zeros((20, 20), np.uint8)])
    with pytest.raises(InputError, match="too few"):
        DefectModel().fit([np.zeros((20, 20), np.uint8)] * 3)
    with pytest.raises(ParameterError, match="target_fpr"):
        DefectModel(target_fpr=2).fit([np.zeros((20, 20), np.uint8)] * 6)
    with pytest.raises(ImageError, match="too small"):
        texture_features(np.zeros((4, 4)))
    with pytest.raises(ParameterError, match="families"):
        TextureSettings(families=("nope",))


def test_normalize_exposure_is_invariant_to_gain_and_offset():
    rng = np.random.default_rng(9)
    img = rng.normal(size=(40, 50)).astype(np.float32)
    a = normalize_exposure(img, 5.0)
    b = normalize_exposure(img * 3.0 + 7.0, 5.0)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert abs(np.median(a)) < 1e-5
    assert np.median(np.abs(a)) * 1.4826 == pytest.approx(1.0, rel=1e-3)


@pytest.mark.skipif(not (SHARED_DATA / "mtd").is_dir(), reason=f"real MTD data not found at {SHARED_DATA}/mtd")
def test_real_magnetic_tiles_small():
    """Fit on 30 real good tiles; 8 blow holes must score above 8 unseen good tiles on average."""
    from gmmseg.image.io import read_image
    from gmmseg.image.metrics import auroc

    free = sorted((SHARED_DATA / "mtd" / "MT_Free" / "Imgs").glob("*.jpg"))
    holes = sorted((SHARED_DATA / "mtd" / "MT_Blowhole" / "Imgs").glob("*.jpg"))[:8]
    fit = [read_image(p, mode="gray").pixels for p in free[:30]]
    model = DefectModel(pixels_per_image=1000, random_state=0).fit(fit)
    good = [read_image(p, mode="gray").pixels for p in free[30:38]]
    bad = [read_image(p, mode="gray").pixels for p in holes]
    pixel_y, pixel_s, scores = [], [], []
    for img, p in zip(bad, holes):
        mask = read_image(p.with_suffix(".png"), mode="gray").pixels > 127
        smap = model.score_map(img)
        pixel_y.append(mask.ravel()[::4])
        pixel_s.append(smap.ravel()[::4])
    scores = [model.score(i) for i in good + bad]
    assert auroc(np.concatenate(pixel_y), np.concatenate(pixel_s)) > 0.8
    assert auroc([0] * len(good) + [1] * len(bad), scores) > 0.6


def test_hessian_features_match_eigvalsh():
    """The two 'hessian' features are sigma² times the Hessian eigenvalues of the normalised image."""
    rng = np.random.default_rng(10)
    img = (ndimage.gaussian_filter(rng.normal(size=(40, 48)), 2) * 40 + 128).clip(0, 255).astype(np.uint8)
    s = TextureSettings(work_size=0, background_sigma=6.0, sigmas=(2.0,), families=("hessian",))
    feats = texture_features(img, s)
    assert feats.shape == (40, 48, 3)
    r = feats[..., 0]
    d = {
        o: ndimage.gaussian_filter(r.astype(np.float64), 2.0, order=o, mode="reflect") for o in [(2, 0), (0, 2), (1, 1)]
    }
    for y, x in [(10, 10), (20, 30), (33, 7)]:
        hess = np.array([[d[(2, 0)][y, x], d[(1, 1)][y, x]], [d[(1, 1)][y, x], d[(0, 2)][y, x]]])
        low, high = np.linalg.eigvalsh(hess) * 4.0
        assert feats[y, x, 1] == pytest.approx(high, abs=1e-3)
        assert feats[y, x, 2] == pytest.approx(low, abs=1e-3)


def test_uint16_and_uint8_give_the_same_features():
    rng = np.random.default_rng(12)
    img8 = good_image(rng, (48, 48))
    img16 = img8.astype(np.uint16) * 257
    np.testing.assert_allclose(texture_features(img16), texture_features(img8), atol=1e-4)


def test_hessian_axes_features_are_orientation_aware():
    """'hessian_axes' gives sigma² (d_xx, d_yy, d_xy); the eigenvalues cannot tell a vertical ridge from a horizontal one."""
    img = np.full((48, 48), 128, dtype=np.uint8)
    img[:, 23:25] = 60  # a vertical dark line
    s = TextureSettings(work_size=0, background_sigma=6.0, sigmas=(1.0,), families=("hessian", "hessian_axes"))
    assert s.n_features == 6
    vertical = texture_features(img, s)
    horizontal = texture_features(img.T.copy(), s)
    assert vertical.shape == (48, 48, 6)
    r = vertical[..., 0].astype(np.float64)
    for k, order in enumerate([(0, 2), (2, 0), (1, 1)]):
        expected = ndimage.gaussian_filter(r, 1.0, order=order, mode="reflect")
        np.testing.assert_allclose(vertical[..., 3 + k], expected, atol=1e-3)
    # Eigenvalues are the same for the line and its transpose; the axis derivatives swap.
    np.testing.assert_allclose(vertical[24, 24, 1:3], horizontal[24, 24, 1:3], atol=1e-4)
    assert vertical[24, 24, 3] > 1.0 > abs(vertical[24, 24, 4])
    np.testing.assert_allclose(vertical[24, 24, 3], horizontal[24, 24, 4], atol=1e-4)


def with_specks(img, rng, n=6):
    """Rare but normal structure: a few tiny bright specks (on every good part of this 'line')."""
    out = img.astype(np.float64)
    for _ in range(n):
        r, c = rng.integers(6, img.shape[0] - 6), rng.integers(6, img.shape[1] - 6)
        out[r : r + 2, c : c + 2] = 250
    return out.astype(np.uint8)


def test_tail_mixture_learns_rare_normal_structure_and_still_finds_defects():
    rng = np.random.default_rng(3)
    good = [with_specks(good_image(rng), rng) for _ in range(24)]
    kw = dict(n_components=3, work_size=64, pixels_per_image=800, holdout=0.25, random_state=0, scaling="longest")
    plain = DefectModel(tail_share=0.0, **kw).fit(good)
    tailed = DefectModel(tail_share=0.02, tail_components=4, **kw).fit(good)
    assert plain.tail_components_ == 0 and plain.scales_[0].mixture_.n_components == 3
    assert tailed.tail_components_ == 4 and tailed.scales_[0].mixture_.n_components == 7
    np.testing.assert_allclose(tailed.scales_[0].mixture_.weights_[3:].sum(), 0.02, rtol=1e-9)
    # the specks of unseen good parts (their 6 x 4 least likely pixels) are far less unlikely
    # under the tail mixture, while the typical pixel's density does not move ...
    new_good = [with_specks(good_image(rng), rng) for _ in range(6)]

    def nll_top_and_median(model):
        scale = model.scales_[0]
        nll = [-scale.mixture_.score_samples(scale.transform(scale.features(g))) for g in new_good]
        return np.mean([np.sort(x)[-24:].mean() for x in nll]), np.mean([np.median(x) for x in nll])

    (top_plain, med_plain), (top_tail, med_tail) = nll_top_and_median(plain), nll_top_and_median(tailed)
    assert top_tail < top_plain - 2.0
    assert abs(med_tail - med_plain) < 0.1
    # ... while a dark spot, never seen on good parts, is still found where it is
    bad, _ = with_spot(with_specks(good_image(rng), rng), center=(40, 20))
    assert tailed.score(bad) > tailed.threshold_
    peak = np.unravel_index(np.argmax(tailed.score_map(bad)), bad.shape)
    assert np.hypot(peak[0] - 40, peak[1] - 20) <= 5
    with pytest.raises(ParameterError, match="tail_share"):
        DefectModel(tail_share=0.7, **kw).fit(good)


def test_working_shape_by_longest_side_or_by_one_fixed_scale():
    from gmmseg.image.texture import working_shape

    assert working_shape((300, 600), 160) == (80, 160)  # longest side to 160
    assert working_shape((300, 150), 160) == (160, 80)
    assert working_shape((300, 600), 160, 0.5) == (150, 300)  # one factor for every size
    assert working_shape((300, 150), 160, 0.5) == (150, 75)
    assert working_shape((4000, 3000), 160, 0.5) == (640, 480)  # capped at 4 x work_size


def test_two_scale_model_is_the_standardised_mean_of_two_single_scale_models(tmp_path):
    rng = np.random.default_rng(5)
    # one "camera": parts of different widths at the same magnification
    good = [good_image(rng, shape=(48, int(rng.choice([48, 64, 96])))) for _ in range(20)]
    kw = dict(n_components=3, work_size=48, pixels_per_image=600, holdout=0.3, random_state=0, tail_share=0.05)
    both = DefectModel(scaling="both", **kw).fit(good)
    longest = DefectModel(scaling="longest", **kw).fit(good)
    fixed = DefectModel(scaling="fixed", **kw).fit(good)
    # fixed: one factor, set by the median training image (48 x 64 or so -> longest side 48)
    sides = sorted(max(g.shape) for g in good)
    assert fixed.scales_[0].work_scale_ == pytest.approx(48 / np.median(sides))
    assert fixed.working_shape((48, 96)) == (
        round(48 * fixed.scales_[0].work_scale_),
        round(96 * fixed.scales_[0].work_scale_),
    )
    assert longest.working_shape((48, 96)) == (24, 48)
    # the members are exactly the single-scale models fitted on the same split and samples
    for member, single in zip(both.scales_, (longest, fixed)):
        np.testing.assert_array_equal(member.calibration_scores_, single.calibration_scores_)
    bad, _ = with_spot(good_image(rng, shape=(48, 96)), center=(24, 60), radius=3)
    z = [
        (single.score(bad) - np.mean(single.calibration_scores_)) / np.std(single.calibration_scores_)
        for single in (longest, fixed)
    ]
    assert both.score(bad) == pytest.approx(np.mean(z), rel=1e-5)
    result = both.detect(bad)
    assert result["score"] == pytest.approx(both.score(bad), rel=1e-6)
    assert result["score_map"].shape == bad.shape
    assert both.threshold_ == pytest.approx(np.quantile(both.calibration_scores_, 0.99, method="higher"))
    # the spot is where the combined map peaks, and the model file round-trips
    peak = np.unravel_index(np.argmax(result["score_map"]), bad.shape)
    assert np.hypot(peak[0] - 24, peak[1] - 60) <= 6
    loaded = gmmseg.load(both.save(tmp_path / "both.gmmseg"))
    assert [m.scaling for m in loaded.scales_] == ["longest", "fixed"]
    assert loaded.score(bad) == pytest.approx(both.score(bad), rel=1e-6)
    np.testing.assert_allclose(loaded.score_map(bad), both.score_map(bad), rtol=1e-5, atol=1e-5)
    with pytest.raises(ParameterError, match="scaling"):
        DefectModel(scaling="area").fit(good)


def test_images_of_one_size_fit_the_second_scale_once_and_score_as_two_fits(tmp_path, monkeypatch):
    rng = np.random.default_rng(6)
    good = [good_image(rng, shape=(48, 64)) for _ in range(12)]
    kw = dict(n_components=3, work_size=48, pixels_per_image=600, holdout=0.3, random_state=0, tail_share=0.05)
    calls = []
    fit = ScaleModel.fit
    monkeypatch.setattr(ScaleModel, "fit", lambda self, *a: calls.append(self.scaling) or fit(self, *a))
    twin = DefectModel(**kw).fit(good)
    assert calls == ["longest"]  # one size: the fixed scale sees the same working images
    calls.clear()
    monkeypatch.setattr(DefectModel, "_same_working_images", lambda *a: False)
    both = DefectModel(**kw).fit(good)
    assert calls == ["longest", "fixed"]
    assert twin.scales_[1].scaling == "fixed" and twin.scales_[1].work_scale_ == both.scales_[1].work_scale_
    # new images of another size go through each scale as with two fits, also after a round trip
    loaded = gmmseg.load(twin.save(tmp_path / "twin.gmmseg"))
    for image in (with_spot(good_image(rng, shape=(48, 96)), center=(24, 60), radius=3)[0], good[0]):
        assert twin.score(image) == both.score(image) == pytest.approx(loaded.score(image), rel=1e-6)
        np.testing.assert_array_equal(twin.score_map(image), both.score_map(image))
    assert twin.threshold_ == both.threshold_ and twin.pixel_threshold_ == both.pixel_threshold_


def test_model_files_of_layout_version_1_still_load(tmp_path):
    """A file written before the tail mixture and the two scales (no such params, version 1)."""
    from gmmseg.core.persist import save_arrays

    rng = np.random.default_rng(12)
    good = [good_image(rng) for _ in range(10)]
    single = DefectModel(
        n_components=2, work_size=64, pixels_per_image=400, scaling="longest", broad=False, random_state=0
    )
    single.fit(good)
    metadata, arrays = single._to_file()
    metadata["version"] = 1
    for name in ("scaling", "tail_share", "tail_components"):
        metadata["params"].pop(name)
    metadata["params"]["smoothing"] = metadata["params"].pop("blur_sigma")  # the names of the time
    metadata["params"]["contrast_sigma"] = 0.0
    metadata.pop("work_scale")
    metadata.pop("tail_components")
    path = save_arrays(tmp_path / "v1.gmmseg", "DefectModel", metadata, arrays)
    old = gmmseg.load(path)
    assert old.scaling == "longest" and old.tail_share == 0.0 and len(old.scales_) == 1
    assert old.blur_sigma == single.blur_sigma
    bad, _ = with_spot(good_image(rng))
    assert old.score(bad) == pytest.approx(single.score(bad), rel=1e-6)


def test_texture_settings_defaults_are_the_defect_model_defaults():
    model, settings = DefectModel(), TextureSettings()
    assert settings.work_size == model.work_size
    assert settings.background_sigma == model.background_sigma
    assert settings.sigmas == tuple(model.sigmas)
    assert settings.families == tuple(model.families)
    assert texture_features(np.zeros((32, 32), np.uint8)).shape[-1] == settings.n_features == 1 + 2 * 8


def test_files_with_the_old_setting_names_load_and_score_the_same(tmp_path):
    """Files written before the renames: ``smoothing`` is the map blur, ``contrast_sigma`` was 0."""
    from gmmseg.core.persist import save_arrays

    rng = np.random.default_rng(13)
    good = [good_image(rng) for _ in range(10)]
    model = DefectModel(n_components=2, work_size=64, pixels_per_image=400, blur_sigma=1.5, random_state=0)
    model.fit(good)
    metadata, arrays = model._to_file()
    for params in [metadata["params"], *(m["params"] for m in metadata["members"])]:
        params["smoothing"] = params.pop("blur_sigma")
        params["contrast_sigma"] = 0.0
    old = gmmseg.load(save_arrays(tmp_path / "old.gmmseg", "DefectModel", metadata, arrays))
    assert old.get_params() == model.get_params() and old.blur_sigma == 1.5
    bad, _ = with_spot(good_image(rng))
    assert old.score(bad) == pytest.approx(model.score(bad), rel=1e-6)
    metadata["params"]["contrast_sigma"] = 4.0
    path = save_arrays(tmp_path / "contrast.gmmseg", "DefectModel", metadata, arrays)
    with pytest.raises(ModelFileError, match="contrast_sigma"):
        gmmseg.load(path)


def test_detect_mask_holds_the_pixels_of_the_regions(fitted):
    model, _ = fitted
    bad, _ = with_spot(good_image(np.random.default_rng(21)), center=(32, 32), radius=5)
    result = model.detect(bad)
    assert result["flagged"] and result["regions"]
    assert result["mask"].dtype == bool and result["mask"].shape == bad.shape
    assert result["mask"].sum() == sum(r.area for r in result["regions"])
    clean = model.detect(good_image(np.random.default_rng(22)))
    assert not clean["regions"] and not clean["mask"].any()


def test_report_notes_flagged_images_without_a_region_and_shows_per_kind_metrics(tmp_path):
    from gmmseg.image.io import write_png
    from gmmseg.reports.defects import build_report_html, overlay_heatmap

    image = np.full((20, 30), 100, np.uint8)
    smap = np.zeros((20, 30), np.float32)
    smap[5:10, 5:10] = 2.0
    heat = overlay_heatmap(image, smap, 1.0)
    assert heat.shape == (20, 30, 3) and not np.array_equal(heat[7, 7], heat[15, 25])  # heat drawn on the spot
    write_png(tmp_path / "h.png", heat)
    rows = [
        {"path": "a.png", "score": 3.0, "flagged": True, "n_regions": 0, "heatmap": "h.png"},
        {"path": "b.png", "score": 2.0, "flagged": True, "n_regions": 2, "heatmap": "h.png"},
        {"path": "c.png", "score": 0.1, "flagged": False, "n_regions": 0, "heatmap": "h.png"},
    ]
    metrics = {"image_auroc": 0.9, "crack": {"image_auroc": 0.95, "pixel_auroc": 0.8}}
    html = build_report_html(rows, threshold=1.0, summary={"images": 3}, metrics=metrics, outdir=tmp_path)
    assert "1 flagged image(s) have no region above the pixel threshold" in html
    assert "no region: the whole part is unusual" in html and "2 region(s)" in html
    assert "Per defect kind" in html and "0.950" in html and "crack" in html
