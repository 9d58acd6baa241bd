"""Smoothing per scene (issue 12): plain fit and smoothed fit on scenes of 5 random colors. Not a test.

Run from the project folder::

    python scripts/bench_smoothing.py                       # beta 2, seeds 0-7 and 100-107, sigma 30 and 60
    python scripts/bench_smoothing.py --seeds 200-215 --beta 1.5

Every scene is 5 Voronoi regions of random colors plus Gaussian RGB noise (128 x 128,
``tests/image/synthetic.py``), segmented with K = 5 with and without ``smoothing=beta``. The
targets (per scene, not on the mean): smoothed adjusted Rand index >= 0.97 at sigma 30 and
>= 0.80 at sigma 60, never below the plain fit of the same scene. Prints one row per scene
(ARI plain, smoothed, which start won) and a summary per sigma; about 5 s per scene.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "image"))
from synthetic import random_color_scene  # noqa: E402

TARGETS = {30: 0.97, 60: 0.80}


def seed_list(text: str) -> list[int]:
    """``"0-7,100-107"`` -> [0, ..., 7, 100, ..., 107]."""
    out: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        out.extend(range(int(low), int(high or low) + 1))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-7,100-107", help="Scene seeds, e.g. 0-7,100-107.")
    parser.add_argument("--beta", type=float, default=2.0, help="Smoothing strength.")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from sklearn.metrics import adjusted_rand_score

    from gmmseg import segment_image

    rows = []
    for sigma, target in TARGETS.items():
        for seed in seed_list(args.seeds):
            image, truth = random_color_scene(sigma, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a component may be re-seeded on the way
                plain = segment_image(image, 5, random_state=0)
                smooth = segment_image(image, 5, random_state=0, smoothing=args.beta)
            a_plain = adjusted_rand_score(truth.ravel(), plain.labels.ravel())
            a_smooth = adjusted_rand_score(truth.ravel(), smooth.labels.ravel())
            ok = a_smooth >= target and a_smooth >= a_plain
            rows.append((sigma, seed, a_plain, a_smooth, ok))
            start = smooth.settings.get("smoothing_start")
            print(
                f"sigma {sigma} seed {seed:4d}: plain {a_plain:.3f}  smoothed {a_smooth:.3f}  {'ok' if ok else 'MISSED'}  ({start})"
            )
            sys.stdout.flush()
    print(f"\nbeta {args.beta:g}, seeds {args.seeds}")
    print("| sigma | plain mean (min) | smoothed mean (min) | scenes meeting the target | below plain |")
    print("|---|---|---|---|---|")
    for sigma, target in TARGETS.items():
        sel = [r for r in rows if r[0] == sigma]
        plain, smooth = np.array([r[2] for r in sel]), np.array([r[3] for r in sel])
        print(
            f"| {sigma} | {plain.mean():.3f} ({plain.min():.3f}) | {smooth.mean():.3f} ({smooth.min():.3f}) | "
            f"{sum(r[4] for r in sel)} of {len(sel)} (>= {target}) | {int(np.sum(smooth < plain))} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
