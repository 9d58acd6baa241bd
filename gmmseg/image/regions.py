"""Connected regions: of a defect score map, and of a photo's color labels.

Defect regions (:func:`regions_from_map`, :func:`defect_mask`) are 8-connected (pixels
touching at a corner belong to one region), as scikit-image's ``label(..., connectivity=2)``.

Photo regions (:func:`connected_regions`, :func:`merge_regions`, :func:`region_table`) are
4-connected pieces of equal color label. A color segment is not a region (one label spans a
dark jacket and the asphalt), so the pieces are merged on their region adjacency graph:
pieces under ``min_size`` pixels go, smallest first, into the neighbor of the closest mean
color; then the adjacent pair of closest mean colors merges while that distance is at most
``threshold``. Per-pixel work is vectorised; the graph loop runs once per region.

Examples
--------
>>> import numpy as np
>>> score_map = np.zeros((5, 6)); score_map[1:3, 1:3] = 2.0; score_map[4, 5] = 3.0
>>> [r.area for r in regions_from_map(score_map, 1.0)]
[4, 1]
>>> defect_mask(score_map, 1.0, min_area=2).sum()
np.int64(4)
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Region",
    "label_regions",
    "regions_from_map",
    "defect_mask",
    "connected_regions",
    "region_adjacency",
    "merge_regions",
    "region_table",
]


@dataclass(frozen=True)
class Region:
    """One connected region of the score map above the pixel threshold.

    Attributes
    ----------
    bbox : tuple of int
        ``(row_min, col_min, row_max, col_max)``, max exclusive, in input pixels.
    area : int
        Number of pixels.
    centroid : tuple of float
        ``(row, col)``.
    peak_score : float
        Highest score in the region.
    """

    bbox: tuple[int, int, int, int]
    area: int
    centroid: tuple[float, float]
    peak_score: float

    def to_dict(self) -> dict[str, Any]:
        """The region as written in reports: centroid rounded to 2 decimals, peak score to 4.

        Returns
        -------
        dict
            ``bbox`` (list of 4 int), ``area``, ``centroid`` (list of 2 float), ``peak_score``.
        """
        return {
            "bbox": list(self.bbox),
            "area": self.area,
            "centroid": [round(self.centroid[0], 2), round(self.centroid[1], 2)],
            "peak_score": round(self.peak_score, 4),
        }


def label_regions(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label the 8-connected regions of a boolean mask.

    Parameters
    ----------
    mask : ndarray of shape (H, W), bool

    Returns
    -------
    labels : ndarray of shape (H, W), int32
        0 outside the mask, 1..n inside, numbered in raster order of their first pixel.
    areas : ndarray of shape (n + 1,), int64
        Pixels per label (``areas[0]`` counts the pixels outside the mask).
    """
    from scipy import ndimage

    labels, n = ndimage.label(np.asarray(mask, dtype=bool), structure=np.ones((3, 3), dtype=bool))
    return labels, np.bincount(labels.ravel(), minlength=n + 1)


def regions_from_map(score_map: np.ndarray, threshold: float, min_area: int = 1) -> list[Region]:
    """Connected regions of ``score_map > threshold`` with at least ``min_area`` pixels.

    Parameters
    ----------
    score_map : ndarray of shape (H, W)
    threshold : float
    min_area : int, default=1

    Returns
    -------
    list of Region
        Largest first.
    """
    from scipy import ndimage

    smap = np.asarray(score_map)
    mask = smap > threshold
    if not mask.any():
        return []
    labels, areas = label_regions(mask)
    out = []
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None or areas[index] < min_area:
            continue
        local = labels[sl] == index
        rr, cc = np.nonzero(local)
        out.append(
            Region(
                bbox=(int(sl[0].start), int(sl[1].start), int(sl[0].stop), int(sl[1].stop)),
                area=int(areas[index]),
                centroid=(float(rr.mean() + sl[0].start), float(cc.mean() + sl[1].start)),
                peak_score=float(smap[sl][local].max()),
            )
        )
    out.sort(key=lambda r: -r.area)
    return out


def defect_mask(score_map: np.ndarray, threshold: float, min_area: int = 1) -> np.ndarray:
    """Pixels of the regions :func:`regions_from_map` reports.

    Parameters
    ----------
    score_map : ndarray of shape (H, W)
    threshold : float
    min_area : int, default=1

    Returns
    -------
    ndarray of shape (H, W), bool
        True inside regions of ``score_map > threshold`` with at least ``min_area`` pixels.
    """
    labels, areas = label_regions(np.asarray(score_map) > threshold)
    big = areas >= min_area
    big[0] = False
    return big[labels]


# ---------------------------------------------------------------------------- photo regions


