"""Side-by-side benchmark of the EM core against scikit-learn's GaussianMixture.

Both start from identical initial parameters (weights_init, means_init, precisions_init)
and run a fixed number of iterations with tol=0, in one process. Per-iteration time is
``(t(1 + n) - t(1)) / n`` so that validation and set-up are not counted, best of
``--repeats`` runs. Peak memory is measured with tracemalloc over a 2-iteration fit.
Ratios are what to read: absolute times vary from machine to machine and run to run.

Usage: python scripts/bench_core.py [--quick] [--iterations 3] [--repeats 2]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from sklearn.mixture import GaussianMixture as SkGM

# measure the checkout this script sits in, not whichever gmmseg is installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import gmmseg
from gmmseg import GaussianMixture, select_components

CASES = [
    (1_000_000, 3, 8, "full"),
    (500_000, 16, 16, "full"),
    (500_000, 16, 16, "diag"),
    (500_000, 16, 16, "tied"),
    (200_000, 64, 16, "diag"),
    (1_000_000, 3, 8, "spherical"),
]


def make_data(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(k, d))
    scales = rng.uniform(0.5, 2.0, size=(k, d))
    labels = rng.integers(k, size=n)
    return centers[labels] + rng.normal(size=(n, d)) * scales[labels]


def timed_fit(cls, X, kw, iterations):
    t0 = time.perf_counter()
    cls(max_iter=iterations, **kw).fit(X)
    return time.perf_counter() - t0


def per_iteration(cls, X, kw, iterations, repeats, **extra):
    """Seconds per EM iteration: best-of-``repeats`` of a (1 + n)-iteration fit minus best-of of a 1-iteration fit.

    Taking the minimum of each separately makes the estimate robust to other load on the machine.
    """
    base = min(timed_fit(cls, X, {**kw, **extra}, 1) for _ in range(repeats))
    full = min(timed_fit(cls, X, {**kw, **extra}, 1 + iterations) for _ in range(repeats))
    return max(full - base, 1e-6) / iterations


def peak_memory(cls, X, kw, **extra):
    tracemalloc.start()
    cls(max_iter=2, **kw, **extra).fit(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def run_case(n, d, k, covariance_type, dtype, iterations, repeats):
    X = make_data(n, d, k).astype(dtype)
    init = SkGM(k, covariance_type=covariance_type, random_state=0, max_iter=2).fit(X[:20000])
    kw = dict(
        n_components=k,
        covariance_type=covariance_type,
        tol=0.0,
        weights_init=init.weights_,
        means_init=init.means_,
        precisions_init=init.precisions_,
    )
    sk = per_iteration(SkGM, X, kw, iterations, repeats)
    ours = per_iteration(GaussianMixture, X, kw, iterations, repeats, dtype=dtype)
    a = SkGM(max_iter=1 + iterations, **kw).fit(X)
    b = GaussianMixture(max_iter=1 + iterations, dtype=dtype, **kw).fit(X)
    mem_sk = peak_memory(SkGM, X, kw)
    mem_ours = peak_memory(GaussianMixture, X, kw, dtype=dtype)
    return {
        "case": f"N={n:,} D={d} K={k} {covariance_type}",
        "dtype": dtype,
        "sklearn_s_per_iter": sk,
        "gmmseg_s_per_iter": ours,
        "speedup": sk / ours,
        "sklearn_peak_MB": mem_sk / 1e6,
        "gmmseg_peak_MB": mem_ours / 1e6,
        "data_MB": X.nbytes / 1e6,
        "loglik_diff": b.lower_bound_ - a.lower_bound_,
    }


def bic_sweep(repeats):
    X = make_data(1_000_000, 3, 6, seed=1)
    single = np.inf
    sweep = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        GaussianMixture(4, random_state=0).fit(X)
        single = min(single, time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = select_components(X, range(1, 11), "full", random_state=0)
        sweep = min(sweep, time.perf_counter() - t0)
    t0 = time.perf_counter()
    SkGM(4, random_state=0).fit(X)
    sk_single = time.perf_counter() - t0
    return single, sweep, result.best_n_components, sk_single


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="first two cases, float64 only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import sklearn

    print(f"gmmseg {gmmseg.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    print(
        f"{'case':<28} {'dtype':<8} {'sklearn s/it':>12} {'gmmseg s/it':>12} {'speedup':>8} "
        f"{'sk peak MB':>10} {'gm peak MB':>10} {'data MB':>8} {'Δ loglik':>10}"
    )
    cases = CASES[:2] if args.quick else CASES
    for case in cases:
        for dtype in ("float64",) if args.quick else ("float64", "float32"):
            r = run_case(*case, dtype, args.iterations, args.repeats)
            print(
                f"{r['case']:<28} {r['dtype']:<8} {r['sklearn_s_per_iter']:>12.3f} {r['gmmseg_s_per_iter']:>12.4f} "
                f"{r['speedup']:>7.1f}x {r['sklearn_peak_MB']:>10.1f} {r['gmmseg_peak_MB']:>10.1f} "
                f"{r['data_MB']:>8.1f} {r['loglik_diff']:>10.1e}",
                flush=True,
            )
    single, sweep, best_k, sk_single = bic_sweep(1 if args.quick else 2)
    print(
        f"\nBIC sweep K=1..10 on N=1,000,000 D=3 full (true K=6): {sweep:.2f} s, chose K={best_k}; "
        f"one K=4 fit {single:.2f} s -> sweep = {sweep / single:.1f} single fits (target <= 15); "
        f"scikit-learn's one K=4 fit: {sk_single:.2f} s"
    )


if __name__ == "__main__":
    main()
