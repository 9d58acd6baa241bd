"""Edges for the photo regions: a graph over-segmentation whose boundaries cut the color pieces.

Pixels of one color label that touch form one piece, even across a sharp edge: a green
fish on green coral, a spotted cheetah on brown ground (one color class, then one region).
On the BSDS500 train photos most of the pixel pairs that ``-k auto`` regions join and people
keep apart are joined already in the color pieces, before any merge (docs/benchmarks.md,
"Edge-cut pieces"), so no merge rule can undo them. The pieces are therefore cut along the
boundaries of Felzenszwalb and Huttenlocher's graph segmentation (2004; scikit-image's
``felzenszwalb``, scale 500, sigma 0.5, min size 20), which follows local color steps: a
piece is a 4-connected set of pixels with one color label *and* one edge segment
(:func:`~gmmseg.image.regions.connected_regions` with ``cut``). The merges that follow join
the pieces the cut split needlessly.

The graph segmentation runs on a copy of the photo with a longest side of at most
:data:`EDGE_SIDE` pixels (the size it was measured at) and its map is scaled back to the
photo by nearest neighbor: on a 12 MP photo a full-size run would cost more than the rest of
the segmentation.

Examples
--------
>>> image = np.zeros((8, 10, 3), dtype=np.uint8); image[:, 5:] = 255
>>> edge_segments(image)[0].tolist()
[0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
"""

from __future__ import annotations

import numpy as np

__all__ = ["EDGE_SIDE", "edge_segments"]

#: Longest side (pixels) of the copy the graph segmentation runs on.
EDGE_SIDE = 320
#: Felzenszwalb-Huttenlocher settings (scikit-image's units: colors in 0..1, min size in pixels of the copy).
EDGE_SCALE, EDGE_SIGMA, EDGE_MIN_SIZE = 500.0, 0.5, 20


def edge_segments(pixels: np.ndarray) -> np.ndarray:
    """The segments of Felzenszwalb-Huttenlocher's graph segmentation, at the photo's size.

    Parameters
    ----------
    pixels : ndarray of shape (H, W, 3) or (H, W), uint8 or uint16
        The photo (RGB or gray).

    Returns
    -------
    ndarray of shape (H, W), uint16
        Segment ids 0..S-1 (their numbering carries no meaning; S <= H W / 20 on the copy,
        at most 5,120 segments).
    """
    import cv2
    from skimage.segmentation import felzenszwalb

    pixels = np.asarray(pixels)
    height, width = pixels.shape[:2]
    factor = EDGE_SIDE / max(height, width)
    work = pixels
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        work = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    unit = work.astype(np.float32) / float(np.iinfo(pixels.dtype).max)
    segments = felzenszwalb(
        unit,
        scale=EDGE_SCALE,
        sigma=EDGE_SIGMA,
        min_size=EDGE_MIN_SIZE,
        channel_axis=-1 if unit.ndim == 3 else None,
    ).astype(np.uint16)
    if segments.shape == (height, width):
        return segments
    # OpenCV's nearest neighbor: about 10x faster than a fancy-index gather at 12 MP.
    return cv2.resize(segments, (width, height), interpolation=cv2.INTER_NEAREST)
