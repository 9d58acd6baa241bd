"""One working scale of a defect model: features, density, score map and calibration.

A :class:`ScaleModel` brings every image to one working resolution (``scaling``
``"longest"``: each image's longest side to ``work_size``; ``"fixed"``: one factor for
all images, set by the median training image), computes the texture features of
:mod:`gmmseg.image.texture`, standardizes and rotates them (PCA) and fits the core
:class:`~gmmseg.GaussianMixture` (a bulk mixture of random pixels, optionally mixed
with a tail mixture of each training image's least likely pixels). Its score map is
the blurred negative log-density minus a capped running median (local peaks) and the
median of good maps; its image score is the map's maximum inside the border margin;
its threshold is the ``1 - target_fpr`` quantile of the calibration images' scores.
:class:`~gmmseg.image.defects.DefectModel` composes one or two of them.
"""

from __future__ import annotations

import copy
import time

import numpy as np

from ..core.mixture import GaussianMixture
from ..errors import FittingError
from .io import as_image_array
from .texture import TextureSettings, resize, texture_features, working_shape

__all__ = ["ScaleModel", "SCALES"]

#: The working scales one ScaleModel can use.
SCALES = ("longest", "fixed")
#: The tail mixture gets at most one component per this many tail pixels.
_TAIL_ROWS_PER_COMPONENT = 100
#: Tail pixels used to fit the tail mixture (a random subset beyond this).
_TAIL_MAX_ROWS = 200_000


