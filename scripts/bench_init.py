"""Initialization study (issue 12), side by side in one run. Not a test.

Run from the project folder::

    python scripts/bench_init.py                    # both parts, every set of seeds
    python scripts/bench_init.py --part scenes --seeds dev

A. **Local optima on photos-like scenes.** Scenes of 5 Voronoi regions of random colors
   plus Gaussian RGB noise of sigma 30 (128 x 128, the scenes of ``tests/image``), a plain
   K=5 fit on the Lab pixels. Compared: gmmseg's ``segment_image`` (its default init, and
   ``n_init=5``) against scikit-learn's ``GaussianMixture`` on the same Lab features and
   ``reg_covar`` with ``n_init=1`` and ``n_init=5``. Per method: mean and minimum adjusted
   Rand index against the truth, and how many scenes land in a **poor optimum**: a mean
   log-likelihood per pixel more than 0.01 below the best any method found on that scene.
B. **Choosing K on hard mixtures.** 30 synthetic mixtures with overlapping, elongated and
   unbalanced clusters (K 2..6, D 2..5, axis ratios up to 6, weights down to 4%, nearest
   means 2.5 to 4 standard deviations apart along the line joining them). gmmseg's
   ``select_components`` (K 1..8, full covariances, its other defaults) against a
   scikit-learn loop over the same grid with ``n_init=5`` choosing the lowest BIC, both on
   one BLAS thread: true-K hits and the time ratio [target: hits >= the loop's, time <= 1/10
   of it]. Times are CPU seconds of this process (both sides run on one thread), so the
   ratio holds on a loaded machine. (The grid is full covariances only to keep the loop short.)

Settings are chosen on the ``dev`` seeds and confirmed on the ``confirm`` seeds (disjoint);
``confirm2`` to ``confirm6`` are fresh confirmation sets for part B; all are reported.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.image.synthetic import random_color_scene  # noqa: E402  (the scenes the smoothing tests use)

#: Seeds of the scenes / mixtures: settings are chosen on "dev" and confirmed on "confirm".
#: "confirm2" is the fresh set for the restarts near the chosen K (session 8; "confirm" had been looked at),
#: "confirm3" the fresh set for their merged starts (session 9), "confirm4" for the merged start above the
#: chosen K (session 10), "confirm5" for the split start of K* + 1 (session 11), "confirm6" for two split
#: starts of K* + 1 after every new choice (session 11b, not kept; "confirm5" had been looked at).
SEEDS = {
    "dev": range(0, 30),
    "confirm": range(100, 130),
    "confirm2": range(200, 230),
    "confirm3": range(300, 330),
    "confirm4": range(400, 430),
    "confirm5": range(500, 530),
    "confirm6": range(600, 630),
}
#: Below the best mean log-likelihood per pixel of a scene by more than this: a poor optimum.
POOR_GAP = 0.01


def hard_mixture(seed: int) -> tuple[np.ndarray, int]:
    """Overlapping, elongated, unbalanced clusters: ``(X, true K)``."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    d = int(rng.integers(2, 6))
    n = 250 * k
    weights = rng.dirichlet(np.full(k, 2.0))
    weights = np.maximum(weights, 0.04)
    weights /= weights.sum()
    covs = []
    for _ in range(k):
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        scales = np.exp(rng.uniform(0.0, np.log(6.0), d))
        covs.append((q * scales**2) @ q.T)
    means = [np.zeros(d)]
    while len(means) < k:
        candidate = means[int(rng.integers(len(means)))] + rng.normal(size=d) * 4.0
        gaps = []
        for m, c in zip(means, covs):
            u = (candidate - m) / np.linalg.norm(candidate - m)
            spread = np.sqrt(u @ c @ u) + np.sqrt(u @ covs[len(means)] @ u)
            gaps.append(np.linalg.norm(candidate - m) / spread)
        if 1.25 <= min(gaps) <= 2.0:  # 2.5 to 4 (sum of) standard deviations apart
            means.append(candidate)
    counts = rng.multinomial(n, weights)
    X = np.vstack([rng.multivariate_normal(m, c, size=c_n) for m, c, c_n in zip(means, covs, counts)])
    return X, k


def _lab(image: np.ndarray) -> np.ndarray:
    from gmmseg.image.features import color_features

    return color_features(image.reshape(-1, 3), "lab")


