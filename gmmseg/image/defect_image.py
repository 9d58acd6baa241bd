"""The image channel of a defect model: a density of per-image descriptors of appearance.

A brightness ramp, a worn area or a frayed edge can change a whole part a little and no pixel
much; the pixel channels see it faintly. :class:`ImageChannel` describes each image by
:func:`image_descriptors` (the distributions of local level, fine-detail energy and gradient
energy of the exposure-normalized working image, at three scales) and fits one full-covariance
component of the core :class:`~gmmseg.GaussianMixture` to the descriptors of the good images.
It is calibrated by leaving each good image out in turn: ``(s - m) / (q - m)`` with ``m`` the
median and ``q`` the maximum of the left-out negative log-densities, so 1 is the most unusual
good image when it was not part of the fit. :class:`~gmmseg.image.defects.DefectModel` adds
only the *excess* over 1 to the image score (docs/defects.md: calibrated on the 30 held-out
images alone, it raised unseen good tiles' scores; left out in turn over every good image it
held on every check).
"""

from __future__ import annotations

import numpy as np

from ..core.mixture import GaussianMixture
from ..errors import FittingError
from .io import as_image_array
from .texture import standardized_working_image

__all__ = ["ImageChannel", "image_descriptors"]

#: Gaussian widths (working pixels) of the local statistics in the descriptors.
_SIGMAS = (2.0, 4.0, 8.0)
#: The width at every octave of the pyramid that gives them.
_PYRAMID_SIGMA = 2.0
#: Quantiles of each local statistic over the image.
_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: Covariance regularization of the standardized descriptors (few images, 63 descriptors).
_REG_COVAR = 0.1


def image_descriptors(image, work_size: int = 160) -> np.ndarray:
    """Per-image descriptors of appearance at several scales.

    The working image is centred on its median and divided by its robust spread (gain and
    offset do not change the descriptors). At each Gaussian width σ of 2, 4 and 8 working
    pixels (width 2 on the octaves of a Gaussian pyramid): the local level (the blurred
    image), the log energy of the detail finer than σ/2 within σ, and the log of the
    σ-normalized gradient magnitude; each summarized by its 1/5/25/50/75/95/99% quantiles
    over the image. A broad stain or a ramp moves the level's
    tails, a worn area the detail and gradient energies' lower quantiles, a frayed edge or a
    missing corner the tails of all three (docs/defects.md, "Session 7: image score").

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path
    work_size : int, default=160

    Returns
    -------
    ndarray of shape (63,), float64
        Ordered by σ, then level / detail / gradient, then quantile.
    """
    from scipy import ndimage

    z = standardized_working_image(as_image_array(image), int(work_size))
    # a Gaussian pyramid: width 4 and 8 are width 2 at half and a quarter of the resolution
    # (the same statistics for a third of the filtering)
    out: list[np.ndarray] = []
    for _ in _SIGMAS:
        level = ndimage.gaussian_filter(z, _PYRAMID_SIGMA)
        half = ndimage.gaussian_filter(z, _PYRAMID_SIGMA / 2)  # also the next octave's anti-aliasing
        fine = z - half
        # log: a flattened or roughened texture is a ratio change of its energy
        detail = np.log(np.sqrt(ndimage.gaussian_filter(fine * fine, _PYRAMID_SIGMA)) + 0.05)
        # central differences of the level: at this width as good as Gaussian derivatives
        gy, gx = np.gradient(level)
        gradient = np.log(np.sqrt(gx * gx + gy * gy) * _PYRAMID_SIGMA + 0.05)
        out += [_quantiles(m) for m in (level, detail, gradient)]
        z = half[::2, ::2]
    return np.concatenate(out).astype(np.float64)


def _quantiles(values: np.ndarray) -> np.ndarray:
    """``np.quantile(values, _QUANTILES)`` (linear interpolation) from one sort."""
    v = np.sort(values, axis=None).astype(np.float64)
    pos = np.asarray(_QUANTILES) * (v.size - 1)
    low = np.floor(pos).astype(int)
    high = np.minimum(low + 1, v.size - 1)
    return v[low] + (pos - low) * (v[high] - v[low])


class ImageChannel:
    """Density of per-image descriptors on good parts, calibrated by leaving each image out.

    Parameters
    ----------
    work_size : int
        Longest side of the working image.
    random_state : int or None

    Attributes
    ----------
    mixture_ : GaussianMixture
        One full-covariance component over the standardized descriptors of every good image.
    mean_, scale_ : ndarray of shape (63,)
        Standardization of the descriptors.
    center_, quantile_ : float
        Median and maximum of the good images' negative log-densities, each left out of the fit.
    """

    n_features = len(_SIGMAS) * 3 * len(_QUANTILES)

    def __init__(self, work_size: int, random_state: int | None):
        self.work_size = work_size
        self.random_state = random_state

    def _mixture(self) -> GaussianMixture:
        seed = None if self.random_state is None else int(self.random_state)
        return GaussianMixture(1, covariance_type="full", reg_covar=_REG_COVAR, random_state=seed)

    def fit(self, images) -> ImageChannel:
        """Fit on good images and calibrate by leaving each out in turn.

        Parameters
        ----------
        images : sequence of images
            At least 3 good images.

        Returns
        -------
        self
        """
        D = np.stack([image_descriptors(image, int(self.work_size)) for image in images])
        self.mean_ = D.mean(axis=0)
        self.scale_ = D.std(axis=0) + 1e-6
        Z = (D - self.mean_) / self.scale_
        try:
            self.mixture_ = self._mixture().fit(Z)
            left_out = [-self._mixture().fit(np.delete(Z, i, 0)).score_samples(Z[i : i + 1])[0] for i in range(len(Z))]
        except FittingError as exc:
            raise FittingError(f"image channel: {exc}; or add more varied good images") from None
        self.center_ = float(np.median(left_out))
        self.quantile_ = float(np.max(left_out))
        return self

    def relative(self, image) -> float:
        """How unusual an image is: 0 for a typical good image, 1 for the most unusual one.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path

        Returns
        -------
        float
        """
        z = (image_descriptors(image, int(self.work_size)) - self.mean_) / self.scale_
        nll = -float(self.mixture_.score_samples(z[None, :])[0])
        return (nll - self.center_) / max(self.quantile_ - self.center_, 1e-6)
