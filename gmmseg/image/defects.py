"""Defect detection: the density of local appearance on good parts, and what falls outside it.

:class:`DefectModel` turns every good image into per-pixel feature vectors
(:mod:`gmmseg.image.texture`: exposure-normalised intensity and multi-scale texture),
standardises and rotates them (PCA), and fits the core :class:`~gmmseg.GaussianMixture`
to a sample of those rows. A new image's *score map* is the negative log-density of
its pixels' features, smoothed a little and brought back to the input's resolution;
its *score* is the map's maximum away from the outer border band; the *threshold* is
the ``1 - target_fpr`` quantile of the scores of good images held out from the fit,
so that about ``target_fpr`` of good images are flagged. No defective example is needed.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ..core.mixture import GaussianMixture
from ..core.persist import load_arrays, register_kind, save_arrays
from ..errors import FittingError, InputError, ModelFileError, NotFittedError, ParameterError
from .texture import TextureSettings, resize, texture_features, working_shape

__all__ = ["DefectModel", "Region", "as_image_array"]

#: Version of the DefectModel layout inside the model file.
MODEL_VERSION = 2  # 2: two-scale models ("members"); files of version 1 still load
SCALINGS = ("both", "longest", "fixed")
#: The tail mixture gets at most one component per this many tail pixels.
_TAIL_ROWS_PER_COMPONENT = 100
#: Tail pixels used to fit the tail mixture (a random subset beyond this).
_TAIL_MAX_ROWS = 200_000


@dataclass(frozen=True)
class Region:
    """One connected region of the score map above the pixel threshold.

    Attributes
    ----------
    bbox : tuple of int
        ``(row_min, col_min, row_max, col_max)``, max exclusive, in input pixels.
    area : int
        Number of pixels.
    centroid : tuple of float
        ``(row, col)``.
    peak_score : float
        Highest score in the region.
    """

    bbox: tuple[int, int, int, int]
    area: int
    centroid: tuple[float, float]
    peak_score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "bbox": list(self.bbox),
            "area": self.area,
            "centroid": [round(self.centroid[0], 2), round(self.centroid[1], 2)],
            "peak_score": round(self.peak_score, 4),
        }


def as_image_array(image) -> np.ndarray:
    """Return the pixel array of an array, a :class:`~gmmseg.image.io.LoadedImage` or a path.

    Returns
    -------
    ndarray of shape (H, W) or (H, W, C)
    """
    if hasattr(image, "pixels"):
        return np.asarray(image.pixels)
    if isinstance(image, (str, Path)):
        from .io import read_image

        return read_image(image, mode="keep").pixels
    arr = np.asarray(image)
    if arr.dtype == object or arr.ndim not in (2, 3):
        raise InputError(f"expected an image array of shape (H, W) or (H, W, C), got shape {arr.shape}")
    return arr


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
        scores standardised by their held-out good scores, the map the mean of their
        standardised maps (about twice the cost; measured better on MTD, docs/defects.md).
        When every image has the same size the two scales coincide: use ``"longest"``.
    background_sigma : float, default=12
        Width of the background removed before features are computed (working pixels).
    sigmas : tuple of float, default=(1, 2)
        Scales of the texture filters (working pixels).
    families : tuple of str, default=("smooth", "log", "gradient", "hessian", "hessian_axes")
        Feature families (see :mod:`gmmseg.image.texture`).
    smoothing : float, default=2
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
    random_state : int or None
        Seed for the hold-out split, the pixel sample and the mixture.

    Attributes
    ----------
    mixture_ : GaussianMixture
    mean_, scale_ : ndarray of shape (n_features,)
        Standardisation of the raw features.
    components_ : ndarray of shape (n_features, n_features)
        PCA rotation applied after standardisation.
    background_cap_ : float
        Highest running median of the raw map on the calibration images: the local
        background subtracted from a map is capped at it.
    offset_ : float
        Median of the good maps' raw values (subtracted, so a typical pixel scores ~0).
    threshold_ : float
        Image-score threshold.
    pixel_threshold_ : float
        Score-map threshold used by :meth:`regions` (equal to ``threshold_``).
    calibration_scores_ : ndarray of shape (n_holdout,)
        Scores of the held-out good images.
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
        contrast_sigma: float = 0.0,
        sigmas: tuple[float, ...] = (1.0, 2.0),
        families: tuple[str, ...] = ("smooth", "log", "gradient", "hessian", "hessian_axes"),
        smoothing: float = 2.0,
        peak_window: int = 25,
        border_margin: float = 0.05,
        pixels_per_image: int = 3000,
        tail_share: float = 0.1,
        tail_components: int = 16,
        target_fpr: float = 0.01,
        holdout: float = 0.2,
        min_area: int = 10,
        random_state: int | None = None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.work_size = work_size
        self.scaling = scaling
        self.background_sigma = background_sigma
        self.contrast_sigma = contrast_sigma
        self.sigmas = sigmas
        self.families = families
        self.smoothing = smoothing
        self.peak_window = peak_window
        self.border_margin = border_margin
        self.pixels_per_image = pixels_per_image
        self.tail_share = tail_share
        self.tail_components = tail_components
        self.target_fpr = target_fpr
        self.holdout = holdout
        self.min_area = min_area
        self.random_state = random_state

    # ------------------------------------------------------------------ settings

    @property
    def settings(self) -> TextureSettings:
        """The feature settings as a :class:`~gmmseg.image.texture.TextureSettings`."""
        return TextureSettings(
            work_size=int(self.work_size),
            work_scale=float(getattr(self, "work_scale_", 0.0)) if self.scaling == "fixed" else 0.0,
            background_sigma=float(self.background_sigma),
            contrast_sigma=float(self.contrast_sigma),
            sigmas=tuple(self.sigmas),
            families=tuple(self.families),
        )

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments as a dict (JSON-friendly)."""
        return {
            "n_components": int(self.n_components),
            "covariance_type": self.covariance_type,
            "work_size": int(self.work_size),
            "scaling": self.scaling,
            "background_sigma": float(self.background_sigma),
            "contrast_sigma": float(self.contrast_sigma),
            "sigmas": [float(s) for s in self.sigmas],
            "families": list(self.families),
            "smoothing": float(self.smoothing),
            "peak_window": int(self.peak_window),
            "border_margin": float(self.border_margin),
            "pixels_per_image": int(self.pixels_per_image),
            "tail_share": float(self.tail_share),
            "tail_components": int(self.tail_components),
            "target_fpr": float(self.target_fpr),
            "holdout": float(self.holdout),
            "min_area": int(self.min_area),
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
        if float(self.smoothing) < 0:
            raise ParameterError(f"smoothing={self.smoothing} must be >= 0")
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
        self.settings  # noqa: B018  (validates the feature settings)

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "mixture_"):
            raise NotFittedError("this DefectModel is not fitted yet; call fit(good_images) or gmmseg.load(path)")

    # ------------------------------------------------------------------ fitting

    def _features(self, image) -> np.ndarray:
        return texture_features(as_image_array(image), self.settings)

    def _transform(self, feats: np.ndarray) -> np.ndarray:
        """Standardise and rotate, as one float32 affine map: ``((x - mean) / scale) @ components``."""
        flat = feats.reshape(-1, feats.shape[-1])
        if getattr(self, "_affine", None) is None:
            weight = (self.components_ / self.scale_[:, None]).astype(np.float32)
            bias = (-(self.mean_ / self.scale_) @ self.components_).astype(np.float32)
            self._affine = (weight, bias)
        weight, bias = self._affine
        return flat.astype(np.float32, copy=False) @ weight + bias

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
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(n)
        n_hold = int(round(float(self.holdout) * n)) if self.holdout else 0
        if self.holdout and n_hold < 2:
            if n < 5:
                raise InputError(
                    f"{n} good images are too few to hold some out for the threshold; pass at least 5 or set holdout=0"
                )
            n_hold = 2
        train_idx, hold_idx = order[n_hold:], order[:n_hold]
        calib = hold_idx if n_hold else train_idx
        self.members_ = []
        if self.scaling == "both":
            held_out_maps = []  # per scale, the finished maps of the calibration images
            for mode in ("longest", "fixed"):
                member = type(self)(**{**self.get_params(), "scaling": mode})
                member_rng = np.random.default_rng(self.random_state)
                member_rng.permutation(n)  # the same pixel samples as a single-scale model
                started = time.perf_counter()
                held_out_maps.append(member._fit_split(images, train_idx, calib, member_rng))
                member.n_train_images_, member.n_holdout_images_ = int(len(train_idx)), int(n_hold)
                member.fit_seconds_ = time.perf_counter() - started
                self.members_.append(member)
            self._calibrate_members(held_out_maps)
            self._adopt_members()
        else:
            self._fit_split(images, train_idx, calib, rng)
        self.n_train_images_ = int(len(train_idx))
        self.n_holdout_images_ = int(n_hold)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _fit_split(self, images, train_idx, calib_idx, rng) -> list[np.ndarray]:
        """Fit one scale's features, mixture and calibration on given training / calibration images.

        Returns the calibration images' score maps (working resolution), for a two-scale parent.
        """
        if self.scaling == "fixed":
            sides = [max(as_image_array(images[i]).shape[:2]) for i in train_idx]
            self.work_scale_ = float(self.work_size) / float(np.median(sides))
        self.members_ = []
        per = int(self.pixels_per_image)
        rows = []
        for i in train_idx:
            feats = self._features(images[i])
            flat = feats.reshape(-1, feats.shape[-1])
            take = rng.choice(flat.shape[0], size=min(per, flat.shape[0]), replace=False)
            rows.append(flat[np.sort(take)])
        X = np.concatenate(rows).astype(np.float64)
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)
        self.scale_[self.scale_ < 1e-6] = 1.0
        Z = (X - self.mean_) / self.scale_
        # PCA rotation (all components kept: the mixture sees decorrelated features).
        cov = np.cov(Z, rowvar=False)
        eigval, eigvec = np.linalg.eigh(np.atleast_2d(cov))
        self.components_ = eigvec[:, ::-1].copy()
        self.explained_variance_ = eigval[::-1].copy()
        Z = Z @ self.components_
        self._affine = None
        self.mixture_ = self._fit_mixture(Z.astype(np.float32), int(self.n_components))
        self.tail_components_ = 0
        if float(self.tail_share) > 0:
            tail = self._tail_rows([images[i] for i in train_idx], rng)
            k_tail = min(int(self.tail_components), tail.shape[0] // _TAIL_ROWS_PER_COMPONENT)
            if k_tail >= 1:
                share = float(self.tail_share)
                tail_mixture = self._fit_mixture(tail, k_tail)
                self.mixture_ = GaussianMixture.mixture_of([self.mixture_, tail_mixture], [1.0 - share, share])
                self.tail_components_ = int(k_tail)
        maps = self._calibrate([images[i] for i in calib_idx])
        self.n_features_ = int(X.shape[1])
        self.n_training_rows_ = int(X.shape[0])
        return maps

    def _adopt_members(self) -> None:
        """Summary attributes of a two-scale model, from its members (the first scale's mixture)."""
        first = self.members_[0]
        self.mixture_ = first.mixture_
        self.n_features_ = first.n_features_
        self.n_training_rows_ = sum(m.n_training_rows_ for m in self.members_)
        self.tail_components_ = first.tail_components_

    def _calibrate_members(self, held_out_maps: list[list[np.ndarray]]) -> None:
        """Standardise each scale's scores by its calibration scores; set the combined thresholds.

        ``held_out_maps[j][i]`` is scale ``j``'s score map of calibration image ``i`` (as the
        members computed them while calibrating: nothing is scored twice).
        """
        self.member_center_ = [float(np.mean(m.calibration_scores_)) for m in self.members_]
        self.member_spread_ = [max(float(np.std(m.calibration_scores_)), 1e-6) for m in self.members_]
        scores, peaks = [], []
        for maps in zip(*held_out_maps):
            score, small = self._combine(list(maps))
            scores.append(score)
            peaks.append(self._image_score(small))
        self.calibration_scores_ = np.asarray(scores)
        q = 1.0 - float(self.target_fpr)
        self.threshold_ = float(np.quantile(self.calibration_scores_, q, method="higher"))
        self.pixel_threshold_ = float(np.quantile(peaks, q, method="higher"))

    def _score_and_map(self, arr: np.ndarray) -> tuple[float, np.ndarray]:
        """Image score and score map at the working resolution (of the first scale for ``"both"``)."""
        if not self.members_:
            small = self._finish_map(self._raw_map(arr))
            return self._image_score(small), small
        return self._combine([member._finish_map(member._raw_map(arr)) for member in self.members_])

    def _combine(self, member_maps: list[np.ndarray]) -> tuple[float, np.ndarray]:
        """Two-scale score and map from each scale's map: means of the standardised scores and maps."""
        zs, maps = [], []
        for member, center, spread, small in zip(self.members_, self.member_center_, self.member_spread_, member_maps):
            zs.append((member._image_score(small) - center) / spread)
            maps.append((small - np.float32(center)) / np.float32(spread))
        shape = maps[0].shape
        combined = sum(resize(m, shape) for m in maps) / np.float32(len(maps))
        return float(np.mean(zs)), combined.astype(np.float32, copy=False)

    def _calibrate(self, images) -> list[np.ndarray]:
        """Set the map's background cap and offset and the threshold from good ``images``; return their maps."""
        self.offset_ = 0.0
        self.threshold_ = np.inf
        self.pixel_threshold_ = np.inf
        # The map's local background is subtracted only up to the highest level seen on
        # good parts, so broad defects (stains) far above it still show.
        self.background_cap_ = np.inf
        raw = [self._raw_map(image) for image in images]
        if self.peak_window:
            self.background_cap_ = float(max(_running_median(m, int(self.peak_window)).max() for m in raw))
        maps = [self._finish_map(m) for m in raw]
        self.offset_ = float(np.median(np.concatenate([m.ravel() for m in maps])))
        scores = np.array([self._image_score(m - self.offset_) for m in maps])
        self.calibration_scores_ = scores
        self.threshold_ = float(np.quantile(scores, 1.0 - float(self.target_fpr), method="higher"))
        self.pixel_threshold_ = self.threshold_
        return [m - np.float32(self.offset_) for m in maps]  # what _finish_map gives from now on

    def _fit_mixture(self, Z: np.ndarray, n_components: int) -> GaussianMixture:
        seed = None if self.random_state is None else int(self.random_state)
        mixture = GaussianMixture(
            n_components,
            covariance_type=self.covariance_type,
            reg_covar=1e-3,
            max_iter=200,
            random_state=seed,
            dtype="float32",
        )
        try:
            return mixture.fit(Z)
        except FittingError as exc:
            raise FittingError(f"{exc}; or add more varied good images") from None

    def _tail_rows(self, images, rng) -> np.ndarray:
        """The ``tail_share`` least likely pixels of every image under the current mixture (transformed rows)."""
        share = float(self.tail_share)
        rows = []
        for image in images:
            Z = self._transform(self._features(image))
            loglik = self.mixture_.score_samples(Z)
            rows.append(Z[loglik <= np.quantile(loglik, share)])
        tail = np.concatenate(rows)
        if tail.shape[0] > _TAIL_MAX_ROWS:
            tail = tail[np.sort(rng.choice(tail.shape[0], size=_TAIL_MAX_ROWS, replace=False))]
        return tail.astype(np.float32, copy=False)

    # ------------------------------------------------------------------ scoring

    def score_map(self, image, *, input_resolution: bool = True) -> np.ndarray:
        """Anomaly score of every pixel: smoothed negative log-density minus the good median.

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
        h, w = nll.shape
        if input_resolution and (h, w) != arr.shape[:2]:
            nll = resize(nll, arr.shape[:2])
        return nll.astype(np.float32, copy=False)

    def _interior(self, score_map: np.ndarray) -> np.ndarray:
        h, w = score_map.shape
        mh, mw = int(round(self.border_margin * h)), int(round(self.border_margin * w))
        inner = score_map[mh : h - mh or h, mw : w - mw or w]
        return inner if inner.size else score_map

    def _raw_map(self, image) -> np.ndarray:
        """Smoothed negative log-density at the working resolution, shape (h, w)."""
        feats = self._features(image)
        h, w = feats.shape[:2]
        nll = -self.mixture_.score_samples(self._transform(feats))
        nll = nll.reshape(h, w).astype(np.float32)
        if self.smoothing:
            nll = ndimage.gaussian_filter(nll, float(self.smoothing), mode="nearest")
        return nll

    def _finish_map(self, nll: np.ndarray) -> np.ndarray:
        """Subtract the capped local background and the good median from a raw map."""
        if self.peak_window:
            background = _running_median(nll, int(self.peak_window))
            nll = nll - np.minimum(background, np.float32(self.background_cap_))
        return (nll - np.float32(self.offset_)).astype(np.float32, copy=False)

    def _image_score(self, score_map: np.ndarray) -> float:
        return float(self._interior(score_map).max())

    def score(self, image) -> float:
        """Image anomaly score: the score map's maximum inside the border margin.

        With ``scaling="both"``: the mean of the two scales' maxima, each standardised by
        the scores of the held-out good images.

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
        """Score map, image score, flag and regions of one image in one pass.

        Returns
        -------
        dict
            ``score_map`` (H, W) float32, ``score`` float, ``flagged`` bool, ``regions`` list.
        """
        self._check_is_fitted()
        arr = as_image_array(image)
        score, small = self._score_and_map(arr)
        smap = resize(small, arr.shape[:2]) if small.shape != arr.shape[:2] else small
        flagged = bool(score > self.threshold_)
        regs = regions_from_map(smap, self.pixel_threshold_, int(self.min_area)) if flagged else []
        return {"score_map": smap, "score": score, "flagged": flagged, "regions": regs}

    def working_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Shape of the working image for an input of ``shape`` ``(H, W)``."""
        if getattr(self, "members_", None):
            return self.members_[0].working_shape(shape)
        s = self.settings
        return working_shape(shape, s.work_size, s.work_scale)

    # ------------------------------------------------------------------ model files

    def info(self) -> dict[str, Any]:
        """A JSON-friendly summary of the fitted model."""
        self._check_is_fitted()
        return {
            "kind": "DefectModel",
            "version": MODEL_VERSION,
            "params": self.get_params(),
            "n_features": self.n_features_,
            "threshold": self.threshold_,
            "pixel_threshold": self.pixel_threshold_,
            "n_train_images": self.n_train_images_,
            "n_holdout_images": self.n_holdout_images_,
            "mixture_converged": bool(self.mixture_.converged_),
            "tail_components": int(self.tail_components_),
            "scales": [m.scaling for m in self.members_] or [self.scaling],
        }

    def _to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_is_fitted()
        if self.members_:
            metadata = {
                "version": MODEL_VERSION,
                "params": self.get_params(),
                "members": [],
                "member_center": list(self.member_center_),
                "member_spread": list(self.member_spread_),
                "threshold": float(self.threshold_),
                "pixel_threshold": float(self.pixel_threshold_),
                "n_train_images": self.n_train_images_,
                "n_holdout_images": self.n_holdout_images_,
                "fit_seconds": float(self.fit_seconds_),
            }
            arrays = {"calibration_scores": self.calibration_scores_}
            for j, member in enumerate(self.members_):
                meta_j, arrays_j = member._to_file()
                metadata["members"].append(meta_j)
                arrays |= {f"member{j}_{k}": v for k, v in arrays_j.items()}
            return metadata, arrays
        gm_meta, gm_arrays = self.mixture_._to_file()
        metadata = {
            "version": MODEL_VERSION,
            "params": self.get_params(),
            "texture": self.settings.to_dict(),
            "mixture": gm_meta,
            "offset": float(self.offset_),
            "background_cap": float(self.background_cap_),
            "threshold": float(self.threshold_),
            "pixel_threshold": float(self.pixel_threshold_),
            "n_train_images": self.n_train_images_,
            "n_holdout_images": self.n_holdout_images_,
            "n_features": self.n_features_,
            "n_training_rows": self.n_training_rows_,
            "tail_components": int(self.tail_components_),
            "work_scale": float(getattr(self, "work_scale_", 0.0)),
            "fit_seconds": float(self.fit_seconds_),
        }
        arrays = {f"mixture_{k}": v for k, v in gm_arrays.items()}
        arrays |= {
            "mean": self.mean_,
            "scale": self.scale_,
            "pca_components": self.components_,
            "pca_explained_variance": self.explained_variance_,
            "calibration_scores": self.calibration_scores_,
        }
        return metadata, arrays

    @classmethod
    def _from_file(cls, metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> DefectModel:
        version = metadata.get("version")
        if not isinstance(version, int) or version > MODEL_VERSION:
            raise ModelFileError(f"DefectModel layout version {version!r} is newer than this gmmseg; upgrade gmmseg")
        params = dict(metadata["params"])
        params["sigmas"] = tuple(params["sigmas"])
        params["families"] = tuple(params["families"])
        params.setdefault("tail_share", 0.0)  # files written before the tail mixture existed
        params.setdefault("scaling", "longest")  # ... and before two-scale models
        model = cls(**params)
        model.members_ = []
        if "members" in metadata:
            for j, meta_j in enumerate(metadata["members"]):
                prefix = f"member{j}_"
                arrays_j = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
                model.members_.append(cls._from_file(meta_j, arrays_j))
            if len(model.members_) != 2:
                raise ModelFileError("a two-scale DefectModel file must hold 2 members; re-create it")
            model.member_center_ = [float(v) for v in metadata["member_center"]]
            model.member_spread_ = [float(v) for v in metadata["member_spread"]]
            model._restore_calibration(metadata, arrays)
            model._adopt_members()
            return model
        prefix = "mixture_"
        model.mixture_ = GaussianMixture._from_file(
            metadata["mixture"], {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        )
        model.mean_ = np.asarray(arrays["mean"], dtype=np.float64)
        model.scale_ = np.asarray(arrays["scale"], dtype=np.float64)
        model.components_ = np.asarray(arrays["pca_components"], dtype=np.float64)
        model.explained_variance_ = np.asarray(arrays["pca_explained_variance"], dtype=np.float64)
        model._restore_calibration(metadata, arrays)
        model.offset_ = float(metadata["offset"])
        model.background_cap_ = float(metadata["background_cap"])
        model.n_features_ = int(metadata["n_features"])
        model.n_training_rows_ = int(metadata["n_training_rows"])
        model.tail_components_ = int(metadata.get("tail_components", 0))
        model.work_scale_ = float(metadata.get("work_scale", 0.0))
        if model.mean_.shape != (model.n_features_,) or model.components_.shape != (model.n_features_,) * 2:
            raise ModelFileError("DefectModel arrays have inconsistent shapes; re-create the model file")
        return model

    def _restore_calibration(self, metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.calibration_scores_ = np.asarray(arrays["calibration_scores"], dtype=np.float64)
        self.threshold_ = float(metadata["threshold"])
        self.pixel_threshold_ = float(metadata["pixel_threshold"])
        self.n_train_images_ = int(metadata["n_train_images"])
        self.n_holdout_images_ = int(metadata["n_holdout_images"])
        self.fit_seconds_ = float(metadata["fit_seconds"])

    def save(self, path) -> Path:
        """Save the fitted model as a gmmseg model file (.npz + JSON header, no pickle)."""
        metadata, arrays = self._to_file()
        return save_arrays(path, "DefectModel", metadata, arrays)

    @classmethod
    def load(cls, path) -> DefectModel:
        """Load a model written by :meth:`save` (same as ``gmmseg.load(path)``)."""
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


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Running median of a 2-D map over ``window`` pixels, computed at a quarter of the resolution (speed)."""
    h, w = values.shape
    factor = 4 if window >= 16 else 2
    small = resize(values, (max(2, -(-h // factor)), max(2, -(-w // factor))))
    size = max(3, (window // factor) | 1)
    med = ndimage.median_filter(small, size=size, mode="nearest")
    return resize(med, (h, w))


def regions_from_map(score_map: np.ndarray, threshold: float, min_area: int = 1) -> list[Region]:
    """Connected regions (8-connectivity) of ``score_map > threshold`` with at least ``min_area`` pixels.

    Parameters
    ----------
    score_map : ndarray of shape (H, W)
    threshold : float
    min_area : int

    Returns
    -------
    list of Region, largest first
    """
    smap = np.asarray(score_map)
    mask = smap > threshold
    if not mask.any():
        return []
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    out = []
    objects = ndimage.find_objects(labels)
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    for index, sl in enumerate(objects, start=1):
        if sl is None or areas[index] < min_area:
            continue
        local = labels[sl] == index
        rr, cc = np.nonzero(local)
        out.append(
            Region(
                bbox=(int(sl[0].start), int(sl[1].start), int(sl[0].stop), int(sl[1].stop)),
                area=int(areas[index]),
                centroid=(float(rr.mean() + sl[0].start), float(cc.mean() + sl[1].start)),
                peak_score=float(smap[sl][local].max()),
            )
        )
    out.sort(key=lambda r: -r.area)
    return out


register_kind("DefectModel", lambda: DefectModel)
