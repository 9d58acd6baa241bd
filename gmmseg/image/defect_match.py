"""Bring one channel's score map onto another's scale by their good pixels' distributions.

Two score maps of a defect model (the fine one and the broad one) are in different units, and
their good pixels spread differently. :class:`MapMatch` maps each value of the *source* map to
the *target* map's value of the same rank among good pixels (quantile matching: the same
share of good pixels lies above both), so that on good parts the two maps are distributed
alike and the larger of them at a pixel is the one less likely on good parts. Up to the
good pixels' 99% quantile the ranks come from a table of quantiles; beyond it each map's tail
is taken as exponential (its mean excess over that quantile is its scale), so the mapping
continues as a straight line. Docs: docs/defects.md ("Combining the channels").

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> source, target = [rng.exponential(2.0, (400, 400))], [rng.exponential(0.5, (400, 400))]
>>> match = MapMatch().fit(source, target)
>>> round(float(match(np.array([20.0]))[0]), 1)  # 20 on the source is 5 on the target
5.0
"""

from __future__ import annotations

import numpy as np

__all__ = ["MapMatch", "MATCH_LEVELS", "TAIL_LEVEL"]

#: Where the exponential tails begin: this quantile of the good pixels.
TAIL_LEVEL = 0.99
#: The quantiles of the table (101 levels from 0 to :data:`TAIL_LEVEL`).
MATCH_LEVELS = np.linspace(0.0, TAIL_LEVEL, 101)


def _table_and_tail(maps) -> tuple[np.ndarray, float]:
    """Quantiles of the good pixels at :data:`MATCH_LEVELS` and the mean excess beyond the last."""
    values = np.concatenate([np.asarray(m, dtype=np.float64).ravel() for m in maps])
    table = np.quantile(values, MATCH_LEVELS)
    tail = values[values > table[-1]] - table[-1]
    return table, max(float(tail.mean()) if tail.size else 0.0, 1e-6)


class MapMatch:
    """Quantile matching of a source map to a target map, learned on good images.

    Attributes
    ----------
    source_, target_ : ndarray of shape (101,)
        Quantiles of the good pixels of each map at :data:`MATCH_LEVELS`.
    slope_ : float
        Target units per source unit beyond the tables: the ratio of the tails' scales.
    """

    def fit(self, source_maps, target_maps) -> MapMatch:
        """Learn the matching from maps of the same good images.

        Parameters
        ----------
        source_maps, target_maps : sequence of ndarray of shape (h, w)
            The two channels' maps of good images (any shapes; every pixel counts).

        Returns
        -------
        self
        """
        self.source_, source_tail = _table_and_tail(source_maps)
        self.target_, target_tail = _table_and_tail(target_maps)
        self.slope_ = target_tail / source_tail
        return self

    def set_state(self, source: np.ndarray, target: np.ndarray, slope: float) -> MapMatch:
        """A matching from stored tables (as a model file holds them).

        Parameters
        ----------
        source, target : ndarray of shape (101,)
        slope : float

        Returns
        -------
        self
        """
        self.source_ = np.asarray(source, dtype=np.float64)
        self.target_ = np.asarray(target, dtype=np.float64)
        self.slope_ = float(slope)
        return self

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """Source values on the target's scale.

        Parameters
        ----------
        values : ndarray of any shape
            Values of the source map.

        Returns
        -------
        ndarray of the same shape, float32
            Non-decreasing in ``values``.
        """
        x = np.asarray(values, dtype=np.float32)
        inside = np.interp(x, self.source_, self.target_).astype(np.float32)
        beyond = np.float32(self.target_[-1]) + np.float32(self.slope_) * (x - np.float32(self.source_[-1]))
        return np.where(x > self.source_[-1], beyond, inside).astype(np.float32, copy=False)
