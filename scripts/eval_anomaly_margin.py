"""Session 10's candidates for ``TableAnomalyDetector``, aimed at the diagnosed develop losses (issue 13).

Each candidate is the session-9 default (bags on) with one change, as a subclass, for
``scripts/eval_adbench.py --variants-from scripts/eval_anomaly_margin.py`` (and
``eval_fresh_tables.py``); the rule they were judged by is in docs/anomalies.md ("Session 10").

- ``C1a_robust_trim``: the trimmed share follows the data: the kept rows score above
  ``max(q_0.20, median - 3 * 1.4826 * MAD)`` of the first-pass score, capped at ``q_0.45``
  (heavy contamination, as breastw's 35%, trims more than 20%; on clean data the 20% quantile is
  the larger cut);
- ``C1b_drop_far_small`` (passed the develop test, +0.009, and was rejected: on the demo's orders it
  drops two ordinary segments, 31% of the rows, and the 30 flagged orders hold 6 of the 24 planted
  instead of all 24; see docs/anomalies.md): a member's joint component is dropped (the others' weights
  renormalized) when its weight is below 0.25 and the median per-feature term of the fit rows it
  is most responsible for is below the 25% quantile of that term over all fit rows (small, and
  its rows' marginals unlikely: what contamination looks like); never the largest component;
- ``C2a_rank_join``: a member's score is the mean of ``probit(ECDF)`` of its joint and of its
  per-feature term, each ECDF over member 0's kept fit rows, instead of their raw mean (the
  joint term's spread is 5x the per-feature term's on pendigits);
- ``C2b_robust_join``: as C2a with each term centred by its median and divided by IQR / 1.349;
- ``C4_drop_and_rank`` (round 2, as the rule fixed it: the best C1 and the best C2 together):
  C1b's joint (small far components dropped) rank-joined with the per-feature term as in C2a;
- ``C3_small_clusters`` (item 3, masking; an opt-in): ``TableAnomalyDetector(small_clusters="anomalous")``.

    nice -n 15 env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python scripts/eval_adbench.py --half develop \
        --methods iforest,default --variants-from scripts/eval_anomaly_margin.py \
        --variant C1a_robust_trim --variant C1b_drop_far_small --variant C2a_rank_join --variant C2b_robust_join
    python scripts/eval_anomaly_margin.py [--methods default,C1b_drop_far_small]
        # the masking check of eval_anomaly_candidates.py, and the planted orders of the demo among the 30 least likely
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's gmmseg
sys.path.insert(0, str(HERE))

from gmmseg.tables.anomalies import TableAnomalyDetector  # noqa: E402

#: C1a: robust sd below the median beyond which rows are trimmed, and the largest trimmed share.
ROBUST_CUT = 3.0
MAX_TRIM = 0.45
#: C1b: a dropped component weighs less than this, and its rows' median per-feature term is below this quantile.
SMALL_WEIGHT = 0.25
FAR_QUANTILE = 0.25


class RobustTrim(TableAnomalyDetector):
    """C1a: trim at least the ``trim`` share, more when many rows lie far below the median."""

    def _kept_rows(self, scores):
        if self.trim <= 0:
            return np.ones(len(scores), dtype=bool)
        median = np.median(scores)
        spread = 1.4826 * np.median(np.abs(scores - median))
        cut = max(np.quantile(scores, float(self.trim)), median - ROBUST_CUT * spread)
        return scores > min(cut, np.quantile(scores, MAX_TRIM))


def _terms(mixture, marginals, Z):
    """The joint and the per-feature term of one member, each shape (n_rows,)."""
    joint = mixture.score_samples(Z)
    marginal = np.zeros(Z.shape[0])
    for j, model in enumerate(marginals):
        marginal += model.score_samples(Z[:, j : j + 1])
    return joint, marginal


def _joint_without(mixture, keep, Z):
    """The joint log-density over the ``keep`` components, their weights renormalized, shape (n_rows,)."""
    from scipy.special import logsumexp

    if keep.all():
        return mixture.score_samples(Z)
    return logsumexp(mixture.component_log_prob(Z)[:, keep], axis=1) - np.log(mixture.weights_[keep].sum())


def _rank_mean(terms, references):
    """The mean of ``probit(ECDF)`` of every term against its sorted reference, shape (n_rows,)."""
    from scipy.special import ndtri

    out = np.zeros(len(terms[0]))
    for term, reference in zip(terms, references, strict=True):
        n = len(reference)
        mid = 0.5 * (np.searchsorted(reference, term, "left") + np.searchsorted(reference, term, "right"))
        out += ndtri((mid + 0.5) / (n + 1))
    return out / len(terms)


class _AfterMembers(TableAnomalyDetector):
    """A detector that sets per-member state on member 0's fit rows once the members are fitted.

    The hook is ``_fit_bags`` (called with member 0's fit rows once the members are fitted); the
    bags' kept rows and scale are then taken on the changed members' score.
    """

    def _fit_bags(self, Z_fit, base, chosen):
        raw = TableAnomalyDetector._members_score(self, Z_fit)
        self._prepare_members(Z_fit, self._kept_rows(raw))
        return super()._fit_bags(Z_fit, base, chosen)

    def _members_score(self, Z):
        if not hasattr(self, "member_state_"):
            return super()._members_score(Z)
        total = np.zeros(Z.shape[0])
        for (mixture, marginals, _), state in zip(self.members_, self.member_state_, strict=True):
            total += self._changed_score(mixture, marginals, state, Z)
        return total / len(self.members_)


class FarSmallDropped(_AfterMembers):
    """C1b: drop small joint components whose rows' marginals are unlikely."""

    def _prepare_members(self, Z_fit, kept):
        self.member_state_ = []
        for mixture, marginals, _ in self.members_:
            _, marginal = _terms(mixture, marginals, Z_fit)
            owner = mixture.predict_proba(Z_fit).argmax(axis=1)
            cutoff = np.quantile(marginal, FAR_QUANTILE)
            keep = np.ones(mixture.n_components, dtype=bool)
            for k in range(mixture.n_components):
                rows = owner == k
                if mixture.weights_[k] < SMALL_WEIGHT and rows.any() and np.median(marginal[rows]) < cutoff:
                    keep[k] = False
            keep[np.argmax(mixture.weights_)] = True
            self.member_state_.append(keep)

    @staticmethod
    def _changed_score(mixture, marginals, keep, Z):
        return 0.5 * (_joint_without(mixture, keep, Z) + _terms(mixture, marginals, Z)[1])


class RankJoined(_AfterMembers):
    """C2a: the mean of the probit-ECDF of the joint and of the per-feature term."""

    def _prepare_members(self, Z_fit, kept):
        self.member_state_ = [
            tuple(np.sort(term[kept]) for term in _terms(mixture, marginals, Z_fit))
            for mixture, marginals, _ in self.members_
        ]

    @staticmethod
    def _changed_score(mixture, marginals, state, Z):
        return _rank_mean(_terms(mixture, marginals, Z), state)


class RobustJoined(_AfterMembers):
    """C2b: the mean of the robust z-scores (median, IQR / 1.349) of the joint and the per-feature term."""

    def _prepare_members(self, Z_fit, kept):
        self.member_state_ = []
        for mixture, marginals, _ in self.members_:
            stats = []
            for term in _terms(mixture, marginals, Z_fit):
                q1, median, q3 = np.quantile(term[kept], [0.25, 0.5, 0.75])
                stats.append((median, max((q3 - q1) / 1.349, 1e-12)))
            self.member_state_.append(stats)

    @staticmethod
    def _changed_score(mixture, marginals, state, Z):
        out = np.zeros(Z.shape[0])
        for term, (median, spread) in zip(_terms(mixture, marginals, Z), state, strict=True):
            out += (term - median) / spread
        return 0.5 * out


class FarSmallDroppedRankJoined(_AfterMembers):
    """C4 (round 2): C1b's dropped components and C2a's rank join together."""

    def _prepare_members(self, Z_fit, kept):
        FarSmallDropped._prepare_members(self, Z_fit, kept)
        masks = self.member_state_
        self.member_state_ = []
        for (mixture, marginals, _), keep in zip(self.members_, masks, strict=True):
            terms = (_joint_without(mixture, keep, Z_fit), _terms(mixture, marginals, Z_fit)[1])
            self.member_state_.append((keep, tuple(np.sort(term[kept]) for term in terms)))

    @staticmethod
    def _changed_score(mixture, marginals, state, Z):
        keep, references = state
        terms = (_joint_without(mixture, keep, Z), _terms(mixture, marginals, Z)[1])
        return _rank_mean(terms, references)


VARIANTS = {
    "C1a_robust_trim": RobustTrim,
    "C1b_drop_far_small": FarSmallDropped,
    "C2a_rank_join": RankJoined,
    "C2b_robust_join": RobustJoined,
    "C4_drop_and_rank": FarSmallDroppedRankJoined,
    "C3_small_clusters": partial(TableAnomalyDetector, small_clusters="anomalous"),
}


def main() -> int:
    from eval_anomaly_candidates import methods_from_command_line, print_masking_check, print_orders_check

    runners, names = methods_from_command_line(VARIANTS, __doc__)
    print_masking_check(runners, names)
    print_orders_check(VARIANTS, names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
