"""Region measures of a segmentation against several human segmentations (the BSDS benchmark).

All three are computed from the contingency table of two label maps (the pixel counts
``n_ij`` of every pair of a segment ``i`` of one map and a segment ``j`` of the other),
so the cost is one sort of the pixels, never a Python loop over pixels or pixel pairs.
Label values are arbitrary integers (they need not be consecutive; 0 is a label like any
other). Against several human segmentations each measure is the **mean over the humans**
of the one-to-one value, as in the BSDS benchmark code of Arbelaez et al. (2011).

Probabilistic Rand Index (Unnikrishnan, Pantofaru and Hebert, 2007)
    ``PRI(S, {G_t}) = 1/C(N, 2) Σ_{i<j} [c_ij p_ij + (1 - c_ij)(1 - p_ij)]`` over the
    unordered pairs of distinct pixels, where ``c_ij`` says whether ``S`` puts pixels
    ``i`` and ``j`` in one segment and ``p_ij`` is the share of humans who do. As this is
    linear in ``p_ij`` it equals the mean over humans of the Rand index, computed from
    the table as ``1 - (Σ a_i² + Σ b_j² - 2 Σ n_ij²) / (2 C(N, 2))`` (``a``, ``b`` the row
    and column sums). In [0, 1], higher is better.
Variation of Information (Meila, 2003)
    ``VI(S, G) = H(S) + H(G) - 2 I(S; G) = H(S | G) + H(G | S)`` in **bits** (log base 2).
    0 for identical partitions, at most ``log2 N``; lower is better. (scikit-image's
    ``skimage.metrics.variation_of_information`` returns the two conditional entropies;
    their sum is this VI: scikit-image 0.26 computes them with ``log2``, i.e. in bits,
    while the brief of issue 12 expected nats, where the sum would be divided by ``ln 2``.)
Segmentation Covering (Arbelaez, Maire, Fowlkes and Malik, 2011)
    ``Cov(S → G) = 1/N Σ_{R ∈ G} |R| max_{R' ∈ S} |R ∩ R'| / |R ∪ R'|``: how well the
    segments of ``S`` cover the human regions ``R`` (the BSDS direction: the machine
    segmentation covers the ground truth). In [0, 1], higher is better.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "contingency_table",
    "rand_index",
    "probabilistic_rand_index",
    "variation_of_information",
    "segmentation_covering",
    "region_scores",
]


def _dense_codes(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels renumbered 0..n-1 (flattened int64) and n."""
    flat = np.asarray(labels).ravel()
    if flat.size and flat.dtype.kind in "ui" and flat.min() >= 0 and flat.max() < 4 * flat.size + 1024:
        counts = np.bincount(flat)
        present = counts > 0
        lut = np.cumsum(present) - 1
        return lut[flat].astype(np.int64), int(present.sum())
    values, inverse = np.unique(flat, return_inverse=True)
    return inverse.ravel().astype(np.int64), int(values.size)


