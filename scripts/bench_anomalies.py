"""Anomaly flagging side by side with IsolationForest: ROC AUC on ADBench, and time and memory on a large table.

``python scripts/bench_anomalies.py`` (ADBench): ROC AUC of TableAnomalyDetector on the 20
ADBench sets next to scikit-learn's IsolationForest (random_state=0) and the plain recipe a
user writes by hand (StandardScaler, sklearn GaussianMixture K=1..5 by BIC, full,
reg_covar=1e-3, score_samples), with the seconds of each. Every model is fitted unsupervised
on all rows; y is only used to score. (``scripts/eval_adbench.py`` adds ECOD and the
develop/confirm halves.)

``python scripts/bench_anomalies.py --big 1000000`` (and ``--big 50000``, ``--columns 39``): writes a
synthetic CSV of that many rows x 10 (``--columns``) numeric columns + an id (three Gaussian
clusters; the last three columns a Poisson(3) count, cents and lognormal amounts; the first 0.1%
of rows shifted by 12 in every column) and runs, each in its own process, ``python -m gmmseg
anomalies TABLE --id id -o OUT --json`` and IsolationForest (pandas read + fit + score_samples +
CSV write of the scores). Printed: wall and CPU seconds, peak resident memory (sampled every 10 ms
over the process), the same over a process that only imports what each run imports (its
baseline: gmmseg's CLI for gmmseg, which imports pandas only for its outputs, pandas and scikit-learn
for IsolationForest), each as
a multiple of the table (rows x columns x 8 bytes), the ratios gmmseg / IsolationForest, and the
load average before and after (wall seconds mean little on a loaded machine).

    nice -n 15 python scripts/bench_anomalies.py [--data ../shared/data/adbench] [--big N [--columns D]]
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gmmseg, not whichever one is installed
N_COLUMNS = 10

IFOREST_SCRIPT = """
import sys
import pandas as pd
from sklearn.ensemble import IsolationForest
frame = pd.read_csv(sys.argv[1])
X = frame.drop(columns="id").to_numpy()
scores = -IsolationForest(random_state=0).fit(X).score_samples(X)
pd.DataFrame({"id": frame["id"], "score": scores}).to_csv(sys.argv[2], index=False)
"""
#: What each run imports before it reads the table: its memory floor. ``gmmseg anomalies`` reads a
#: table of numbers without pandas and imports it (about 75 MB more) only for the outputs, after
#: dropping the table.
BASELINES = {
    "gmmseg anomalies": "import gmmseg.cli, gmmseg.cli.tables.anomalies, gmmseg.tables.anomalies, "
    "gmmseg.reports.anomalies",
    "IsolationForest": "import pandas, sklearn.ensemble",
}


def plain_recipe(X: np.ndarray) -> np.ndarray:
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
    from sklearn.preprocessing import StandardScaler

    Z = StandardScaler().fit_transform(X)
    best = None
    for k in range(1, 6):
        model = SkGaussianMixture(k, covariance_type="full", reg_covar=1e-3, random_state=0).fit(Z)
        bic = model.bic(Z)
        if best is None or bic < best[0]:
            best = (bic, model)
    return -best[1].score_samples(Z)


def iforest_scores(X: np.ndarray) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    return -IsolationForest(random_state=0).fit(X).score_samples(X)


def gmmseg_scores(X: np.ndarray) -> np.ndarray:
    from gmmseg.tables.anomalies import TableAnomalyDetector

    return -TableAnomalyDetector().fit(X).training_scores_


def adbench(data: Path) -> None:
    from sklearn.metrics import roc_auc_score

    files = sorted(glob.glob(str(data / "*.npz")))
    if not files:
        print(f"skipped: no .npz files in {data} (the shared data folder is absent)")
        return
    warnings.filterwarnings("ignore")
    rows, seconds = [], np.zeros(3)
    print(
        f"{'set':<16}{'rows':>7}{'cols':>5}  {'IForest':>8}{'plain GMM':>10}{'gmmseg':>8}  {'IF s':>6}{'gmmseg s':>9}"
    )
    for path in files:
        loaded = np.load(path)
        X, y = loaded["X"].astype(np.float64), loaded["y"]
        aucs, secs = [], []
        for run in (iforest_scores, plain_recipe, gmmseg_scores):
            started = time.process_time()
            aucs.append(roc_auc_score(y, run(X)))
            secs.append(time.process_time() - started)
        rows.append(aucs)
        seconds += secs
        print(
            f"{Path(path).stem:<16}{X.shape[0]:>7}{X.shape[1]:>5}  {aucs[0]:>8.3f}{aucs[1]:>10.3f}{aucs[2]:>8.3f}"
            f"  {secs[0]:>6.2f}{secs[2]:>9.2f}",
            flush=True,
        )
    mean = np.mean(rows, axis=0)
    print(f"{'mean':<28}  {mean[0]:>8.3f}{mean[1]:>10.3f}{mean[2]:>8.3f}")
    better = max(mean[0], mean[1])
    print(
        f"gmmseg - better peer: {mean[2] - better:+.3f}; sets won vs IForest {sum(r[2] > r[0] for r in rows)}/"
        f"{len(rows)}, vs plain {sum(r[2] > r[1] for r in rows)}/{len(rows)}"
    )
    print(
        f"CPU seconds in all: IForest {seconds[0]:.1f}, plain {seconds[1]:.1f}, gmmseg {seconds[2]:.1f} "
        f"({seconds[2] / seconds[0]:.1f}x IForest)"
    )


def make_table(n: int, path: Path, d: int = N_COLUMNS) -> None:
    """The synthetic table of the docstring, as CSV."""
    import pandas as pd

    rng = np.random.default_rng(0)
    centers = rng.normal(0, 4, (3, d))
    X = centers[rng.integers(0, 3, n)] + rng.normal(0, 1, (n, d))
    X[:, d - 3] = rng.poisson(3, n)
    X[:, d - 2] = np.round(np.abs(X[:, d - 2]) * 100) / 100
    X[:, d - 1] = rng.lognormal(3, 1, n)
    X[: n // 1000] += 12
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(d)])
    frame.insert(0, "id", np.arange(n))
    frame.to_csv(path, index=False, float_format="%.6g")


def measure(argv: list[str]) -> dict:
    """Wall and CPU seconds and peak resident memory (MB) of a process (sampled every 10 ms)."""
    import psutil

    started = time.perf_counter()
    proc = psutil.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, cpu = 0, 0.0

    def sample() -> None:
        nonlocal peak, cpu
        while proc.poll() is None:
            try:
                peak = max(peak, proc.memory_info().rss)
                times = proc.cpu_times()
                cpu = times.user + times.system
            except psutil.Error:
                break
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, err = proc.communicate()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {err.decode(errors='replace')[-500:]}")
    return {"wall": time.perf_counter() - started, "cpu": cpu, "peak_mb": peak / 1e6}


def big(n: int, d: int = N_COLUMNS) -> None:
    table_mb = n * d * 8 / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        make_table(n, path, d)
        print(
            f"{n:,} rows x {d} columns (+ id): table {table_mb:.0f} MB as float64, CSV {path.stat().st_size / 1e6:.0f} MB"
        )
        load_before = os.getloadavg()
        gmmseg_argv = [sys.executable, "-m", "gmmseg", "anomalies", str(path), "--id", "id"]
        argv = {
            "gmmseg anomalies": gmmseg_argv + ["-o", str(Path(tmp) / "out"), "--json", "-q"],
            "IsolationForest": [sys.executable, "-c", IFOREST_SCRIPT, str(path), str(Path(tmp) / "if.csv")],
        }
        runs, bases = {}, {}
        for name in argv:
            bases[name] = measure([sys.executable, "-c", BASELINES[name]])
            runs[name] = measure(argv[name])
        load_after = os.getloadavg()
    print(
        f"{'':<18}{'wall s':>8}{'CPU s':>8}{'peak MB':>9}{'x table':>8}{'base MB':>8}{'above base':>11}{'x table':>8}"
    )
    for name, r in runs.items():
        base = bases[name]["peak_mb"]
        above = r["peak_mb"] - base
        print(
            f"{name:<18}{r['wall']:>8.1f}{r['cpu']:>8.1f}{r['peak_mb']:>9.0f}{r['peak_mb'] / table_mb:>8.2f}"
            f"{base:>8.0f}{above:>11.0f}{above / table_mb:>8.2f}"
        )
    g, i = runs["gmmseg anomalies"], runs["IsolationForest"]
    print(
        f"gmmseg / IsolationForest: wall {g['wall'] / i['wall']:.1f}x, CPU {g['cpu'] / i['cpu']:.1f}x, "
        f"peak memory {g['peak_mb'] / i['peak_mb']:.2f}x"
    )
    print(
        f"load average before {', '.join(f'{v:.1f}' for v in load_before)}, after "
        f"{', '.join(f'{v:.1f}' for v in load_after)} (wall seconds depend on it; CPU seconds are the process's own)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data" / "adbench")
    parser.add_argument("--big", type=int, help="rows of the synthetic table (time and memory instead of ADBench)")
    parser.add_argument("--columns", type=int, default=N_COLUMNS, help="numeric columns of the synthetic table (>= 4)")
    args = parser.parse_args()
    if args.big:
        big(args.big, max(4, args.columns))
    else:
        adbench(args.data)


if __name__ == "__main__":
    main()
