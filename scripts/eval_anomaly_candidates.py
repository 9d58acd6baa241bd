"""Sessions 8 and 9's candidate scores for ``TableAnomalyDetector``, and the masking check (issue 13).

None of session 8's was adopted (docs/anomalies.md, "Session 8"). The file serves two purposes:

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

Session 9's (extra experts fitted on member 0's dequantized fit rows with the default's trim
weights; ``rz`` = robust z-score on the training rows, (s - median) / (IQR / 1.349)):

- ``B1_feature_bag``: feature bagging (Lazarevic & Kumar 2005): 6 joint mixtures on random subsets
  of ceil(d/2)..d-1 features, each chosen by BIC as member 0's joint; the mean of their ``rz``;
- ``B2_bag_plus_default``: ``0.5 * (rz(default) + B1)``;
- ``P1_pair_forest``: 2-D mixtures on the maximum spanning forest of |r| (edges |r| >= 0.3),
  default + 0.5 * sum of ``log p_ij - log p_i - log p_j``;
- ``P2_pair_topm``: the top min(d, 8) pairs by |r|, default + 0.5 * sum of ``log p_ij``;
- ``Z1_z_experts``: member score ``0.5 * (rz(joint) + rz(marginals))``.

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


def robust_z(scores: np.ndarray, stats: tuple[float, float] | None = None):
    """``(scores - median) / (IQR / 1.349)`` and the (median, scale) used; pass ``stats`` to reuse them."""
    if stats is None:
        q1, median, q3 = np.quantile(scores, [0.25, 0.5, 0.75])
        stats = (float(median), max(float(q3 - q1) / 1.349, 1e-12))
    return (scores - stats[0]) / stats[1], stats


class ExtraExperts(TableAnomalyDetector):
    """Session 9's base: the default, then extra experts fitted on member 0's dequantized fit rows
    with the default's trim weights (its 20% least likely rows weight 0), combined with its score.

    Only the training rows are scored (``training_scores_``): enough for the benchmarks.
    """

    def fit(self, X, y=None, progress=None):
        from gmmseg.core.threads import limit_blas_threads
        from gmmseg.tables.prepare import _as_frame

        super().fit(X)
        frame = _as_frame(X)
        base = int(self.random_state or 0)
        fit_frame = frame
        if self.max_fit_rows is not None and len(frame) > int(self.max_fit_rows):
            rows = np.random.default_rng(base + 7).choice(len(frame), int(self.max_fit_rows), replace=False)
            fit_frame = frame.iloc[np.sort(rows)]
        with limit_blas_threads(1):
            Z_fit = self._features(fit_frame, dequantize=True, seed=base)
            first = self._score(Z_fit)
            weights = (first > np.quantile(first, float(self.trim))).astype(np.float64)
            self._fit_extra(Z_fit, weights, base)
            self.training_scores_ = self._combine(self._features(frame), self.training_scores_)
        return self


def pair_correlations(Z: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """|Pearson r| of the kept fit rows, shape (d, d), 0 on the diagonal and for constant features."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(np.nan_to_num(np.corrcoef(Z[weights > 0].T)))
    np.fill_diagonal(r, 0.0)
    return r


