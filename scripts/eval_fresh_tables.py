"""Side-by-side ROC AUC on the fresh anomaly tables of ``scripts/make_fresh_tables.py`` (nobody tuned on them).

Methods, every one fitted unsupervised on all rows of a draw (the labels only score):

- ``default``: gmmseg's ``TableAnomalyDetector()``, fitted on the table as an analyst has it (text
  columns as text, 0/1 columns as integers);
- ``iforest``, ``ecod``, ``plain``: as in ``scripts/eval_adbench.py``, on the numeric matrix with
  every text column one-hot encoded (all levels);
- any variant of ``--variants-from FILE`` (``VARIANTS = {name: factory}``, as for eval_adbench.py),
  fitted on the table like the default.

A table's ROC AUC is the mean over its draws; printed per table, then the mean over the real, the
synthetic and all tables (each table one weight), and every method's CPU seconds as a ratio to
IsolationForest's in the same run.

    nice -n 15 env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python scripts/eval_fresh_tables.py
        [--methods iforest,ecod,plain,default] [--variant NAME ...] [--variants-from FILE] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's gmmseg
sys.path.insert(0, str(HERE))

import eval_adbench  # noqa: E402
from make_fresh_tables import fresh_tables  # noqa: E402

PEERS = ("iforest", "ecod", "plain")


def numeric_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The table as numbers for the peers: text columns one-hot (every level), shape (n_rows, n_out)."""
    return pd.get_dummies(frame, dtype=float).to_numpy(dtype=np.float64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="iforest,ecod,plain,default", help="comma-separated built-in methods")
    parser.add_argument("--variant", action="append", default=[], help="extra method by name (repeatable)")
    parser.add_argument("--variants-from", type=Path, help="Python file defining VARIANTS = {name: factory}")
    parser.add_argument("--tables", help="comma-separated substrings: run only the tables whose name contains one")
    parser.add_argument("--json", type=Path, help="write every draw and the summary to this file")
    args = parser.parse_args()

    names, available = eval_adbench.chosen_methods(args.methods, args.variant, args.variants_from)

    import gmmseg

    print(f"gmmseg from {Path(gmmseg.__file__).parent}")
    warnings.filterwarnings("ignore")
    draws = []
    kinds = {}
    for kind, table, draw, frame, y in fresh_tables():
        if args.tables and not any(s in table for s in args.tables.split(",")):
            continue
        kinds[table] = kind
        matrix = numeric_matrix(frame)
        auc, cpu = {}, {}
        for m in names:
            started = time.process_time()
            scores = available[m](matrix if m in PEERS else frame)
            cpu[m] = time.process_time() - started
            auc[m] = float(roc_auc_score(y, scores))
        draws.append(
            {
                "kind": kind,
                "table": table,
                "draw": draw,
                "n": len(frame),
                "d": frame.shape[1],
                "auc": auc,
                "cpu_seconds": cpu,
            }
        )
        print(f"  {table:<22}{draw:>12} " + "".join(f"{auc[m]:>9.3f}" for m in names), flush=True)

    by_table = defaultdict(list)
    for row in draws:
        by_table[row["table"]].append(row)
    width = max(9, *(len(m) + 1 for m in names))
    print()
    print(f"{'table':<22}{'kind':<10}{'draws':>6}{'rows':>7}{'cols':>5} " + "".join(f"{m:>{width}}" for m in names))
    table_auc = {}
    for table, rows in by_table.items():
        table_auc[table] = {m: float(np.mean([r["auc"][m] for r in rows])) for m in names}
        print(
            f"{table:<22}{kinds[table]:<10}{len(rows):>6}{int(np.median([r['n'] for r in rows])):>7}{rows[0]['d']:>5} "
            + "".join(f"{table_auc[table][m]:>{width}.3f}" for m in names)
        )
    summary = {}
    print()
    for label in ("real", "synthetic", "all"):
        chosen = [t for t in table_auc if label == "all" or kinds[t] == label]
        if not chosen:
            continue
        summary[label] = {m: float(np.mean([table_auc[t][m] for t in chosen])) for m in names}
        print(
            f"mean {label:<17}{len(chosen):>6} tables    " + "".join(f"{summary[label][m]:>{width}.3f}" for m in names)
        )
    peers = [m for m in PEERS if m in names]
    for label, means in summary.items():
        best = max(means[m] for m in peers)
        gaps = "  ".join(f"{m} {means[m] - best:+.3f}" for m in names if m not in peers)
        print(f"{label}: best peer {best:.3f}; margin over it: {gaps}")
    total = {m: float(sum(r["cpu_seconds"][m] for r in draws)) for m in names}
    ref = total["iforest"] or 1e-12
    print("total CPU seconds   " + "".join(f"{total[m]:>{width}.1f}" for m in names))
    print("  x IsolationForest " + "".join(f"{total[m] / ref:>{width}.1f}" for m in names))
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"draws": draws, "table_auc": table_auc, "mean_auc": summary, "total_cpu_seconds": total}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
