"""Session 8's candidate scores for ``TableAnomalyDetector``, and the masking check (issue 13).

None was adopted (docs/anomalies.md, "Session 8"). The file serves two purposes:

- ``VARIANTS`` for ``scripts/eval_adbench.py --variants-from scripts/eval_anomaly_candidates.py``
  (and ``eval_fresh_tables.py``), so that every number of that section can be re-run;
- ``python scripts/eval_anomaly_candidates.py [--methods ...]`` runs the masking check: the fresh
  benchmark's ``clustered_anomalies`` (a tight cluster of 10% anomalies, which a mixture gives a
  component of its own) next to ``legit_small_clusters`` (tight small clusters that are *normal*,
  plus 2% anomalies), 5 seeds each, ROC AUC per method. A rule that unmasks the first must not
  flag the second's small clusters.

The candidates (each a detector whose member score replaces the default's):

- ``M1_unmask_tight``: the joint density without its small tight components, renormalized. A
  component is small-tight if its weight is below 0.15 and its log-volume per feature
  (``0.5 * logdet(cov) / d``) is below the weight-averaged one of the other components minus
  log 2 (half their spread per feature);
- ``M2_unmask_tight_all``: M1's rule for the joint and for every 1-D per-feature mixture;
- ``M3_drop_small``: the joint density without every component of weight below 0.15;
- ``E1_ecod_rank``: rank average of the default's abnormality and ECOD's (PyOD's formula, with
  empirical tail probabilities) on the prepared features (training rows only);
- ``J1_joint_heavier`` / ``J2_marginal_heavier``: member score ``(2 joint + marginals) / 3`` /
  ``(joint + 2 marginals) / 3`` instead of their mean.

    nice -n 15 env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python scripts/eval_anomaly_candidates.py
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's gmmseg
sys.path.insert(0, str(HERE))

from gmmseg.core.covariance import full_matrices  # noqa: E402
from gmmseg.tables.anomalies import TableAnomalyDetector  # noqa: E402

#: Weight below which a component counts as small (the masked cluster weighs 0.10-0.125).
SMALL_SHARE = 0.15


def unmasked_components(mixture, tight: bool) -> np.ndarray:
    """Components kept by M1 (``tight=True``) or M3 (``tight=False``), shape (n_components,) bool."""
    w = mixture.weights_
    d = mixture.means_.shape[1]
    drop = w < SMALL_SHARE
    if tight:
        covs = full_matrices(mixture.covariance_type, mixture.covariances_, mixture.n_components, d)
        volume = np.array([0.5 * np.linalg.slogdet(c)[1] / d for c in covs])
        for k in np.flatnonzero(drop):
            others = np.arange(len(w)) != k
            drop[k] = volume[k] < np.average(volume[others], weights=w[others]) - np.log(2.0)
    keep = ~drop
    keep[np.argmax(w)] = True
    return keep


def unmasked_log_density(mixture, Z: np.ndarray, tight: bool) -> np.ndarray:
    """log of the mixture density over the kept components, their weights renormalized, shape (n_rows,)."""
    from scipy.special import logsumexp

    keep = unmasked_components(mixture, tight)
    if keep.all():
        return mixture.score_samples(Z)
    return logsumexp(mixture.component_log_prob(Z)[:, keep], axis=1) - np.log(mixture.weights_[keep].sum())


class Unmasked(TableAnomalyDetector):
    """M1: the joint expert without small tight components (used for the trimming as well)."""

    tight = True
    marginals_too = False

    def _member_score(self, mixture, marginals, Z):
        joint = unmasked_log_density(mixture, Z, self.tight)
        if not marginals:
            return joint
        marginal = np.zeros(Z.shape[0])
        for j, model in enumerate(marginals):
            column = Z[:, j : j + 1]
            marginal += (
                unmasked_log_density(model, column, self.tight) if self.marginals_too else model.score_samples(column)
            )
        return 0.5 * (joint + marginal)


class UnmaskedAll(Unmasked):
    """M2: M1's rule for the per-feature mixtures too."""

    marginals_too = True


class SmallDropped(Unmasked):
    """M3: the joint expert without any component of weight below ``SMALL_SHARE``."""

    tight = False