class FeatureBagged(ExtraExperts):
    """B1: Lazarevic & Kumar's feature bagging: 6 joint mixtures on random subsets of ceil(d/2)..d-1
    features (chosen as member 0's joint: K 1..5, full/diag by BIC, no tiny component); the score is
    the mean of their robust z-scores (B2: averaged with the default's robust z-score)."""

    BAGS = 6
    with_default = False

    def _fit_extra(self, Z, weights, base):
        from gmmseg.core.selection import select_components
        from gmmseg.tables.anomalies import NO_RESTARTS, _in_joint_dtype, best_without_tiny_components

        d = Z.shape[1]
        rng = np.random.default_rng(base + 17)
        n = int(np.count_nonzero(weights))
        self.bags_ = []
        for _ in range(self.BAGS if d >= 3 else 0):
            subset = np.sort(rng.choice(d, int(rng.integers(-(-d // 2), d)), replace=False))
            types = ("full", "diag") if len(subset) <= 40 else ("diag",)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                selection = _in_joint_dtype(
                    lambda dtype, subset=subset, types=types: select_components(
                        Z[:, subset],
                        range(1, 6),
                        types,
                        sample_weight=weights,
                        random_state=base,
                        reg_covar=self.reg_covar,
                        dtype=dtype,
                        keep_models=True,
                        restarts=NO_RESTARTS,
                    )
                )
            model = best_without_tiny_components(selection, n, len(subset)).set_params(dtype="float64")
            self.bags_.append((subset, model))

    def _combine(self, Z, default):
        if not self.bags_:
            return default
        bagged = np.mean([robust_z(model.score_samples(Z[:, s]))[0] for s, model in self.bags_], axis=0)
        return 0.5 * (robust_z(default)[0] + bagged) if self.with_default else bagged


class BaggedWithDefault(FeatureBagged):
    """B2: 0.5 * (robust z of the default + B1's mean robust z over the bags)."""

    with_default = True


class PairExperts(ExtraExperts):
    """P1: Chow-Liu-style pairwise experts on the maximum spanning forest of |r| (edges |r| >= 0.3):
    default + 0.5 * sum over edges of log p_ij - log p_i - log p_j (member 0's 1-D experts).
    P2 (``forest = False``): the top min(d, 8) pairs by |r|, default + 0.5 * sum of log p_ij."""

    forest = True
    MIN_R = 0.3
    TOP = 8

    def _pairs(self, r: np.ndarray) -> list[tuple[int, int]]:
        i, j = np.triu_indices(r.shape[0], 1)
        order = np.argsort(-r[i, j], kind="stable")
        if not self.forest:
            return [(int(i[k]), int(j[k])) for k in order[: min(r.shape[0], self.TOP)]]
        root = list(range(r.shape[0]))

        def find(a):
            while root[a] != a:
                root[a] = root[root[a]]
                a = root[a]
            return a

        edges = []
        for k in order:
            if r[i[k], j[k]] < self.MIN_R:
                break
            a, b = find(int(i[k])), find(int(j[k]))
            if a != b:
                root[a] = b
                edges.append((int(i[k]), int(j[k])))
        return edges

    def _fit_extra(self, Z, weights, base):
        from gmmseg.core.selection import select_components
        from gmmseg.tables.anomalies import NO_RESTARTS

        self.pairs_ = []
        for a, b in self._pairs(pair_correlations(Z, weights)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = select_components(
                    Z[:, [a, b]],
                    range(1, 4),
                    "full",
                    sample_weight=weights,
                    random_state=base,
                    reg_covar=self.reg_covar,
                    restarts=NO_RESTARTS,
                )
            self.pairs_.append((a, b, res.best_model))

    def _combine(self, Z, default):
        extra = np.zeros(Z.shape[0])
        for a, b, model in self.pairs_:
            extra += model.score_samples(Z[:, [a, b]])
            if self.forest:
                extra -= self.marginals_[a].score_samples(Z[:, a : a + 1])
                extra -= self.marginals_[b].score_samples(Z[:, b : b + 1])
        return default + 0.5 * extra


class PairsTop(PairExperts):
    """P2: the top min(d, 8) pairs by |r| as extra experts."""

    forest = False


class StandardizedExperts(TableAnomalyDetector):
    """Z1: member score 0.5 * (robust z of the joint + robust z of the sum of the 1-D experts), each
    standardized on the training rows per member (the trimming during fit stays the default's)."""

    def fit(self, X, y=None, progress=None):
        from gmmseg.core.threads import limit_blas_threads
        from gmmseg.tables.prepare import _as_frame

        super().fit(X)
        with limit_blas_threads(1):
            Z = self._features(_as_frame(X))
            total = np.zeros(Z.shape[0])
            for mixture, marginals, _ in self.members_:
                joint = mixture.score_samples(Z)
                marginal = sum(m.score_samples(Z[:, j : j + 1]) for j, m in enumerate(marginals))
                total += 0.5 * (robust_z(joint)[0] + robust_z(marginal)[0])
        self.training_scores_ = total / len(self.members_)
        return self


VARIANTS = {
    "M1_unmask_tight": Unmasked,
    "M2_unmask_tight_all": UnmaskedAll,
    "M3_drop_small": SmallDropped,
    "E1_ecod_rank": EcodRanked,
    "J1_joint_heavier": weighted_experts(2.0 / 3.0),
    "J2_marginal_heavier": weighted_experts(1.0 / 3.0),
    "B1_feature_bag": FeatureBagged,
    "B2_bag_plus_default": BaggedWithDefault,
    "P1_pair_forest": PairExperts,
    "P2_pair_topm": PairsTop,
    "Z1_z_experts": StandardizedExperts,
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
    runners, names = methods_from_command_line(VARIANTS, __doc__)
    print_masking_check(runners, names)
    return 0


def methods_from_command_line(variants: dict, doc: str) -> tuple[dict, list[str]]:
    """Runners for IsolationForest, the default detector and ``variants``, and the ``--methods`` asked for.

    ``variants`` maps a name to a detector factory; a runner is ``runner(frame) -> scores``.
    """
    import eval_adbench

    runners = {"iforest": None, "default": eval_adbench.detector_runner(TableAnomalyDetector)}
    runners |= {name: eval_adbench.detector_runner(factory) for name, factory in variants.items()}
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--methods", default=",".join(runners), help="comma-separated names")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    return runners, args.methods.split(",")


def print_masking_check(runners: dict, names: list[str]) -> None:
    """Print each method's mean ROC AUC over 5 seeds on the masked and the legitimate small clusters.

    ``runners`` maps a method name to ``runner(frame) -> scores`` (higher: more anomalous);
    ``"iforest"`` runs IsolationForest.
    """
    import eval_adbench
    from make_fresh_tables import clustered_anomalies
    from sklearn.metrics import roc_auc_score

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


def print_orders_check(variants: dict, names: list[str]) -> None:
    """Print how many of the demo orders' 24 planted rows each method puts among its 30 least likely.

    ``variants`` maps a name to a detector factory (``"default"``: :class:`TableAnomalyDetector`);
    ``"iforest"`` is left out. The orders (0.8% planted among ordinary segments) are where a
    detector that drops small ordinary segments shows it.
    """
    folder = HERE.parent / "sample_images" / "orders"
    orders = pd.read_csv(folder / "orders.csv")
    planted = orders["order_id"].isin(pd.read_csv(folder / "orders.truth.csv")["order_id"]).to_numpy()
    found = {}
    for m in names:
        if m == "iforest":
            continue
        factory = TableAnomalyDetector if m == "default" else variants[m]
        scores = factory(roles={"order_id": "id"}).fit(orders).training_scores_
        found[m] = int(planted[np.argsort(scores, kind="stable")[:30]].sum())
    print(f"{'orders (of 24 planted)':<22}" + "  ".join(f"{m} {v}" for m, v in found.items()), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
