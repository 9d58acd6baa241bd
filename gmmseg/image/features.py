"""Pixel colors to feature rows: the color spaces a segmentation can work in.

Every function takes colors as integer rows (one row per distinct color, not per
pixel, in the usual case) and returns float64 feature rows. Units are chosen so one
step of an 8-bit channel is at most about one feature unit; that is what the default
covariance regularisation of :func:`gmmseg.segment_image` (1/12, the variance of a
uniform rounding error of one unit) assumes.

==========  ==========================================  =======================
space       features                                     range
==========  ==========================================  =======================
``lab``     CIE L*, a*, b* (D65)                         L 0..100, a/b about ±110
``rgb``     R, G, B                                      0..255
``hsv``     s·cos(h), s·sin(h), v (hue is circular, so   -100..100, 0..100
            red at h≈0 and h≈1 stays one cluster)
``gray``    luma 0.299 R + 0.587 G + 0.114 B             0..255
==========  ==========================================  =======================

Single-channel images give one feature whatever the space: L* for ``lab``, the value
scaled to 0..255 for ``rgb`` and ``gray``, and v·100 for ``hsv``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError

__all__ = [
    "COLOR_SPACES",
    "color_features",
    "unit_color_features",
    "feature_names",
    "to_unit_float",
    "rgb_to_lab",
    "lab_lightness",
    "position_features",
    "POSITION_SCALE",
]

COLOR_SPACES = ("lab", "rgb", "hsv", "gray")
#: Feature units that one unit of ``spatial_weight`` spans across the longer image side.
POSITION_SCALE = 100.0
_LUMA = np.array([0.299, 0.587, 0.114])


def check_color_space(color_space: str) -> str:
    """Validate a color-space name (case-insensitive) and return it in lower case."""
    name = str(color_space).lower()
    if name not in COLOR_SPACES:
        raise ParameterError(f"color_space must be one of {', '.join(COLOR_SPACES)}, got {color_space!r}")
    return name


def to_unit_float(colors: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Integer colors to float64 in [0, 1] (``value / (2**bit_depth - 1)``)."""
    return np.asarray(colors, dtype=np.float64) / float(2**bit_depth - 1)


