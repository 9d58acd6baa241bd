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
pixels are read once (one pass over the adjacent pixel pairs, a bincount over pair codes);
the merging works on the graph alone.

Examples
--------
>>> regions = np.array([[1, 1, 2, 2, 3, 3]])
>>> lab = np.array([[0.0, 0.0, 1.0, 1.0, 50.0, 50.0]])[..., None]
>>> contrast = boundary_contrast(regions, lab.reshape(-1, 1), np.arange(6).reshape(1, 6))
>>> contrast.first.tolist(), contrast.second.tolist(), contrast.step_sum.tolist()
([1, 2], [2, 3], [1.0, 49.0])
>>> merge_by_contrast(regions, contrast, threshold=2.0, size_scale=1.0).tolist()
[0, 1, 1, 2]
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

__all__ = ["BoundaryContrast", "boundary_contrast", "merge_by_contrast"]

#: Pixels of one block of rows: bounds the temporaries on a 12 MP photo.
BLOCK_PIXELS = 1 << 20


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
    """Measure the color steps across every shared boundary (4-neighbors) in one pass.

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
    index = np.asarray(index)
    height, width = regions.shape
    n = int(regions.max()) + 1
    codes, steps = [], []
    total, count = 0.0, 0
    rows = max(1, BLOCK_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        # The next block's first row too, for the vertical pairs between blocks (its own
        # horizontal pairs are the next block's).
        reg = regions[top : top + rows + 1].astype(np.int64)
        feat = table[np.maximum(index[top : top + rows + 1], 0)]
        own = min(rows, height - top)
        for a, b, fa, fb in (
            (reg[:own, :-1], reg[:own, 1:], feat[:own, :-1], feat[:own, 1:]),
            (reg[:-1], reg[1:], feat[:-1], feat[1:]),
        ):
            inside = (a > 0) & (b > 0)
            step = np.sqrt(np.square(fa - fb).sum(axis=-1))
            total += float(step[inside].sum())
            count += int(inside.sum())
            cut = inside & (a != b)
            lo, hi = np.minimum(a[cut], b[cut]), np.maximum(a[cut], b[cut])
            codes.append(lo * n + hi)
            steps.append(step[cut])
    pair_codes, where = np.unique(np.concatenate(codes), return_inverse=True)
    step_sum = np.bincount(where.ravel(), weights=np.concatenate(steps), minlength=pair_codes.size)
    length = np.bincount(where.ravel(), minlength=pair_codes.size).astype(np.int64)
    return BoundaryContrast(
        first=pair_codes // n,
        second=pair_codes % n,
        step_sum=step_sum,
        length=length,
        mean_step=total / count if count else 0.0,
    )


def merge_by_contrast(
    regions: np.ndarray, contrast: BoundaryContrast, *, threshold: float = 2.0, size_scale: float = 0.05
) -> np.ndarray:
    """Merge adjacent regions, the lowest boundary-contrast cost first, while it is at most ``threshold``.

    Parameters
    ----------
    regions : ndarray of shape (H, W), integer
        Region ids 0..R numbered in raster order of their first pixel (as
        :func:`~gmmseg.image.regions.merge_regions` leaves them); 0 stays 0.
    contrast : BoundaryContrast
        Of ``regions`` (:func:`boundary_contrast`).
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
    regions = np.asarray(regions)
    n = int(regions.max()) + 1
    area = np.bincount(regions.ravel(), minlength=n).astype(np.float64)
    area[0] = 0.0
    parent = np.arange(n)
    alive = area > 0
    scale = contrast.mean_step
    if threshold > 0 and scale > 0 and contrast.first.size:
        big = size_scale * area.sum()
        # Shared-boundary sums per neighbor, [step sum, length]; one list for both directions.
        neighbors: list[dict[int, list[float]]] = [{} for _ in range(n)]
        for x, y, s, length in zip(
            contrast.first.tolist(), contrast.second.tolist(), contrast.step_sum.tolist(), contrast.length.tolist()
        ):
            neighbors[x][y] = neighbors[y][x] = [s, float(length)]

        def cost(x: int, y: int) -> float:
            s, length = neighbors[x][y]
            return s / length / scale * (1.0 + min(area[x], area[y]) / big)

        version = np.zeros(n, dtype=np.int64)
        heap = [(cost(x, y), x, y, 0, 0) for x in range(n) for y in neighbors[x] if x < y]
        heapq.heapify(heap)
        while heap:
            c, x, y, vx, vy = heapq.heappop(heap)
            if not (alive[x] and alive[y]) or version[x] != vx or version[y] != vy:
                continue
            if c > threshold:
                break
            keep, gone = (x, y) if area[x] >= area[y] else (y, x)
            del neighbors[keep][gone], neighbors[gone][keep]
            for z, edge in neighbors[gone].items():
                del neighbors[z][gone]
                if z in neighbors[keep]:
                    neighbors[keep][z][0] += edge[0]
                    neighbors[keep][z][1] += edge[1]
                else:
                    neighbors[keep][z] = neighbors[z][keep] = edge
            neighbors[gone] = {}
            area[keep] += area[gone]
            parent[gone] = keep
            alive[gone] = False
            version[keep] += 1
            for z in neighbors[keep]:
                lo, hi = min(keep, z), max(keep, z)
                heapq.heappush(heap, (cost(lo, hi), lo, hi, int(version[lo]), int(version[hi])))
    root = parent
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    # Regions are numbered in raster order, so a group's first pixel is its smallest id.
    first = np.full(n, n, dtype=np.int64)
    np.minimum.at(first, root, np.arange(n))
    survivors = np.flatnonzero(alive)
    ids = np.zeros(n, dtype=np.int32)
    ids[survivors[np.argsort(first[survivors], kind="stable")]] = np.arange(1, survivors.size + 1, dtype=np.int32)
    return ids[root]