def contingency_table(a, b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero cells of the contingency table of two label maps.

    Parameters
    ----------
    a, b : array_like of integers, same shape (for example (H, W))
        Two label maps of the same pixels.

    Returns
    -------
    rows : ndarray of shape (n_cells,), int64
        Segment index (0..n_a-1, in increasing label order) in ``a`` of every cell.
    cols : ndarray of shape (n_cells,), int64
        Segment index in ``b`` of every cell.
    counts : ndarray of shape (n_cells,), int64
        Pixels in both segments (all > 0).

    Examples
    --------
    >>> rows, cols, counts = contingency_table([[1, 1], [2, 2]], [[5, 7], [7, 7]])
    >>> rows.tolist(), cols.tolist(), counts.tolist()
    ([0, 0, 1], [0, 1, 1], [1, 1, 2])
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"label maps must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("label maps have no pixels")
    ca, _ = _dense_codes(a)
    cb, nb = _dense_codes(b)
    joint = ca * nb + cb
    cells, counts = np.unique(joint, return_counts=True)
    return cells // nb, cells % nb, counts.astype(np.int64)


def _as_truths(ground_truths, shape) -> list[np.ndarray]:
    try:
        stacked = np.asarray(ground_truths)
    except ValueError:  # ragged: a sequence of maps of different shapes
        stacked = None
    if stacked is not None and stacked.dtype != object and stacked.ndim == len(shape):
        truths = [stacked]
    elif stacked is not None and stacked.dtype != object and stacked.ndim == len(shape) + 1:
        truths = list(stacked)
    else:
        truths = [np.asarray(t) for t in ground_truths]
    if not truths:
        raise ValueError("need at least one ground-truth segmentation")
    for t in truths:
        if np.shape(t) != tuple(shape):
            raise ValueError(f"ground truth of shape {np.shape(t)} does not match the label map's {tuple(shape)}")
    return truths


def _pair_terms(rows, cols, counts):
    """Row sums, column sums and the total from the table's cells."""
    a = np.bincount(rows, weights=counts)
    b = np.bincount(cols, weights=counts)
    return a, b, float(counts.sum())


def rand_index(labels, truth) -> float:
    """Rand index of two label maps: the share of unordered pixel pairs on which they agree.

    Parameters
    ----------
    labels, truth : array_like of integers, same shape

    Returns
    -------
    float
        In [0, 1]; 1 for one pixel (no pair).

    Examples
    --------
    >>> round(rand_index([[0, 0, 1]], [[0, 1, 1]]), 6)  # pairs (1,2) and (2,3) disagree, (1,3) agrees
    0.333333
    """
    rows, cols, counts = contingency_table(labels, truth)
    a, b, n = _pair_terms(rows, cols, counts)
    if n < 2:
        return 1.0
    c = counts.astype(np.float64)
    disagree = (np.dot(a, a) + np.dot(b, b) - 2.0 * np.dot(c, c)) / 2.0
    return float(1.0 - disagree / (n * (n - 1) / 2.0))


def probabilistic_rand_index(labels, ground_truths) -> float:
    """Probabilistic Rand Index of a label map against several human segmentations.

    Parameters
    ----------
    labels : array_like of integers, shape (H, W)
    ground_truths : array_like of shape (n_humans, H, W), a sequence of (H, W) maps, or one (H, W) map

    Returns
    -------
    float
        Mean over the humans of the Rand index (equal to the PRI); higher is better.

    Examples
    --------
    >>> seg = np.array([[0, 0], [1, 1]])
    >>> round(probabilistic_rand_index(seg, [seg, np.zeros((2, 2), int)]), 6)  # (1 + 2/6) / 2
    0.666667
    """
    labels = np.asarray(labels)
    truths = _as_truths(ground_truths, labels.shape)
    return float(np.mean([rand_index(labels, t) for t in truths]))


def _vi_bits(labels, truth) -> float:
    rows, cols, counts = contingency_table(labels, truth)
    a, b, n = _pair_terms(rows, cols, counts)
    p = counts / n
    pa = a / n
    pb = b / n
    # H(S|G) + H(G|S) = 2 H(S, G) - H(S) - H(G)
    h_joint = -np.dot(p, np.log2(p))
    h_a = -np.dot(pa, np.log2(pa))
    h_b = -np.dot(pb, np.log2(pb))
    return float(max(2.0 * h_joint - h_a - h_b, 0.0))


def variation_of_information(labels, ground_truths) -> float:
    """Variation of Information in bits, mean over the human segmentations.

    Parameters
    ----------
    labels : array_like of integers, shape (H, W)
    ground_truths : array_like of shape (n_humans, H, W), a sequence of (H, W) maps, or one (H, W) map

    Returns
    -------
    float
        ``H(S | G) + H(G | S)`` in bits, averaged over the humans; lower is better, 0 when identical.

    Examples
    --------
    >>> variation_of_information([[0, 0, 1, 1]], [[0, 0, 0, 0]])  # H(S) = 1 bit, H(G) = 0
    1.0
    >>> variation_of_information([[0, 0, 1, 1]], [[[0, 1, 0, 1]], [[7, 7, 3, 3]]])  # (2 + 0) / 2
    1.0
    """
    labels = np.asarray(labels)
    truths = _as_truths(ground_truths, labels.shape)
    return float(np.mean([_vi_bits(labels, t) for t in truths]))


def _covering(labels, truth) -> float:
    # rows: segments of the machine map; cols: human regions. IoU of every overlapping pair.
    rows, cols, counts = contingency_table(labels, truth)
    a, b, n = _pair_terms(rows, cols, counts)
    iou = counts / (a[rows] + b[cols] - counts)
    best = np.zeros(b.shape[0])
    np.maximum.at(best, cols, iou)
    return float(np.dot(b, best) / n)


def segmentation_covering(labels, ground_truths) -> float:
    """Segmentation Covering of the human segmentations by a label map, mean over the humans.

    Parameters
    ----------
    labels : array_like of integers, shape (H, W)
        The segmentation that covers.
    ground_truths : array_like of shape (n_humans, H, W), a sequence of (H, W) maps, or one (H, W) map
        The segmentations to be covered.

    Returns
    -------
    float
        ``1/N Σ_R |R| max_R' IoU(R, R')`` over the human regions R, mean over humans; higher is better.

    Examples
    --------
    >>> # the human region {0,1,2,3} is best covered by {0,1,2} (IoU 3/4): (4 * 3/4) / 4
    >>> segmentation_covering([[0, 0, 0, 1]], [[5, 5, 5, 5]])
    0.75
    """
    labels = np.asarray(labels)
    truths = _as_truths(ground_truths, labels.shape)
    return float(np.mean([_covering(labels, t) for t in truths]))


def region_scores(labels, ground_truths) -> dict[str, float]:
    """PRI, VI (bits) and covering of one label map against its human segmentations.

    Parameters
    ----------
    labels : array_like of integers, shape (H, W)
    ground_truths : array_like of shape (n_humans, H, W) or a sequence of (H, W) maps

    Returns
    -------
    dict
        ``{"pri": float, "vi": float, "covering": float}``.

    Examples
    --------
    >>> seg = np.array([[1, 1, 2, 2]])
    >>> region_scores(seg, [seg])
    {'pri': 1.0, 'vi': 0.0, 'covering': 1.0}
    """
    labels = np.asarray(labels)
    truths: Sequence[np.ndarray] = _as_truths(ground_truths, labels.shape)
    return {
        "pri": probabilistic_rand_index(labels, truths),
        "vi": variation_of_information(labels, truths),
        "covering": segmentation_covering(labels, truths),
    }
