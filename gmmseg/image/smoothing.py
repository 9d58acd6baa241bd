"""Spatial smoothing: a Potts-prior hidden Markov random field over the pixel grid.

The model: every pixel's label ``z_i`` has the color likelihood of the mixture,
and the labels have the Potts prior ``p(z) ∝ exp(β Σ_{i~j} w_ij [z_i = z_j])`` over
the 4-neighborhood (``w = 1``) or the 8-neighborhood (``w = 1`` for the four
direct neighbors and ``1/√2`` for the diagonals). It is fitted by EM where the
E-step is approximate:

* ``mean-field``: the posterior is approximated by independent per-pixel
  distributions ``q_i``, updated by
  ``log q_i(k) = log w_k + log N(x_i | k) + β Σ_j w_ij q_j(k) + const``;
* ``icm`` (iterated conditional modes): the same update with ``q_i`` one-hot at
  its arg-max (faster, harder decisions, no probabilities).

Pixels are updated in four interleaved parity classes ``(row % 2, col % 2)``, so no
two pixels updated together are neighbors (Gauss-Seidel sweeps: no oscillation).
The M-step is the core's exact weighted M-step
(:meth:`GaussianMixture.from_responsibilities`): as all pixels of one color share
the same features, the pixel responsibilities are summed per distinct color,
which gives exactly the statistics of the M-step over all pixels. There is no
second EM loop here: the iteration is the core's (:func:`gmmseg.core.em.iterate`,
with this module's E-step and its label-change stop test as hooks), the data term
comes from :meth:`GaussianMixture.component_log_prob` and the parameters from the core.

Beside the EM: :func:`potts_beta` estimates beta from labels, :func:`label_energy` ranks
runs, and :func:`noise_sigma` measures an image's noise (a clean image gets the plain start
only, see :mod:`gmmseg.image.segment`).

Memory: the per-pixel data term is gathered from the ``(n_colors, K)`` table one
parity class at a time; the state is ``q`` in float32, stored as four contiguous,
zero-padded parity sub-grids (so neighbor sums are contiguous slices), plus
temporaries of a quarter image. For a 12 MP photo and K = 4 this is about 200 MB
for ``q`` and 150 MB of temporaries.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError

__all__ = [
    "MRFResult",
    "potts_em",
    "potts_beta",
    "label_energy",
    "noise_sigma",
    "aggregate_responsibilities",
    "METHODS",
    "NEIGHBORHOODS",
]

METHODS = ("mean-field", "icm")
NEIGHBORHOODS = (4, 8)
_DIAGONAL = float(1.0 / np.sqrt(2.0))
#: Rows per block where whole-image temporaries are avoided (arg-max, M-step sums).
_BLOCK_ROWS = 256
#: Upper end of the pseudo-likelihood estimate of beta (reached when no label ever loses to a neighbor).
BETA_MAX = 10.0
#: The lower quartile of ``|Z|`` for a unit normal ``Z`` (``Φ⁻¹(0.625)``).
_NORMAL_QUARTILE = 0.31863936396437514
#: The largest absolute response of Immerkær's kernel on the 0..255 scale.
_MAX_RESPONSE = 16 * 255


@dataclass
class MRFResult:
    """The result of :func:`potts_em`.

    Attributes
    ----------
    model : GaussianMixture
        The mixture re-estimated under the spatial prior.
    labels : ndarray of shape (H, W), int16
        Most likely component of every pixel (``-1`` for excluded pixels).
    posteriors : ndarray of shape (K, H, W), float32
        The approximate posterior ``q`` (one-hot for ``icm``); 0 at excluded pixels.
        Assembled on access; :meth:`posterior` gives one map.
    n_iter : int
        EM iterations run.
    converged : bool
        True when the share of pixels whose label changed fell below ``tol``.
    changed : list of float
        Share of pixels whose label changed at each iteration.
    objective : float
        The mean-field free energy per visible pixel at the end (computed on first access), ``(Σ_i Σ_k q_ik log(w_k
        N(x_i | k)) + ½ Σ_i Σ_j~i β w_ij Σ_k q_ik q_jk − Σ_i Σ_k q_ik log q_ik) / n``: the
        penalised likelihood that both steps raise (compare runs of the same beta by it).
    seconds : float
    """

    model: object
    labels: np.ndarray
    n_iter: int
    converged: bool
    changed: list = field(default_factory=list)
    seconds: float = 0.0
    _field: object = field(default=None, repr=False)
    _objective: object = field(default=None, repr=False)  # callable() -> float, run once

    @property
    def objective(self) -> float:
        if callable(self._objective):  # a pass over the grid that ranking the runs does not need
            self._objective = self._objective()
        return float("nan") if self._objective is None else self._objective

    def posterior(self, j: int) -> np.ndarray:
        """``q`` of component ``j``, shape (H, W), float32."""
        return self._field.posterior(j)

    @property
    def posteriors(self) -> np.ndarray:
        return np.stack([self._field.posterior(j) for j in range(self._field.k)])


def _offsets(neighborhood: int, beta: float) -> list[tuple[int, int, float]]:
    direct = [(-1, 0, beta), (1, 0, beta), (0, -1, beta), (0, 1, beta)]
    if neighborhood == 4:
        return direct
    d = beta * _DIAGONAL
    return direct + [(-1, -1, d), (-1, 1, d), (1, -1, d), (1, 1, d)]


class _Field:
    """The posterior ``q`` stored as four parity sub-grids ``(row % 2, col % 2)``.

    Each sub-grid is a contiguous, zero-padded ``(K, nr + 2, nc + 2)`` float32 array,
    so the neighbors of a whole parity class are contiguous slices of the other
    sub-grids (fast, vectorised) and the zero padding gives the image border.
    """

    def __init__(self, pixel_index: np.ndarray, n_components: int):
        self.h, self.w = pixel_index.shape
        self.k = n_components
        self.sub: dict[tuple[int, int], np.ndarray] = {}
        self.counts = None  # pixels per row of X, from the first M-step on
        self.classes = []
        for a in (0, 1):
            for b in (0, 1):
                nr, nc = len(range(a, self.h, 2)), len(range(b, self.w, 2))
                self.sub[a, b] = np.zeros((n_components, nr + 2, nc + 2), dtype=np.float32)
                if nr == 0 or nc == 0:
                    continue
                idx = np.ascontiguousarray(pixel_index[a::2, b::2])
                visible = idx >= 0
                safe = idx if visible.all() else np.where(visible, idx, 0)
                self.classes.append((a, b, nr, nc, idx, safe, None if visible.all() else visible))

    def interior(self, a: int, b: int) -> np.ndarray:
        return self.sub[a, b][:, 1:-1, 1:-1]

    def neighbor_sum(self, a: int, b: int, nr: int, nc: int, offsets) -> np.ndarray:
        """``Σ_j w_ij q_j`` for every pixel of class (a, b): (K, nr, nc) float32."""
        total = None
        for dr, dc, weight in offsets:
            a2, b2 = (a + dr) % 2, (b + dc) % 2
            sr, sc = (a + dr - a2) // 2, (b + dc - b2) // 2
            part = self.sub[a2, b2][:, 1 + sr : 1 + sr + nr, 1 + sc : 1 + sc + nc]
            if total is None:
                total = part * np.float32(weight)
            elif weight == 1.0:
                total += part
            else:
                total += part * np.float32(weight)
        return total

    def set_class(self, a: int, b: int, values: np.ndarray) -> None:
        self.interior(a, b)[...] = values

    def labels(self) -> np.ndarray:
        """Arg-max of ``q`` as int16, shape (H, W); -1 at excluded pixels."""
        out = np.full((self.h, self.w), -1, dtype=np.int16)
        for a, b, _, _, _, _, visible in self.classes:
            best = self.interior(a, b).argmax(axis=0).astype(np.int16)
            if visible is not None:
                best[~visible] = -1
            out[a::2, b::2] = best
        return out

    def posterior(self, j: int) -> np.ndarray:
        """``q`` of component ``j``, shape (H, W), float32 (0 at excluded pixels)."""
        out = np.zeros((self.h, self.w), dtype=np.float32)
        for a, b, *_ in self.classes:
            out[a::2, b::2] = self.interior(a, b)[j]
        return out

    def objective(self, log_prob: np.ndarray, offsets) -> float:
        """The mean-field free energy summed over the visible pixels, for the (K, n_rows) data term ``log_prob``."""
        total = 0.0
        for a, b, nr, nc, _, safe, visible in self.classes:
            q = self.interior(a, b)
            pairwise = self.neighbor_sum(a, b, nr, nc, offsets)
            pairwise *= np.float32(0.5)  # every neighbor pair is counted from both ends
            pairwise += np.take(log_prob, safe, axis=1)
            if visible is not None:
                pairwise *= visible
            entropy = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)
            total += float(np.sum(q * pairwise, dtype=np.float64)) - float(np.sum(entropy, dtype=np.float64))
        return total

    def responsibility_sums(self, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
        S = np.zeros((n_rows, self.k))
        fresh = self.counts is None
        counts = np.zeros(n_rows) if fresh else self.counts
        for a, b, _, _, idx, _, _ in self.classes:
            part, n = _sum_responsibilities(idx, self.interior(a, b), n_rows, with_counts=fresh)
            S += part
            if fresh:
                counts += n
        self.counts = counts  # the pixels per row do not change between M-steps
        return S, counts


def _softmax_inplace(E: np.ndarray) -> np.ndarray:
    E -= E.max(axis=0, keepdims=True)
    np.exp(E, out=E)
    E /= E.sum(axis=0, keepdims=True)
    return E


def _one_hot(E: np.ndarray) -> np.ndarray:
    best = E.argmax(axis=0)
    out = np.zeros_like(E)
    np.put_along_axis(out, best[None], 1.0, axis=0)
    return out


def potts_em(
    pixel_index: np.ndarray,
    X: np.ndarray,
    model,
    beta: float,
    *,
    neighborhood: int = 4,
    method: str = "mean-field",
    max_iter: int = 20,
    n_sweeps: int = 1,
    tol: float = 1e-3,
    update_model: bool = True,
    initial_labels: np.ndarray | None = None,
) -> MRFResult:
    """EM for a Gaussian mixture with a Potts prior on the labels of a pixel grid.

    Parameters
    ----------
    pixel_index : ndarray of shape (H, W), integer
        For every pixel, the row of ``X`` holding its features; ``-1`` excludes the
        pixel (e.g. fully transparent).
    X : ndarray of shape (n_rows, n_features)
        Features of the distinct colors (each row may stand for many pixels).
    model : GaussianMixture
        A fitted mixture (the plain color fit): the starting point.
    beta : float
        Strength of the Potts prior per neighbor pair (``β ≥ 0``; 0 gives the plain
        mixture's labels). Typical values 0.5 to 3.
    neighborhood : {4, 8}, default=4
    method : {"mean-field", "icm"}, default="mean-field"
    max_iter : int, default=20
        EM iterations (each: ``n_sweeps`` E-step sweeps, then one M-step).
    n_sweeps : int, default=1
        Sweeps over the grid per E-step.
    tol : float, default=1e-3
        Stop when fewer than this share of pixels changed label in an iteration.
    update_model : bool, default=True
        Re-estimate the mixture (M-step). False keeps ``model`` fixed (only the
        labels are smoothed).
    initial_labels : ndarray of shape (H, W), integer, optional
        Start from these labels (0..K-1; -1 at excluded pixels), e.g. those of a fit to a
        blurred image: the mixture is first re-estimated from them (an M-step on ``X``),
        then EM goes on as usual. None starts from ``model``'s posterior.

    Returns
    -------
    MRFResult

    Examples
    --------
    >>> import numpy as np
    >>> from gmmseg import GaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> truth = np.zeros((40, 40), dtype=int); truth[:, 20:] = 1
    >>> X = (truth * 4.0 + rng.normal(0, 1.5, truth.shape)).reshape(-1, 1)
    >>> gm = GaussianMixture(2, random_state=0).fit(X)
    >>> index = np.arange(X.shape[0]).reshape(truth.shape)
    >>> result = potts_em(index, X, gm, beta=1.5)
    >>> plain = gm.predict(X).reshape(truth.shape)
    >>> def errors(labels):
    ...     return min(int(np.sum(labels != truth)), int(np.sum(labels == truth)))
    >>> errors(result.labels) < errors(plain)
    True
    """
    from ..core.em import iterate
    from ..core.mixture import GaussianMixture

    started = time.perf_counter()
    if method not in METHODS:
        raise ParameterError(f"smoothing method must be one of {', '.join(METHODS)}, got {method!r}")
    if neighborhood not in NEIGHBORHOODS:
        raise ParameterError(f"neighborhood must be 4 or 8, got {neighborhood!r}")
    if not np.isfinite(beta) or beta < 0:
        raise ParameterError(f"smoothing beta must be a finite number >= 0, got {beta!r}")
    pixel_index = np.asarray(pixel_index)
    if pixel_index.ndim != 2:
        raise ParameterError(f"pixel_index must have shape (H, W), got {pixel_index.shape}")
    X = np.asarray(X, dtype=np.float64)
    n_rows = X.shape[0]
    flat_index = pixel_index.ravel()
    visible_flat = flat_index >= 0
    if not visible_flat.any():
        raise ParameterError("no pixel to smooth: every pixel is excluded")
    n_visible = int(visible_flat.sum())

    k = model.n_components
    grid = _Field(pixel_index, k)
    offsets = _offsets(neighborhood, float(beta))
    update = _softmax_inplace if method == "mean-field" else _one_hot
    params = {
        name: getattr(model, name)
        for name in ("reg_covar", "reg_covar_relative", "dtype", "chunk_size", "random_state")
        if hasattr(model, name)
    }

    def log_prob_table(m) -> np.ndarray:
        return np.ascontiguousarray(m.component_log_prob(X).T.astype(np.float32))

    state = {"model": model}
    changed: list[float] = []

    def e_step() -> float:
        """Sweeps of the prior-weighted update; returns the share of pixels whose label changed."""
        for _ in range(n_sweeps):
            for a, b, nr, nc, _, safe, visible in grid.classes:
                E = grid.neighbor_sum(a, b, nr, nc, offsets)
                E += np.take(state["L_t"], safe, axis=1)
                values = update(E)
                if visible is not None:
                    values *= visible
                grid.set_class(a, b, values)
        labels = grid.labels()
        share = float(np.count_nonzero(labels != state["labels"])) / n_visible
        changed.append(share)
        state["labels"] = labels
        return share

    def m_step(share: float) -> None:
        """The core's exact weighted M-step on the responsibilities summed per distinct color."""
        S, weights = grid.responsibility_sums(n_rows)
        used = weights > 0
        R = S[used] / S[used].sum(axis=1, keepdims=True)
        fitted = GaussianMixture.from_responsibilities(
            X[used], R, weights[used], covariance_type=state["model"].covariance_type, **params
        )
        state["model"], state["L_t"] = fitted, log_prob_table(fitted)

    if initial_labels is None:  # start from the plain mixture's posterior (no prior)
        state["L_t"] = log_prob_table(model)
        for a, b, _, _, _, safe, visible in grid.classes:
            values = update(np.take(state["L_t"], safe, axis=1))
            if visible is not None:
                values *= visible
            grid.set_class(a, b, values)
    else:
        start = np.asarray(initial_labels)
        if start.shape != pixel_index.shape or start.max() >= k or np.any((start < 0) != (pixel_index < 0)):
            raise ParameterError(
                f"initial_labels must have shape {pixel_index.shape}, labels 0..{k - 1} and -1 exactly at excluded pixels"
            )
        for a, b, *_ in grid.classes:
            part = start[a::2, b::2]
            grid.set_class(a, b, (part[None] == np.arange(k)[:, None, None]).astype(np.float32))
        m_step(None)
    state["labels"] = grid.labels()

    # The returned labels stay those of the returned model: no M-step after the last E-step.
    n_iter, converged = iterate(
        e_step,
        m_step if update_model else None,
        max_iter=max_iter,
        stop_before_m=lambda share, n_iter: share < tol and n_iter > 1,
        m_step_on_last=False,
    )
    model, previous = state["model"], state["labels"]
    state.clear()  # frees the data-term table; the objective recomputes it if asked for

    return MRFResult(
        model=model,
        labels=previous,
        n_iter=n_iter,
        converged=converged,
        changed=changed,
        seconds=time.perf_counter() - started,
        _field=grid,
        _objective=lambda: grid.objective(log_prob_table(model), offsets) / n_visible,
    )


def potts_beta(labels: np.ndarray, n_components: int | None = None, *, neighborhood: int = 4) -> float:
    """Maximum pseudo-likelihood estimate of the Potts ``beta`` given labels (Besag 1975).

    Maximizes ``Σ_i log p(z_i | z_j, j ~ i) = Σ_i [β c_i(z_i) − log Σ_k exp(β c_i(k))]`` over
    ``β ≥ 0``, where ``c_i(k) = Σ_{j~i} w_ij [z_j = k]`` is the weight of the neighbors of
    pixel ``i`` labelled ``k`` (weights as in :func:`potts_em`; excluded pixels and the border
    are no neighbors). The function is concave in ``β``, so its derivative is solved by
    bisection; the pixels are summarized by their distinct neighbor configurations, so the
    cost is a few passes over the labels. It is consistent for labels drawn from the Potts
    prior; on a segmentation's labels it measures how much of the grid lies on boundaries.

    Parameters
    ----------
    labels : ndarray of shape (H, W), integer
        Label of every pixel (0..K-1; negative at excluded pixels).
    n_components : int, optional
        K, the number of labels of the prior (empty labels count). None: the largest label + 1.
    neighborhood : {4, 8}, default=4

    Returns
    -------
    float
        The estimate, in ``[0, BETA_MAX]``: 0 when neighbors agree no more than chance,
        :data:`BETA_MAX` when no pixel has a neighbor of another label.

    Examples
    --------
    >>> stripes = np.indices((40, 40))[1] // 10 % 2  # four stripes 10 px wide
    >>> potts_beta(stripes)  # no pixel has more neighbors of another label than of its own
    10.0
    >>> stripes[::7, ::7] = 1 - stripes[::7, ::7]  # a flipped pixel every 7 rows and columns
    >>> speckle = np.random.default_rng(0).integers(0, 2, (40, 40))
    >>> round(potts_beta(stripes), 2), round(potts_beta(speckle), 2)
    (1.11, 0.0)
    """
    if neighborhood not in NEIGHBORHOODS:
        raise ParameterError(f"neighborhood must be 4 or 8, got {neighborhood!r}")
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ParameterError(f"labels must have shape (H, W), got {labels.shape}")
    k = int(labels.max()) + 1 if n_components is None else int(n_components)
    if k < 2 or labels.max() >= k:
        return 0.0
    weights, counts = _neighbor_configurations(labels, k, neighborhood)
    if counts.size == 0:
        return 0.0
    own, others = weights[:, 0], weights[:, 1:]
    n_absent = k - others.shape[1]  # labels absent around a pixel: weight 0, exp(0) = 1 each

    def slope(beta: float) -> float:
        e = np.exp(beta * (others - others.max(axis=1, keepdims=True)))
        absent = n_absent * np.exp(-beta * others.max(axis=1))
        expected = (e * others).sum(axis=1) / (e.sum(axis=1) + absent)
        return float(np.sum(counts * (own - expected)))

    if slope(0.0) <= 0:
        return 0.0
    if slope(BETA_MAX) >= 0:
        return BETA_MAX
    low, high = 0.0, BETA_MAX
    while high - low > 1e-4:
        mid = 0.5 * (low + high)
        low, high = (mid, high) if slope(mid) > 0 else (low, mid)
    return 0.5 * (low + high)


def _neighbor_configurations(labels: np.ndarray, k: int, neighborhood: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct neighbor configurations of the visible pixels, and how many pixels have each.

    Returns ``weights`` (n_configs, 1 + m): the weight of the neighbors sharing the pixel's label,
    then the m largest neighbor weights per label (m = the number of neighbors or K if fewer, zeros where fewer
    labels are around; labels beyond those have weight 0), and ``counts`` (n_configs,).
    A weight is coded as ``direct + 5 * diagonal`` neighbor counts (each 0..4), so the code of a
    configuration is one integer in base 25.
    """
    h, w = labels.shape
    m = min(neighborhood, k)
    padded = np.full((h + 2, w + 2), -1, dtype=np.int32)
    padded[1:-1, 1:-1] = labels
    offsets = [(dr, dc, 1 if dr and dc else 0) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr or dc)]
    offsets = [o for o in offsets if neighborhood == 8 or not o[2]]
    found = []
    for start in range(0, h, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, h)
        own_label = padded[1 + start : 1 + stop, 1:-1]
        codes = np.zeros((k,) + own_label.shape, dtype=np.int16)
        for dr, dc, diagonal in offsets:
            neighbor = padded[1 + start + dr : 1 + stop + dr, 1 + dc : 1 + dc + w]
            step = np.int16(5 if diagonal else 1)
            for j in range(k):
                codes[j] += (neighbor == j) * step
        visible = own_label >= 0
        own = np.take_along_axis(codes, np.where(visible, own_label, 0)[None], axis=0)[0][visible]
        top = -np.sort(-codes[:, visible], axis=0)[:m]  # the m largest, the rest are 0
        key = own.astype(np.int64)
        for row in top:
            key = key * 25 + row
        found.append(np.unique(key, return_counts=True))
    if not found:
        return np.zeros((0, 1 + m)), np.zeros(0)
    keys = np.concatenate([f[0] for f in found])
    keys, inverse = np.unique(keys, return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([f[1] for f in found]))
    digits = np.empty((keys.size, 1 + m), dtype=np.int64)
    rest = keys
    for c in range(m, -1, -1):
        digits[:, c] = rest % 25
        rest = rest // 25
    return (digits % 5) + (digits // 5) * _DIAGONAL, counts


def label_energy(
    labels: np.ndarray,
    pixel_index: np.ndarray,
    X: np.ndarray,
    beta: float,
    *,
    neighborhood: int = 4,
    ridge: float = 1e-6,
) -> float:
    """Log-likelihood of hard labels per visible pixel: every label's own Gaussian plus the Potts prior.

    ``(Σ_j log N(x_i | μ_j, Σ_j) over the pixels i of label j + β Σ_{i~j} w_ij [z_i = z_j]) / n``,
    with ``μ_j, Σ_j`` the mean and covariance of the pixels labelled ``j`` (so the Gaussian
    term is ``-n_j/2 (log|Σ_j| + d (1 + log 2π))``). It ranks the runs of the smoothing from
    different starts. Unlike :attr:`MRFResult.objective` it has no mixture weights: their
    ``Σ n_j log w_j`` charges every split of a label by the entropy of the weights, so the
    free energy prefers two regions of one color merged and a K-th segment emptied to the
    labeling smoothed from the truth (5-region scenes of issue 12), and a speckled labeling
    loses by its boundary length here.

    Parameters
    ----------
    labels : ndarray of shape (H, W), integer
        Label of every pixel (0..K-1; negative at excluded pixels).
    pixel_index : ndarray of shape (H, W), integer
        Row of ``X`` of every pixel (``-1``: excluded).
    X : ndarray of shape (n_rows, d)
        Features of the distinct colors.
    beta : float
        The Potts strength of the smoothing.
    neighborhood : {4, 8}, default=4
    ridge : float, default=1e-6
        Added to the diagonal of every covariance (a label of one color has a singular one).

    Returns
    -------
    float
        Higher is better.

    Examples
    --------
    >>> truth = np.zeros((20, 20), dtype=int); truth[:, 10:] = 1
    >>> X = np.random.default_rng(0).normal(truth.reshape(-1, 1) * 3.0, 1.0)
    >>> index = np.arange(400).reshape(20, 20)
    >>> stripes = np.indices((20, 20))[0] % 2
    >>> bool(label_energy(truth, index, X, 1.0) > label_energy(stripes, index, X, 1.0))
    True
    """
    labels = np.asarray(labels)
    X = np.asarray(X, dtype=np.float64)
    keep = (pixel_index >= 0) & (labels >= 0)
    if keep.all():  # no masked copies
        z, rows = labels.ravel().astype(np.intp), pixel_index.ravel().astype(np.intp)
    else:
        z, rows = labels[keep].astype(np.intp), pixel_index[keep].astype(np.intp)
    n, d = z.size, X.shape[1]
    k = int(z.max()) + 1 if n else 0
    table = np.bincount(rows * k + z, minlength=X.shape[0] * k).reshape(X.shape[0], k).astype(np.float64)
    total = 0.0
    for j in np.flatnonzero(table.sum(axis=0) > 0):
        counts = table[:, j]
        n_j = counts.sum()
        mean = counts @ X / n_j
        centered = X - mean
        cov = (centered * counts[:, None]).T @ centered / n_j + ridge * np.eye(d)
        total -= 0.5 * n_j * (np.linalg.slogdet(cov)[1] + d * (1.0 + np.log(2.0 * np.pi)))
    same = np.where(keep, labels, -1)
    for dr, dc, weight in _offsets(neighborhood, float(beta)):
        if dr < 0 or (dr == 0 and dc < 0):
            continue  # every pair once
        a = same[max(dr, 0) :, max(dc, 0) : same.shape[1] + min(dc, 0)]
        b = same[: same.shape[0] - dr, max(-dc, 0) : same.shape[1] - max(dc, 0)]
        total += weight * float(np.count_nonzero((a == b) & (a >= 0)))
    return total / max(n, 1)


def noise_sigma(pixels: np.ndarray, visible: np.ndarray | None = None) -> float:
    """Standard deviation of an image's pixel noise on the 0..255 scale, robust to edges (after Immerkær 1996).

    Every channel is filtered by Immerkær's kernel ``[[1, -2, 1], [-2, 4, -2], [1, -2, 1]]``,
    the difference of two Laplacians: it is 0 on flat areas and on linear ramps, and it maps
    white noise of ``σ`` to a response of standard deviation ``6 σ``. The estimate is the lower
    quartile of the absolute responses over the interior pixels divided by ``6 × 0.3186`` (the
    lower quartile of the absolute value of a unit normal), the mean over the channels: a
    quartile, not the median, so that edges and texture on up to 3/4 of the pixels (dense small
    dots, text) do not count as noise. A flat render or a screenshot gives 0, a photo about
    0.5 to 1.5, Gaussian noise of ``σ`` (unclipped) about ``σ``.

    Parameters
    ----------
    pixels : ndarray of shape (H, W) or (H, W, C), uint8 or uint16
        The image (uint16 is divided by 257 to the 0..255 scale).
    visible : ndarray of shape (H, W), bool, optional
        Pixels to use (a response is used when its whole 3 x 3 window is visible). None: all.

    Returns
    -------
    float
        The estimate; 0 when no 3 x 3 window is visible.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> flat = np.zeros((64, 64, 3), dtype=np.uint8); flat[:, 32:] = 200
    >>> noisy = np.clip(np.rint(100 + rng.normal(0, 10, (64, 64))), 0, 255).astype(np.uint8)
    >>> noise_sigma(flat), round(noise_sigma(noisy))
    (0.0, 10)
    """
    import cv2

    pixels = np.asarray(pixels)
    channels = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
    h, w = channels.shape[:2]
    if h < 3 or w < 3:
        return 0.0
    mask = None
    if visible is not None and not np.all(visible):
        eroded = cv2.erode(np.asarray(visible, dtype=np.uint8), np.ones((3, 3), np.uint8))
        mask = np.ascontiguousarray(eroded[1:-1, 1:-1])
        if not mask.any():
            return 0.0
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    scale = 257.0 if pixels.dtype == np.uint16 else 1.0
    estimates = []
    for c in range(channels.shape[2]):
        response = cv2.filter2D(np.ascontiguousarray(channels[..., c]), cv2.CV_32F, kernel)[1:-1, 1:-1]
        np.abs(response, out=response)
        if scale != 1.0:
            np.rint(response / scale, out=response)
        # Whole levels (at most 16 x 255): the quartile from their histogram, without a sort or a copy of the image.
        counts = cv2.calcHist([response], [0], mask, [_MAX_RESPONSE + 1], [0, _MAX_RESPONSE + 1]).ravel()
        quartile = np.searchsorted(np.cumsum(counts), 0.25 * counts.sum())
        estimates.append(float(quartile) / (6.0 * _NORMAL_QUARTILE))
    return float(np.mean(estimates))


def aggregate_responsibilities(pixel_index: np.ndarray, q: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum per-pixel responsibilities over the pixels that share a feature row.

    As the pixels of one distinct color have identical features, the M-step on
    ``(X, R, weights)`` equals the M-step on all pixels with their own
    responsibilities: the sufficient statistics are the same sums.

    Parameters
    ----------
    pixel_index : ndarray of shape (H, W), integer
        Row of every pixel (``-1``: excluded).
    q : ndarray of shape (K, H, W)
        Per-pixel responsibilities (summing to 1 over K at included pixels).
    n_rows : int
        Number of feature rows.

    Returns
    -------
    R : ndarray of shape (n_rows, K), float64
        Mean responsibility of the pixels of every row (rows without pixels: 1/K).
    weights : ndarray of shape (n_rows,), float64
        Number of pixels of every row.

    Examples
    --------
    >>> index = np.array([[0, 1, 0]])
    >>> q = np.array([[[1.0, 0.5, 0.0]], [[0.0, 0.5, 1.0]]])
    >>> R, w = aggregate_responsibilities(index, q, 2)
    >>> R.tolist(), w.tolist()
    ([[0.5, 0.5], [0.5, 0.5]], [2.0, 1.0])
    """
    S, weights = _sum_responsibilities(np.asarray(pixel_index), q, n_rows)
    total = S.sum(axis=1, keepdims=True)
    R = np.divide(S, total, out=np.full_like(S, 1.0 / q.shape[0]), where=total > 0)
    return R, weights


def _sum_responsibilities(
    pixel_index: np.ndarray, q: np.ndarray, n_rows: int, *, with_counts: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """``S[c, k] = Σ_{i: index_i = c} q_k(i)`` and pixel counts per row (None without ``with_counts``), in blocks of rows."""
    k = q.shape[0]
    S = np.zeros((n_rows, k))
    weights = np.zeros(n_rows) if with_counts else None
    for start in range(0, pixel_index.shape[0], _BLOCK_ROWS):  # bounded temporaries
        block = pixel_index[start : start + _BLOCK_ROWS].ravel()
        keep = block >= 0
        every = bool(keep.all())  # no masked copies then
        idx = (block if every else block[keep]).astype(np.intp)
        if with_counts:
            weights += np.bincount(idx, minlength=n_rows)
        for j in range(k):
            values = q[j, start : start + _BLOCK_ROWS].ravel()
            S[:, j] += np.bincount(idx, weights=values if every else values[keep], minlength=n_rows)
    return S, weights
