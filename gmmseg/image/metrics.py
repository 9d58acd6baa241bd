"""Detection quality metrics: AUROC, AUPRO (per-region overlap) and F1-max.

Examples
--------
>>> import numpy as np
>>> from gmmseg.image.metrics import auroc, f1_max
>>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
0.75
>>> round(f1_max([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
0.8
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ..errors import InputError

__all__ = ["auroc", "f1_max", "aupro", "pro_curve", "detection_metrics"]


def _binary(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).ravel().astype(bool)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise InputError(f"labels ({y.size}) and scores ({s.size}) differ in length")
    if not np.all(np.isfinite(s)):
        raise InputError("scores contain NaN or infinite values")
    return y, s


def auroc(labels, scores) -> float:
    """Area under the ROC curve (ties count one half); NaN if only one class is present.

    Parameters
    ----------
    labels : array-like of shape (n,), bool or {0, 1}
    scores : array-like of shape (n,)
    """
    y, s = _binary(labels, scores)
    if y.all() or not y.any():
        return float("nan")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def f1_max(labels, scores) -> float:
    """Best F1 over all thresholds ``score >= t``; NaN without positives.

    Parameters
    ----------
    labels : array-like of shape (n,)
    scores : array-like of shape (n,)
    """
    y, s = _binary(labels, scores)
    if not y.any():
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    # Evaluate only where the score changes (all tied items are in or out together).
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tp = tp[last].astype(np.float64)
    predicted = last + 1.0
    f1 = 2 * tp / (predicted + y.sum())
    return float(f1.max())


def pro_curve(
    masks: Sequence[np.ndarray], maps: Sequence[np.ndarray], *, max_fpr: float = 0.3, n_thresholds: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Per-region overlap (PRO) against the pixel false-positive rate.

    For a threshold ``t`` the FPR is the share of all normal pixels (of every image)
    with ``score > t``, and the PRO is the mean, over every connected ground-truth
    region (8-connectivity) of every image, of the share of its pixels with
    ``score > t``. Thresholds are spread over the scores of the normal pixels so
    that the FPR runs from 0 to ``max_fpr``.

    Parameters
    ----------
    masks : sequence of ndarray of shape (H_i, W_i), bool
    maps : sequence of ndarray of shape (H_i, W_i), float
    max_fpr : float
    n_thresholds : int

    Returns
    -------
    fpr, pro : ndarray of shape (n_points,)
        Sorted by increasing FPR, starting at ``(0, 0)`` and ending at ``max_fpr``.
    """
    if len(masks) != len(maps):
        raise InputError(f"{len(masks)} masks but {len(maps)} score maps")
    normal, region_scores = [], []
    structure = np.ones((3, 3), dtype=bool)
    for mask, smap in zip(masks, maps):
        mask = np.asarray(mask, dtype=bool)
        smap = np.asarray(smap, dtype=np.float64)
        if mask.shape != smap.shape:
            raise InputError(f"mask of shape {mask.shape} and score map of shape {smap.shape} differ")
        normal.append(smap[~mask])
        labels, n = ndimage.label(mask, structure=structure)
        for index, sl in enumerate(ndimage.find_objects(labels), start=1):
            if sl is not None:
                region_scores.append(np.sort(smap[sl][labels[sl] == index]))
    if not region_scores:
        raise InputError("no defect pixels in the masks: AUPRO needs at least one defect region")
    neg = np.sort(np.concatenate(normal))
    if neg.size == 0:
        raise InputError("no normal pixels in the masks: AUPRO needs some")
    # Thresholds: the normal-score quantiles for FPR in [0, max_fpr].
    fprs_target = np.linspace(0.0, max_fpr, n_thresholds)
    thresholds = np.quantile(neg, 1.0 - fprs_target)
    thresholds[0] = neg[-1]
    fpr = 1.0 - np.searchsorted(neg, thresholds, side="right") / neg.size
    pro = np.zeros_like(fpr)
    for rs in region_scores:
        pro += 1.0 - np.searchsorted(rs, thresholds, side="right") / rs.size
    pro /= len(region_scores)
    fpr = np.r_[0.0, fpr]
    pro = np.r_[0.0, pro]
    order = np.argsort(fpr, kind="mergesort")
    return fpr[order], pro[order]


def aupro(masks, maps, *, max_fpr: float = 0.3, n_thresholds: int = 200) -> float:
    """Area under the PRO curve up to ``max_fpr``, divided by ``max_fpr`` (1 is perfect).

    Parameters
    ----------
    masks : sequence of ndarray of shape (H_i, W_i), bool
    maps : sequence of ndarray of shape (H_i, W_i), float
    max_fpr : float, default=0.3

    Returns
    -------
    float
    """
    fpr, pro = pro_curve(masks, maps, max_fpr=max_fpr, n_thresholds=n_thresholds)
    keep = fpr <= max_fpr
    f, p = fpr[keep], pro[keep]
    if f[-1] < max_fpr:  # close the curve at max_fpr by interpolation
        p_end = np.interp(max_fpr, fpr, pro)
        f, p = np.r_[f, max_fpr], np.r_[p, p_end]
    return float(np.trapezoid(p, f) / max_fpr)


def detection_metrics(
    image_labels, image_scores, masks=None, maps=None, *, max_fpr: float = 0.3, pixel_stride: int = 1
) -> dict[str, float]:
    """Image AUROC and F1-max, and with masks pixel AUROC, pixel F1-max and AUPRO.

    Parameters
    ----------
    image_labels : array-like of shape (n_images,)
        True for defective images.
    image_scores : array-like of shape (n_images,)
    masks, maps : sequences of ndarray of shape (H_i, W_i), optional
        Ground-truth masks (all False for good images) and score maps.
    pixel_stride : int
        Use every ``pixel_stride``-th pixel for the pixel AUROC and F1-max (memory).

    Returns
    -------
    dict
        ``image_auroc``, ``image_f1_max`` and (with masks) ``pixel_auroc``,
        ``pixel_f1_max``, ``aupro``.
    """
    out = {"image_auroc": auroc(image_labels, image_scores), "image_f1_max": f1_max(image_labels, image_scores)}
    if masks is not None and maps is not None:
        y = np.concatenate([np.asarray(m, dtype=bool).ravel()[::pixel_stride] for m in masks])
        s = np.concatenate([np.asarray(m, dtype=np.float32).ravel()[::pixel_stride] for m in maps])
        out["pixel_auroc"] = auroc(y, s)
        out["pixel_f1_max"] = f1_max(y, s)
        out["aupro"] = aupro(masks, maps, max_fpr=max_fpr) if y.any() else float("nan")
    return out