def connected_regions(labels: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """Number the 4-connected pieces of equal label.

    Parameters
    ----------
    labels : ndarray of shape (H, W), integer
        A label per pixel.
    visible : ndarray of shape (H, W), bool, optional
        Pixels to number (None: all); the others get 0.

    Returns
    -------
    ndarray of shape (H, W), int32
        0 outside ``visible``, pieces 1..R in raster order of their first pixel.

    Examples
    --------
    >>> connected_regions(np.array([[0, 0, 1], [1, 0, 1]])).tolist()
    [[1, 1, 2], [3, 1, 2]]
    """
    from skimage.measure import label

    shifted = np.asarray(labels).astype(np.int64) + 1 - int(np.min(labels))
    if visible is not None:
        shifted[~np.asarray(visible, dtype=bool)] = 0
    return label(shifted, background=0, connectivity=1).astype(np.int32)


def _neighbor_pairs(regions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Region ids of every horizontally and vertically adjacent pixel pair, as (lo, hi) with lo < hi."""
    parts = []
    for left, right in ((regions[:, :-1], regions[:, 1:]), (regions[:-1, :], regions[1:, :])):
        differ = left != right  # boundary pairs only: a few percent of the pixels
        parts.append((left[differ], right[differ]))
    a = np.concatenate([p[0] for p in parts]).astype(np.int64)
    b = np.concatenate([p[1] for p in parts]).astype(np.int64)
    keep = (a > 0) & (b > 0)
    a, b = a[keep], b[keep]
    return np.minimum(a, b), np.maximum(a, b)


def region_adjacency(regions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The region adjacency graph of a region map (4-neighbors; region 0 is left out).

    Parameters
    ----------
    regions : ndarray of shape (H, W), integer
        Region ids 0..R (0: no region).

    Returns
    -------
    first, second : ndarray of shape (E,), int64
        The adjacent pairs, ``first < second``, sorted.
    length : ndarray of shape (E,), int64
        Adjacent pixel pairs along each shared boundary.

    Examples
    --------
    >>> region_adjacency(np.array([[1, 1, 2], [3, 3, 2]]))
    (array([1, 1, 2]), array([2, 3, 3]), array([1, 2, 1]))
    """
    lo, hi = _neighbor_pairs(np.asarray(regions))
    n = int(np.max(regions)) + 1
    codes, length = np.unique(lo * n + hi, return_counts=True)
    return codes // n, codes % n, length


def merge_regions(
    regions: np.ndarray, features: np.ndarray, *, min_size: int = 50, threshold: float = 12.0
) -> np.ndarray:
    """Merge adjacent regions greedily by the distance of their mean features.

    1. Regions under ``min_size`` pixels merge, smallest first, into the neighbor of the
       closest mean feature (a region without neighbors stays).
    2. The adjacent pair of the smallest Euclidean distance of mean features merges, while
       that distance is at most ``threshold`` (0: no such merging).

    Parameters
    ----------
    regions : ndarray of shape (H, W), integer
        Region ids 0..R, 0 for pixels outside every region (they stay 0).
    features : ndarray of shape (H, W, F)
        The feature of every pixel (e.g. CIE Lab).
    min_size : int, default=50
    threshold : float, default=12.0
        In feature units (12 is a clearly visible Lab difference).

    Returns
    -------
    ndarray of shape (H, W), int32
        Merged regions 1..R', in raster order of their first pixel (0 stays 0).
    """
    regions = np.asarray(regions)
    n_regions = int(regions.max())
    flat = regions.ravel()
    feats = np.asarray(features).reshape(flat.shape[0], -1)
    size = np.bincount(flat, minlength=n_regions + 1).astype(np.float64)
    sums = np.stack(
        [
            np.bincount(flat, weights=np.ascontiguousarray(feats[:, c], dtype=np.float64), minlength=n_regions + 1)
            for c in range(feats.shape[1])
        ],
        axis=1,
    )
    first, second, _ = region_adjacency(regions)
    neighbors: list[set[int]] = [set() for _ in range(n_regions + 1)]
    for x, y in zip(first.tolist(), second.tolist()):
        neighbors[x].add(y)
        neighbors[y].add(x)
    parent = np.arange(n_regions + 1)
    alive = size > 0
    alive[0] = False

    # Means as Python tuples: the graph loop computes millions of tiny distances.
    means = [tuple(row) for row in (sums / np.maximum(size, 1.0)[:, None]).tolist()]

    def distance(x: int, y: int) -> float:
        return math.sqrt(sum((a - b) ** 2 for a, b in zip(means[x], means[y])))

    def absorb(x: int, y: int) -> None:  # y into x
        size[x] += size[y]
        sums[x] += sums[y]
        means[x] = tuple((sums[x] / size[x]).tolist())
        parent[y] = x
        alive[y] = False
        for z in neighbors[y]:
            neighbors[z].discard(y)
            if z != x:
                neighbors[z].add(x)
                neighbors[x].add(z)
        neighbors[x].discard(y)
        neighbors[y] = set()

    if min_size > 1:
        heap = [(size[i], i) for i in np.flatnonzero(alive & (size < min_size)).tolist()]
        heapq.heapify(heap)
        while heap:
            n, i = heapq.heappop(heap)
            if not alive[i] or size[i] != n or not neighbors[i]:
                continue
            best = min(sorted(neighbors[i]), key=lambda z: distance(i, z))
            keep, gone = (best, i) if size[best] >= size[i] else (i, best)
            absorb(keep, gone)
            if size[keep] < min_size:
                heapq.heappush(heap, (size[keep], keep))
    if threshold > 0:
        version = np.zeros(n_regions + 1, dtype=np.int64)
        heap = [(distance(x, y), x, y, 0, 0) for x in np.flatnonzero(alive).tolist() for y in neighbors[x] if x < y]
        heapq.heapify(heap)
        while heap:
            d, x, y, vx, vy = heapq.heappop(heap)
            if not (alive[x] and alive[y]) or version[x] != vx or version[y] != vy:
                continue
            if d > threshold:
                break
            keep, gone = (x, y) if size[x] >= size[y] else (y, x)
            absorb(keep, gone)
            version[keep] += 1
            for z in neighbors[keep]:
                lo, hi = min(keep, z), max(keep, z)
                heapq.heappush(heap, (distance(lo, hi), lo, hi, int(version[lo]), int(version[hi])))
    root = parent
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    # Pieces are numbered in raster order, so a group's first pixel is its smallest piece id.
    first_piece = np.full(n_regions + 1, n_regions + 1, dtype=np.int64)
    np.minimum.at(first_piece, root, np.arange(n_regions + 1))
    survivors = np.flatnonzero(alive)
    ids = np.zeros(n_regions + 1, dtype=np.int32)
    ids[survivors[np.argsort(first_piece[survivors], kind="stable")]] = np.arange(1, survivors.size + 1, dtype=np.int32)
    return ids[root][regions]


def region_table(
    regions: np.ndarray, labels: np.ndarray, rgb: np.ndarray, lab: np.ndarray, *, rgb_max: float = 255.0
) -> list[dict[str, Any]]:
    """One record per region of a region map.

    Parameters
    ----------
    regions : ndarray of shape (H, W), integer
        Region ids 1..R (0: no region, left out).
    labels : ndarray of shape (H, W), integer
        The color segment label of every pixel.
    rgb : ndarray of shape (H, W, 3) or (H, W)
        Pixel colors (gray: one channel), full intensity ``rgb_max``.
    lab : ndarray of shape (H, W, 3)
        Pixel colors in CIE Lab.
    rgb_max : float, default=255
        Full intensity of ``rgb`` (65535 for 16-bit); ``mean_rgb`` is on the 0..255 scale.

    Returns
    -------
    list of dict
        Per region 1..R: ``region``, ``area`` (pixels), ``bbox`` (``[row_min, col_min,
        row_max, col_max]``, max exclusive), ``mean_rgb``, ``mean_lab`` (3 decimals) and
        ``segment``, the color segment label most of its pixels have.

    Examples
    --------
    >>> regions = np.array([[1, 1, 2]]); labels = np.array([[0, 0, 1]])
    >>> rgb = np.array([[[10, 0, 0], [20, 0, 0], [0, 0, 90]]]); lab = np.zeros((1, 3, 3))
    >>> row = region_table(regions, labels, rgb, lab)[0]
    >>> row["area"], row["bbox"], row["mean_rgb"], row["segment"]
    (2, [0, 0, 1, 2], [15.0, 0.0, 0.0], 0)
    """
    from scipy import ndimage

    regions = np.asarray(regions)
    flat = regions.ravel().astype(np.int64)
    n = int(flat.max()) if flat.size else 0
    area = np.bincount(flat, minlength=n + 1)
    safe = np.maximum(area, 1)[:, None]
    means = []
    for image, scale in ((rgb, 255.0 / rgb_max), (lab, 1.0)):
        values = np.asarray(image).reshape(flat.shape[0], -1)
        sums = [
            np.bincount(flat, weights=np.ascontiguousarray(values[:, c], dtype=np.float64), minlength=n + 1)
            for c in range(values.shape[1])
        ]
        means.append(np.stack(sums * (3 // len(sums)), axis=1) * scale / safe)  # gray: one channel, repeated
    seg = np.asarray(labels).ravel().astype(np.int64)
    low = int(seg.min()) if seg.size else 0
    n_labels = int(seg.max()) - low + 1 if seg.size else 1
    votes = np.bincount(flat * n_labels + (seg - low), minlength=(n + 1) * n_labels).reshape(n + 1, n_labels)
    majority = votes.argmax(axis=1) + low
    out = []
    for index, box in enumerate(ndimage.find_objects(regions.astype(np.int32), max_label=n), start=1):
        if box is None:
            continue
        out.append(
            {
                "region": index,
                "area": int(area[index]),
                "bbox": [int(box[0].start), int(box[1].start), int(box[0].stop), int(box[1].stop)],
                "mean_rgb": [round(float(v), 3) for v in means[0][index]],
                "mean_lab": [round(float(v), 3) for v in means[1][index]],
                "segment": int(majority[index]),
            }
        )
    return out