def scenes_part(seeds, args) -> list[str]:
    from sklearn.metrics import adjusted_rand_score
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from gmmseg import segment_image
    from gmmseg.image.segment import REG_COVAR

    methods = {
        "gmmseg default init": lambda image, seed: segment_image(image, 5, random_state=seed).model,
        "gmmseg n_init=5": lambda image, seed: segment_image(image, 5, random_state=seed, n_init=5).model,
        "scikit-learn n_init=1": lambda image, seed: SkGaussianMixture(
            5, reg_covar=REG_COVAR, tol=1e-3, random_state=seed
        ).fit(_lab(image)),
        "scikit-learn n_init=5": lambda image, seed: SkGaussianMixture(
            5, reg_covar=REG_COVAR, tol=1e-3, n_init=5, random_state=seed
        ).fit(_lab(image)),
    }
    ari = {name: [] for name in methods}
    loglik = {name: [] for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    for seed in seeds:
        image, truth = random_color_scene(30.0, seed)
        X = _lab(image)
        for name, fit in methods.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                started = time.perf_counter()
                model = fit(image, seed)
                seconds[name] += time.perf_counter() - started
            ari[name].append(adjusted_rand_score(truth.ravel(), model.predict(X)))
            loglik[name].append(float(model.score(X)))
        if not args.quiet:
            print(f"  scene {seed}: " + ", ".join(f"{ari[m][-1]:.3f}" for m in methods), flush=True)
    best = np.max([loglik[name] for name in methods], axis=0)
    rows = []
    for name in methods:
        poor = int(np.sum(np.asarray(loglik[name]) < best - POOR_GAP))
        a = np.asarray(ari[name])
        rows.append(
            f"| {name} | {a.mean():.3f} | {a.min():.3f} | {np.sum(a < 0.9)} | {poor} of {len(a)} | {seconds[name]:.1f} s |"
        )
    return rows


def sklearn_bic_loop(X: np.ndarray, ks, covariance_types, seed: int) -> int:
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
    from threadpoolctl import threadpool_limits

    best_k, best = 0, np.inf
    # One BLAS thread, as select_components uses: on these small mixtures threaded BLAS made
    # the loop about 18x slower on the shared 2-core machine (seeds 0-5: 130.6 s against 7.3 s).
    with threadpool_limits(1):
        for k in ks:
            for ct in covariance_types:
                model = SkGaussianMixture(k, covariance_type=ct, n_init=5, random_state=seed).fit(X)
                bic = model.bic(X)
                if bic < best:
                    best_k, best = k, bic
    return best_k


def selection_part(seeds, args) -> list[str]:
    from gmmseg import select_components

    ks, types = range(1, 9), ("full",)
    hits = {"gmmseg select_components": 0, "scikit-learn BIC loop, n_init=5": 0}
    seconds = dict.fromkeys(hits, 0.0)
    for seed in seeds:
        X, k = hard_mixture(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            started = time.process_time()
            ours = select_components(X, ks, types, random_state=seed).best_n_components
            seconds["gmmseg select_components"] += time.process_time() - started
            started = time.process_time()
            theirs = sklearn_bic_loop(X, ks, types, seed)
            seconds["scikit-learn BIC loop, n_init=5"] += time.process_time() - started
        hits["gmmseg select_components"] += ours == k
        hits["scikit-learn BIC loop, n_init=5"] += theirs == k
        if not args.quiet:
            print(
                f"  mixture {seed}: K={k} D={X.shape[1]} n={X.shape[0]}: gmmseg {ours}, scikit-learn {theirs}",
                flush=True,
            )
    loop = seconds["scikit-learn BIC loop, n_init=5"]
    return [
        f"| {name} | {hits[name]} of {len(seeds)} | {seconds[name]:.1f} s | {seconds[name] / loop:.3f} |"
        for name in hits
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["scenes", "selection", "both"], default="both")
    parser.add_argument("--seeds", choices=[*SEEDS, "all"], default="all")
    parser.add_argument("--cases", type=int, default=30, help="Scenes / mixtures per set of seeds.")
    parser.add_argument("--quiet", action="store_true", help="Print the tables only.")
    args = parser.parse_args()
    import sklearn

    from gmmseg import __version__

    print(f"gmmseg {__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}, {os.cpu_count()} cores")
    splits = list(SEEDS) if args.seeds == "all" else [args.seeds]
    for split in splits:
        seeds = list(SEEDS[split])[: args.cases]
        if args.part in ("scenes", "both"):
            print(f"\nA. K=5 on Voronoi scenes, sigma 30, seeds {seeds[0]}-{seeds[-1]} ({split})", flush=True)
            rows = scenes_part(seeds, args)
            print("| method | mean ARI | min ARI | scenes ARI < 0.9 | poor optima | time |\n|---|---|---|---|---|---|")
            print("\n".join(rows))
        if args.part in ("selection", "both"):
            print(f"\nB. choosing K on hard mixtures, seeds {seeds[0]}-{seeds[-1]} ({split})", flush=True)
            rows = selection_part(seeds, args)
            print("| method | true K found | time | time / loop |\n|---|---|---|---|")
            print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
