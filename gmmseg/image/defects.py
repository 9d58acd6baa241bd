"""Defect detection: the density of local appearance on good parts, and what falls outside it.

:class:`DefectModel` fits one :class:`~gmmseg.image.defect_scale.ScaleModel` per working
scale on good images: per-pixel texture features (:mod:`gmmseg.image.texture`),
standardized and rotated (PCA), and the core :class:`~gmmseg.GaussianMixture` fitted to
a sample of those rows. A new image's *score map* is the negative log-density of its
pixels' features, blurred a little and brought back to the input's resolution; its
*score* is the map's maximum away from the outer border band; the *threshold* is the
``1 - target_fpr`` quantile of the scores of good images held out from the fit, so that
about ``target_fpr`` of good images are flagged. No defective example is needed. With
``scaling="both"`` the two scales' scores and maps are standardized by their held-out
good scores and averaged. A coarse channel (:mod:`gmmseg.image.defect_broad`; ``broad=True``,
the default) adds what is broader than anything on good parts: its excess over the held-out
good images' broad scores to the score, and its map, brought onto the fine map's scale
(:mod:`gmmseg.image.defect_match`), wherever it is the larger. Regions and masks come from
:mod:`gmmseg.image.regions`; the model file layout is :mod:`gmmseg.image.defect_file`.

Examples
--------
>>> import numpy as np
>>> from gmmseg import DefectModel
>>> rng = np.random.default_rng(0)
>>> good = [rng.normal(128, 10, size=(64, 64)).clip(0, 255).astype(np.uint8) for _ in range(12)]
>>> model = DefectModel(n_components=2, work_size=64, random_state=0).fit(good)
>>> bad = good[0].copy(); bad[30:36, 30:36] = 0
>>> bool(model.score(bad) > model.threshold_), bool(model.score(good[0]) > model.threshold_)
(True, False)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.persist import load_arrays, register_kind, save_arrays
from ..errors import InputError, ModelFileError, NotFittedError, ParameterError
from . import defect_file
from .defect_broad import BroadChannel
from .defect_image import ImageChannel
from .defect_match import MapMatch
from .defect_scale import SCALES, ScaleModel
from .io import as_image_array
from .regions import Region, defect_mask, regions_from_map
from .texture import TextureSettings, resize

__all__ = ["DefectModel", "SCALINGS"]

#: Values of ``scaling``: one of the working scales, or both.
SCALINGS = ("both", *SCALES)
#: Good images the image channel needs (fewer: the model is fitted without it).
_IMAGE_CHANNEL_MIN = 5


class DefectModel:
    """Unsupervised defect detector: a Gaussian mixture of local appearance on good parts.

    Parameters
    ----------
    n_components : int, default=8
        Mixture components.
    covariance_type : {"full", "diag"}, default="full"
    work_size : int, default=160
        Longest side of the working image (``scaling="longest"``), or of the median
        training image (``scaling="fixed"``).
    scaling : {"both", "longest", "fixed"}, default="both"
        How images are brought to the working resolution. ``"longest"``: every image's
        longest side becomes ``work_size`` (robust to parts photographed at different
        magnifications). ``"fixed"``: every image is resized by one factor, chosen so the
        median training image's longest side becomes ``work_size`` (parts photographed by one
        camera keep one texture scale whatever their size; wide images are not shrunk
        more). ``"both"``: one model at each scale; the image score is the mean of their
        scores standardized by their held-out good scores, the map the mean of their
        standardized maps (about twice the cost; measured better on MTD, docs/defects.md).
        When every image has the same size the two scales coincide: use ``"longest"``.
    background_sigma : float, default=12
        Width of the background removed before features are computed (working pixels).
    sigmas : tuple of float, default=(1, 2)
        Scales of the texture filters (working pixels).
    families : tuple of str, default=("smooth", "log", "gradient", "hessian", "hessian_axes")
        Feature families (see :mod:`gmmseg.image.texture`).
    blur_sigma : float, default=2
        Gaussian blur of the negative log-density map (working pixels).
    peak_window : int, default=25
        Width (working pixels) of the running median subtracted from the map, so the
        map measures *local* peaks of unlikeliness (a white top-hat): broad regions of
        slightly unusual texture stop competing with small defects. 0 disables it.
    border_margin : float, default=0.05
        Fraction of the height/width at each side ignored by the image score (the map
        still covers it): tile edges and filter borders are the main false alarms.
    pixels_per_image : int, default=3000
        Rows sampled from each training image.
    tail_share : float, default=0.1
        The density is a mixture of two mixtures: ``n_components`` fitted to random
        pixels (the bulk of good appearance) and ``tail_components`` fitted to the
        ``tail_share`` least likely pixels of every training image under the first,
        weighted ``1 - tail_share`` and ``tail_share``. Rare but normal structures of good
        parts (stripes, specks, rims) that random pixels hardly sample then get a density
        of their own. 0 disables the tail mixture.
    tail_components : int, default=16
        Components of the tail mixture (fewer if there are too few tail pixels).
    target_fpr : float, default=0.01
        Share of good images the threshold should flag.
    holdout : float, default=0.2
        Share of the good images kept out of the fit to calibrate the threshold.
    min_area : int, default=10
        Smallest region (input pixels) :meth:`regions` reports.
    broad : bool, default=True
        The broad channel: a mixture of coarse, oriented and position-aware appearance,
        each feature referred to the image's own median (the image reduced 4 times, no
        background removed; :func:`~gmmseg.image.texture.broad_features`), which sees
        chipped edges, missing corners, frayed edges, stains, worn areas and patches where
        the surface's marks are missing or turn (texture orientation and spread are among its
        features). The image score gets only its *excess* over the
        most unusual held-out good image, so typical good parts score as without it. Its map
        is brought onto the fine map's scale by the ranks of the held-out good pixels
        (:class:`~gmmseg.image.defect_match.MapMatch`) and the map is the larger of the two,
        so neither channel's own spread on good parts drowns the other's defects. Measured
        (docs/defects.md): on magnetic tiles break pixel AUROC 0.61-0.63 -> 0.76-0.77 at
        -0.014 to -0.016 for cracks; synthetic broad families located far better. It wants
        30 or more good images; ``broad=False`` gives the fine map alone.
    image_channel : bool, default=True
        Add the image channel (:mod:`gmmseg.image.defect_image`): one Gaussian (a core
        mixture component) over per-image descriptors of appearance (quantiles of local
        level, detail energy and gradient energy at three scales), calibrated by leaving
        each good image out in turn. Only its excess over the most unusual good image
        counts, in the same units as the broad channel's. Measured (docs/defects.md,
        session 7): synthetic stains, ramps, worn areas and missing corners on textures are
        ranked better, magnetic tiles as before. Needs 5 or more good images; with fewer
        the model is fitted without it.
    random_state : int or None
        Seed for the hold-out split, the pixel sample and the mixture.

    Attributes
    ----------
    scales_ : list of ScaleModel
        One per working scale (two for ``scaling="both"``), in the order longest, fixed.
    broad_ : BroadChannel or None
        The broad channel (``broad=True``).
    broad_match_ : MapMatch
        With the broad channel: its relative map onto the fine map's scale.
    broad_weight_ : float
        Fine-score units per broad or image-channel unit above its good quantile: the gap
        between the median held-out fine score and the fine threshold.
    image_ : ImageChannel or None
        The image channel (``image_channel=True`` and 5 or more good images).
    scale_center_, scale_spread_ : list of float
        With two scales: mean and standard deviation of each scale's held-out good
        scores, which standardize its scores and maps.
    threshold_ : float
        Image-score threshold.
    pixel_threshold_ : float
        Score-map threshold used by :meth:`regions`.
    calibration_scores_ : ndarray of shape (n_holdout,)
        Scores of the held-out good images.
    training_images_ : dict or None
        Sizes and modes of the fit images (:func:`describe_images`); None for a file written
        before they were recorded.
    n_features_, n_training_rows_, tail_components_ : int
        Features and tail components of the first scale; training rows of all scales.
    n_train_images_, n_holdout_images_ : int
    fit_seconds_ : float
    """

    def __init__(
        self,
        n_components: int = 8,
        *,
        covariance_type: str = "full",
        work_size: int = 160,
        scaling: str = "both",
        background_sigma: float = 12.0,
        sigmas: tuple[float, ...] = (1.0, 2.0),
        families: tuple[str, ...] = ("smooth", "log", "gradient", "hessian", "hessian_axes"),
        blur_sigma: float = 2.0,
        peak_window: int = 25,
        border_margin: float = 0.05,
        pixels_per_image: int = 3000,
        tail_share: float = 0.1,
        tail_components: int = 16,
        target_fpr: float = 0.01,
        holdout: float = 0.2,
        min_area: int = 10,
        broad: bool = True,
        image_channel: bool = True,
        random_state: int | None = None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.work_size = work_size
        self.scaling = scaling
        self.background_sigma = background_sigma
        self.sigmas = sigmas
        self.families = families
        self.blur_sigma = blur_sigma
        self.peak_window = peak_window
        self.border_margin = border_margin
        self.pixels_per_image = pixels_per_image
        self.tail_share = tail_share
        self.tail_components = tail_components
        self.target_fpr = target_fpr
        self.holdout = holdout
        self.min_area = min_area
        self.broad = broad
        self.image_channel = image_channel
        self.random_state = random_state

    # ------------------------------------------------------------------ settings

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments as a dict (JSON-friendly).

        Returns
        -------
        dict
        """
        return {
            "n_components": int(self.n_components),
            "covariance_type": self.covariance_type,
            "work_size": int(self.work_size),
            "scaling": self.scaling,
            "background_sigma": float(self.background_sigma),
            "sigmas": [float(s) for s in self.sigmas],
            "families": list(self.families),
            "blur_sigma": float(self.blur_sigma),
            "peak_window": int(self.peak_window),
            "border_margin": float(self.border_margin),
            "pixels_per_image": int(self.pixels_per_image),
            "tail_share": float(self.tail_share),
            "tail_components": int(self.tail_components),
            "target_fpr": float(self.target_fpr),
            "holdout": float(self.holdout),
            "min_area": int(self.min_area),
            "broad": bool(self.broad),
            "image_channel": bool(self.image_channel),
            "random_state": self.random_state,
        }

    def _check_parameters(self) -> None:
        if self.scaling not in SCALINGS:
            raise ParameterError(f"scaling={self.scaling!r}; use one of {', '.join(SCALINGS)}")
        if int(self.n_components) < 1:
            raise ParameterError(f"n_components={self.n_components} must be at least 1")
        if self.covariance_type not in ("full", "diag", "tied", "spherical"):
            raise ParameterError(f"covariance_type={self.covariance_type!r}; use 'full' or 'diag'")
        if not 0 < float(self.target_fpr) < 1:
            raise ParameterError(f"target_fpr={self.target_fpr} must be in (0, 1), e.g. 0.01")
        if not 0 <= float(self.holdout) < 1:
            raise ParameterError(f"holdout={self.holdout} must be in [0, 1), e.g. 0.2")
        if not 0 <= float(self.border_margin) < 0.5:
            raise ParameterError(f"border_margin={self.border_margin} must be in [0, 0.5)")
        if float(self.blur_sigma) < 0:
            raise ParameterError(f"blur_sigma={self.blur_sigma} must be >= 0")
        if int(self.pixels_per_image) < 10:
            raise ParameterError(f"pixels_per_image={self.pixels_per_image} must be at least 10")
        if not 0 <= float(self.tail_share) < 0.5:
            raise ParameterError(f"tail_share={self.tail_share} must be in [0, 0.5), e.g. 0.1 (0 disables the tail)")
        if int(self.tail_components) < 1:
            raise ParameterError(f"tail_components={self.tail_components} must be at least 1")
        if int(self.peak_window) < 0:
            raise ParameterError(f"peak_window={self.peak_window} must be >= 0 (0 disables it)")
        if int(self.min_area) < 1:
            raise ParameterError(f"min_area={self.min_area} must be at least 1")
        TextureSettings(  # validates the feature settings
            work_size=int(self.work_size),
            background_sigma=float(self.background_sigma),
            sigmas=tuple(self.sigmas),
            families=tuple(self.families),
        )

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "scales_"):
            raise NotFittedError("this DefectModel is not fitted yet; call fit(good_images) or gmmseg.load(path)")

    def _new_scale(self, scaling: str) -> ScaleModel:
        params = self.get_params()
        for name in ("scaling", "holdout", "min_area", "broad", "image_channel"):
            params.pop(name)
        return ScaleModel(scaling, **params)

    # ------------------------------------------------------------------ fitting

    def fit(self, good_images, y=None) -> DefectModel:
        """Learn the appearance of good parts and calibrate the threshold.

        Parameters
        ----------
        good_images : sequence of images
            Arrays of shape (H, W) or (H, W, C) (sizes may differ), LoadedImage
            objects or paths. At least 2 are needed; with ``holdout > 0`` at least 5.
        y : ignored

        Returns
        -------
        self
        """
        self._check_parameters()
        start = time.perf_counter()
        images = list(good_images)
        n = len(images)
        if n < 2:
            raise InputError(f"fit needs at least 2 good images, got {n}; add more good images")
        order = np.random.default_rng(self.random_state).permutation(n)
        n_hold = int(round(float(self.holdout) * n)) if self.holdout else 0
        if self.holdout and n_hold < 2:
            if n < 5:
                raise InputError(
                    f"{n} good images are too few to hold some out for the threshold; pass at least 5 or set holdout=0"
                )
            n_hold = 2
        train_idx, hold_idx = order[n_hold:], order[:n_hold]
        calibration_idx = hold_idx if n_hold else train_idx
        self.scales_ = [self._new_scale(mode) for mode in (SCALES if self.scaling == "both" else (self.scaling,))]
        held_out_maps = []  # per scale, the finished maps of the calibration images
        shapes = [as_image_array(image).shape for image in images]  # (H, W) or (H, W, C)
        for j, scale in enumerate(self.scales_):
            if j and self._same_working_images(scale, shapes, train_idx, calibration_idx):
                self.scales_[j] = scale.twin(self.scales_[0])
                held_out_maps.append(held_out_maps[0])
                continue
            rng = np.random.default_rng(self.random_state)
            rng.permutation(n)  # every scale draws the pixel samples a single-scale model would
            held_out_maps.append(scale.fit(images, train_idx, calibration_idx, rng))
        if len(self.scales_) == 1:
            first = self.scales_[0]
            self.calibration_scores_ = first.calibration_scores_
            self.threshold_, self.pixel_threshold_ = first.threshold_, first.pixel_threshold_
            fine_maps = held_out_maps[0]
        else:
            fine_maps = self._calibrate_scales(held_out_maps)
        fine = np.asarray(self.calibration_scores_, dtype=np.float64)
        # one unit for every excess: the fine threshold's gap over the median good score
        self.broad_weight_ = max(float(self.threshold_ - np.median(fine)), 1e-6)
        with_image = self.image_channel and n >= _IMAGE_CHANNEL_MIN
        self.broad_ = None
        if self.broad:
            rng = np.random.default_rng(self.random_state)
            rng.permutation(n)
            self._fit_broad(images, train_idx, calibration_idx, rng, fine_maps)
        self.image_ = None
        if with_image:
            self.image_ = ImageChannel(int(self.work_size), self.random_state).fit(images)
            excess = np.array([self._image_excess(images[i]) for i in calibration_idx])
            self.calibration_scores_ = np.asarray(self.calibration_scores_, dtype=np.float64) + excess
            q = 1.0 - float(self.target_fpr)
            self.threshold_ = float(np.quantile(self.calibration_scores_, q, method="higher"))
        self.n_train_images_ = int(len(train_idx))
        self.n_holdout_images_ = int(n_hold)
        self.training_images_ = describe_images(shapes)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _same_working_images(self, scale: ScaleModel, shapes, train_idx, calibration_idx) -> bool:
        """Whether ``scale`` would see every fit image at the first scale's working shape.

        Then its fit would repeat the first scale's draw for draw (images of one size: the
        two scales coincide), so :meth:`ScaleModel.twin` takes the first scale's fitted state.
        """
        scale.set_work_scale([shapes[i][:2] for i in train_idx])
        first = self.scales_[0]
        used = np.concatenate([train_idx, calibration_idx])
        return all(scale.working_shape(shapes[i][:2]) == first.working_shape(shapes[i][:2]) for i in used)

    def _fit_broad(self, images, train_idx, calibration_idx, rng, fine_maps: list[np.ndarray]) -> None:
        """Fit the broad channel; add it to the calibration scores and maps and re-set the thresholds.

        ``fine_maps[i]`` is the fine map of calibration image ``i`` at the working resolution.
        """
        self.broad_ = BroadChannel(int(self.work_size), float(self.target_fpr), self.random_state)
        relative = self.broad_.fit(images, train_idx, calibration_idx, rng)
        fine = np.asarray(self.calibration_scores_, dtype=np.float64)
        self.calibration_scores_ = fine + np.array([self._broad_excess(r.max()) for r in relative])
        q = 1.0 - float(self.target_fpr)
        self.threshold_ = float(np.quantile(self.calibration_scores_, q, method="higher"))
        # the broad map onto the fine map's scale by the ranks of the good pixels: on good parts
        # both are then distributed alike, so in the max neither channel's own spread drowns
        # the other's defects (docs/defects.md)
        resized = [resize(r, small.shape) for small, r in zip(fine_maps, relative)]
        self.broad_match_ = MapMatch().fit(resized, fine_maps)
        peaks = [
            self.scales_[0].image_score(np.maximum(small, self.broad_match_(r))) for small, r in zip(fine_maps, resized)
        ]
        self.pixel_threshold_ = float(np.quantile(peaks, q, method="higher"))

    def _broad_excess(self, relative):
        """Fine-score units above the most unusual held-out good broad appearance (0 below it)."""
        return np.float32(self.broad_weight_) * np.maximum(relative - np.float32(1.0), np.float32(0.0))

    def _image_excess(self, arr) -> float:
        """Fine-score units above the most unusual good image of the image channel (0 below it)."""
        return float(self.broad_weight_) * max(self.image_.relative(arr) - 1.0, 0.0)

    def _calibrate_scales(self, held_out_maps: list[list[np.ndarray]]) -> list[np.ndarray]:
        """Standardize each scale's scores by its calibration scores; set the combined thresholds.

        Returns the calibration images' combined maps.

        ``held_out_maps[j][i]`` is scale ``j``'s score map of calibration image ``i`` (as the
        scales computed them while calibrating: nothing is scored twice).
        """
        self.scale_center_ = [float(np.mean(s.calibration_scores_)) for s in self.scales_]
        self.scale_spread_ = [max(float(np.std(s.calibration_scores_)), 1e-6) for s in self.scales_]
        scores, peaks, maps = [], [], []
        for member_maps in zip(*held_out_maps):
            score, small = self._combine(list(member_maps))
            scores.append(score)
            peaks.append(self.scales_[0].image_score(small))
            maps.append(small)
        self.calibration_scores_ = np.asarray(scores)
        q = 1.0 - float(self.target_fpr)
        self.threshold_ = float(np.quantile(self.calibration_scores_, q, method="higher"))
        self.pixel_threshold_ = float(np.quantile(peaks, q, method="higher"))
        return maps

    def _combine(self, scale_maps: list[np.ndarray]) -> tuple[float, np.ndarray]:
        """Two-scale score and map from each scale's map: means of the standardized scores and maps."""
        zs, maps = [], []
        for scale, center, spread, small in zip(self.scales_, self.scale_center_, self.scale_spread_, scale_maps):
            zs.append((scale.image_score(small) - center) / spread)
            maps.append((small - np.float32(center)) / np.float32(spread))
        shape = maps[0].shape
        combined = sum(resize(m, shape) for m in maps) / np.float32(len(maps))
        return float(np.mean(zs)), combined.astype(np.float32, copy=False)

    def _score_and_map(self, arr: np.ndarray) -> tuple[float, np.ndarray]:
        """Image score and score map at the working resolution (of the first scale for ``"both"``)."""
        if len(self.scales_) == 1:
            scale = self.scales_[0]
            small = scale.score_map(arr)
            score = scale.image_score(small)
        else:
            score, small = self._combine([scale.score_map(arr) for scale in self.scales_])
        if self.image_ is not None:
            score += self._image_excess(arr)
        if self.broad_ is None:
            return score, small
        relative = self.broad_.relative_map(arr)
        score += float(self._broad_excess(relative.max()))
        return score, np.maximum(small, self.broad_match_(resize(relative, small.shape)))

    # ------------------------------------------------------------------ summaries of the scales

    @property
    def n_features_(self) -> int:
        self._check_is_fitted()
        return self.scales_[0].n_features_

    @property
    def n_training_rows_(self) -> int:
        self._check_is_fitted()
        return sum(s.n_training_rows_ for s in self.scales_)

    @property
    def tail_components_(self) -> int:
        self._check_is_fitted()
        return self.scales_[0].tail_components_

    # ------------------------------------------------------------------ scoring

    def score_map(self, image, *, input_resolution: bool = True) -> np.ndarray:
        """Anomaly score of every pixel: blurred negative log-density minus the good median.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path
        input_resolution : bool, default=True
            If False, return the map at the working resolution.

        Returns
        -------
        ndarray of shape (H, W), float32
            Higher is more anomalous; values above :attr:`pixel_threshold_` are defects.
        """
        self._check_is_fitted()
        arr = as_image_array(image)
        nll = self._score_and_map(arr)[1]
        if input_resolution and nll.shape != arr.shape[:2]:
            nll = resize(nll, arr.shape[:2])
        return nll.astype(np.float32, copy=False)

    def score(self, image) -> float:
        """Image anomaly score: the score map's maximum inside the border margin.

        With ``scaling="both"``: the mean of the two scales' maxima, each standardized by
        the scores of the held-out good images. Plus the broad and image channels' excess
        over the held-out good images (0 for most good parts).

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path

        Returns
        -------
        float
            The image is defective when the score exceeds :attr:`threshold_`.
        """
        self._check_is_fitted()
        return self._score_and_map(as_image_array(image))[0]

    def regions(self, image, *, score_map: np.ndarray | None = None) -> list[Region]:
        """Connected regions of the score map above the pixel threshold.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path
        score_map : ndarray of shape (H, W), optional
            A map already computed by :meth:`score_map` (saves the work).

        Returns
        -------
        list of Region
            Largest first; regions smaller than ``min_area`` pixels are dropped.
        """
        self._check_is_fitted()
        smap = self.score_map(image) if score_map is None else np.asarray(score_map)
        return regions_from_map(smap, self.pixel_threshold_, int(self.min_area))

    def detect(self, image) -> dict[str, Any]:
        """Score map, image score, flag, regions and defect mask of one image in one pass.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path

        Returns
        -------
        dict
            ``score_map`` (H, W) float32, ``score`` float, ``flagged`` bool, ``regions``
            list of Region (empty when not flagged) and ``mask`` (H, W) bool, the pixels
            of the regions.
        """
        self._check_is_fitted()
        arr = as_image_array(image)
        score, small = self._score_and_map(arr)
        smap = resize(small, arr.shape[:2]) if small.shape != arr.shape[:2] else small
        flagged = bool(score > self.threshold_)
        regions = regions_from_map(smap, self.pixel_threshold_, int(self.min_area)) if flagged else []
        if regions:
            mask = defect_mask(smap, self.pixel_threshold_, int(self.min_area))
        else:
            mask = np.zeros(smap.shape, dtype=bool)
        return {"score_map": smap, "score": score, "flagged": flagged, "regions": regions, "mask": mask}

    def working_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Shape of the (first scale's) working image for an input image.

        Parameters
        ----------
        shape : tuple of int
            ``(H, W)`` of the input.

        Returns
        -------
        tuple of int
            ``(h, w)``.
        """
        if hasattr(self, "scales_"):
            return self.scales_[0].working_shape(shape)
        return self._new_scale("longest" if self.scaling == "both" else self.scaling).working_shape(shape)

    # ------------------------------------------------------------------ model files

    def info(self) -> dict[str, Any]:
        """A JSON-friendly summary of the fitted model.

        Returns
        -------
        dict
        """
        self._check_is_fitted()
        return {
            "kind": "DefectModel",
            "version": defect_file.MODEL_VERSION,
            "params": self.get_params(),
            "n_features": self.n_features_,
            "threshold": self.threshold_,
            "pixel_threshold": self.pixel_threshold_,
            "n_train_images": self.n_train_images_,
            "n_holdout_images": self.n_holdout_images_,
            "mixture_converged": bool(self.scales_[0].mixture_.converged_),
            "tail_components": int(self.tail_components_),
            "scales": [s.scaling for s in self.scales_],
            "broad": self.broad_ is not None,
            "image_channel": self.image_ is not None,
            "training_images": self.training_images_,
        }

    def _to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_is_fitted()
        return defect_file.to_file(self)

    @classmethod
    def _from_file(cls, metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> DefectModel:
        return defect_file.from_file(cls, metadata, arrays)

    def save(self, path) -> Path:
        """Save the fitted model as a gmmseg model file (.npz + JSON header, no pickle).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
            The file written.
        """
        metadata, arrays = self._to_file()
        return save_arrays(path, "DefectModel", metadata, arrays)

    @classmethod
    def load(cls, path) -> DefectModel:
        """Load a model written by :meth:`save` (same as ``gmmseg.load(path)``).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        DefectModel
        """
        header, arrays = load_arrays(path, "DefectModel")
        try:
            return cls._from_file(header.get("metadata", {}), arrays)
        except ModelFileError:
            raise
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelFileError(f"{path} has malformed DefectModel data ({exc}); re-create it") from None

    def __repr__(self) -> str:
        return (
            f"DefectModel(n_components={self.n_components}, work_size={self.work_size}, target_fpr={self.target_fpr})"
        )


def describe_images(shapes) -> dict[str, Any]:
    """The sizes and modes of fit images, so a scan can note images unlike them.

    Parameters
    ----------
    shapes : sequence of tuple
        Each fit image's array shape, ``(H, W)`` or ``(H, W, C)``.

    Returns
    -------
    dict
        ``min_size`` and ``max_size`` (``[height, width]``, each the smallest or largest over
        the images) and ``modes`` (the sorted modes seen: ``"gray"``, ``"color"``).
    """
    sizes = np.array([shape[:2] for shape in shapes])
    modes = sorted({image_mode(shape) for shape in shapes})
    return {"min_size": sizes.min(axis=0).tolist(), "max_size": sizes.max(axis=0).tolist(), "modes": modes}


def image_mode(shape: tuple[int, ...]) -> str:
    """``"gray"`` for an image of shape (H, W) or (H, W, 1), ``"color"`` otherwise."""
    return "gray" if len(shape) == 2 or shape[2] == 1 else "color"


register_kind("DefectModel", lambda: DefectModel)
