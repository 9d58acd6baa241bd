"""Connected regions: of a defect score map, and of a photo's color labels.

Defect regions (:func:`regions_from_map`, :func:`defect_mask`) are 8-connected (pixels
touching at a corner belong to one region), as scikit-image's ``label(..., connectivity=2)``.

Photo regions (:func:`connected_regions`, :class:`RegionStats`, :func:`merge_regions`,
:func:`region_table`) are 4-connected pieces of equal color label (and, given a ``cut`` map such
as :func:`~gmmseg.image.region_edges.edge_segments`, of equal cut segment). A color segment is not a
region (one label spans a dark jacket and the asphalt), so the pieces are merged on their
region adjacency graph: pieces under ``min_size`` pixels go, smallest first, into the
neighbor of the closest mean color; then the adjacent pair of closest mean colors merges
while that distance is at most ``threshold``. The pixels are read once, into per-piece sums
(:class:`RegionStats`); merging and the table of merged regions work on those sums alone.

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

from .region_graph import RegionGraph

__all__ = [
    "Region",
    "label_regions",
    "regions_from_map",
    "defect_mask",
    "connected_regions",
    "region_adjacency",
    "RegionStats",
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


def connected_regions(
    labels: np.ndarray, visible: np.ndarray | None = None, cut: np.ndarray | None = None
) -> np.ndarray:
    """Number the 4-connected pieces of equal label (and, with ``cut``, of equal cut segment).

    Parameters
    ----------
    labels : ndarray of shape (H, W), integer
        A label per pixel.
    visible : ndarray of shape (H, W), bool, optional
        Pixels to number (None: all); the others get 0.
    cut : ndarray of shape (H, W), integer, optional
        Segment ids 0..S-1 (e.g. :func:`~gmmseg.image.region_edges.edge_segments`): two
        neighbors belong to one piece only if they also share this segment.

    Returns
    -------
    ndarray of shape (H, W), int32
        0 outside ``visible``, pieces 1..R in raster order of their first pixel.

    Examples
    --------
    >>> connected_regions(np.array([[0, 0, 1], [1, 0, 1]])).tolist()
    [[1, 1, 2], [3, 1, 2]]
    >>> connected_regions(np.array([[0, 0, 1], [1, 0, 1]]), cut=np.array([[0, 1, 1], [0, 1, 1]])).tolist()
    [[1, 2, 3], [4, 2, 3]]
    """
    from skimage.measure import label

    labels = np.asarray(labels)
    if cut is not None:
        # One code per (label, cut segment) pair: equal codes are equal in both maps; in 16
        # bits when they fit (a tenth of the time of int64 arithmetic at 12 MP).
        cut = np.asarray(cut)
        low, span = int(labels.min()), int(cut.max()) + 1
        if (int(labels.max()) - low + 1) * span < np.iinfo(np.uint16).max:
            code = (labels - low).astype(np.uint16)
            code *= np.uint16(span)
            code += cut.astype(np.uint16, copy=False)
            labels = code
        else:
            labels = (labels.astype(np.int64) - low) * span + cut
    low, high = int(labels.min()), int(labels.max())
    # Labels shifted to 1.. in the narrowest dtype: scikit-image labels a uint8 map about 3x
    # faster than an int64 one, and 0 is left for the pixels outside ``visible``.
    if low >= 0 and high < np.iinfo(np.uint16).max:
        shifted = labels.astype(np.uint8 if high < np.iinfo(np.uint8).max else np.uint16)
        shifted += 1
    else:
        shifted = labels.astype(np.int64) - (low - 1)
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


@dataclass(frozen=True)
class RegionStats:
    """Additive statistics of the pieces of a label map: all that merging and the region table need.

    Measured once over the pixels (:meth:`of_pieces`); the statistics of merged regions are
    sums over their pieces, so no later step passes over the pixels again.

    Attributes
    ----------
    area : ndarray of shape (R + 1,), int64
        Pixels per piece; ``area[0]`` counts the pixels outside every piece.
    bbox : ndarray of shape (R + 1, 4), int64
        ``[row_min, col_min, row_max, col_max]`` per piece, max exclusive (row 0: zeros).
    label : ndarray of shape (R + 1,), int64
        The label of every piece's pixels (row 0: 0).
    sums : dict of str to ndarray of shape (R + 1, C), float64
        Per-piece sums of per-pixel values, by name (e.g. ``"lab"``, ``"rgb"``).
    """

    area: np.ndarray
    bbox: np.ndarray
    label: np.ndarray
    sums: dict[str, np.ndarray]

    @classmethod
    def of_pieces(cls, pieces: np.ndarray, labels: np.ndarray, **channels) -> RegionStats:
        """Measure the pieces of :func:`connected_regions` (every piece has one label).

        Parameters
        ----------
        pieces : ndarray of shape (H, W), int32
            Pieces 1..R (0: outside).
        labels : ndarray of shape (H, W), integer
            The label map the pieces were cut from.
        **channels : iterable of ndarray of shape (H, W)
            Per name, one map per channel (a generator keeps one map in memory at a time).

        Returns
        -------
        RegionStats

        Examples
        --------
        >>> labels = np.array([[0, 0, 1]])
        >>> stats = RegionStats.of_pieces(connected_regions(labels), labels, lab=[np.array([[1.0, 3.0, 7.0]])])
        >>> stats.area.tolist(), stats.label.tolist(), stats.sums["lab"][:, 0].tolist()
        ([0, 2, 1], [0, 0, 1], [0.0, 4.0, 7.0])
        """
        pieces = np.asarray(pieces)
        width = pieces.shape[1]
        flat = pieces.ravel().astype(np.intp)  # once, not in every bincount
        n = int(flat.max())
        # Horizontal runs of one piece: a few percent of the pixels, and all that the areas,
        # labels and boxes need.
        change = np.empty(flat.shape[0], dtype=bool)
        change[0] = True
        np.not_equal(flat[1:], flat[:-1], out=change[1:])
        change[::width] = True
        starts = np.flatnonzero(change)
        del change
        ends = np.append(starts[1:], flat.shape[0])  # exclusive
        run = flat[starts]
        area = np.bincount(run, weights=ends - starts, minlength=n + 1).astype(np.int64)
        label = np.zeros(n + 1, dtype=np.int64)
        label[run] = np.asarray(labels).ravel()[starts]  # a piece's runs all have its one label
        rows = starts // width
        bbox = np.empty((n + 1, 4), dtype=np.int64)
        bbox[:, :2] = np.iinfo(np.int64).max
        bbox[:, 2:] = -1
        np.minimum.at(bbox[:, 0], run, rows)
        np.minimum.at(bbox[:, 1], run, starts % width)
        np.maximum.at(bbox[:, 2], run, rows + 1)
        np.maximum.at(bbox[:, 3], run, (ends - 1) % width + 1)
        bbox[area == 0] = 0
        label[0], bbox[0] = 0, 0
        sums = {
            name: np.stack(
                [np.bincount(flat, weights=np.asarray(m, dtype=np.float64).ravel(), minlength=n + 1) for m in maps],
                axis=1,
            )
            for name, maps in channels.items()
        }
        return cls(area=area, bbox=bbox, label=label, sums=sums)


def merge_regions(
    pieces: np.ndarray, stats: RegionStats, *, feature: str = "lab", min_size: int = 50, threshold: float = 12.0
) -> np.ndarray:
    """Merge adjacent pieces greedily by the distance of their mean features.

    1. Pieces under ``min_size`` pixels merge, smallest first, into the neighbor of the
       closest mean feature (a piece without neighbors stays).
    2. The adjacent pair of the smallest Euclidean distance of mean features merges, while
       that distance is at most ``threshold`` (0: no such merging).

    Parameters
    ----------
    pieces : ndarray of shape (H, W), integer
        Piece ids 0..R, 0 for pixels outside every piece (they stay 0).
    stats : RegionStats
        Of ``pieces`` (:meth:`RegionStats.of_pieces`).
    feature : str, default="lab"
        The name of the sums in ``stats`` whose means are compared.
    min_size : int, default=50
    threshold : float, default=12.0
        In feature units (12 is a clearly visible Lab difference).

    Returns
    -------
    ndarray of shape (R + 1,), int32
        The merged region 1..R' of every piece, in raster order of the regions' first
        pixels (0 stays 0): ``ids[pieces]`` is the merged region map.

    Examples
    --------
    >>> pieces = np.array([[1, 1, 2, 3]])
    >>> stats = RegionStats.of_pieces(pieces, pieces, lab=[np.array([[0.0, 0.0, 5.0, 50.0]])])
    >>> merge_regions(pieces, stats, min_size=0, threshold=12.0).tolist()
    [0, 1, 1, 2]
    """
    sums = stats.sums[feature].copy()
    first, second, _ = region_adjacency(pieces)
    graph = RegionGraph(stats.area.tolist(), first.tolist(), second.tolist())
    size, neighbors = graph.size, graph.neighbors

    # Means as Python tuples: the graph loop computes millions of tiny distances.
    means = [tuple(row) for row in (sums / np.maximum(stats.area, 1)[:, None]).tolist()]

    def distance(x: int, y: int) -> float:
        return math.dist(means[x], means[y])

    def add_sums(keep: int, gone: int) -> None:
        sums[keep] += sums[gone]
        means[keep] = tuple((sums[keep] / size[keep]).tolist())

    if min_size > 1:
        heap = [(size[i], i) for i in range(len(size)) if graph.alive[i] and size[i] < min_size]
        heapq.heapify(heap)
        while heap:
            n, i = heapq.heappop(heap)
            if not graph.alive[i] or size[i] != n or not neighbors[i]:
                continue
            best = min(sorted(neighbors[i]), key=lambda z: distance(i, z))
            keep, gone = (best, i) if size[best] >= size[i] else (i, best)
            graph.merge(keep, gone)
            add_sums(keep, gone)
            if size[keep] < min_size:
                heapq.heappush(heap, (size[keep], keep))
    if threshold > 0:
        graph.merge_cheapest(distance, threshold, on_merge=add_sums)
    return graph.ids()


def region_table(stats: RegionStats, ids: np.ndarray, *, rgb_max: float = 255.0) -> list[dict[str, Any]]:
    """One record per merged region, summed from the statistics of its pieces.

    Parameters
    ----------
    stats : RegionStats
        Of the pieces, with sums ``"rgb"`` (3 channels, or 1 for gray) and ``"lab"``.
    ids : ndarray of shape (R + 1,), integer
        The region 1..R' of every piece (0: none), as :func:`merge_regions` returns.
    rgb_max : float, default=255
        Full intensity of the summed RGB values (65535 for 16-bit); ``mean_rgb`` is on the
        0..255 scale.

    Returns
    -------
    list of dict
        Per region 1..R': ``region``, ``area`` (pixels), ``bbox`` (``[row_min, col_min,
        row_max, col_max]``, max exclusive), ``mean_rgb``, ``mean_lab`` (3 decimals) and
        ``segment``, the label most of its pixels have (ties: the smallest).

    Examples
    --------
    >>> labels = np.array([[0, 0, 1]])
    >>> rgb, lab = np.array([[[10, 0, 0], [20, 0, 0], [0, 0, 90]]]), np.zeros((1, 3, 3))
    >>> pieces = connected_regions(labels)
    >>> stats = RegionStats.of_pieces(pieces, labels, rgb=rgb.transpose(2, 0, 1), lab=lab.transpose(2, 0, 1))
    >>> row = region_table(stats, np.array([0, 1, 2]))[0]
    >>> row["area"], row["bbox"], row["mean_rgb"], row["segment"]
    (2, [0, 0, 1, 2], [15.0, 0.0, 0.0], 0)
    """
    ids = np.asarray(ids, dtype=np.int64)
    n = int(ids.max())
    if n == 0:
        return []
    area = np.bincount(ids, weights=stats.area, minlength=n + 1)
    safe = np.maximum(area, 1.0)[:, None]
    means = {}
    for name, scale in (("rgb", 255.0 / rgb_max), ("lab", 1.0)):
        piece_sums = stats.sums[name]
        sums = np.stack(
            [np.bincount(ids, weights=piece_sums[:, c], minlength=n + 1) for c in range(piece_sums.shape[1])], axis=1
        )
        means[name] = np.repeat(sums, 3 // sums.shape[1], axis=1) * scale / safe  # gray: one channel, repeated
    pieces = np.flatnonzero(ids > 0)
    group = ids[pieces]
    bbox = np.empty((n + 1, 4), dtype=np.int64)
    bbox[:, :2] = np.iinfo(np.int64).max
    bbox[:, 2:] = -1
    np.minimum.at(bbox[:, :2], group, stats.bbox[pieces, :2])
    np.maximum.at(bbox[:, 2:], group, stats.bbox[pieces, 2:])
    # Majority label: the (region, label) pair of the largest area, ties to the smallest label.
    pairs, where = np.unique(np.stack([group, stats.label[pieces]]), axis=1, return_inverse=True)
    votes = np.bincount(where.ravel(), weights=stats.area[pieces])
    order = np.lexsort((pairs[1], -votes, pairs[0]))
    winners = order[np.r_[True, np.diff(pairs[0][order]) != 0]]
    segment = np.zeros(n + 1, dtype=np.int64)
    segment[pairs[0][winners]] = pairs[1][winners]
    return [
        {
            "region": index,
            "area": int(area[index]),
            "bbox": [int(v) for v in bbox[index]],
            "mean_rgb": [round(float(v), 3) for v in means["rgb"][index]],
            "mean_lab": [round(float(v), 3) for v in means["lab"][index]],
            "segment": int(segment[index]),
        }
        for index in range(1, n + 1)
    ]
