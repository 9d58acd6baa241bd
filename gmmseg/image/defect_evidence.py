"""Connected evidence: how much of a score map's unlikeliness forms one connected structure.

The image score is the fine map's maximum, which cannot tell a long crack (many moderately
unlikely pixels in a line) from one bright speck of a good part. :class:`ConnectedEvidence`
sets a level at a high quantile of the held-out good pixels, labels the 8-connected
components of the map above it and gives each component a mass: its excess over the level
inside the border band, times ``sqrt(L / n)`` (``L`` the longest side of its bounding box,
``n`` its pixels above the level inside the band), so a line of ``n`` pixels weighs more
than a blob of the same ``n``. The image's evidence is its largest component's mass; like
the broad and image channels, :class:`~gmmseg.image.defects.DefectModel` adds only its
excess over the most unusual held-out good image.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ConnectedEvidence", "component_evidence", "EVIDENCE_QUANTILE"]

#: Share of held-out good pixels (inside the band) below the level.
EVIDENCE_QUANTILE = 0.995


def _inner_mask(shape: tuple[int, int], border_margin: float) -> np.ndarray:
    h, w = shape
    mh, mw = int(round(border_margin * h)), int(round(border_margin * w))
    inner = np.zeros(shape, dtype=bool)
    inner[mh : h - mh or h, mw : w - mw or w] = True
    return inner if inner.any() else np.ones(shape, dtype=bool)


def component_evidence(score_map: np.ndarray, level: float, border_margin: float) -> float:
    """The largest connected component's mass above ``level``.

    Parameters
    ----------
    score_map : ndarray of shape (h, w)
    level : float
    border_margin : float
        Share of the height and width at each side whose pixels add no mass (components
        crossing the band keep their length).

    Returns
    -------
    float
        0 when no pixel inside the band is above the level.

    Examples
    --------
    >>> m = np.zeros((20, 20)); m[5:15, 10] = 1.0; m[3, 3] = 5.0
    >>> round(component_evidence(m, 0.5, 0.0), 3)  # the line (0.5 x 10 x 1) beats the speck (4.5 x 1)
    5.0
    """
    from scipy import ndimage

    smap = np.asarray(score_map, dtype=np.float64)
    above = smap > level
    if not above.any():
        return 0.0
    labels, n = ndimage.label(above, structure=np.ones((3, 3), dtype=bool))
    inner = above & _inner_mask(smap.shape, border_margin)
    index = np.arange(1, n + 1)
    excess = ndimage.sum(np.where(inner, smap - level, 0.0), labels, index)
    count = ndimage.sum(inner, labels, index)
    length = np.array([max(r.stop - r.start, c.stop - c.start) for r, c in ndimage.find_objects(labels)])
    mass = excess * np.sqrt(length / np.maximum(count, 1.0))
    return float(mass.max())


class ConnectedEvidence:
    """The connected evidence of a map, relative to held-out good images.

    Parameters
    ----------
    border_margin : float
        As in :class:`~gmmseg.image.defects.DefectModel`.

    Attributes
    ----------
    level_ : float
        The ``EVIDENCE_QUANTILE`` quantile of the held-out good pixels inside the band.
    center_, top_ : float
        Median and maximum evidence of the held-out good images.
    """

    def __init__(self, border_margin: float):
        self.border_margin = border_margin

    def fit(self, maps: list[np.ndarray]) -> ConnectedEvidence:
        """Set the level and the good references from held-out good maps.

        Parameters
        ----------
        maps : list of ndarray of shape (h, w)
            Score maps of held-out good images (working resolution).

        Returns
        -------
        self
        """
        pixels = np.concatenate([m[_inner_mask(m.shape, self.border_margin)].ravel() for m in maps])
        self.level_ = float(np.quantile(pixels, EVIDENCE_QUANTILE))
        values = np.array([self.evidence(m) for m in maps])
        self.center_, self.top_ = float(np.median(values)), float(values.max())
        return self

    def set_state(self, level: float, center: float, top: float) -> ConnectedEvidence:
        """A fitted channel from stored values (model files)."""
        self.level_, self.center_, self.top_ = float(level), float(center), float(top)
        return self

    def evidence(self, score_map: np.ndarray) -> float:
        """The map's largest component mass above :attr:`level_` (:func:`component_evidence`)."""
        return component_evidence(score_map, self.level_, self.border_margin)

    def relative(self, score_map: np.ndarray) -> float:
        """Evidence with the held-out median at 0 and their maximum at 1.

        Parameters
        ----------
        score_map : ndarray of shape (h, w)

        Returns
        -------
        float
        """
        return (self.evidence(score_map) - self.center_) / max(self.top_ - self.center_, 1e-9)
