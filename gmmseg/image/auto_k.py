"""``segment_image(n_components="auto")``: the number of color segments chosen by a criterion.

BIC keeps falling with K on real color distributions (the mixture fits the density, and a
photo's colors are not Gaussian clusters), so BIC's choice is nearly always the largest K
tried (K=10 on 92 of 100 BSDS photos), the worst setting for regions. ICL adds twice the
entropy of the posteriors to BIC: it penalizes components that overlap, which is what
splits one smooth surface into bands. Measured on BSDS500 train photos (docs/benchmarks.md,
"Regions on BSDS500"), ICL's K gives regions of a higher PRI than any fixed K; merging the
BIC components by entropy (:mod:`gmmseg.core.combine`) scored lower than both.

The criterion runs on the distinct colors binned to cubes of :data:`AUTO_BIN_STEP` feature
units (:func:`~gmmseg.core.coarse.select_on_bins`), and only the chosen K is fitted to the
exact colors: about the cost of two fits instead of ten.
"""

from __future__ import annotations

import numpy as np

from ..core.coarse import select_on_bins
from ..core.selection import SelectionResult

__all__ = ["AUTO_BIN_STEP", "auto_mixture"]

#: Bin side (feature units; about 3 units of CIE L*, a*, b*) of the rows the criterion sees.
AUTO_BIN_STEP = 3.0


def auto_mixture(
    X: np.ndarray, weights: np.ndarray, max_components: int, criterion: str, random_state, model_params: dict
) -> SelectionResult:
    """The criterion table over K = 1..``max_components`` and the chosen mixture.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Rows of the weighted fit (distinct colors, or colors and grid cells).
    weights : ndarray of shape (n_rows,)
        Their pixel counts.
    max_components : int
    criterion : {"bic", "aic", "icl"}
    random_state : int, Generator or None
    model_params : dict
        :class:`~gmmseg.GaussianMixture` parameters (``covariance_type``, ``reg_covar``, ...).

    Returns
    -------
    SelectionResult
        ``best_model`` is fitted to the exact rows.
    """
    return select_on_bins(
        X,
        range(1, int(max_components) + 1),
        criterion,
        weights,
        step=AUTO_BIN_STEP,
        random_state=random_state,
        **model_params,
    )
