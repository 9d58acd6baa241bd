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
:data:`EDGE_SIDE` pixels (the size it was measured at): on a 12 MP photo a full-size run
would cost more than the rest of the segmentation. Its map is scaled back to the photo by
nearest neighbor, which alone would draw every cut as a staircase of the copy's pixels (12
photo pixels a step at 12 MP). So each photo pixel within one copy pixel of a segment
boundary takes the segment, of its copy pixel's and of the neighbor's across that boundary,
whose mean color (on the copy) is nearer its own: the cut follows the photo's own edge.

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
    return _scale_back(segments, work, pixels)


def _scale_back(segments: np.ndarray, work: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """The copy's segments at the photo's size, boundary pixels given to the nearer-colored side.

    Parameters
    ----------
    segments : ndarray of shape (h, w), uint16
        Segments of the copy.
    work : ndarray of shape (h, w, C) or (h, w)
        The copy.
    pixels : ndarray of shape (H, W, C) or (H, W)
        The photo.

    Returns
    -------
    ndarray of shape (H, W), uint16
    """
    import cv2

    height, width = pixels.shape[:2]
    h, w = segments.shape
    # per copy pixel, a 4-neighbor in another segment (if any): the other side of its boundary
    padded = np.pad(segments, 1, mode="edge")
    other = segments.copy()
    for neighbor in (padded[1:-1, 2:], padded[1:-1, :-2], padded[2:, 1:-1], padded[:-2, 1:-1]):
        differs = neighbor != segments
        other[differs] = neighbor[differs]
    # OpenCV's nearest neighbor: about 10x faster than a fancy-index gather at 12 MP.
    out = cv2.resize(segments, (width, height), interpolation=cv2.INTER_NEAREST)
    band = cv2.resize((other != segments).view(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    rows, cols = np.nonzero(band)
    if rows.size == 0:
        return out
    # the copy pixel each photo pixel came from, as OpenCV's nearest neighbor picks it
    source = np.minimum((np.arange(height) * h) // height, h - 1)[rows] * w
    source += np.minimum((np.arange(width) * w) // width, w - 1)[cols]
    channels = 1 if work.ndim == 2 else work.shape[2]
    flat = segments.ravel()
    n_segments = int(flat.max()) + 1
    sums = [np.bincount(flat, work.reshape(h * w, channels)[:, c], minlength=n_segments) for c in range(channels)]
    means = (np.stack(sums, axis=1) / np.maximum(np.bincount(flat, minlength=n_segments), 1)[:, None]).astype(
        np.float32
    )
    colors = pixels[rows, cols].reshape(rows.size, channels).astype(np.float32)
    own, across = flat[source], other.ravel()[source]
    distance = []
    for side in (own, across):
        step = colors - means[side]
        np.square(step, out=step)
        distance.append(step.sum(axis=1))
    out[rows, cols] = np.where(distance[1] < distance[0], across, own)
    return out
