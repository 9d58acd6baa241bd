"""The distinct colors of an image: their pixel counts and the pixel -> color map.

Segmentation fits the mixture to an image's distinct colors weighted by their pixel
counts, which is exactly the fit on all pixels. 8-bit RGB colors are packed into 24-bit
integers and counted with ``np.bincount`` (a dense lookup table labels the pixels);
16-bit colors, or few pixels in a wide code space, go through ``np.unique``.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["DistinctColors"]


class DistinctColors:
    """The distinct colors of an image, their pixel counts and the pixel → color map.

    Parameters
    ----------
    pixels : ndarray of shape (H, W) or (H, W, 3), uint8 or uint16
    mask : ndarray of shape (H, W), bool, or None
        Pixels to include (None: all).
    bits : int or None
        Keep only the top ``bits`` bits of every channel (None: all bits, exact).

    Attributes
    ----------
    colors : ndarray of shape (N, C), uint8 or uint16
        The distinct (possibly rounded) channel values, sorted by packed code.
    counts : ndarray of shape (N,), int64
        Pixels of each color (included pixels only).
    unit : ndarray of shape (N, C), float64
        Colors scaled to [0, 1] (bin centers when ``bits`` rounds them).

    Examples
    --------
    >>> px = np.array([[[255, 0, 0], [255, 0, 0]], [[0, 0, 255], [255, 0, 0]]], dtype=np.uint8)
    >>> dc = DistinctColors(px)
    >>> dc.colors.tolist(), dc.counts.tolist()
    ([[0, 0, 255], [255, 0, 0]], [1, 3])
    >>> dc.gather(np.array([7, 9])).tolist()
    [[9, 9], [7, 9]]
    """

    #: Largest packed code space labeled through a dense lookup table (2^24 = 8-bit RGB).
    MAX_LUT_BITS = 24

    def __init__(self, pixels: np.ndarray, mask: np.ndarray | None = None, bits: int | None = None):
        depth = 16 if pixels.dtype == np.uint16 else 8
        self.shape = pixels.shape[:2]
        self.bit_depth = depth
        self.n_channels = 1 if pixels.ndim == 2 else 3
        self.bits = depth if bits is None else int(bits)
        self.mask = mask
        shift = depth - self.bits
        c = self.n_channels
        total = self.bits * c
        if c == 1:
            codes = pixels if shift == 0 else pixels >> shift
        else:
            # intp for 8-bit color: bincount and the lookup tables index with it without a converted copy.
            dt = np.intp if total <= self.MAX_LUT_BITS else np.uint64
            codes = (pixels[..., 0] >> shift).astype(dt)
            codes <<= self.bits
            codes |= (pixels[..., 1] >> shift).astype(dt)
            codes <<= self.bits
            codes |= (pixels[..., 2] >> shift).astype(dt)
        self.codes = codes
        visible = codes.ravel() if mask is None else codes[mask]
        if visible.size == 0:
            raise InputError("the image has no visible pixel (all fully transparent or masked out)")
        self._inverse: np.ndarray | None = None
        if total <= self.MAX_LUT_BITS and (total <= 16 or visible.size * 8 >= (1 << total)):
            # Dense counting: one bincount over the code space, then a lookup table for labels.
            self.lut_size = 1 << total
            counts = np.bincount(visible, minlength=self.lut_size)
            self.code_values = np.flatnonzero(counts != 0)
            self.counts = counts[self.code_values].astype(np.int64)
            del counts
        else:  # wide codes (16-bit color) or few pixels: sort-based
            self.lut_size = 0
            self.code_values, inverse, counts = np.unique(visible, return_inverse=True, return_counts=True)
            self.counts = counts.astype(np.int64)
            full = np.full(self.shape, -1, dtype=np.int32)
            if mask is None:
                full[...] = inverse.reshape(self.shape)
            else:
                full[mask] = inverse.ravel()
            self._inverse = full
        del visible
        level = (1 << self.bits) - 1
        channels = [(self.code_values >> (self.bits * (c - 1 - i))) & level for i in range(c)]
        dtype = np.uint16 if self.bits > 8 else np.uint8
        self.colors = np.stack(channels, axis=1).astype(dtype)
        maximum = float(2**depth - 1)
        if shift == 0:
            self.unit = self.colors.astype(np.float64) / maximum
        else:  # bin centers on the original scale
            self.unit = (self.colors.astype(np.float64) * 2**shift + (2**shift - 1) / 2.0) / maximum

    @property
    def n_colors(self) -> int:
        """N, the number of distinct colors."""
        return int(self.counts.shape[0])

    @property
    def n_pixels(self) -> int:
        """Included pixels (the sum of :attr:`counts`)."""
        return int(self.counts.sum())

    def gather(self, values: np.ndarray, fill=0) -> np.ndarray:
        """Per-pixel map of per-color values.

        Through a lookup table over the packed codes until :meth:`inverse` is called, then
        through the index (faster: the table of N values stays in cache).

        Parameters
        ----------
        values : ndarray of shape (N,)
            One value per row of :attr:`colors`.
        fill : scalar, default=0
            Value of excluded (masked-out) pixels.

        Returns
        -------
        ndarray of shape (H, W), dtype of ``values``
        """
        values = np.asarray(values)
        if self._inverse is None:
            lut = np.zeros(self.lut_size, dtype=values.dtype)
            lut[self.code_values] = values
            out = lut[self.codes]
            if self.mask is not None:
                out[~self.mask] = fill
            return out
        extended = np.append(values, np.asarray(fill, dtype=values.dtype))
        return extended[self._inverse]  # -1 picks the fill value

    def inverse(self) -> np.ndarray:
        """Row of :attr:`colors` of every pixel.

        Returns
        -------
        ndarray of shape (H, W), int32
            -1 at excluded pixels.
        """
        if self._inverse is None:
            lut = np.zeros(self.lut_size, dtype=np.int32)
            lut[self.code_values] = np.arange(self.n_colors, dtype=np.int32)
            inv = lut[self.codes]
            if self.mask is not None:
                inv[~self.mask] = -1
            self._inverse = inv
            self.codes = None  # the index replaces the codes (it is half their size) in gather
        return self._inverse