class ScaleModel:
    """The defect density of good parts at one working scale.

    Parameters
    ----------
    scaling : {"longest", "fixed"}
        How images are brought to the working resolution.
    n_components, covariance_type, work_size, background_sigma, sigmas, families, blur_sigma, \
peak_window, border_margin, pixels_per_image, tail_share, tail_components, target_fpr, random_state
        As in :class:`~gmmseg.image.defects.DefectModel` (validated there).

    Attributes
    ----------
    mixture_ : GaussianMixture
        The density of the transformed features (bulk and tail mixtures together).
    mean_, scale_ : ndarray of shape (n_features,)
        Standardization of the raw features.
    components_ : ndarray of shape (n_features, n_features)
        PCA rotation applied after standardization.
    explained_variance_ : ndarray of shape (n_features,)
    background_cap_ : float
        Highest running median of the raw map on the calibration images.
    offset_ : float
        Median of the good maps' values (subtracted, so a typical pixel scores about 0).
    threshold_, pixel_threshold_ : float
        Image-score and score-map thresholds of this scale.
    calibration_scores_ : ndarray of shape (n_calibration,)
    work_scale_ : float
        The one resize factor of ``scaling="fixed"`` (0 for ``"longest"``).
    n_features_, n_training_rows_, tail_components_ : int
    fit_seconds_ : float
    """

    def __init__(
        self,
        scaling: str,
        *,
        n_components: int,
        covariance_type: str,
        work_size: int,
        background_sigma: float,
        sigmas: tuple[float, ...],
        families: tuple[str, ...],
        blur_sigma: float,
        peak_window: int,
        border_margin: float,
        pixels_per_image: int,
        tail_share: float,
        tail_components: int,
        target_fpr: float,
        random_state: int | None,
    ):
        self.scaling = scaling
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.work_size = work_size
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
        self.random_state = random_state
        self.work_scale_ = 0.0
        self._affine = None

    @property
    def settings(self) -> TextureSettings:
        """The feature settings of this scale."""
        return TextureSettings(
            work_size=int(self.work_size),
            work_scale=float(self.work_scale_) if self.scaling == "fixed" else 0.0,
            background_sigma=float(self.background_sigma),
            sigmas=tuple(self.sigmas),
            families=tuple(self.families),
        )

    def working_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Shape of the working image for an input image.

        Parameters
        ----------
        shape : tuple of int
            ``(H, W)`` of the input.

        Returns
        -------
        tuple of int
            ``(h, w)``.
        """
        s = self.settings
        return working_shape(shape, s.work_size, s.work_scale)

    # ------------------------------------------------------------------ features

    def features(self, image) -> np.ndarray:
        """Texture features of an image at this scale.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path

        Returns
        -------
        ndarray of shape (h, w, n_features), float32
        """
        return texture_features(as_image_array(image), self.settings)

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Standardize and rotate features, as one float32 affine map ``((x - mean) / scale) @ components``.

        Parameters
        ----------
        features : ndarray of shape (..., n_features)

        Returns
        -------
        ndarray of shape (n_pixels, n_features), float32
        """
        flat = features.reshape(-1, features.shape[-1])
        if self._affine is None:
            weight = (self.components_ / self.scale_[:, None]).astype(np.float32)
            bias = (-(self.mean_ / self.scale_) @ self.components_).astype(np.float32)
            self._affine = (weight, bias)
        weight, bias = self._affine
        return flat.astype(np.float32, copy=False) @ weight + bias

    # ------------------------------------------------------------------ fitting

    def fit(self, images, train_idx, calibration_idx, rng: np.random.Generator) -> list[np.ndarray]:
        """Fit the features' standardization, rotation and mixture, then calibrate.

        Parameters
        ----------
        images : sequence of images
            Arrays of shape (H, W) or (H, W, C), LoadedImage objects or paths.
        train_idx, calibration_idx : sequence of int
            Images the density is fitted on, and images the threshold is set on.
        rng : numpy.random.Generator
            Draws the pixel samples.

        Returns
        -------
        list of ndarray of shape (h, w), float32
            The calibration images' finished score maps at the working resolution.
        """
        started = time.perf_counter()
        self.set_work_scale([as_image_array(images[i]).shape[:2] for i in train_idx])
        per = int(self.pixels_per_image)
        rows = []
        for i in train_idx:
            feats = self.features(images[i])
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
        maps = self._calibrate([images[i] for i in calibration_idx])
        self.n_features_ = int(X.shape[1])
        self.n_training_rows_ = int(X.shape[0])
        self.fit_seconds_ = time.perf_counter() - started
        return maps

    def set_work_scale(self, train_shapes: list[tuple[int, int]]) -> None:
        """Set the resize factor of ``scaling="fixed"`` from the training images' shapes (no-op otherwise).

        Parameters
        ----------
        train_shapes : list of tuple of int
            ``(H, W)`` of every training image.
        """
        if self.scaling == "fixed":
            self.work_scale_ = float(self.work_size) / float(np.median([max(shape) for shape in train_shapes]))

    def twin(self, fitted: ScaleModel) -> ScaleModel:
        """This scale with the fitted state of ``fitted``, a scale that saw the same working images.

        When every training and calibration image has the same working shape at both scales
        (all images of one size, the usual case on a line), fitting this scale would repeat
        ``fitted``'s work draw for draw; the twin skips it and scores new images at its own
        scale.

        Parameters
        ----------
        fitted : ScaleModel
            A fitted scale with the same settings but another ``scaling``.

        Returns
        -------
        ScaleModel
            A copy of ``fitted`` with this scale's ``scaling`` and ``work_scale_``.
        """
        twin = copy.copy(fitted)
        twin.scaling, twin.work_scale_ = self.scaling, self.work_scale_
        twin.fit_seconds_ = 0.0
        return twin

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
        """The ``tail_share`` least likely pixels of every image under the bulk mixture (transformed rows)."""
        share = float(self.tail_share)
        rows = []
        for image in images:
            Z = self.transform(self.features(image))
            loglik = self.mixture_.score_samples(Z)
            rows.append(Z[loglik <= np.quantile(loglik, share)])
        tail = np.concatenate(rows)
        if tail.shape[0] > _TAIL_MAX_ROWS:
            tail = tail[np.sort(rng.choice(tail.shape[0], size=_TAIL_MAX_ROWS, replace=False))]
        return tail.astype(np.float32, copy=False)

    def _calibrate(self, images) -> list[np.ndarray]:
        """Set the map's background cap and offset and the thresholds from good ``images``; return their maps."""
        self.offset_ = 0.0
        self.threshold_ = np.inf
        self.pixel_threshold_ = np.inf
        # The map's local background is subtracted only up to the highest level seen on
        # good parts, so broad defects (stains) far above it still show.
        self.background_cap_ = np.inf
        raw = [self.raw_map(image) for image in images]
        if self.peak_window:
            self.background_cap_ = float(max(_running_median(m, int(self.peak_window)).max() for m in raw))
        maps = [self.finish_map(m) for m in raw]
        self.offset_ = float(np.median(np.concatenate([m.ravel() for m in maps])))
        scores = np.array([self.image_score(m - self.offset_) for m in maps])
        self.calibration_scores_ = scores
        self.threshold_ = float(np.quantile(scores, 1.0 - float(self.target_fpr), method="higher"))
        self.pixel_threshold_ = self.threshold_
        return [m - np.float32(self.offset_) for m in maps]  # what finish_map gives from now on

    # ------------------------------------------------------------------ scoring

    def raw_map(self, image) -> np.ndarray:
        """Blurred negative log-density of an image's pixels at the working resolution.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path

        Returns
        -------
        ndarray of shape (h, w), float32
        """
        from scipy import ndimage

        feats = self.features(image)
        h, w = feats.shape[:2]
        nll = -self.mixture_.score_samples(self.transform(feats))
        nll = nll.reshape(h, w).astype(np.float32)
        if self.blur_sigma:
            nll = ndimage.gaussian_filter(nll, float(self.blur_sigma), mode="nearest")
        return nll

    def finish_map(self, raw_map: np.ndarray) -> np.ndarray:
        """Subtract the capped local background and the good median from a :meth:`raw_map`.

        Parameters
        ----------
        raw_map : ndarray of shape (h, w), float32

        Returns
        -------
        ndarray of shape (h, w), float32
        """
        nll = raw_map
        if self.peak_window:
            background = _running_median(nll, int(self.peak_window))
            nll = nll - np.minimum(background, np.float32(self.background_cap_))
        return (nll - np.float32(self.offset_)).astype(np.float32, copy=False)

    def image_score(self, score_map: np.ndarray) -> float:
        """The maximum of a score map inside the border margin.

        Parameters
        ----------
        score_map : ndarray of shape (h, w)

        Returns
        -------
        float
        """
        h, w = score_map.shape
        mh, mw = int(round(self.border_margin * h)), int(round(self.border_margin * w))
        inner = score_map[mh : h - mh or h, mw : w - mw or w]
        return float((inner if inner.size else score_map).max())

    def score_map(self, image) -> np.ndarray:
        """The finished score map of an image at the working resolution.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path

        Returns
        -------
        ndarray of shape (h, w), float32
        """
        return self.finish_map(self.raw_map(image))


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Running median of a 2-D map over ``window`` pixels, computed at a quarter of the resolution (speed)."""
    from scipy import ndimage

    h, w = values.shape
    factor = 4 if window >= 16 else 2
    small = resize(values, (max(2, -(-h // factor)), max(2, -(-w // factor))))
    size = max(3, (window // factor) | 1)
    med = ndimage.median_filter(small, size=size, mode="nearest")
    return resize(med, (h, w))
