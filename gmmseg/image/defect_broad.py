"""The broad channel of a defect model: a density of coarse, position-aware appearance.

The fine channel (:mod:`gmmseg.image.defect_scale`) removes the background and takes a
top-hat of its map, so it sees small, sharp defects and nothing broad. A
:class:`BroadChannel` fits the core :class:`~gmmseg.GaussianMixture` to the coarse features
of :func:`~gmmseg.image.texture.broad_features` (the image reduced 4 times, no background
removed, oriented texture energies, the texture's orientation and its spread over a larger
window, each referred to the image's own median, plus the
distance to the border) and scores every coarse pixel by its negative
log-density. Its map is expressed relative to the held-out good images: ``(s - m) / (q - m)``,
with ``m`` the median of their coarse pixels (a typical good pixel scores 0) and ``q`` the
``1 - target_fpr`` quantile of their image scores (the map's maxima), so 1 is the most
unusual broad appearance of a good part. :class:`~gmmseg.image.defects.DefectModel`
adds only the *excess* over 1 to the fine score (docs/defects.md says why: the broad
channel's own spread on good parts must not raise false alarms); its map joins the fine map
by the larger of the two, once brought onto the fine map's scale
(:class:`~gmmseg.image.defect_match.MapMatch`).
"""

from __future__ import annotations

import numpy as np

from ..core.mixture import GaussianMixture
from ..errors import FittingError
from .io import as_image_array
from .texture import BROAD_FEATURES, broad_features

__all__ = ["BroadChannel"]

#: Mixture components of the broad density.
_COMPONENTS = 8
#: Coarse pixels sampled from each training image.
_PIXELS_PER_IMAGE = 400
#: Gaussian blur of the coarse map (coarse pixels).
_BLUR = 1.5


class BroadChannel:
    """Density of coarse appearance on good parts.

    Parameters
    ----------
    work_size : int
        Longest side of the working image (reduced 4 times for the features).
    target_fpr : float
        The calibration quantile is ``1 - target_fpr``.
    random_state : int or None

    Attributes
    ----------
    mixture_ : GaussianMixture
        Density of the standardized coarse features.
    mean_, scale_ : ndarray of shape (10,)
        Standardization of the features.
    center_ : float
        Median of the held-out good images' coarse map values.
    quantile_ : float
        ``1 - target_fpr`` quantile of the held-out good images' map maxima.
    """

    n_features = len(BROAD_FEATURES)

    def __init__(self, work_size: int, target_fpr: float, random_state: int | None):
        self.work_size = work_size
        self.target_fpr = target_fpr
        self.random_state = random_state

    def features(self, image) -> np.ndarray:
        """Coarse features of an image, shape (h, w, 10), float32."""
        return broad_features(as_image_array(image), int(self.work_size))

    def fit(self, images, train_idx, calibration_idx, rng: np.random.Generator) -> BroadChannel:
        """Fit the density on ``images[train_idx]`` and calibrate on ``images[calibration_idx]``.

        Parameters
        ----------
        images : sequence of images
        train_idx, calibration_idx : sequence of int
        rng : numpy.random.Generator
            Draws the pixel samples.

        Returns
        -------
        list of ndarray of shape (h, w), float32
            The calibration images' :meth:`relative_map` (nothing is scored twice).
        """
        rows = []
        for i in train_idx:
            flat = self.features(images[i]).reshape(-1, self.n_features)
            take = rng.choice(flat.shape[0], size=min(_PIXELS_PER_IMAGE, flat.shape[0]), replace=False)
            rows.append(flat[np.sort(take)])
        X = np.concatenate(rows).astype(np.float64)
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)
        self.scale_[self.scale_ < 1e-6] = 1.0
        seed = None if self.random_state is None else int(self.random_state)
        mixture = GaussianMixture(
            _COMPONENTS, covariance_type="full", reg_covar=1e-3, max_iter=200, random_state=seed, dtype="float32"
        )
        try:
            self.mixture_ = mixture.fit(((X - self.mean_) / self.scale_).astype(np.float32))
        except FittingError as exc:
            raise FittingError(f"broad channel: {exc}; or add more varied good images") from None
        maps = [self.raw_map(images[i]) for i in calibration_idx]
        scores = np.array([m.max() for m in maps])
        # the typical good pixel, not the typical maximum: with few held-out images their
        # maxima cluster, and a unit of (maximum - median maximum) would be arbitrarily small
        self.center_ = float(np.median(np.concatenate([m.ravel() for m in maps])))
        self.quantile_ = float(np.quantile(scores, 1.0 - float(self.target_fpr), method="higher"))
        return [self._relative(m) for m in maps]

    def raw_map(self, image) -> np.ndarray:
        """Blurred negative log-density of the coarse pixels.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path

        Returns
        -------
        ndarray of shape (h, w), float32
            At the coarse resolution (:func:`~gmmseg.image.texture.broad_features`).
        """
        from scipy import ndimage

        feats = self.features(image)
        h, w = feats.shape[:2]
        Z = (feats.reshape(-1, self.n_features) - self.mean_.astype(np.float32)) / self.scale_.astype(np.float32)
        nll = -self.mixture_.score_samples(Z.astype(np.float32)).reshape(h, w)
        return ndimage.gaussian_filter(nll.astype(np.float32), _BLUR, mode="nearest")

    def relative_map(self, image) -> np.ndarray:
        """The coarse map relative to good parts: 0 at a typical good pixel, 1 at the good quantile.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path

        Returns
        -------
        ndarray of shape (h, w), float32
        """
        return self._relative(self.raw_map(image))

    def _relative(self, raw: np.ndarray) -> np.ndarray:
        spread = max(self.quantile_ - self.center_, 1e-6)
        return ((raw - np.float32(self.center_)) / np.float32(spread)).astype(np.float32)
