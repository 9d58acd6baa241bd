"""Greedy merging on a region adjacency graph: the one loop of both photo-region merges.

:func:`~gmmseg.image.regions.merge_regions` (mean colors) and
:func:`~gmmseg.image.region_merge.merge_by_contrast` (boundary contrast) differ only in the
cost of merging two adjacent regions and in what they sum when regions merge. Both merge
the cheapest adjacent pair first, the larger region keeping its id, while the cost is at
most a threshold (the merged region's changed costs are pushed again; a stale heap entry
is one whose cost is no longer its edge's), and both number the merged regions in raster order of
their first pixels. :class:`RegionGraph` holds that loop once.

Examples
--------
>>> graph = RegionGraph([0, 2, 1, 3], [1, 2], [2, 3])
>>> graph.merge_cheapest(lambda x, y: abs(x - y), threshold=1.0)
>>> graph.ids().tolist()
[0, 1, 1, 2]
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["RegionGraph"]


class RegionGraph:
    """Regions 0..n-1 (0: outside every region), their sizes and adjacency, merged in place.

    Parameters
    ----------
    size : sequence of float, length n
        Pixels per region; regions of size 0 (and region 0) take no part.
    first, second : sequence of int, length E
        The adjacent pairs.
    edges : sequence, length E, optional
        A payload per pair (e.g. a mutable ``[step sum, length]``), summed by ``combine``
        in :meth:`merge` when two merged regions share a neighbor; None: no payload.

    Attributes
    ----------
    size : list of float
        Pixels per region (a merged region's are its survivor's).
    neighbors : list of dict
        Per region, its neighbors and the payload of the shared edge (one object for both
        directions).
    """

    def __init__(self, size: Sequence[float], first: Sequence[int], second: Sequence[int], edges=None):
        n = len(size)
        # Python lists, not arrays: the loops read single entries (10x faster than numpy scalars).
        self.size = [float(s) for s in size]
        self.alive = [s > 0 for s in self.size]
        if n:
            self.alive[0] = False
        self.parent = list(range(n))
        self.neighbors: list[dict] = [{} for _ in range(n)]
        payloads = [None] * len(first) if edges is None else edges
        for x, y, edge in zip(first, second, payloads):
            self.neighbors[x][y] = self.neighbors[y][x] = edge

    def merge(self, keep: int, gone: int, combine: Callable | None = None) -> None:
        """Merge region ``gone`` into ``keep``: sizes add, neighbors join (``combine(edge, other)`` sums shared edges)."""
        neighbors = self.neighbors
        del neighbors[keep][gone], neighbors[gone][keep]
        for z, edge in neighbors[gone].items():
            del neighbors[z][gone]
            if z in neighbors[keep]:
                if combine is not None:
                    combine(neighbors[keep][z], edge)
            else:
                neighbors[keep][z] = neighbors[z][keep] = edge
        neighbors[gone] = {}
        self.size[keep] += self.size[gone]
        self.parent[gone] = keep
        self.alive[gone] = False

    def merge_cheapest(
        self,
        cost: Callable[[int, int], float],
        threshold: float,
        on_merge: Callable[[int, int], None] | None = None,
        combine: Callable | None = None,
    ) -> None:
        """Merge adjacent regions, the lowest ``cost(x, y)`` (x < y) first, while it is at most ``threshold``.

        The larger region of a pair keeps its id (ties: the smaller id); ``on_merge(keep,
        gone)`` runs after each merge, before the merged region's costs are computed.
        """
        alive, size, neighbors = self.alive, self.size, self.neighbors
        # The current cost of every edge: a heap entry is live while its cost is the edge's
        # and both regions are. A merge changes the costs of only some of the merged region's
        # edges (the contrast cost of a pair with a smaller neighbor stays), and only those
        # are pushed again.
        current = {(x, y): cost(x, y) for x in range(len(size)) if alive[x] for y in neighbors[x] if x < y}
        heap = [(c, x, y) for (x, y), c in current.items()]
        heapq.heapify(heap)
        while heap:
            c, x, y = heapq.heappop(heap)
            if not (alive[x] and alive[y]) or current.get((x, y)) != c:
                continue
            if c > threshold:
                break
            keep, gone = (x, y) if size[x] >= size[y] else (y, x)
            self.merge(keep, gone, combine)
            if on_merge is not None:
                on_merge(keep, gone)
            for z in neighbors[keep]:
                pair = (keep, z) if keep < z else (z, keep)
                c = cost(*pair)
                if current.get(pair) != c:
                    current[pair] = c
                    heapq.heappush(heap, (c, *pair))

    def ids(self) -> np.ndarray:
        """The merged region 1..R' of every region 0..n-1, in raster order of the merged regions' first pixels.

        Regions must be numbered in raster order of their first pixels (as
        :func:`~gmmseg.image.regions.connected_regions` numbers them), so that a merged
        region's first pixel is in its smallest id; region 0 and regions of size 0 map to 0.

        Returns
        -------
        ndarray of shape (n,), int32
        """
        n = len(self.parent)
        root = np.asarray(self.parent, dtype=np.intp)
        while True:
            nxt = root[root]
            if np.array_equal(nxt, root):
                break
            root = nxt
        first = np.full(n, n, dtype=np.int64)
        np.minimum.at(first, root, np.arange(n))
        survivors = np.flatnonzero(np.asarray(self.alive, dtype=bool))
        ids = np.zeros(n, dtype=np.int32)
        ids[survivors[np.argsort(first[survivors], kind="stable")]] = np.arange(1, survivors.size + 1, dtype=np.int32)
        return ids[root]
