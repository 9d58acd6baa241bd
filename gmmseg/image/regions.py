"""Regions of a defect score map: connected components above a threshold, their records and masks.

Regions are 8-connected (pixels touching at a corner belong to one region), as
scikit-image's ``label(..., connectivity=2)``.

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

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Region", "label_regions", "regions_from_map", "defect_mask"]


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
