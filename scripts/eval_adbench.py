"""Side-by-side ROC AUC and seconds on the 20 ADBench sets, split into a develop and a confirm half.

Methods (every one fitted unsupervised on all rows X; y is only used to score):

- ``iforest``: scikit-learn's IsolationForest(random_state=0) (always run: the time reference);
- ``ecod``: PyOD's ECOD() (skipped with a message when PyOD is not installed);
- ``plain``: StandardScaler + scikit-learn GaussianMixture, full, reg_covar=1e-3, K 1..5 by BIC,
  score = -log density;
- ``default``: gmmseg's TableAnomalyDetector() with its defaults;
- any variant named with ``--variant NAME``: either a built-in name below or a name defined
  by a Python file passed with ``--variants-from FILE`` (the file defines
  ``VARIANTS = {name: factory}``, ``factory()`` returning an object with ``fit(X)`` that sets
  ``decision_scores_``, higher = more abnormal).

The split, fixed before any result was seen: the sets are sorted by file name (plain string
order, e.g. ``14_glass`` < ``18_Ionosphere`` < ... < ``2_annthyroid`` < ...); the 1st, 3rd,
5th, ... are the **develop** half, the 2nd, 4th, 6th, ... the **confirm** half. Settings are
chosen on develop only (``--half develop`` runs only those); confirm checks them.

Printed: one row per set (AUC per method, wall seconds per method; CPU seconds go to --json), the mean AUC per half and over
all sets, and every method's total seconds as a ratio to IsolationForest's total in the same
run. Skips cleanly (exit 0, with a message) when the data folder is absent.

    nice -n 15 python scripts/eval_adbench.py [--data ../shared/data/adbench] [--half all]
        [--methods iforest,ecod,plain,default] [--variant NAME ...] [--variants-from FILE]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.preprocessing import StandardScaler

# import this checkout's gmmseg (not whichever one is installed)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HALVES = ("develop", "confirm")


def split_halves(names: list[str]) -> dict[str, str]:
    """``{name: "develop" | "confirm"}``: alternating in sorted order of name, develop first."""
    return {name: HALVES[i % 2] for i, name in enumerate(sorted(names))}


def run_iforest(X: np.ndarray) -> np.ndarray:
    return -IsolationForest(random_state=0).fit(X).score_samples(X)


def run_ecod(X: np.ndarray) -> np.ndarray:
    from pyod.models.ecod import ECOD

    return ECOD().fit(X).decision_scores_


def run_plain(X: np.ndarray) -> np.ndarray:
    Z = StandardScaler().fit_transform(X)
    best = None
    for k in range(1, 6):
        model = SkGaussianMixture(k, covariance_type="full", reg_covar=1e-3, random_state=0).fit(Z)
        bic = model.bic(Z)
        if best is None or bic < best[0]:
            best = (bic, model)
    return -best[1].score_samples(Z)


def detector_runner(factory):
    def run(X: np.ndarray) -> np.ndarray:
        model = factory().fit(X)
        # gmmseg's detector keeps scikit-learn's sign (higher = more normal); variants give decision_scores_
        scores = -model.training_scores_ if hasattr(model, "training_scores_") else model.decision_scores_
        return np.asarray(scores, dtype=np.float64)

    return run


def builtin_methods() -> dict:
    from gmmseg.tables.anomalies import TableAnomalyDetector

    return {
        "iforest": run_iforest,
        "ecod": run_ecod,
        "plain": run_plain,
        "default": detector_runner(TableAnomalyDetector),
        # the documented exact-density configuration, for reference
        "joint_only": detector_runner(lambda: TableAnomalyDetector(ensemble="none", n_estimators=1, trim=0)),
    }


def load_variants(path: Path) -> dict:
    spec = importlib.util.spec_from_file_location("eval_adbench_variants", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return {name: detector_runner(factory) for name, factory in module.VARIANTS.items()}


def chosen_methods(methods: str, variants: list[str], variants_from: Path | None) -> tuple[list[str], dict]:
    """The methods to run (IsolationForest always, first) and every known runner by name.

    ``methods`` is a comma list of built-in names, ``variants`` names from the file
    ``variants_from``; ECOD is left out, with a line saying so, when PyOD is not installed.
    """
    available = builtin_methods()
    if variants_from is not None:
        available.update(load_variants(variants_from))
    names = [m for m in methods.split(",") if m]
    if "iforest" not in names:
        names.insert(0, "iforest")
    names += [v for v in variants if v not in names]
    unknown = [m for m in names if m not in available]
    if unknown:
        raise SystemExit(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(sorted(available))}")
    if "ecod" in names:
        try:
            import pyod  # noqa: F401
        except ImportError:
            print("ECOD skipped: PyOD is not installed (pip install pyod)")
            names.remove("ecod")
    return names, available


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "adbench"
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--half", choices=("all", *HALVES), default="all")
    parser.add_argument("--methods", default="iforest,ecod,plain,default", help="comma-separated built-in methods")
    parser.add_argument("--variant", action="append", default=[], help="extra method by name (repeatable)")
    parser.add_argument("--variants-from", type=Path, help="Python file defining VARIANTS = {name: factory}")
    parser.add_argument("--sets", help="comma-separated substrings: run only the sets whose name contains one")
    parser.add_argument("--json", type=Path, help="write every row and the summary to this file")
    args = parser.parse_args()

    files = sorted(glob.glob(str(args.data / "*.npz")))
    if not files:
        print(f"skipped: no ADBench .npz files in {args.data} (the shared data folder is absent)")
        return 0
    names, available = chosen_methods(args.methods, args.variant, args.variants_from)

    import gmmseg

    print(f"gmmseg from {Path(gmmseg.__file__).parent}")
    halves = split_halves([Path(f).stem for f in files])
    warnings.filterwarnings("ignore")
    rows = []
    width = max(9, *(len(m) + 1 for m in names))
    head = f"{'set':<16}{'half':<8}{'rows':>7}{'cols':>5} " + "".join(f"{m:>{width}}" for m in names)
    print("ROC AUC, then seconds")
    print(head + "  |" + "".join(f"{m:>{width}}" for m in names), flush=True)
    for path in files:
        name = Path(path).stem
        half = halves[name]
        if args.half != "all" and half != args.half:
            continue
        if args.sets and not any(s in name for s in args.sets.split(",")):
            continue
        data = np.load(path)
        X, y = data["X"].astype(np.float64), data["y"].astype(int)
        auc, secs, cpu = {}, {}, {}
        for m in names:
            started, cpu_started = time.perf_counter(), time.process_time()
            scores = available[m](X)
            secs[m] = time.perf_counter() - started
            cpu[m] = time.process_time() - cpu_started
            auc[m] = float(roc_auc_score(y, scores))
        rows.append(
            {
                "set": name,
                "half": half,
                "n": int(X.shape[0]),
                "d": int(X.shape[1]),
                "auc": auc,
                "seconds": secs,
                "cpu_seconds": cpu,
            }
        )
        print(
            f"{name:<16}{half:<8}{X.shape[0]:>7}{X.shape[1]:>5} "
            + "".join(f"{auc[m]:>{width}.3f}" for m in names)
            + "  |"
            + "".join(f"{secs[m]:>{width}.2f}" for m in names),
            flush=True,
        )

    summary = {}
    print()
    print(f"{'mean ROC AUC':<24}{'sets':>5} " + "".join(f"{m:>{width}}" for m in names))
    for label in (*HALVES, "all"):
        chosen = [r for r in rows if label == "all" or r["half"] == label]
        if not chosen:
            continue
        means = {m: float(np.mean([r["auc"][m] for r in chosen])) for m in names}
        summary[label] = means
        print(f"{label:<24}{len(chosen):>5} " + "".join(f"{means[m]:>{width}.3f}" for m in names))
    peers = [m for m in ("iforest", "ecod", "plain") if m in names]
    for label, means in summary.items():
        best_peer = max(means[m] for m in peers)
        gaps = "  ".join(f"{m} {means[m] - best_peer:+.3f}" for m in names if m not in peers)
        print(f"{label}: best peer {best_peer:.3f}; margin over it: {gaps}")
    total = {m: float(sum(r["seconds"][m] for r in rows)) for m in names}
    total_cpu = {m: float(sum(r["cpu_seconds"][m] for r in rows)) for m in names}
    print()
    print(f"{'total wall seconds':<29} " + "".join(f"{total[m]:>{width}.1f}" for m in names))
    ref = total["iforest"] or 1e-12
    print(f"{'  x IsolationForest':<29} " + "".join(f"{total[m] / ref:>{width}.1f}" for m in names))
    print(f"{'total CPU seconds':<29} " + "".join(f"{total_cpu[m]:>{width}.1f}" for m in names))
    ref = total_cpu["iforest"] or 1e-12
    print(f"{'  x IsolationForest':<29} " + "".join(f"{total_cpu[m] / ref:>{width}.1f}" for m in names))
    print("(wall seconds depend on the load of a shared machine; CPU seconds are this process's own)")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"rows": rows, "mean_auc": summary, "total_seconds": total, "total_cpu_seconds": total_cpu}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
