"""Per-pixel local-appearance features for defect detection.

Every image is turned into a stack of ``F`` feature maps of shape ``(h, w, F)`` at a
*working resolution* (the longest side resized to ``work_size`` pixels, so images of
different sizes have the same texture scale). Before any feature is computed the
image is converted to gray, and its exposure is normalized: the slowly varying
background (a wide Gaussian blur, ``background_sigma`` pixels) is subtracted and the
residual is divided by its robust spread (1.4826 × median absolute deviation), so
images of different brightness and contrast give the same features.

The feature families (each at every scale ``sigma`` in ``sigmas``):

``"smooth"``
    the normalized residual blurred at ``sigma`` (local mean: dark or bright spots);
``"gradient"``
    the gradient magnitude of the residual at ``sigma`` (edges, crack walls);
``"log"``
    the scale-normalized Laplacian of Gaussian, ``-sigma² ∇²G_sigma * r`` (blobs of
    size about ``sigma``: blow holes are dark blobs, cracks dark ridges);
``"hessian"``
    the two scale-normalized eigenvalues of the Hessian (ridge / valley detector).
``"hessian_axes"``
    the three scale-normalized second derivatives along the image axes, ``sigma² (∂xx,
    ∂yy, ∂xy)``: unlike the eigenvalues they know the *orientation* of a ridge, so a
    mixture fitted on parts photographed in a fixed position can learn that, e.g.,
    vertical machining marks are normal while a ridge at another angle is not.

:func:`broad_features` is the other side: coarse features *without* the exposure
normalization's background removal, for defects broader than ``background_sigma`` (stains,
brightness ramps, worn areas, missing corners and frayed edges), see
:data:`BROAD_FEATURES`.

The choice of the default families and scales was made by measurement on real
factory images (see ``docs/defects.md`` and ``scripts/eval_mtd.py``).

Examples
--------
>>> import numpy as np
>>> from gmmseg.image.texture import TextureSettings, texture_features
>>> image = np.random.default_rng(0).integers(0, 255, size=(40, 60), dtype=np.uint8)
>>> feats = texture_features(image, TextureSettings(work_size=30))
>>> feats.shape[:2], feats.dtype
((20, 30), dtype('float32'))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import ImageError, ParameterError

__all__ = [
    "TextureSettings",
    "to_gray",
    "working_shape",
    "working_image",
    "standardized_working_image",
    "resize",
    "normalize_exposure",
    "texture_features",
    "broad_features",
    "coarse_maps",
    "FAMILIES",
    "BROAD_FEATURES",
]

FAMILIES = ("smooth", "gradient", "log", "hessian", "hessian_axes")
#: The features :func:`broad_features` returns, in order.
BROAD_FEATURES = (
    "level",
    "detail",
    "energy_x",
    "energy_y",
    "coherence",
    "orient_axes",
    "orient_diagonal",
    "spread",
    "border_row",
    "border_col",
)
#: Feature maps per family and scale.
_FAMILY_WIDTH = {"smooth": 1, "gradient": 1, "log": 1, "hessian": 2, "hessian_axes": 3}


@dataclass(frozen=True)
class TextureSettings:
    """Feature settings (stored in the model file); the defaults are :class:`~gmmseg.DefectModel`'s.

    Parameters
    ----------
    work_size : int
        Longest side of the working image, in pixels (0 keeps the input's size).
    background_sigma : float
        Width of the Gaussian blur whose result is subtracted as background (in
        working pixels); 0 subtracts only the median.
    sigmas : tuple of float
        Scales of the texture filters (working pixels).
    families : tuple of str
        Feature families, a subset of :data:`FAMILIES`.
    work_scale : float
        If > 0, every image is resized by this one factor instead (parts photographed at
        one magnification keep one texture scale whatever their size); the working
        image's longest side is capped at ``4 * work_size``.
    """

    work_size: int = 160
    background_sigma: float = 12.0
    sigmas: tuple[float, ...] = (1.0, 2.0)
    families: tuple[str, ...] = ("smooth", "log", "gradient", "hessian", "hessian_axes")
    work_scale: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "sigmas", tuple(float(s) for s in self.sigmas))
        object.__setattr__(self, "families", tuple(self.families))
        if int(self.work_size) < 0 or (0 < int(self.work_size) < 16):
            raise ParameterError(f"work_size={self.work_size} is too small; use 0 (native size) or at least 16")
        if not self.sigmas or min(self.sigmas) <= 0:
            raise ParameterError(f"sigmas={self.sigmas} must be positive scales, e.g. (1, 2, 4)")
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ParameterError(f"unknown feature families {unknown}; choose from {', '.join(FAMILIES)}")
        if not (np.isfinite(self.work_scale) and self.work_scale >= 0):
            raise ParameterError(f"work_scale={self.work_scale} must be >= 0 (0: longest side to work_size)")
        if self.background_sigma < 0:
            raise ParameterError(f"background_sigma={self.background_sigma} must be >= 0")

    @property
    def n_features(self) -> int:
        """F, the feature maps :func:`texture_features` returns (the residual, then each family per scale)."""
        return 1 + len(self.sigmas) * sum(_FAMILY_WIDTH[f] for f in self.families)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-able values (as stored in the model file).

        Returns
        -------
        dict
        """
        d = asdict(self)
        d["sigmas"] = list(self.sigmas)
        d["families"] = list(self.families)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextureSettings:
        """The settings :meth:`to_dict` wrote.

        Parameters
        ----------
        d : dict

        Returns
        -------
        TextureSettings
        """
        return cls(**d)


def to_gray(image) -> np.ndarray:
    """Convert an image array to gray float32 in [0, 1].

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), uint8, uint16, bool or float

    Returns
    -------
    ndarray of shape (H, W), float32
    """
    arr = np.asarray(image)
    if arr.ndim == 3:
        if arr.shape[2] in (2, 4):  # drop alpha
            arr = arr[..., : arr.shape[2] - 1]
        if arr.shape[2] == 1:
            arr = arr[..., 0]
        elif arr.shape[2] == 3:
            arr = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        else:
            raise ImageError(f"image has {arr.shape[2]} channels; pass a gray, RGB or RGBA image")
    if arr.ndim != 2:
        raise ImageError(f"image has shape {np.shape(image)}; pass an (H, W) or (H, W, 3) array")
    if arr.shape[0] < 8 or arr.shape[1] < 8:
        raise ImageError(f"image of {arr.shape[1]}x{arr.shape[0]} pixels is too small; use at least 8x8")
    dtype = np.asarray(image).dtype
    out = arr.astype(np.float32)
    if dtype == np.uint8:
        out /= 255.0
    elif dtype == np.uint16:
        out /= 65535.0
    if not np.all(np.isfinite(out)):
        raise ImageError("image contains NaN or infinite values; clean it first")
    return out


def working_shape(shape: tuple[int, int], work_size: int, work_scale: float = 0.0) -> tuple[int, int]:
    """Shape of the working image for an input image.

    The longest side becomes ``work_size`` (0: the input's size), or with ``work_scale > 0``
    both sides are multiplied by it (longest side capped at ``4 * work_size``).

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the input.
    work_size : int
    work_scale : float, default=0

    Returns
    -------
    tuple of int
        ``(h, w)``, each at least 8.
    """
    h, w = int(shape[0]), int(shape[1])
    if work_scale > 0:
        scale = float(work_scale)
        if work_size:
            scale = min(scale, 4 * work_size / max(h, w))
    elif not work_size:
        return h, w
    else:
        scale = work_size / max(h, w)
    return max(8, round(h * scale)), max(8, round(w * scale))


def resize(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D float array (area averaging down, bilinear up).

    Parameters
    ----------
    array : ndarray of shape (h, w)
    shape : tuple of int
        ``(H, W)`` of the result.

    Returns
    -------
    ndarray of shape (H, W), float32
    """
    from PIL import Image

    if tuple(array.shape[:2]) == tuple(shape):
        return np.asarray(array, dtype=np.float32)
    img = Image.fromarray(np.ascontiguousarray(array, dtype=np.float32), mode="F")
    down = shape[0] * shape[1] < array.shape[0] * array.shape[1]
    method = Image.Resampling.BOX if down else Image.Resampling.BILINEAR
    return np.asarray(img.resize((shape[1], shape[0]), method), dtype=np.float32)


def working_image(image, work_size: int, work_scale: float = 0.0) -> np.ndarray:
    """Gray float32 image resized to :func:`working_shape`.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
    work_size : int
    work_scale : float, default=0

    Returns
    -------
    ndarray of shape (h, w), float32
    """
    gray = to_gray(image)
    return resize(gray, working_shape(gray.shape, work_size, work_scale))


def normalize_exposure(gray: np.ndarray, background_sigma: float) -> np.ndarray:
    """Subtract the background and divide by the robust spread of the residual.

    Parameters
    ----------
    gray : ndarray of shape (h, w), float
    background_sigma : float
        Gaussian width of the background estimate; 0 subtracts the median only.

    Returns
    -------
    ndarray of shape (h, w), float32, median about 0 and robust spread about 1.
    """
    from scipy import ndimage

    g = np.asarray(gray, dtype=np.float32)
    if background_sigma > 0:
        residual = g - ndimage.gaussian_filter(g, background_sigma, mode="reflect")
    else:
        residual = g - np.median(g)
    med = np.median(residual)
    mad = np.median(np.abs(residual - med)) * 1.4826
    spread = max(float(mad), float(residual.std()) * 0.1, 1e-4)
    return ((residual - med) / spread).astype(np.float32)


def texture_features(image, settings: TextureSettings | None = None) -> np.ndarray:
    """Per-pixel features of an image at its working resolution.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
    settings : TextureSettings, optional

    Returns
    -------
    ndarray of shape (h, w, F), float32
        ``(h, w)`` is :func:`working_shape` of the input; ``F = settings.n_features``.
        Feature 0 is the normalized residual itself.
    """
    from scipy import ndimage

    s = settings or TextureSettings()
    r = normalize_exposure(working_image(image, s.work_size, s.work_scale), s.background_sigma)
    maps = [r]
    for sigma in s.sigmas:
        hessian = None
        if "hessian" in s.families or "hessian_axes" in s.families:
            hessian = (
                ndimage.gaussian_filter(r, sigma, order=(0, 2), mode="reflect"),
                ndimage.gaussian_filter(r, sigma, order=(2, 0), mode="reflect"),
                ndimage.gaussian_filter(r, sigma, order=(1, 1), mode="reflect"),
            )
        for fam in s.families:
            if fam == "smooth":
                maps.append(ndimage.gaussian_filter(r, sigma, mode="reflect"))
            elif fam == "gradient":
                maps.append(ndimage.gaussian_gradient_magnitude(r, sigma, mode="reflect") * sigma)
            elif fam == "log":
                # the Laplacian is the sum of the Hessian's diagonal: reuse it when computed
                # (the same sum gaussian_laplace forms, bit for bit)
                if hessian is None:
                    laplace = ndimage.gaussian_laplace(r, sigma, mode="reflect")
                else:
                    laplace = hessian[1] + hessian[0]
                maps.append(-laplace * sigma**2)
            elif fam == "hessian":
                hxx, hyy, hxy = hessian
                tr = (hxx + hyy) / 2
                det = np.sqrt(((hxx - hyy) / 2) ** 2 + hxy**2)
                maps.append((tr + det) * sigma**2)
                maps.append((tr - det) * sigma**2)
            elif fam == "hessian_axes":
                maps.extend(h * sigma**2 for h in hessian)
    return np.stack(maps, axis=-1).astype(np.float32, copy=False)


def standardized_working_image(image, work_size: int = 160, work_scale: float = 0.0) -> np.ndarray:
    """The working image minus its median, divided by its robust spread (gain and offset removed).

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
    work_size : int, default=160
    work_scale : float, default=0
        As in :func:`working_shape`.

    Returns
    -------
    ndarray of shape (h, w), float32
        ``(h, w)`` is :func:`working_shape` of the input.
    """
    gray = working_image(image, work_size, work_scale)
    center = float(np.median(gray))
    spread = max(float(np.median(np.abs(gray - center))) * 1.4826, float(gray.std()) * 0.1, 1e-4)
    return (gray - center) / spread


def coarse_maps(image, work_size: int = 160, work_scale: float = 0.0, factor: int = 4) -> np.ndarray:
    """The coarse appearance maps of :func:`broad_features`, before they are referred to the image.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
    work_size : int, default=160
    work_scale : float, default=0
        As in :func:`working_shape`.
    factor : int, default=4
        Reduction of the working image, and the Gaussian width of the features (the structure
        tensor's window is ``factor`` working pixels, the spread's ``2 * factor``).

    Returns
    -------
    ndarray of shape (ceil(h / factor), ceil(w / factor), 8), float32
        ``level``, ``detail``, ``energy_x``, ``energy_y``, ``coherence``, ``orient_axes``,
        ``orient_diagonal``, ``spread`` (see :func:`broad_features`).
    """
    from scipy import ndimage

    z = standardized_working_image(image, work_size, work_scale)
    sigma = float(factor)

    def local_energy(values):
        return ndimage.gaussian_filter(values * values, sigma, mode="reflect")

    def log_energy(energy):
        # log: flattened texture is a ratio change of the fine energy, whatever its level
        return np.log(np.sqrt(energy) + 0.05)

    gx = ndimage.gaussian_filter(z, 1.0, order=(0, 1), mode="reflect")
    gy = ndimage.gaussian_filter(z, 1.0, order=(1, 0), mode="reflect")
    level = ndimage.gaussian_filter(z, sigma, mode="reflect")
    detail = log_energy(local_energy(z - ndimage.gaussian_filter(z, 1.0, mode="reflect")))
    # the gradient energies are the structure tensor's diagonal: filtered once for both
    jxx, jyy = local_energy(gx), local_energy(gy)
    jxy = ndimage.gaussian_filter(gx * gy, sigma, mode="reflect")
    energy_x, energy_y = log_energy(jxx), log_energy(jyy)
    # the structure tensor normalized by its trace: how strongly one direction dominates
    # (marks of a machined or brushed surface) and which one, free of the texture's strength
    trace = jxx + jyy + 1e-3
    axes, diagonal = (jxx - jyy) / trace, 2 * jxy / trace
    coherence = np.sqrt(axes * axes + diagonal * diagonal)
    mean = ndimage.gaussian_filter(z, 2 * sigma, mode="reflect")
    power = ndimage.gaussian_filter(z * z, 2 * sigma, mode="reflect")
    spread = np.log(np.sqrt(np.maximum(power - mean * mean, 0.0)) + 0.05)
    shape = max(4, -(-z.shape[0] // factor)), max(4, -(-z.shape[1] // factor))
    maps = (level, detail, energy_x, energy_y, coherence, axes, diagonal, spread)
    return np.stack([resize(m.astype(np.float32), shape) for m in maps], axis=-1)


def broad_features(image, work_size: int = 160, work_scale: float = 0.0, factor: int = 4) -> np.ndarray:
    """Coarse, position-aware features of broad appearance (see :data:`BROAD_FEATURES`).

    The working image (as for :func:`texture_features`) is centred on its median and divided
    by its robust spread (1.4826 × MAD), so gain and offset do not change the features, but
    no background is removed: a stain or a ramp stays visible. At ``sigma = factor`` working
    pixels: ``level``, the blurred image (broad brightness); ``detail``, the log of the local
    energy of the finest detail (worn or flattened texture); ``energy_x`` and ``energy_y``,
    the log of the local energy of the fine gradient along the columns and along the rows
    (oriented texture: a patch where the machining marks of a good part are missing);
    ``coherence``, ``orient_axes`` and ``orient_diagonal``, the fine gradient's structure
    tensor divided by its trace (how strongly one direction dominates, and which: along the
    axes or the diagonals), which see marks that change direction or fade whatever their
    strength; ``spread``, the log of the local standard deviation over ``2 * factor`` (uneven
    or flattened areas larger than the texture's grain). Each is reduced ``factor`` times and
    *referred to the image itself* (minus its own median over the image), so what is measured
    is how a region differs from the rest of its part, not how the part differs from other
    parts (good parts differ in overall sheen far more than a defect changes it). Two position
    features are added: the distance of the pixel to the nearer top/bottom and left/right
    border, as a share of the height and width (on aligned parts, a missing corner or a
    frayed edge is unusual *where* good parts have material).

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
    work_size : int, default=160
    work_scale : float, default=0
        As in :func:`working_shape`.
    factor : int, default=4
        Reduction of the working image, and the Gaussian width of the features.

    Returns
    -------
    ndarray of shape (ceil(h / factor), ceil(w / factor), 10), float32
        ``(h, w)`` is :func:`working_shape` of the input (each side of the result at least 4).
    """
    coarse = coarse_maps(image, work_size, work_scale, factor)
    shape = coarse.shape[:2]
    maps = [coarse[..., j] - np.median(coarse[..., j]) for j in range(coarse.shape[-1])]
    rows = (np.arange(shape[0], dtype=np.float32) + 0.5) / shape[0]
    cols = (np.arange(shape[1], dtype=np.float32) + 0.5) / shape[1]
    maps.append(np.broadcast_to(np.minimum(rows, 1 - rows)[:, None], shape))
    maps.append(np.broadcast_to(np.minimum(cols, 1 - cols)[None, :], shape))
    return np.stack(maps, axis=-1).astype(np.float32, copy=False)
