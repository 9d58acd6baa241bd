"""The image channel of a defect model: a density of per-image descriptors of broad appearance.

A brightness ramp, a worn area or a frayed edge can change a whole part a little and no pixel
much; the pixel channels see it faintly. :class:`ImageChannel` describes each image by
:func:`image_descriptors` (how the coarse maps of :func:`~gmmseg.image.texture.coarse_maps`
tilt across the image and how their residuals spread) and fits one full-covariance component of
the core :class:`~gmmseg.GaussianMixture` to the descriptors of the good images. It is
calibrated by leaving each good image out in turn: ``(s - m) / (q - m)`` with ``m`` the median
and ``q`` the maximum of the left-out negative log-densities, so 1 is the most unusual good
image when it was not part of the fit. :class:`~gmmseg.image.defects.DefectModel` adds only
the *excess* over 1 to the image score (docs/defects.md: calibrated on the 30 held-out
images alone, it raised unseen good tiles' scores; left out in turn over every good image it
held on every check).
"""

from __future__ import annotations

import numpy as np

from ..core.mixture import GaussianMixture
from ..errors import FittingError
from .io import as_image_array
from .texture import coarse_maps

__all__ = ["ImageChannel", "image_descriptors"]

#: Quantiles of each coarse map's residual (from its plane over the image) in the descriptors.
_QUANTILES = (0.02, 0.1, 0.9, 0.98)
#: Covariance regularization of the standardized descriptors (few images, 31 descriptors).
_REG_COVAR = 0.1


def image_descriptors(image, work_size: int = 160, *, coarse: np.ndarray | None = None) -> np.ndarray:
    """Per-image descriptors of broad appearance.

    For each coarse map (level, detail, x and y gradient energy; not referred to the image):
    a plane fitted over the image (its mean, except for the level, which is centred already,
    and the absolute row and column slopes), and the 2/10/90/98% quantiles and the standard
    deviation of the residual from that plane.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path
    work_size : int, default=160
    coarse : ndarray, optional
        The image's :func:`~gmmseg.image.texture.coarse_maps` at ``work_size``, when already
        computed (saves the work).

    Returns
    -------
    ndarray of shape (31,), float64
    """
    maps = coarse_maps(as_image_array(image), work_size) if coarse is None else coarse
    h, w = maps.shape[:2]
    rows, cols = np.mgrid[:h, :w]
    design = np.column_stack([np.ones(h * w), rows.ravel() / h - 0.5, cols.ravel() / w - 0.5])
    out: list[float] = []
    for j in range(maps.shape[-1]):
        values = maps[..., j].ravel().astype(np.float64)
        coef = np.linalg.lstsq(design, values, rcond=None)[0]
        residual = values - design @ coef
        if j:
            out.append(coef[0])
        out += [abs(coef[1]), abs(coef[2]), *np.quantile(residual, _QUANTILES), residual.std()]
    return np.asarray(out)


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
    mean_, scale_ : ndarray of shape (31,)
        Standardization of the descriptors.
    center_, quantile_ : float
        Median and maximum of the good images' negative log-densities, each left out of the fit.
    """

    n_features = 31

    def __init__(self, work_size: int, random_state: int | None):
        self.work_size = work_size
        self.random_state = random_state

    def _mixture(self) -> GaussianMixture:
        seed = None if self.random_state is None else int(self.random_state)
        return GaussianMixture(1, covariance_type="full", reg_covar=_REG_COVAR, random_state=seed)

    def fit(self, images, coarse=None) -> ImageChannel:
        """Fit on good images and calibrate by leaving each out in turn.

        Parameters
        ----------
        images : sequence of images
            At least 3 good images.
        coarse : sequence of ndarray, optional
            Every image's :func:`~gmmseg.image.texture.coarse_maps` at ``work_size``, when
            already computed (saves the work).

        Returns
        -------
        self
        """
        if coarse is None:
            coarse = [None] * len(images)
        D = np.stack([image_descriptors(image, int(self.work_size), coarse=c) for image, c in zip(images, coarse)])
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

    def relative(self, image, *, coarse: np.ndarray | None = None) -> float:
        """How unusual an image is: 0 for a typical good image, 1 for the most unusual one.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, C), LoadedImage or path
        coarse : ndarray, optional
            As in :func:`image_descriptors`.

        Returns
        -------
        float
        """
        z = (image_descriptors(image, int(self.work_size), coarse=coarse) - self.mean_) / self.scale_
        nll = -float(self.mixture_.score_samples(z[None, :])[0])
        return (nll - self.center_) / max(self.quantile_ - self.center_, 1e-6)
