"""Merge adjacent photo regions whose shared boundary shows little color contrast.

Mean colors alone cannot tell a shading gradient across one wall (similar pixels on both
sides of the cut, far-apart means) from two objects of similar color (a sharp step along
the cut). This step, run on the regions of :func:`~gmmseg.image.regions.merge_regions`,
looks at the boundary itself: the **contrast** of two adjacent regions is the mean color
step (Euclidean, e.g. in Lab) over the adjacent pixel pairs across their shared boundary,
divided by the photo's own scale, the mean step over all its adjacent pixel pairs (so no
constant depends on the photo's contrast or noise). Pairs merge on the region adjacency
graph, the lowest cost first, while

    cost = contrast * (1 + min(area_a, area_b) / (size_scale * N)) <= threshold,

N the pixels in regions. The size factor makes merging two large regions need a weaker
boundary than merging a small one into a neighbor: a wrong merge of large regions joins
many pixel pairs that people keep apart. Boundary sums add when regions merge, so the
pixels are read once (the pairs across boundaries, a bincount over their pair codes);
the merging works on the graph alone.

Examples
--------
>>> regions = np.array([[1, 1, 2, 2, 3, 3]])
>>> lab = np.array([[0.0, 0.0, 1.0, 1.0, 50.0, 50.0]])[..., None]
>>> contrast = boundary_contrast(regions, lab.reshape(-1, 1), np.arange(6).reshape(1, 6))
>>> contrast.first.tolist(), contrast.second.tolist(), contrast.step_sum.tolist()
([1, 2], [2, 3], [1.0, 49.0])
>>> merge_by_contrast(np.bincount(regions.ravel()), contrast, threshold=2.0, size_scale=1.0).tolist()
[0, 1, 1, 2]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .region_graph import RegionGraph

__all__ = ["BoundaryContrast", "boundary_contrast", "merge_by_contrast"]

#: Pixels whose adjacent pairs give the photo's scale (larger photos: a regular subset of rows).
SCALE_PIXELS = 1 << 20


@dataclass(frozen=True)
class BoundaryContrast:
    """Color steps along the shared boundaries of a region map's adjacent regions.

    Attributes
    ----------
    first, second : ndarray of shape (E,), int64
        The adjacent region pairs, ``first < second``, sorted.
    step_sum : ndarray of shape (E,), float64
        Sum of the color steps over the adjacent pixel pairs across each shared boundary.
    length : ndarray of shape (E,), int64
        Adjacent pixel pairs across each shared boundary.
    mean_step : float
        Mean color step over all adjacent pairs of pixels in regions (ids > 0): the photo's scale.
    """

    first: np.ndarray
    second: np.ndarray
    step_sum: np.ndarray
    length: np.ndarray
    mean_step: float


def boundary_contrast(regions: np.ndarray, table: np.ndarray, index: np.ndarray) -> BoundaryContrast:
    """Measure the color steps across every shared boundary (4-neighbors).

    Only the pixel pairs across boundaries (a few percent) have their features read; the
    photo's scale is the mean step over every pair of a regular subset of rows (all rows
    up to ``SCALE_PIXELS`` pixels): above 1 MP only the comparison of neighboring region ids
    reads every pixel.

    Parameters
    ----------
    regions : ndarray of shape (H, W), integer
        Region ids 0..R (0: outside every region; its pixels are left out).
    table : ndarray of shape (n, C)
        Feature rows (e.g. the Lab colors of an image's distinct colors).
    index : ndarray of shape (H, W), integer
        Row of ``table`` of every pixel: pixel features are ``table[index]`` (values at
        pixels of region 0 are not read; -1 is allowed there).

    Returns
    -------
    BoundaryContrast
    """
    regions = np.asarray(regions)
    table = np.asarray(table, dtype=np.float64)
    height, width = regions.shape
    flat = regions.ravel()
    rows = np.asarray(index).ravel()
    n = int(flat.max()) + 1 if flat.size else 1

    def steps(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        return np.sqrt(np.square(table[rows[p]] - table[rows[q]]).sum(axis=1))

    # Pixel pairs (p, p + 1) within rows and (p, p + width) between rows, by first position.
    codes, sums = [], []
    for a, b, shift in ((regions[:, :-1], regions[:, 1:], 1), (regions[:-1], regions[1:], width)):
        r, c = np.nonzero(a != b)
        p = r * width + c
        p = p[(flat[p] > 0) & (flat[p + shift] > 0)]
        lo, hi = np.minimum(flat[p], flat[p + shift]), np.maximum(flat[p], flat[p + shift])
        codes.append(lo.astype(np.int64) * n + hi)
        sums.append(steps(p, p + shift))
    pair_codes, where = np.unique(np.concatenate(codes), return_inverse=True)
    step_sum = np.bincount(where.ravel(), weights=np.concatenate(sums), minlength=pair_codes.size)
    length = np.bincount(where.ravel(), minlength=pair_codes.size).astype(np.int64)

    every = max(1, -(-flat.size // SCALE_PIXELS))  # every k-th row
    starts = np.arange(0, height, every) * width
    total, count = 0.0, 0
    for p, shift in (
        ((starts[:, None] + np.arange(width - 1)).ravel(), 1),
        ((starts[starts < (height - 1) * width, None] + np.arange(width)).ravel(), width),
    ):
        p = p[(flat[p] > 0) & (flat[p + shift] > 0)]
        total += float(steps(p, p + shift).sum())
        count += p.size
    return BoundaryContrast(
        first=pair_codes // n,
        second=pair_codes % n,
        step_sum=step_sum,
        length=length,
        mean_step=total / count if count else 0.0,
    )


def merge_by_contrast(
    area: np.ndarray, contrast: BoundaryContrast, *, threshold: float = 2.0, size_scale: float = 0.05
) -> np.ndarray:
    """Merge adjacent regions, the lowest boundary-contrast cost first, while it is at most ``threshold``.

    Parameters
    ----------
    area : ndarray of shape (R + 1,)
        Pixels of every region 0..R of a map numbered in raster order of the regions' first
        pixels (as :func:`~gmmseg.image.regions.merge_regions` leaves it); region 0 stays 0.
    contrast : BoundaryContrast
        Of that map (:func:`boundary_contrast`).
    threshold : float, default=2.0
        Largest cost merged (the cost is in units of the photo's mean pixel step; 0: no merging).
    size_scale : float, default=0.05
        Share of the pixels at which a region's size doubles the cost of its merges.

    Returns
    -------
    ndarray of shape (R + 1,), int32
        The merged region 1..R' of every region, in raster order of the merged regions'
        first pixels (0 stays 0): ``ids[regions]`` is the merged map.
    """
    area = np.array(area, dtype=np.float64)
    area[0] = 0.0
    # Shared-boundary sums per neighbor pair, [step sum, length]: one list for both directions.
    edges = [[s, float(length)] for s, length in zip(contrast.step_sum.tolist(), contrast.length.tolist())]
    graph = RegionGraph(area.tolist(), contrast.first.tolist(), contrast.second.tolist(), edges)
    scale = contrast.mean_step
    if threshold > 0 and scale > 0 and contrast.first.size:
        big = size_scale * area.sum()
        size, neighbors = graph.size, graph.neighbors

        def cost(x: int, y: int) -> float:
            s, length = neighbors[x][y]
            return s / length / scale * (1.0 + min(size[x], size[y]) / big)

        def add_edge(edge: list[float], other: list[float]) -> None:
            edge[0] += other[0]
            edge[1] += other[1]

        graph.merge_cheapest(cost, threshold, combine=add_edge)
    return graph.ids()
