"""Session 9's candidate families for ``TableAnomalyDetector``, measured as add-ons to one default fit (issue 13).

Each table is fitted once with the session-8 default detector (``n_bags=0``); every candidate is computed from that fit
(its prepared features, member 0's dequantization seed and fit rows, and the trimming weights
``w``: the default's score on the fit rows above its 20% quantile), so a develop or fresh run
costs one default fit per table plus the candidates' own fits. Higher = more normal throughout;
``z(s)`` standardizes a score by its mean and sd over the kept (``w = 1``) fit rows.

- ``FB1_bag_joint``: feature bagging (Lazarevic & Kumar 2005): 8 random feature subsets of size
  uniform in [ceil(d/2), d-1], one joint mixture each (the default joint's K and covariance
  type, weights ``w``); the mean of their z-scored log-densities;
- ``FB2_bag_plus``: the mean of z(default) and FB1;
- ``PW1_chow_liu``: 2-D mixtures (K 1..3 by BIC) on the edges of a maximum spanning tree of
  |Pearson r|; default + 0.5 * sum over edges of ``log p_ij - log p_i - log p_j`` (the
  product of 1-D experts becomes a tree density);
- ``PW2_top_pairs``: PW1 on the 8 pairs of largest |r|;
- ``ZS_zscored_terms``: every member's score is the mean of its z-scored joint and z-scored
  per-feature terms (instead of their plain mean);
- ``FB2_in_detector``: ``TableAnomalyDetector()`` with its bags (FB2 as adopted), fitted anew
  (its CPU seconds include a whole fit, not an add-on).

    nice -n 15 env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python scripts/eval_anomaly_families.py \
        --bench develop --json out.json
    ... --bench fresh --candidates ZS_zscored_terms
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's gmmseg
sys.path.insert(0, str(HERE))

from gmmseg.core.mixture import GaussianMixture  # noqa: E402
from gmmseg.core.selection import select_components  # noqa: E402
from gmmseg.core.threads import limit_blas_threads  # noqa: E402
from gmmseg.tables.anomalies import TableAnomalyDetector, best_without_tiny_components  # noqa: E402
from gmmseg.tables.prepare import _as_frame  # noqa: E402

N_BAGS = 8
TOP_PAIRS = 8
PAIR_FIT_ROWS = 5000


class Context:
    """One default fit of a table and what the candidates reuse from it."""

    def __init__(self, X):
        self.X = X
        self.detector = det = TableAnomalyDetector(n_bags=0).fit(X)
        frame = _as_frame(X)
        fit_frame = frame
        if frame.shape[0] > det.max_fit_rows:
            rows = np.random.default_rng(7).choice(frame.shape[0], det.max_fit_rows, replace=False)
            fit_frame = frame.iloc[np.sort(rows)]
        with limit_blas_threads(1):
            self.Z_fit = det._features(fit_frame, dequantize=True, seed=0)
            self.Z_all = det._features(frame)
            s_fit = det._score(self.Z_fit)
        self.w = (s_fit > np.quantile(s_fit, det.trim)).astype(np.float64)
        self.kept = self.w > 0
        self.default = det.training_scores_
        self.default_fit = s_fit

    def z(self, s_all, s_fit):
        ref = s_fit[self.kept]
        return (s_all - ref.mean()) / max(ref.std(), 1e-12)


def bag_joint(c: Context) -> tuple[np.ndarray, np.ndarray]:
    """FB1 on all rows and on the fit rows."""
    d = c.Z_fit.shape[1]
    if d < 3:
        return c.z(c.default, c.default_fit), c.z(c.default_fit, c.default_fit)
    rng = np.random.default_rng(0)
    mix = c.detector.mixture_
    total_all, total_fit = np.zeros(len(c.Z_all)), np.zeros(len(c.Z_fit))
    for b in range(N_BAGS):
        size = int(rng.integers(int(np.ceil(d / 2)), d))  # in [ceil(d/2), d-1]
        cols = np.sort(rng.choice(d, size, replace=False))
        model = GaussianMixture(
            mix.n_components, covariance_type=mix.covariance_type, reg_covar=1e-3, random_state=b, max_iter=100
        ).fit(c.Z_fit[:, cols], sample_weight=c.w)
        s_all, s_fit = model.score_samples(c.Z_all[:, cols]), model.score_samples(c.Z_fit[:, cols])
        total_all += c.z(s_all, s_fit)
        total_fit += c.z(s_fit, s_fit)
    return total_all / N_BAGS, total_fit / N_BAGS


def candidate_fb1(c):
    return bag_joint(c)[0]


def candidate_fb2(c):
    bag_all, _ = bag_joint(c)
    return 0.5 * (c.z(c.default, c.default_fit) + bag_all)


def max_spanning_tree(r: np.ndarray) -> list[tuple[int, int]]:
    """Edges of a maximum spanning tree of |r| (Prim), shape d - 1."""
    d = r.shape[0]
    strength = np.abs(r)
    inside = [0]
    best = strength[0].copy()
    parent = np.zeros(d, int)
    best[0] = -np.inf
    edges = []
    for _ in range(d - 1):
        j = int(np.argmax(np.where(np.isin(np.arange(d), inside), -np.inf, best)))
        edges.append((int(parent[j]), j))
        inside.append(j)
        better = strength[j] > best
        parent[better] = j
        best = np.maximum(best, strength[j])
    return edges


def pair_pmi(c: Context, edges) -> np.ndarray:
    """Sum over edges of log p_ij - log p_i - log p_j on all rows, shape (n_rows,)."""
    marginals = c.detector.members_[0][1]
    fit_rows = np.flatnonzero(c.kept)
    if len(fit_rows) > PAIR_FIT_ROWS:
        fit_rows = np.sort(np.random.default_rng(3).choice(fit_rows, PAIR_FIT_ROWS, replace=False))
    total = np.zeros(len(c.Z_all))
    for i, j in edges:
        pair = c.Z_fit[np.ix_(fit_rows, [i, j])]
        selection = select_components(
            pair, range(1, 4), "full", random_state=0, reg_covar=1e-3, keep_models=True, restarts=0
        )
        model = best_without_tiny_components(selection, len(fit_rows), 2)
        total += (
            model.score_samples(c.Z_all[:, [i, j]])
            - marginals[i].score_samples(c.Z_all[:, i : i + 1])
            - marginals[j].score_samples(c.Z_all[:, j : j + 1])
        )
    return total


def correlations(c: Context) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(np.corrcoef(c.Z_fit[c.kept], rowvar=False))


def candidate_pw1(c):
    if c.Z_fit.shape[1] < 2:
        return c.default
    return c.default + 0.5 * pair_pmi(c, max_spanning_tree(correlations(c)))


def candidate_pw2(c):
    d = c.Z_fit.shape[1]
    if d < 2:
        return c.default
    r = np.abs(correlations(c))
    i, j = np.triu_indices(d, 1)
    top = np.argsort(-r[i, j], kind="stable")[: min(TOP_PAIRS, len(i))]
    return c.default + 0.5 * pair_pmi(c, list(zip(i[top].tolist(), j[top].tolist(), strict=True)))


def candidate_zs(c):
    total = np.zeros(len(c.Z_all))
    for mixture, marginals, _ in c.detector.members_:
        parts = []
        for Z in (c.Z_all, c.Z_fit):
            joint = mixture.score_samples(Z)
            marginal = sum(m.score_samples(Z[:, j : j + 1]) for j, m in enumerate(marginals))
            parts.append((joint, marginal))
        (j_all, m_all), (j_fit, m_fit) = parts
        total += 0.5 * (c.z(j_all, j_fit) + c.z(m_all, m_fit))
    return total / len(c.detector.members_)


def candidate_adopted(c):
    """FB2 as implemented in ``TableAnomalyDetector`` (its default since session 9): fitted anew."""
    return TableAnomalyDetector().fit(c.X).training_scores_


CANDIDATES = {
    "FB1_bag_joint": candidate_fb1,
    "FB2_bag_plus": candidate_fb2,
    "PW1_chow_liu": candidate_pw1,
    "PW2_top_pairs": candidate_pw2,
    "ZS_zscored_terms": candidate_zs,
    "FB2_in_detector": candidate_adopted,
}


def tables(bench: str, data: Path):
    """Yield ``(group, table, draw, X for gmmseg, matrix for IsolationForest, y)``."""
    import eval_adbench

    if bench in ("develop", "confirm"):
        files = sorted(glob.glob(str(data / "*.npz")))
        halves = eval_adbench.split_halves([Path(f).stem for f in files])
        for path in files:
            name = Path(path).stem
            if halves[name] == bench:
                loaded = np.load(path)
                X = loaded["X"].astype(np.float64)
                yield bench, name, "0", X, X, loaded["y"].astype(int)
    else:
        from eval_fresh_tables import numeric_matrix
        from make_fresh_tables import fresh_tables

        for kind, table, draw, frame, y in fresh_tables():
            yield kind, table, draw, frame, numeric_matrix(frame), y


def main() -> int:
    import eval_adbench
    from sklearn.metrics import roc_auc_score

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", choices=("develop", "confirm", "fresh"), default="develop")
    parser.add_argument("--data", type=Path, default=HERE.parent / ".." / "shared" / "data" / "adbench")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated names")
    parser.add_argument("--tables", help="comma-separated substrings: run only the tables whose name contains one")
    parser.add_argument("--draws", help="START:STOP: only these of the chosen tables' draws (0-based, in order)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    start, stop = (int(v) for v in args.draws.split(":")) if args.draws else (0, None)
    seen = -1
    names = [n for n in args.candidates.split(",") if n]
    methods = ["iforest", "default", *names]
    warnings.filterwarnings("ignore")
    rows = []
    print("".ljust(34) + "".join(f"{m[:9]:>10}" for m in methods), flush=True)
    for group, table, draw, X, matrix, y in tables(args.bench, args.data):
        if args.tables and not any(part in table for part in args.tables.split(",")):
            continue
        seen += 1
        if seen < start or (stop is not None and seen >= stop):
            continue
        auc, cpu = {}, {}
        started = time.process_time()
        auc["iforest"] = roc_auc_score(y, eval_adbench.run_iforest(matrix))
        cpu["iforest"] = time.process_time() - started
        started = time.process_time()
        context = Context(X)
        cpu["default"] = time.process_time() - started
        auc["default"] = roc_auc_score(y, -context.default)
        for name in names:
            started = time.process_time()
            with limit_blas_threads(1):
                auc[name] = roc_auc_score(y, -CANDIDATES[name](context))
            # an add-on costs the default's fit and its own; the detector's own fit is whole
            own = time.process_time() - started
            cpu[name] = own if name == "FB2_in_detector" else cpu["default"] + own
        rows.append({"group": group, "table": table, "draw": draw, "auc": auc, "cpu_seconds": cpu})
        print(f"{group[:9]:<10}{table:<16}{draw:>8}" + "".join(f"{auc[m]:>10.3f}" for m in methods), flush=True)

    by_table = defaultdict(list)
    for row in rows:
        by_table[(row["group"], row["table"])].append(row["auc"])
    table_auc = {key: {m: float(np.mean([a[m] for a in v])) for m in methods} for key, v in by_table.items()}
    print()
    for (group, table), auc in table_auc.items():
        print(f"{group[:9]:<10}{table:<24}" + "".join(f"{auc[m]:>10.3f}" for m in methods))
    summary = {}
    for label in sorted({g for g, _ in table_auc}) + ["all"]:
        chosen = [a for (g, _), a in table_auc.items() if label in ("all", g)]
        summary[label] = {m: float(np.mean([a[m] for a in chosen])) for m in methods}
        print(
            f"mean {label:<10}{len(chosen):>3} tables      " + "".join(f"{summary[label][m]:>10.3f}" for m in methods)
        )
    total = {m: float(sum(r["cpu_seconds"][m] for r in rows)) for m in methods}
    print("CPU x IsolationForest".ljust(34) + "".join(f"{total[m] / total['iforest']:>10.1f}" for m in methods))
    if args.json is not None:
        payload = {"rows": rows, "table_auc": {f"{g}/{t}": a for (g, t), a in table_auc.items()}, "mean": summary}
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