def weighted_experts(joint_weight: float):
    """A detector whose member score is ``joint_weight * joint + (1 - joint_weight) * marginals`` (J1, J2)."""

    class Weighted(TableAnomalyDetector):
        @staticmethod
        def _member_score(mixture, marginals, Z):
            joint = mixture.score_samples(Z)
            if not marginals:
                return joint
            marginal = sum(model.score_samples(Z[:, j : j + 1]) for j, model in enumerate(marginals))
            return joint_weight * joint + (1.0 - joint_weight) * marginal

    return Weighted


def ecod_scores(Z: np.ndarray) -> np.ndarray:
    """PyOD's ECOD score of the rows Z (n_rows, n_features), higher = more abnormal, shape (n_rows,)."""
    from scipy.stats import rankdata, skew

    n = Z.shape[0]
    left = -np.log(rankdata(Z, method="max", axis=0) / n)  # -log P(X <= x)
    right = -np.log(rankdata(-Z, method="max", axis=0) / n)  # -log P(X >= x)
    sign = np.sign(np.nan_to_num(skew(Z, axis=0)))
    by_skew = left * -np.sign(sign - 1) + right * np.sign(sign + 1)
    return np.maximum(by_skew, np.maximum(left, right)).sum(axis=1)


class EcodRanked:
    """E1: mean of the default's and ECOD's abnormality ranks on the training rows (``decision_scores_``)."""

    def fit(self, X):
        from scipy.stats import rankdata

        detector = TableAnomalyDetector().fit(X)
        n = len(detector.training_scores_)
        ecod = ecod_scores(detector._features(X))
        self.decision_scores_ = 0.5 * (rankdata(-detector.training_scores_) + rankdata(ecod)) / n
        return self


VARIANTS = {
    "M1_unmask_tight": Unmasked,
    "M2_unmask_tight_all": UnmaskedAll,
    "M3_drop_small": SmallDropped,
    "E1_ecod_rank": EcodRanked,
    "J1_joint_heavier": weighted_experts(2.0 / 3.0),
    "J2_marginal_heavier": weighted_experts(1.0 / 3.0),
}


def legit_small_clusters(rng: np.random.Generator, n: int = 2000) -> tuple[pd.DataFrame, np.ndarray]:
    """4 clusters in 8-D (shares 70/15/9/6%, sd 1/1/0.3/0.3: the small ones tight and normal), a money
    column; 2% anomalies shifted by 3-5 sd of their cluster in 3 random features. Returns (frame, y)."""
    cluster = rng.choice(4, size=n, p=[0.70, 0.15, 0.09, 0.06])
    centers = rng.normal(0, 4, (4, 8))
    sds = np.array([1.0, 1.0, 0.3, 0.3])[cluster]
    values = centers[cluster] + rng.normal(0, 1, (n, 8)) * sds[:, None]
    y = np.zeros(n, int)
    bad = rng.choice(n, size=round(0.02 * n), replace=False)
    y[bad] = 1
    for i in bad:
        features = rng.choice(8, 3, replace=False)
        values[i, features] += rng.choice([-1, 1], 3) * rng.uniform(3, 5, 3) * sds[i]
    frame = pd.DataFrame(values.round(3), columns=[f"f{i}" for i in range(8)])
    frame["amount"] = np.exp(3.0 + 0.3 * cluster + rng.normal(0, 0.5, n)).round(2)
    return frame, y


def main() -> int:
    import eval_adbench
    from make_fresh_tables import clustered_anomalies
    from sklearn.metrics import roc_auc_score

    runners = {"iforest": None, "default": eval_adbench.detector_runner(TableAnomalyDetector)}
    runners |= {name: eval_adbench.detector_runner(factory) for name, factory in VARIANTS.items()}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(runners), help="comma-separated names")
    args = parser.parse_args()
    names = args.methods.split(",")
    warnings.filterwarnings("ignore")
    for table in (clustered_anomalies, legit_small_clusters):
        auc = {m: [] for m in names}
        for seed in range(5):
            frame, y = table(np.random.default_rng(seed))
            for m in names:
                if m == "iforest":
                    scores = eval_adbench.run_iforest(frame.to_numpy(np.float64))
                else:
                    scores = runners[m](frame)
                auc[m].append(roc_auc_score(y, scores))
        print(f"{table.__name__:<22}" + "  ".join(f"{m} {np.mean(v):.3f}" for m, v in auc.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
