"""ROC AUC of TableAnomalyDetector on the 20 ADBench sets, side by side with two peers, in one run.

Peers: scikit-learn's IsolationForest (random_state=0) and the plain recipe a user writes by
hand (StandardScaler, sklearn GaussianMixture K=1..5 by BIC, full, reg_covar=1e-3,
score_samples). Every model is fitted unsupervised on all rows; y is only used to score.

    python scripts/bench_anomalies.py [--data ../shared/data/adbench]
"""

from __future__ import annotations

import argparse
import glob
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.preprocessing import StandardScaler

from gmmseg.tables.anomalies import TableAnomalyDetector


def plain_recipe(X: np.ndarray) -> np.ndarray:
    Z = StandardScaler().fit_transform(X)
    best = None
    for k in range(1, 6):
        model = SkGaussianMixture(k, covariance_type="full", reg_covar=1e-3, random_state=0).fit(Z)
        bic = model.bic(Z)
        if best is None or bic < best[0]:
            best = (bic, model)
    return -best[1].score_samples(Z)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "adbench"
    parser.add_argument("--data", type=Path, default=default)
    args = parser.parse_args()
    files = sorted(glob.glob(str(args.data / "*.npz")))
    if not files:
        raise SystemExit(f"no .npz files in {args.data}")
    warnings.filterwarnings("ignore")
    rows = []
    print(f"{'set':<16}{'rows':>7}{'cols':>5}  {'IForest':>8}{'plain GMM':>10}{'gmmseg':>8}  {'gmmseg s':>8}")
    for path in files:
        data = np.load(path)
        X, y = data["X"].astype(np.float64), data["y"]
        iforest = roc_auc_score(y, -IsolationForest(random_state=0).fit(X).score_samples(X))
        plain = roc_auc_score(y, plain_recipe(X))
        started = time.perf_counter()
        ours = roc_auc_score(y, -TableAnomalyDetector().fit(X).score_samples(X))
        seconds = time.perf_counter() - started
        rows.append((iforest, plain, ours))
        name = Path(path).stem
        print(f"{name:<16}{X.shape[0]:>7}{X.shape[1]:>5}  {iforest:>8.3f}{plain:>10.3f}{ours:>8.3f}  {seconds:>8.1f}")
    mean = np.mean(rows, axis=0)
    print(f"{'mean':<28}  {mean[0]:>8.3f}{mean[1]:>10.3f}{mean[2]:>8.3f}")
    better = max(mean[0], mean[1])
    print(
        f"gmmseg - better peer: {mean[2] - better:+.3f}; sets won vs IForest {sum(r[2] > r[0] for r in rows)}/"
        f"{len(rows)}, vs plain {sum(r[2] > r[1] for r in rows)}/{len(rows)}"
    )


if __name__ == "__main__":
    main()