#: sRGB (linear) to CIE XYZ, and the D65 white point (2° observer): scikit-image's constants.
_XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def rgb_to_lab(rgb_unit: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] to CIE Lab (D65, 2° observer).

    The same operations as scikit-image's ``rgb2lab``, in the same order (equal to the bit
    on every 8-bit color; tested), without importing scikit-image: its import costs more than
    the conversion of a photo's distinct colors.

    Parameters
    ----------
    rgb_unit : ndarray of shape (N, 3)

    Returns
    -------
    ndarray of shape (N, 3)
        L* in [0, 100], a*, b*.
    """
    arr = np.asarray(rgb_unit, dtype=np.float64).reshape(-1, 1, 3).copy()
    if arr.shape[0] == 0:
        return np.zeros((0, 3))
    linear = arr > 0.04045
    arr[linear] = np.power((arr[linear] + 0.055) / 1.055, 2.4)
    arr[~linear] /= 12.92
    arr = arr @ _XYZ_FROM_RGB.T / _D65_WHITE
    cube = arr > 0.008856
    arr[cube] = np.cbrt(arr[cube])
    arr[~cube] = 7.787 * arr[~cube] + 16.0 / 116.0
    x, y, z = arr[..., 0], arr[..., 1], arr[..., 2]
    lab = np.concatenate([v[..., np.newaxis] for v in (116.0 * y - 16.0, 500.0 * (x - y), 200.0 * (y - z))], axis=-1)
    return lab.reshape(-1, 3)


def lab_lightness(gray_unit: np.ndarray) -> np.ndarray:
    """CIE L* of gray levels in [0, 1], shape (N,) -> (N,)."""
    g = np.asarray(gray_unit, dtype=np.float64)
    return rgb_to_lab(np.repeat(g.reshape(-1, 1), 3, axis=1))[:, 0]


def feature_names(color_space: str, n_channels: int) -> list[str]:
    """Names of the color features for a space and 1 or 3 channels."""
    color_space = check_color_space(color_space)
    if n_channels == 1:
        return [{"lab": "L*", "rgb": "value", "hsv": "v", "gray": "gray"}[color_space]]
    return {
        "lab": ["L*", "a*", "b*"],
        "rgb": ["R", "G", "B"],
        "hsv": ["s*cos(h)", "s*sin(h)", "v"],
        "gray": ["gray"],
    }[color_space]


def color_features(colors: np.ndarray, color_space: str = "lab", *, bit_depth: int = 8) -> np.ndarray:
    """Color feature rows for integer colors.

    Parameters
    ----------
    colors : ndarray of shape (N,) or (N, 1) for gray, or (N, 3) for RGB; integer
        Channel values between 0 and ``2**bit_depth - 1``.
    color_space : {"lab", "rgb", "hsv", "gray"}, default="lab"
    bit_depth : int, default=8

    Returns
    -------
    ndarray of shape (N, D), float64
        D = 3 for color rows in lab, rgb or hsv; D = 1 for gray rows or ``gray``.

    Examples
    --------
    >>> color_features(np.array([[255, 0, 0], [0, 0, 255]]), "hsv").round(1).tolist()
    [[100.0, 0.0, 100.0], [-50.0, -86.6, 100.0]]
    >>> (color_features(np.array([[255, 255, 255]]), "lab").round(2) + 0.0).tolist()  # + 0.0: no -0.0
    [[100.0, 0.0, 0.0]]
    """
    arr = np.asarray(colors)
    if arr.ndim == 1:
        arr = arr[:, None]
    return unit_color_features(to_unit_float(arr, bit_depth), color_space)


def unit_color_features(unit: np.ndarray, color_space: str = "lab") -> np.ndarray:
    """Color feature rows for colors already scaled to [0, 1].

    Parameters
    ----------
    unit : ndarray of shape (N, 1) or (N, 3), float
    color_space : {"lab", "rgb", "hsv", "gray"}, default="lab"

    Returns
    -------
    ndarray of shape (N, D), float64
    """
    color_space = check_color_space(color_space)
    unit = np.asarray(unit, dtype=np.float64)
    if unit.ndim != 2 or unit.shape[1] not in (1, 3):
        raise ParameterError(f"colors must have shape (N,), (N, 1) or (N, 3), got {unit.shape}")
    if unit.shape[1] == 1:
        g = unit[:, 0]
        if color_space == "lab":
            return lab_lightness(g)[:, None]
        if color_space == "hsv":
            return (100.0 * g)[:, None]
        return (255.0 * g)[:, None]
    if color_space == "lab":
        return rgb_to_lab(unit)
    if color_space == "rgb":
        return 255.0 * unit
    if color_space == "gray":
        return (255.0 * (unit @ _LUMA))[:, None]
    from skimage.color import rgb2hsv

    hsv = rgb2hsv(unit.reshape(-1, 1, 3)).reshape(-1, 3) if unit.shape[0] else np.zeros((0, 3))
    angle = 2.0 * np.pi * hsv[:, 0]
    s = 100.0 * hsv[:, 1]
    return np.column_stack([s * np.cos(angle), s * np.sin(angle), 100.0 * hsv[:, 2]])


def position_features(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], spatial_weight: float) -> np.ndarray:
    """x/y position features, shape (N, 2): ``spatial_weight × POSITION_SCALE × (x, y) / max(H, W)``.

    Positions are pixel centres; the longer image side spans ``spatial_weight × 100``
    feature units, comparable to the 0..100 range of L*.

    Examples
    --------
    >>> position_features(np.array([0, 1]), np.array([0, 3]), (2, 4), 1.0).tolist()
    [[12.5, 12.5], [87.5, 37.5]]
    """
    scale = float(spatial_weight) * POSITION_SCALE / float(max(shape))
    return np.column_stack(
        [(np.asarray(cols, dtype=np.float64) + 0.5) * scale, (np.asarray(rows, dtype=np.float64) + 0.5) * scale]
    )
