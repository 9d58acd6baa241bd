"""Photo segmentation by pixel color: :func:`segment_image` and :class:`Segmentation`.

How it works
------------
1. **Distinct colors.** The pixels are reduced to the image's distinct colors and
   their pixel counts (8-bit RGB colors are packed into 24-bit integers and
   counted with ``np.bincount``; 16-bit colors go through ``np.unique``). A 12 MP
   photo has 10^4 to 10^6 distinct colors.
2. **Exact weighted fit.** The core :class:`~gmmseg.GaussianMixture` is fitted to the
   color features of the distinct colors with ``sample_weight`` = pixel counts.
   As an integer weight is the same as repeating the row, this *is* the fit on all
   pixels (not an approximation), at a fraction of the cost and independent of the
   resolution. ``n_components="auto"`` chooses K by ICL on the distinct colors binned
   to 5 Lab units (:mod:`gmmseg.image.auto_k`) and fits that K the same way.
3. **Lookup labeling.** Each distinct color is labeled once and pixels are labeled
   through a per-color lookup table.
4. **Optional spatial smoothing** (``smoothing=beta``, or ``"auto"`` for beta estimated
   from the labels): a Potts-prior hidden Markov random field, see :mod:`gmmseg.image.smoothing`.
5. **Canonical label order**: segments are numbered by increasing lightness (CIE L* of
   their mean color), ties by decreasing pixel share, so a photo gets the same
   label numbers on every run; with the same seed the output is byte-identical.
6. **Regions** (``Segmentation.regions``): a color segment is not a region (one label
   spans a dark jacket, the asphalt and the hair), so the labels are split into
   4-connected pieces, pieces under ``min_region_size`` pixels merge into the neighbor of
   the closest mean Lab color, and adjacent regions closer than ``merge_threshold`` in
   mean Lab merge, closest first (:mod:`gmmseg.image.regions`; the pixels are read once, into
   per-piece sums, :class:`~gmmseg.image.regions.RegionStats`); then adjacent regions whose
   shared boundary shows little color contrast merge, weakest first, while the cost is at
   most ``contrast_threshold`` (:mod:`gmmseg.image.region_merge`); with that merge the
   pieces are first cut along the photo's edges (:mod:`gmmseg.image.region_edges`). ``blur=1`` (a Gaussian
   blur of the pixels before the fit, so approximate) leaves fewer speckles. On BSDS500
   (longest side 320 px) blur 1, K=4, min size 50 and threshold 12 score PRI/VI/covering
   0.749/2.217/0.517 on val, felzenszwalb 0.771/2.583/0.502 (``docs/segment.md``).

Transparent pixels
------------------
Fully transparent pixels (alpha = 0, from an RGBA/LA/palette file or a ``mask``) are
left out of the fit and get their own label **0**; the segments are then numbered
1..K. Without transparent pixels the segments are numbered 0..K-1.
``Segmentation.transparent_label`` says which case applies (0 or None).

Approximate options (documented as such)
-----------------------------------------
``bits=b`` rounds every channel to ``b`` bits before the fit (fewer distinct colors,
faster, approximate). ``spatial_weight > 0`` adds x/y position features; the fit then
uses distinct (color, cell of a 64 × 64 grid) rows, an approximation in position
only, and every pixel is labeled with its exact position.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.mixture import GaussianMixture
from ..core.selection import CRITERIA
from ..core.threads import limit_blas_threads
from ..errors import FittingError, InputError, ParameterError
from .auto_k import auto_mixture
from .colors import DistinctColors
from .features import (
    check_color_space,
    feature_names,
    lab_lightness,
    rgb_to_lab,
    unit_color_features,
)
from .io import LoadedImage
from .region_edges import edge_segments
from .region_merge import boundary_contrast, merge_by_contrast
from .regions import RegionStats, connected_regions, merge_regions, region_table
from .smoothing import METHODS, NEIGHBORHOODS, label_energy, noise_sigma, potts_beta, potts_em
from .spatial import predict_spatial, spatial_probabilities, spatial_rows

__all__ = ["segment_image", "Segmentation", "REG_COVAR"]

#: Default covariance regularisation in feature units: the variance (1/12) of a uniform
#: rounding error of one unit, which is about one step of an 8-bit channel.
REG_COVAR = 1.0 / 12.0
#: Boundary color of overlays (yellow, as scikit-image's ``mark_boundaries``).
BOUNDARY_COLOR = (255, 255, 0)
_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


# ---------------------------------------------------------------------------- result


@dataclass
class Segmentation:
    """The result of :func:`segment_image`.

    Attributes
    ----------
    labels : ndarray of shape (H, W), uint8 (uint16 when labels exceed 255)
        Segment label of every pixel, in canonical order (see the module notes).
    n_segments : int
        K, the number of color segments (transparent pixels not counted).
    model : GaussianMixture
        The fitted mixture; component ``j`` is segment ``segment_labels[j]``.
    segments : list of dict
        One row per segment: ``label``, ``n_pixels``, ``share`` (of the visible
        pixels), ``mean_rgb`` (0..255), ``mean_lab`` (CIE Lab), ``weight`` (the
        mixture weight).
    transparent_label : int or None
        0 when the image has fully transparent pixels (they get label 0), else None.
    selection : SelectionResult or None
        The criterion table when ``n_components="auto"``.
    color_space, covariance_type : str
    smoothing : float
        The Potts ``beta`` (0: none); with ``smoothing="auto"`` the estimated one.
    n_colors : int
        Distinct colors the fit used (rows of the weighted fit).
    n_pixels : int
        Pixels in the fit (visible pixels).
    regions : ndarray of shape (H, W), int32
        Connected regions 1..R (0 at transparent pixels), numbered in raster order of
        their first pixel; see the module notes.
    region_table : list of dict
        One row per region: ``region``, ``area``, ``bbox`` (``[row_min, col_min, row_max,
        col_max]``, max exclusive), ``mean_rgb`` (0..255), ``mean_lab``, ``segment`` (the
        color segment label of most of its pixels).
    timings : dict
        Seconds per stage.
    """

    labels: np.ndarray
    n_segments: int
    model: GaussianMixture
    segments: list[dict[str, Any]]
    transparent_label: int | None
    selection: Any
    color_space: str
    covariance_type: str
    smoothing: float
    n_colors: int
    n_pixels: int
    regions: np.ndarray
    region_table: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    _pixels: np.ndarray | None = field(default=None, repr=False)
    _mask: np.ndarray | None = field(default=None, repr=False)
    _proba: Any = field(default=None, repr=False)  # callable(j) -> (H, W) float32 map of component j
    _posterior: Any = field(default=None, repr=False)  # callable(j) -> smoothed (H, W) map, or None

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W)."""
        return tuple(self.labels.shape)

    @property
    def segment_labels(self) -> list[int]:
        """The labels of the K color segments, in component order."""
        offset = 0 if self.transparent_label is None else 1
        return list(range(offset, offset + self.n_segments))

    @property
    def palette(self) -> np.ndarray:
        """Mean color of every label, shape (n_labels, 3), float64 on the 0..255 scale (transparent: 0)."""
        offset = 0 if self.transparent_label is None else 1
        pal = np.zeros((offset + self.n_segments, 3))
        for row in self.segments:
            pal[row["label"]] = row["mean_rgb"]
        return pal

    def probabilities(self, label: int) -> np.ndarray:
        """Posterior probability map of one segment, shape (H, W), float32 (0 at transparent pixels).

        With smoothing, the mean-field posterior (one-hot for ICM); otherwise the
        mixture's posterior ``p(k | color)``.
        """
        labels = self.segment_labels
        if label not in labels:
            raise ParameterError(f"label {label!r} is not a segment label; use one of {labels[0]}..{labels[-1]}")
        j = label - labels[0]
        if self._posterior is not None:
            return self._posterior(j)
        return self._proba(j)

    def probability_maps(self, dtype=np.float32) -> np.ndarray:
        """All probability maps stacked: ``maps[j]`` is segment ``segment_labels[j]``.

        Parameters
        ----------
        dtype : dtype, default=float32
            Of the result (float16 halves a saved file; the maps are computed in float32).

        Returns
        -------
        ndarray of shape (K, H, W)
        """
        out = np.empty((self.n_segments, *self.shape), dtype=dtype)
        for j, label in enumerate(self.segment_labels):
            out[j] = self.probabilities(label)
        return out

    def segmented_image(self) -> np.ndarray:
        """Every pixel painted with its segment's mean color, the input's dtype and channels.

        Shape (H, W) for gray images, (H, W, 3) for color ones, with a 4th (alpha)
        channel when there are transparent pixels (alpha 0 there, full elsewhere).
        """
        pixels = self._pixels
        maximum = 65535.0 if pixels.dtype == np.uint16 else 255.0
        offset = 0 if self.transparent_label is None else 1
        pal = np.zeros((offset + self.n_segments, 3))  # every label, even of a segment left without pixels
        for row in self.segments:
            pal[row["label"]] = row["mean_rgb_native"]
        pal = np.clip(np.round(pal), 0, maximum).astype(pixels.dtype)
        if pixels.ndim == 2:
            out = pal[:, 0][self.labels]
            channels = [out]
        else:
            out = pal[self.labels]
            channels = None
        if self.transparent_label is None:
            return out
        alpha = np.where(self._mask, pixels.dtype.type(maximum), pixels.dtype.type(0))
        if channels is not None:
            return np.stack([out, alpha], axis=2)
        return np.concatenate([out, alpha[..., None]], axis=2)

    @property
    def n_regions(self) -> int:
        """R, the number of connected regions."""
        return len(self.region_table)

    def boundaries(self) -> np.ndarray:
        """Pixels whose region differs from a right or lower neighbor's, shape (H, W), bool."""
        lab = self.regions
        edge = np.zeros(lab.shape, dtype=bool)
        edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
        edge[:-1, :] |= lab[:-1, :] != lab[1:, :]
        return edge

    def overlay_image(self, color=BOUNDARY_COLOR) -> np.ndarray:
        """The photo (8-bit RGB) with region boundaries drawn in ``color``, shape (H, W, 3), uint8.

        Boundaries are one pixel wide, two pixels for images with more than 2 MP.
        """
        pixels = self._pixels
        rgb = (pixels >> 8).astype(np.uint8) if pixels.dtype == np.uint16 else pixels.copy()
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, axis=2)
        edge = self.boundaries()
        if edge.size > 2_000_000:
            grown = edge.copy()
            grown[1:, :] |= edge[:-1, :]
            grown[:, 1:] |= edge[:, :-1]
            edge = grown
        rgb[edge] = np.asarray(color, dtype=np.uint8)
        return rgb

    def summary(self) -> dict[str, Any]:
        """JSON-able summary: K, the per-segment and per-region tables, settings, timings (and the criterion table)."""
        out: dict[str, Any] = {
            "n_segments": self.n_segments,
            "shape": list(self.shape),
            "color_space": self.color_space,
            "covariance_type": self.covariance_type,
            "smoothing": self.smoothing,
            "transparent_label": self.transparent_label,
            "n_pixels": self.n_pixels,
            "n_colors": self.n_colors,
            "segments": [{k: v for k, v in row.items() if k != "mean_rgb_native"} for row in self.segments],
            "n_regions": self.n_regions,
            "regions": self.region_table,
            "settings": self.settings,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
        if self.selection is not None:
            out["selection"] = self.selection.summary()
        return out


# ---------------------------------------------------------------------------- helpers


def _as_pixels(image, mask) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate the input image; returns (pixels (H, W[, 3]) uint8/uint16, visible mask or None). Never copies in place."""
    alpha = None
    if isinstance(image, LoadedImage):
        pixels, alpha = image.pixels, image.alpha
    else:
        pixels = np.asarray(image)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        alpha = pixels[:, :, 3] > 0
        pixels = pixels[:, :, :3]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise InputError(f"image must have shape (H, W), (H, W, 3) or (H, W, 4), got {pixels.shape}")
    if pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise InputError(f"image has no pixels (shape {pixels.shape})")
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8) * 255
    elif np.issubdtype(pixels.dtype, np.floating):
        if not np.all(np.isfinite(pixels)) or pixels.min() < 0 or pixels.max() > 1:
            raise InputError("float images must hold finite values in [0, 1]; scale them or pass uint8/uint16")
        pixels = np.round(pixels * 65535.0).astype(np.uint16)
    elif np.issubdtype(pixels.dtype, np.integer) and pixels.dtype not in (np.uint8, np.uint16):
        low, high = int(pixels.min()), int(pixels.max())
        if low < 0 or high > 65535:
            raise InputError(f"integer image values must be in 0..65535, got {low}..{high}")
        pixels = pixels.astype(np.uint8 if high <= 255 else np.uint16)
    elif pixels.dtype not in (np.uint8, np.uint16):
        raise InputError(f"image dtype {pixels.dtype} is not supported; pass uint8, uint16 or floats in [0, 1]")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != pixels.shape[:2]:
            raise InputError(f"mask must have shape {pixels.shape[:2]}, got {mask.shape}")
        alpha = mask if alpha is None else (alpha & mask)
    if alpha is not None and alpha.all():
        alpha = None
    return pixels, alpha


def _check_settings(n_components, color_space, covariance_type, smoothing, max_components, criterion, bits):
    if isinstance(n_components, str):
        if n_components.lower() != "auto":
            raise ParameterError(f"n_components must be a positive integer or 'auto', got {n_components!r}")
        n_components = "auto"
    elif isinstance(n_components, bool) or int(n_components) != n_components or n_components < 1:
        raise ParameterError(f"n_components must be a positive integer or 'auto', got {n_components!r}")
    else:
        n_components = int(n_components)
    color_space = check_color_space(color_space)
    if covariance_type not in _COVARIANCE_TYPES:
        raise ParameterError(f"covariance_type must be one of {', '.join(_COVARIANCE_TYPES)}, got {covariance_type!r}")
    if isinstance(smoothing, str) and smoothing.strip().lower() == "auto":
        smoothing = "auto"
    else:
        smoothing = _non_negative(smoothing, "smoothing", " (the Potts beta) or 'auto'")
    if isinstance(max_components, bool) or int(max_components) != max_components or max_components < 1:
        raise ParameterError(f"max_components must be a positive integer, got {max_components!r}")
    if criterion not in CRITERIA:
        raise ParameterError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    if bits is not None and (isinstance(bits, bool) or int(bits) != bits or not 1 <= bits <= 16):
        raise ParameterError(f"bits must be an integer from 1 to 16 or None, got {bits!r}")
    return n_components, color_space, smoothing


# ---------------------------------------------------------------------------- main entry


def segment_image(
    image,
    n_components: int | str = "auto",
    *,
    color_space: str = "lab",
    covariance_type: str = "full",
    smoothing: float | str = 0.0,
    max_components: int = 10,
    random_state=None,
    criterion: str = "icl",
    spatial_weight: float = 0.0,
    neighborhood: int = 4,
    smoothing_method: str = "mean-field",
    smoothing_iter: int = 20,
    bits: int | None = None,
    mask: np.ndarray | None = None,
    blur: float = 0.0,
    min_region_size: int = 50,
    merge_threshold: float | None = None,
    contrast_threshold: float | None = None,
    reg_covar: float = REG_COVAR,
    n_init: int = 1,
    max_iter: int = 100,
    tol: float = 1e-3,
    dtype: str = "float32",
) -> Segmentation:
    """Segment a photo by pixel color with a Gaussian mixture.

    Parameters
    ----------
    image : ndarray of shape (H, W), (H, W, 3) or (H, W, 4), or LoadedImage
        uint8 or uint16 (other integers in 0..65535 and floats in [0, 1] are
        accepted; floats are taken at 16 bits). A 4th channel is alpha: fully
        transparent pixels are left out and get label 0. Never modified.
    n_components : int or "auto", default="auto"
        K, the number of segments, or "auto" to choose K in 2..``max_components``
        by ``criterion`` (ICL by default; see :mod:`gmmseg.image.auto_k`). On BSDS500 the
        regions of "auto" beat those of K=4 on PRI and covering on train and val alike.
    color_space : {"lab", "rgb", "hsv", "gray"}, default="lab"
        See :mod:`gmmseg.image.features`. Gray images always use one channel.
    covariance_type : {"full", "diag", "tied", "spherical"}, default="full"
    smoothing : float or "auto", default=0.0
        Potts prior strength ``beta`` of the spatial smoothing (0: none; 1 to 2 is a
        good start), or ``"auto"``: beta estimated from the data (the pseudo-likelihood
        estimate given the smoothed labels, iterated to a fixed point, at least 2; the estimate
        is :attr:`Segmentation.smoothing`). On a clean image (flat colors: a render, a logo,
        a screenshot) the smoothing starts from the plain fit only. See
        :mod:`gmmseg.image.smoothing`.
    max_components : int, default=10
        Largest K tried by ``n_components="auto"``.
    random_state : int, Generator or None
        Seed of the initialization (same seed, same labels).
    criterion : {"bic", "aic", "icl"}, default="icl"
        Criterion of ``n_components="auto"`` (BIC nearly always picks ``max_components``).
    spatial_weight : float, default=0.0
        Weight of x/y position features (0: none). 1 makes the longer image side
        span 100 feature units (about the range of L*). Fitted on a 64 × 64 grid of
        positions (approximate in position only). Cannot be combined with smoothing.
    neighborhood : {4, 8}, default=4
        Neighborhood of the smoothing.
    smoothing_method : {"mean-field", "icm"}, default="mean-field"
    smoothing_iter : int, default=20
        Maximum EM iterations of the smoothing.
    bits : int or None, default=None
        Round channels to this many bits before the fit (approximate, faster). None is exact.
    mask : ndarray of shape (H, W), bool, optional
        Pixels to segment; the others are treated as transparent (label 0).
    blur : float, default=0.0
        Standard deviation in pixels of a Gaussian blur of the pixels before the fit
        (0: none, exact). 1 leaves fewer speckles (the ``gmmseg segment`` default).
    min_region_size : int, default=50
        Regions with fewer pixels merge into their most similar neighbor.
    merge_threshold : float, optional
        Adjacent regions whose mean Lab colors are at most this far apart merge,
        closest first (0: no such merging). Default: 9 with ``n_components="auto"``,
        12 with a fixed K (the best of each on BSDS500 train, ``docs/benchmarks.md``).
    contrast_threshold : float, optional
        Then adjacent regions merge, weakest boundary first, while their boundary-contrast
        cost is at most this (:mod:`gmmseg.image.region_merge`; 0: no such merging).
        When above 0, the color pieces are first cut along the photo's edges
        (:mod:`gmmseg.image.region_edges`). Default: 3 with ``n_components="auto"``, 0 with
        a fixed K (its few regions lost PRI to the merge).
    reg_covar : float, default=1/12
        Added to covariance diagonals, in feature units (about the variance of
        rounding a color to 8 bits).
    n_init, max_iter, tol
        Passed to :class:`~gmmseg.GaussianMixture`.
    dtype : {"float32", "float64"}, default="float32"
        Compute dtype of the E-step (statistics are always accumulated in float64).
        float32 is about 1.3x faster and changes the mean log-likelihood per pixel by
        about 1e-6; "float64" gives full precision.

    Returns
    -------
    Segmentation

    Raises
    ------
    InputError
        An image of the wrong shape or dtype, or without visible pixels.
    ParameterError
        Invalid options.
    FittingError
        Fewer distinct colors than segments.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> image = np.zeros((20, 20, 3), dtype=np.uint8)
    >>> image[:, 10:] = (200, 40, 40)
    >>> image = np.clip(image + rng.normal(0, 5, image.shape), 0, 255).astype(np.uint8)
    >>> seg = segment_image(image, 2, random_state=0)
    >>> seg.labels[0, :3].tolist(), seg.labels[0, -3:].tolist()  # darker segment first
    ([0, 0, 0], [1, 1, 1])
    >>> [round(row["share"], 2) for row in seg.segments]
    [0.5, 0.5]
    """
    # Segmentation's matrices are 1x1 to 5x5: BLAS threads only add synchronization.
    with limit_blas_threads(1):
        return _segment(**locals())


def _segment(
    image,
    n_components,
    *,
    color_space,
    covariance_type,
    smoothing,
    max_components,
    random_state,
    criterion,
    spatial_weight,
    neighborhood,
    smoothing_method,
    smoothing_iter,
    bits,
    mask,
    blur,
    min_region_size,
    merge_threshold,
    contrast_threshold,
    reg_covar,
    n_init,
    max_iter,
    tol,
    dtype,
) -> Segmentation:
    started = time.perf_counter()
    n_components, color_space, smoothing = _check_settings(
        n_components, color_space, covariance_type, smoothing, max_components, criterion, bits
    )
    if neighborhood not in NEIGHBORHOODS:
        raise ParameterError(f"neighborhood must be 4 or 8, got {neighborhood!r}")
    if smoothing_method not in METHODS:
        raise ParameterError(f"smoothing_method must be one of {', '.join(METHODS)}, got {smoothing_method!r}")
    spatial_weight = _non_negative(spatial_weight, "spatial_weight")
    smooth = smoothing == "auto" or smoothing > 0
    if spatial_weight > 0 and smooth:
        raise ParameterError("use either smoothing or spatial_weight, not both (both make regions compact)")

    if merge_threshold is None:
        merge_threshold = 9.0 if n_components == "auto" else 12.0
    if contrast_threshold is None:
        contrast_threshold = 3.0 if n_components == "auto" else 0.0
    blur, min_region_size, merge_threshold = _check_region_settings(blur, min_region_size, merge_threshold)
    contrast_threshold = _non_negative(contrast_threshold, "contrast_threshold")
    pixels, visible = _as_pixels(image, mask)
    depth = 16 if pixels.dtype == np.uint16 else 8
    if bits is not None and bits > depth:
        raise ParameterError(f"bits={bits} is more than the image's {depth} bits per channel; use at most {depth}")
    timings: dict[str, float] = {}

    t = time.perf_counter()
    colors = DistinctColors(_blurred(pixels, blur), visible, bits)
    color_feats = unit_color_features(colors.unit, color_space)
    if colors.n_channels == 3:
        lab = color_feats if color_space == "lab" else rgb_to_lab(colors.unit)
    else:
        lab = np.column_stack([lab_lightness(colors.unit[:, 0]), np.zeros((colors.n_colors, 2))])
    timings["colors"] = time.perf_counter() - t

    # Rows of the weighted fit.
    t = time.perf_counter()
    if spatial_weight > 0:
        X_fit, w_fit = spatial_rows(colors, color_feats, spatial_weight)
    else:
        X_fit, w_fit = color_feats, colors.counts.astype(np.float64)
    n_distinct = int(X_fit.shape[0]) if spatial_weight > 0 else colors.n_colors
    k_needed = n_components if n_components != "auto" else 1
    if n_distinct < k_needed:
        raise FittingError(
            f"the image has only {n_distinct} distinct color(s); ask for at most {n_distinct} segments (-k)"
        )
    model_params = {
        "covariance_type": covariance_type,
        "reg_covar": reg_covar,
        "n_init": n_init,
        "max_iter": max_iter,
        "tol": tol,
        "dtype": dtype,
    }
    selection = None
    if n_components == "auto":
        selection = auto_mixture(X_fit, w_fit, max_components, criterion, random_state, model_params)
        model = selection.best_model
    else:
        model = GaussianMixture(n_components, random_state=random_state, **model_params)
        model.fit(X_fit, sample_weight=w_fit)
    timings["fit"] = time.perf_counter() - t
    k = int(model.n_components)

    # Labels (and probabilities) of every pixel. Every per-pixel map from here on (labels,
    # the Lab of the regions' sums) is gathered through the color index: one pass through the
    # 2^24-entry table of the codes, then lookups in a table of N colors that stays in cache.
    colors.inverse()
    posteriors = None
    proba_color = None
    t = time.perf_counter()
    result = None
    if smooth:
        result = _smoothed(
            pixels,
            visible,
            bits,
            colors,
            color_feats,
            model,
            smoothing,
            color_space,
            random_state,
            model_params,
            neighborhood=neighborhood,
            method=smoothing_method,
            max_iter=smoothing_iter,
        )
    settings_extra = {}
    if smooth and result is None:
        settings_extra = {"smoothing_start": "none: every smoothed run emptied segments, the plain fit is kept"}
    beta = result.beta if result is not None else (0.0 if smoothing == "auto" else smoothing)
    if result is not None:
        model = result.model
        raw_labels = result.labels  # -1 at excluded pixels
        posteriors = result.posterior
        timings["smoothing"] = time.perf_counter() - t
        pix_count = np.bincount(raw_labels[raw_labels >= 0].ravel(), minlength=k)
        settings_extra = {
            "smoothing_iterations": result.n_iter,
            "smoothing_converged": result.converged,
            "smoothing_start": result.start,
        }
        if smoothing == "auto":
            settings_extra.update(smoothing_beta=beta, smoothing_beta_rounds=result.beta_rounds)
    elif spatial_weight > 0:
        raw_labels = predict_spatial(colors, color_feats, model, spatial_weight)
        pix_count = np.bincount(raw_labels[raw_labels >= 0].ravel(), minlength=k)
    else:
        color_label = model.predict(color_feats)
        pix_count = np.bincount(color_label, weights=colors.counts, minlength=k).astype(np.int64)
        raw_labels = None

    # Per-segment mean colors (of the pixels given each label) and canonical order.
    if raw_labels is not None:
        inv = colors.inverse().ravel()
        flat_labels = raw_labels.ravel()
        keep = flat_labels >= 0
        per_color = np.zeros((colors.n_colors, k))
        _count_pairs(
            per_color, inv[keep] if not keep.all() else inv, flat_labels[keep] if not keep.all() else flat_labels
        )
    else:
        per_color = np.zeros((colors.n_colors, k))
        per_color[np.arange(colors.n_colors), color_label] = colors.counts
    sums = per_color.sum(axis=0)
    safe = np.where(sums > 0, sums, 1.0)
    mean_unit = (per_color.T @ colors.unit) / safe[:, None]
    mean_lab = (per_color.T @ lab) / safe[:, None]
    if np.any(sums == 0):  # empty segments: describe them by their soft (posterior-weighted) color
        soft = model.predict_proba(color_feats) * colors.counts[:, None]
        soft_sum = np.maximum(soft.sum(axis=0), 1e-300)
        for j in np.flatnonzero(sums == 0):
            mean_unit[j] = soft[:, j] @ colors.unit / soft_sum[j]
            mean_lab[j] = soft[:, j] @ lab / soft_sum[j]
    if colors.n_channels == 1:
        mean_unit = np.repeat(mean_unit[:, :1], 3, axis=1)
    lightness = mean_lab[:, 0]
    order = np.array(sorted(range(k), key=lambda j: (round(float(lightness[j]), 6), -int(pix_count[j]), j)))
    rank = np.empty(k, dtype=np.intp)
    rank[order] = np.arange(k)
    model.permute_components(order)

    offset = 0 if visible is None else 1
    label_dtype = np.uint8 if k + offset <= 256 else np.uint16
    if raw_labels is None:
        labels = colors.gather((rank[color_label] + offset).astype(label_dtype), fill=0)
        proba_color = None  # computed on demand
    else:
        lut = np.append((rank + offset).astype(label_dtype), label_dtype(0))
        labels = lut[raw_labels]  # -1 → 0
    if posteriors is not None:
        unordered = posteriors

        def posteriors(j: int) -> np.ndarray:
            return unordered(int(order[j]))

    timings["label"] = time.perf_counter() - t - timings.get("smoothing", 0.0)

    t = time.perf_counter()
    # With the boundary-contrast merge, the pieces are also cut along the photo's edges: one
    # color label often spans an object and its background, and no merge can split them.
    pieces = connected_regions(labels, visible, edge_segments(pixels) if contrast_threshold > 0 else None)
    # The pixels are read once, into per-piece sums; merging and the table use only those.
    # Lab is summed at float32 precision per pixel, as the region means always were.
    lab_values = lab.astype(np.float32).astype(np.float64)
    stats = RegionStats.of_pieces(
        pieces,
        labels,
        lab=(colors.gather(lab_values[:, c], fill=0.0) for c in range(3)),
        rgb=[pixels] if pixels.ndim == 2 else (pixels[..., c] for c in range(3)),
    )
    ids = merge_regions(pieces, stats, min_size=min_region_size, threshold=merge_threshold)
    if contrast_threshold > 0:
        contrast = boundary_contrast(ids[pieces], lab_values, colors.inverse())
        ids = merge_by_contrast(np.bincount(ids, weights=stats.area), contrast, threshold=contrast_threshold)[ids]
    regions = ids[pieces]
    table = region_table(stats, ids, rgb_max=float(2**depth - 1))
    del pieces
    timings["regions"] = time.perf_counter() - t

    maximum = float(2**depth - 1)
    n_visible = colors.n_pixels
    segments = []
    for j, old in enumerate(order):
        segments.append(
            {
                "label": int(j + offset),
                "n_pixels": int(pix_count[old]),
                "share": float(pix_count[old]) / n_visible,
                "mean_rgb": [round(float(v) * 255.0, 3) for v in mean_unit[old]],
                "mean_lab": [round(float(v), 3) for v in mean_lab[old]],
                "weight": float(model.weights_[j]),
                "mean_rgb_native": [float(v) * maximum for v in mean_unit[old]],
            }
        )

    def proba(j: int) -> np.ndarray:
        nonlocal proba_color
        if spatial_weight > 0:
            return spatial_probabilities(colors, color_feats, model, spatial_weight, j)
        if proba_color is None:
            proba_color = model.predict_proba(color_feats).astype(np.float32)
        return colors.gather(proba_color[:, j], fill=0.0)

    settings = {
        "n_components": n_components,
        "color_space": color_space,
        "covariance_type": covariance_type,
        "smoothing": smoothing,
        "smoothing_method": smoothing_method if smooth else None,
        "neighborhood": neighborhood if smooth else None,
        "spatial_weight": spatial_weight,
        "bits": bits,
        "blur": blur,
        "min_region_size": min_region_size,
        "merge_threshold": merge_threshold,
        "contrast_threshold": contrast_threshold,
        "criterion": criterion if n_components == "auto" else None,
        "max_components": int(max_components) if n_components == "auto" else None,
        "random_state": random_state if isinstance(random_state, (int, type(None))) else "generator",
        "reg_covar": reg_covar,
        "converged": bool(getattr(model, "converged_", True)),
        "n_iter": int(getattr(model, "n_iter_", 0)),
        "feature_names": feature_names(color_space, colors.n_channels) + (["x", "y"] if spatial_weight > 0 else []),
        **settings_extra,
    }
    timings["total"] = time.perf_counter() - started
    return Segmentation(
        labels=labels,
        n_segments=k,
        model=model,
        segments=segments,
        transparent_label=None if visible is None else 0,
        selection=selection,
        color_space=color_space,
        covariance_type=covariance_type,
        smoothing=beta,
        n_colors=colors.n_colors,
        n_pixels=n_visible,
        regions=regions,
        region_table=table,
        timings=timings,
        settings=settings,
        _pixels=pixels,
        _mask=visible,
        _proba=proba,
        _posterior=posteriors,
    )


#: Blur (pixels) of the image whose fit gives the second start of the smoothing.
START_BLUR = 2.0
#: Aperture (pixels) of the median filter of the image whose fit gives the third start.
START_MEDIAN = 5
#: A clean image, on which the smoothing starts from the plain fit only: its noise
#: (:func:`~gmmseg.image.smoothing.noise_sigma`, levels of 0..255) is under CLEAN_NOISE (a
#: quarter of the pixels or more lie in exactly flat 3 x 3 windows: a flat render, a logo, a
#: screenshot, also after JPEG), or the plain fit's own expected share of mislabelled pixels
#: (``Σ n_c (1 - max_k p(k | x_c)) / n``) is under CLEAN_AMBIGUITY (well separated flat colors
#: under a little noise), or under LOW_NOISE_AMBIGUITY when the noise is under LOW_NOISE (the
#: estimate's first step above 0, 0.52: low-noise graphics after JPEG, whose quantization
#: flattens the noise inside the blocks, and about a fifth of the photos). The filtered copies'
#: starts are for noise that misleads the plain fit; on clean graphics their blurred edge colors
#: make labels of their own (noise-free dots: ARI 1.0 -> 0.963), and on JPEG'd line art their
#: runs thicken the lines by the ringing halo (0.72 -> 0.42). Photos are neither (296 of the
#: 300 BSDS train and val photos).
CLEAN_NOISE = 0.5
CLEAN_AMBIGUITY = 0.005
LOW_NOISE = 0.6
LOW_NOISE_AMBIGUITY = 0.015
#: Blurs (pixels) of the colors inside one segment before it is split in two by color: a
#: small one for small regions, a large one for near-identical colors under strong noise.
SPLIT_BLURS = (4.0, 12.0)
#: Pixels of a segment its two-color split is fitted to (at most; all are then labelled).
SPLIT_SAMPLE = 50_000
#: Mixture weight under which smoothing has emptied a segment.
ALIVE_WEIGHT = 0.01
#: Refill starts run to convergence per emptied segment (the best by label energy at the start).
REFILL_TRIALS = 2
#: With ``smoothing="auto"``: the beta of the first smoothing (and the least beta), the relative change of the
#: estimate at which its fixed-point iteration stops, and a bound on the rounds (each round
#: costs about one Potts run).
AUTO_BETA_START = 2.0
AUTO_BETA_TOL = 0.05
AUTO_BETA_ROUNDS = 4


def _smoothed(pixels, visible, bits, colors, color_feats, model, beta, *args, **options):
    """:func:`_smoothed_at` ``beta``; for ``beta="auto"`` then iterated to the pseudo-likelihood estimate of beta.

    With ``"auto"`` the smoothing first runs at :data:`AUTO_BETA_START`; then, while the
    estimate moves by more than :data:`AUTO_BETA_TOL` of beta, ``beta`` becomes
    :func:`~gmmseg.image.smoothing.potts_beta` of the labels and the smoothing goes on from
    them at that beta (Besag's iterated estimate; each round starts from the last labels), never
    under :data:`AUTO_BETA_START` (at RGB noise of sigma 60 the estimate from the smoothed
    labels is 1.1-1.5 where the true labels give 2.9-4.0: their errors bias it down). A
    round that empties a segment stops it (the last run is kept). The result's ``beta`` is the
    beta of its labels, ``beta_rounds`` the rounds run. (A secant step on ``estimate - beta``
    was tried: the estimate moves in steps as labels flip, and the secant overshot.)
    """
    if beta != "auto":
        run = _smoothed_at(pixels, visible, bits, colors, color_feats, model, beta, *args, **options)
        if run is not None:
            run.beta = beta
        return run
    run = _smoothed_at(pixels, visible, bits, colors, color_feats, model, AUTO_BETA_START, *args, **options)
    if run is None:
        return None
    index = colors.inverse()
    k = model.n_components
    run.beta, run.beta_rounds = AUTO_BETA_START, 0
    for rounds in range(1, AUTO_BETA_ROUNDS + 1):
        # Label errors only lower the estimate (a mislabelled pixel disagrees with its neighbors):
        # one under the start is no evidence of a weaker prior, so it only ever raises beta.
        beta = max(AUTO_BETA_START, potts_beta(run.labels, k, neighborhood=options.get("neighborhood", 4)))
        if abs(beta - run.beta) <= AUTO_BETA_TOL * run.beta:
            break
        trial = potts_em(index, color_feats, run.model, beta, initial_labels=run.labels, **options)
        if _n_alive(trial.model) < _n_alive(run.model):
            break
        trial.start, trial.beta, trial.beta_rounds = run.start, beta, rounds
        run = trial
    return run


def _smoothed_at(
    pixels, visible, bits, colors, color_feats, model, beta, color_space, random_state, model_params, **options
):
    """Potts EM from up to three starts, the one of the highest label energy kept; None when all collapse.

    The starts: the plain fit, and fits to a blurred and to a median-filtered copy. On a noisy
    photo the plain fit can be a poor start (ARI 0.15 on scenes with RGB noise of sigma 60)
    from which the prior empties segments into one broad component; the filtered copies
    (noise divided by about 7) start near the regions, the median one keeping edges. The
    winner has the highest :func:`~gmmseg.image.smoothing.label_energy` (each label's own
    Gaussian plus the Potts term, no mixture weights) on the colors of the blurred copy: the
    penalised likelihood of the runs prefers merged regions, and Gaussians on the exact colors
    follow the shape of clipped noise. A segment the winner left empty is refilled
    (:func:`_fill_empty_segments`). When the result still keeps two or more segments fewer
    than the plain fit, the prior made things worse: None (keep the plain fit). On a clean
    image (:data:`CLEAN_NOISE`) the plain fit is the only start and nothing is refilled.
    """
    index = colors.inverse()
    neighborhood = options.get("neighborhood", 4)
    k = model.n_components
    best = potts_em(index, color_feats, model, beta, **options)
    best.start = "plain fit"
    clean = _clean_image(pixels, visible, colors, color_feats, model)
    if clean:
        # A segment the prior empties on a clean image is fine structure (small dots; the plain
        # fit may hold it under ALIVE_WEIGHT) or JPEG artefacts, not two regions of one color:
        # no refill (it split the background there).
        best.start += f", the only start (a clean image: {clean})"
        return None if _n_alive(best.model) < _n_alive(model) - 1 else best
    blurred = DistinctColors(_blurred(pixels, START_BLUR), visible, bits)
    blurred_feats = unit_color_features(blurred.unit, color_space)
    scored = (blurred.inverse(), blurred_feats) if blurred.n_colors >= k else (index, color_feats)
    best.score = label_energy(best.labels, *scored, beta, neighborhood=neighborhood)

    def median_copy():
        import cv2

        copy = DistinctColors(cv2.medianBlur(np.ascontiguousarray(pixels), START_MEDIAN), visible, bits)
        return copy, unit_color_features(copy.unit, color_space)

    for name, make_copy in (
        ("blurred fit", lambda: (blurred, blurred_feats)),
        ("median-filtered fit", median_copy),
    ):
        copy, feats = make_copy()
        if copy.n_colors < k:
            continue
        start_model = GaussianMixture(k, random_state=random_state, **model_params)
        start_model.fit(feats, sample_weight=copy.counts.astype(np.float64))
        start = copy.gather(start_model.predict(feats).astype(np.int16), fill=-1)
        del copy, feats  # the median copy's per-pixel index is not needed during the run
        run = potts_em(index, color_feats, model, beta, initial_labels=start, **options)
        run.start, run.score = name, label_energy(run.labels, *scored, beta, neighborhood=neighborhood)
        if run.score > best.score:  # only the best run is kept: each holds K maps of the image
            best = run
        del run, start

    def energy(labels: np.ndarray) -> float:
        return label_energy(labels, index, color_feats, beta, neighborhood=neighborhood)

    best = _fill_empty_segments(best, index, color_feats, beta, options, energy)
    # Dropping one segment is a merge the prior may rightly make; two or more is a collapse.
    return None if _n_alive(best.model) < _n_alive(model) - 1 else best


def _clean_image(pixels, visible, colors, color_feats, model) -> str:
    """Why the image is clean (see :data:`CLEAN_NOISE`), or "" when it is not."""
    noise = noise_sigma(pixels, visible)
    if noise < CLEAN_NOISE:
        return f"noise sigma {noise:.2f} < {CLEAN_NOISE:g}"
    counts = colors.counts.astype(np.float64)
    ambiguity = float(counts @ (1.0 - model.predict_proba(color_feats).max(axis=1)) / counts.sum())
    limit = LOW_NOISE_AMBIGUITY if noise < LOW_NOISE else CLEAN_AMBIGUITY
    if ambiguity < limit:
        low = f" at noise sigma {noise:.2f} < {LOW_NOISE:g}" if noise < LOW_NOISE else ""
        return f"the plain fit's expected mislabelled share {ambiguity:.4f} < {limit:g}{low}"
    return ""


def _n_alive(model) -> int:
    return int(np.sum(model.weights_ >= ALIVE_WEIGHT))


def _fill_empty_segments(run, index, color_feats, beta, options, energy):
    """Give each segment the prior emptied pixels of another segment, while the label energy rises.

    Two regions of nearly one color (two purples 25 RGB units apart under noise of sigma 30)
    get one segment and the K-th runs empty. The candidate starts: the largest 4-connected
    piece that is not the largest of its segment, and every segment split in two by a
    two-component fit to its colors blurred within the segment (:func:`_split_starts`: the
    blur averages the noise away, so the halves follow the two regions). The
    :data:`REFILL_TRIALS` starts of the highest label energy run to convergence; the best
    run is kept when its label energy is higher and no more segments are empty (another one
    may have emptied instead: the next round refills that). The few pixels still in the emptied
    segment first take the label of their nearest other pixel (:func:`_without`).
    """
    n_visible = int(np.count_nonzero(index >= 0))
    lab = None
    for _ in range(run.model.n_components):  # the label energy rises at every step; a bound all the same
        empty = np.flatnonzero(run.model.weights_ < ALIVE_WEIGHT)
        if empty.size == 0:
            break
        if lab is None:  # the features of every pixel and the energy, only when a segment is to be refilled
            lab = color_feats.astype(np.float32)[np.where(index >= 0, index, 0)]
            run.energy = energy(run.labels)
        labels = _without(run.labels, empty[0])
        starts = _piece_starts(labels, empty[0], n_visible) + _split_starts(labels, lab, empty[0], n_visible)
        starts.sort(key=lambda s: -energy(s[1]))
        best = run
        for how, start in starts[:REFILL_TRIALS]:
            trial = potts_em(index, color_feats, run.model, beta, initial_labels=start, **options)
            trial.energy = energy(trial.labels)
            if _n_alive(trial.model) >= _n_alive(run.model) and trial.energy > best.energy:
                trial.start = f"{run.start}, an empty segment refilled with {how}"
                best = trial
        if best is run:
            break
        run = best
    return run


def _without(labels: np.ndarray, empty: int) -> np.ndarray:
    """``labels`` with the few pixels left in segment ``empty`` given the label of their nearest other pixel.

    A segment the prior emptied often keeps a few speckle pixels of tight colors; left in the
    refill starts, they join the new half and their tight Gaussian's label energy is lost,
    which ranks the split that separates two regions below no-op splits.
    """
    from scipy import ndimage

    remnant = labels == empty
    if not remnant.any() or remnant.all():
        return labels
    nearest = ndimage.distance_transform_edt(remnant | (labels < 0), return_distances=False, return_indices=True)
    out = labels.copy()
    out[remnant] = labels[nearest[0][remnant], nearest[1][remnant]]
    return out


def _piece_starts(labels, empty: int, n_visible: int) -> list:
    """The largest separate piece of a segment given to ``empty``, as a start (none below :data:`ALIVE_WEIGHT`)."""
    pieces = connected_regions(labels, labels >= 0)
    area = np.bincount(pieces.ravel())
    segment = np.full(area.size, -1, dtype=np.int64)
    segment[pieces.ravel()] = labels.ravel()
    segment[0] = -1
    candidates = np.flatnonzero(segment >= 0)
    order = candidates[np.lexsort((-area[candidates], segment[candidates]))]
    # Per segment, its pieces from the largest down: all but the first are separate pieces.
    separate = order[np.r_[False, segment[order][1:] == segment[order][:-1]]]
    if separate.size == 0 or area[separate].max() < ALIVE_WEIGHT * n_visible:
        return []
    start = labels.copy()
    start[pieces == separate[np.argmax(area[separate])]] = empty
    return [("a separate piece", start)]


def _split_starts(labels, lab, empty: int, n_visible: int) -> list:
    """Every segment of at least 2 x :data:`ALIVE_WEIGHT` split by a 2-component fit to its blurred colors.

    ``lab`` (H, W, d) holds the features of every pixel; the blur (each of :data:`SPLIT_BLURS`)
    is normalised within the segment, so that colors of other segments do not leak in.
    """
    import cv2

    rng = np.random.default_rng(0)
    starts = []
    for j in np.unique(labels[labels >= 0]):
        inside = labels == j
        n_inside = int(np.count_nonzero(inside))
        if n_inside < 2 * ALIVE_WEIGHT * n_visible:
            continue
        mask = inside.astype(np.float32)
        sample = rng.choice(n_inside, SPLIT_SAMPLE, replace=False) if n_inside > SPLIT_SAMPLE else slice(None)
        for blur in SPLIT_BLURS:
            weight = cv2.GaussianBlur(mask, (0, 0), blur)[inside]
            channels = [
                cv2.GaussianBlur(np.ascontiguousarray(lab[..., c]) * mask, (0, 0), blur)[inside]
                for c in range(lab.shape[-1])
            ]
            blurred = np.column_stack(channels) / weight[:, None]
            halves = GaussianMixture(2, random_state=0).fit(blurred[sample]).predict(blurred)
            start = labels.copy()
            start[inside] = np.where(halves == 1, empty, j)
            starts.append((f"half of segment {int(j)} (split by color)", start))
    return starts


def _non_negative(value, name: str, meaning: str = "") -> float:
    """``value`` as a finite float >= 0, or a ParameterError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number >= 0{meaning}, got {value!r}") from None
    if not np.isfinite(number) or number < 0:
        raise ParameterError(f"{name} must be a finite number >= 0{meaning}, got {value!r}")
    return number


def _check_region_settings(blur, min_region_size, merge_threshold) -> tuple[float, int, float]:
    try:
        blur, merge_threshold = float(blur), float(merge_threshold)
    except (TypeError, ValueError):
        raise ParameterError(
            f"blur and merge_threshold must be numbers >= 0, got {blur!r} and {merge_threshold!r}"
        ) from None
    if not (np.isfinite(blur) and blur >= 0 and np.isfinite(merge_threshold) and merge_threshold >= 0):
        raise ParameterError(f"blur and merge_threshold must be finite and >= 0, got {blur!r} and {merge_threshold!r}")
    if isinstance(min_region_size, bool) or int(min_region_size) != min_region_size or min_region_size < 0:
        raise ParameterError(f"min_region_size must be an integer >= 0 (pixels), got {min_region_size!r}")
    return blur, int(min_region_size), merge_threshold


def _blurred(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """The pixels blurred by a Gaussian of ``sigma`` pixels in each channel, same dtype (the input when 0).

    The kernel is scipy.ndimage's (radius ``round(4 sigma)``, mirrored borders) applied by
    OpenCV's separable filter in float32: about 8x faster on a 12 MP photo than
    ``ndimage.gaussian_filter``, from whose result it differs by 1 level on about 5 values
    in a million (the float32 sums round differently near .5).
    """
    if sigma == 0:
        return pixels
    import cv2

    radius = int(4.0 * sigma + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel = (kernel / kernel.sum()).astype(np.float32)
    smooth = cv2.sepFilter2D(pixels, cv2.CV_32F, kernel, kernel, borderType=cv2.BORDER_REFLECT)
    np.rint(smooth, out=smooth)
    np.clip(smooth, 0, np.iinfo(pixels.dtype).max, out=smooth)
    return smooth.astype(pixels.dtype)


def _count_pairs(out: np.ndarray, rows: np.ndarray, cols: np.ndarray, block: int = 1 << 20) -> None:
    """``out[rows, cols] += 1`` for large index arrays (bincounts over blocks of a million pixels)."""
    n, k = out.shape
    for start in range(0, rows.shape[0], block):
        r = rows[start : start + block].astype(np.int64)
        out += np.bincount(r * k + cols[start : start + block], minlength=n * k).reshape(n, k)
