"""``segment_image(n_components="auto")``: the number of color segments chosen by ICL.

BIC keeps falling with K on real color distributions (the mixture fits the density, and a
photo's colors are not Gaussian clusters), so BIC's choice is nearly always the largest K
tried (K=10 on 92 of 100 BSDS photos), the worst setting for regions. ICL adds twice the
entropy of the posteriors to BIC: it penalizes components that overlap, which is what
splits one smooth surface into bands. On BSDS500 train photos (docs/benchmarks.md, "Regions
on BSDS500") ICL's K gives regions of a higher PRI than K=4 at the same covering; merging
the BIC components by entropy (:mod:`gmmseg.core.combine`, elbow rule) scored lower than
both. K=1 is never chosen when K=2 is allowed: ICL picks it on about one photo in ten (a
flat sky and sea), and one region segments nothing.

The criterion runs on the distinct colors binned to cubes of :data:`AUTO_BIN_STEP` feature
units (:func:`~gmmseg.core.coarse.select_on_bins`), and only the chosen K is fitted, to the
colors binned to :data:`AUTO_FIT_STEP` units: about a third of a fit to the exact colors on a
blurred 12 MP photo (79,723 bins instead of 539,092 colors), with regions as good on BSDS500
(train: PRI/VI/covering 0.782/2.092/0.555 on the first 40 photos, against 0.779/2.122/0.550
for the exact fit; docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np

from ..core.coarse import select_on_bins
from ..core.selection import SelectionResult

__all__ = ["AUTO_BIN_STEP", "AUTO_FIT_STEP", "auto_mixture"]

#: Bin side (feature units: 5 units of CIE L*, a*, b*) of the rows the criterion sees.
AUTO_BIN_STEP = 5.0
#: Bin side of the rows the chosen K is fitted to (1 unit: about one step of an 8-bit channel).
AUTO_FIT_STEP = 1.0


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
        The table has every K from 1; ``best_model``, the best K of at least 2 (when
        ``max_components >= 2``), is fitted to the rows binned to :data:`AUTO_FIT_STEP`.
    """
    return select_on_bins(
        X,
        range(1, int(max_components) + 1),
        criterion,
        weights,
        step=AUTO_BIN_STEP,
        fit_step=AUTO_FIT_STEP,
        min_components=min(2, int(max_components)),  # one segment is no segmentation of a photo
        random_state=random_state,
        # Restarts near the chosen K left BSDS val regions as they were (PRI -0.001, VI -0.014)
        # for 1.16x the time of -k auto, which would take it past 4x felzenszwalb's.
        restarts=0,
        **model_params,
    )
