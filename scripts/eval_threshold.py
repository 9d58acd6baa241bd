"""Measure how stable DefectModel's calibrated threshold is, and compare threshold rules.

Step 1 (``cache``): for each ``--seed`` (another draw of the fit tiles AND another fit), fit on
``--n-fit`` MT_Free tiles (the model holds 20% out for the threshold) and save to ``--out``
one ``.npz`` per run: the held-out calibration scores, the threshold, and the image scores of
the unseen good tiles and of the defect tiles of the requested halves.

Step 2 (``compare``): on those cached scores, set the 1%-FPR threshold by each rule from the
held-out scores alone and report the share of unseen good tiles it flags (mean, spread over
the seeds) and the defect tiles it catches.

    python scripts/eval_threshold.py cache --n-fit 150 --seeds 0 1 2 --splits choose --out DIR
    python scripts/eval_threshold.py compare DIR [--seeds 0 1 2] [--split choose]
    python scripts/eval_threshold.py resample DIR [--n-fit 150] [--sizes 30 50]

Step 3 (``resample``): keep each cached model and redraw its calibration set from its held-out
and unseen good scores: the calibration draw's own noise, without the fit's.
Results: docs/defects.md, "Session 10: how stable the threshold is".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_mtd import DEFAULT_DATA, load_split

from gmmseg.image.defects import DefectModel
from gmmseg.image.io import read_image

TARGET = 0.01


def _parts(model: DefectModel, arr: np.ndarray) -> tuple[float, float, float]:
    """(fine score, broad channel's relative maximum, image channel's relative value) of one image."""
    fine, _ = model._combine([scale.score_map(arr) for scale in model.scales_])
    return fine, float(model.broad_.relative_map(arr).max()), float(model.image_.relative(arr))


def cache(args) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        path = args.out / f"n{args.n_fit}_s{seed}.npz"
        if path.exists():
            continue
        fit_paths, _ = load_split(args.data, args.n_fit, seed)
        images = [read_image(p, mode="gray").pixels for p in fit_paths]
        t0 = time.perf_counter()
        model = DefectModel(random_state=seed).fit(images)
        t_fit = time.perf_counter() - t0
        # the held-out images, drawn as fit draws them
        hold = np.random.default_rng(seed).permutation(len(images))[: model.n_holdout_images_]
        arrays = {
            "calibration": np.asarray(model.calibration_scores_, dtype=np.float64),
            "threshold": np.float64(model.threshold_),
            "broad_weight": np.float64(model.broad_weight_),
            "broad_center": np.float64(model.broad_.center_),
            "broad_quantile": np.float64(model.broad_.quantile_),
            "calibration_parts": np.array([_parts(model, images[i]) for i in hold]),
        }
        for split in args.splits:
            _, test = load_split(args.data, args.n_fit, seed, split, args.n_test_good)
            defects = [item for item in test if item[2] != "good"]
            test = [item for item in test if item[2] == "good"] + defects[:: args.defect_step]
            scores, parts = [], []
            for p, _, _ in test:
                fine, broad, image = _parts(model, read_image(p, mode="gray").pixels)
                # = model.score: the fine score plus each channel's excess over 1
                excess = max(broad - 1.0, 0.0) + max(image - 1.0, 0.0)
                scores.append(fine + model.broad_weight_ * excess)
                parts.append((fine, broad, image))
            arrays[f"{split}_scores"], arrays[f"{split}_parts"] = np.array(scores), np.array(parts)
            arrays[f"{split}_kinds"] = np.array([k for _, _, k in test])
        np.savez(path, **arrays)
        print(f"{path.name}: fit {t_fit:.0f} s, threshold {model.threshold_:.3f}", flush=True)


# ------------------------------------------------------------------ threshold rules
# each maps the held-out good scores (n,) to a threshold for the target share


def order_statistic(cal: np.ndarray) -> float:
    """Today's rule: the empirical (1 - target) quantile, 'higher' (the maximum for n < 100)."""
    return float(np.quantile(cal, 1 - TARGET, method="higher"))


def normal_tail(cal: np.ndarray) -> float:
    """Normal fitted to all held-out scores (robustly: median, 1.4826 MAD), its 99% quantile."""
    from scipy.stats import norm

    med = np.median(cal)
    mad = 1.4826 * np.median(np.abs(cal - med))
    return float(med + norm.ppf(1 - TARGET) * mad)


def normal_mean_sd(cal: np.ndarray) -> float:
    """Normal fitted by mean and standard deviation, its 99% quantile."""
    from scipy.stats import norm

    return float(np.mean(cal) + norm.ppf(1 - TARGET) * np.std(cal, ddof=1))


def half_normal_upper(cal: np.ndarray) -> float:
    """Normal tail fitted to the scores above the median: sd from their mean excess."""
    from scipy.stats import norm

    med = np.median(cal)
    up = cal[cal > med] - med
    sd = np.sqrt(np.mean(up**2))  # half-normal MLE of the upper half's spread
    return float(med + norm.ppf(1 - TARGET) * sd)


def lognormal_upper(cal: np.ndarray) -> float:
    """Log-normal of the shifted scores (shift so the minimum is 1), upper-half fit, its 99% quantile."""
    from scipy.stats import norm

    shift = 1.0 - cal.min()
    z = np.log(cal + shift)
    med = np.median(z)
    up = z[z > med] - med
    sd = np.sqrt(np.mean(up**2))
    return float(np.exp(med + norm.ppf(1 - TARGET) * sd) - shift)


def exponential_upper(cal: np.ndarray) -> float:
    """Exponential tail over the median (GPD with shape 0): P(S > med + t) = 0.5 exp(-t / mean excess)."""
    med = np.median(cal)
    excess = np.mean(cal[cal > med] - med)
    return float(med + excess * np.log(0.5 / TARGET))


def gpd_upper(cal: np.ndarray) -> float:
    """Generalized Pareto fitted to the excesses over the median, its 99% quantile."""
    from scipy.stats import genpareto

    med = np.median(cal)
    up = cal[cal > med] - med
    c, _, scale = genpareto.fit(up, floc=0)
    return float(med + genpareto.ppf(1 - TARGET / 0.5, c, loc=0, scale=scale))


def loo_calibration(data) -> np.ndarray:
    """Held-out scores with the broad excess each would get from a quantile set without it.

    The broad channel's unit is the maximum of the held-out images' own broad maxima, so on
    them its excess is 0 by construction while an unseen good tile exceeds it about 1/(n+1)
    of the time; leaving image ``i`` out of that maximum gives it the excess an unseen tile
    would get.
    """
    fine, relative = data["calibration_parts"][:, 0], data["calibration_parts"][:, 1]
    m, q = float(data["broad_center"]), float(data["broad_quantile"])
    peaks = m + relative * (q - m)
    n = len(peaks)
    others = np.array([np.quantile(np.delete(peaks, i), 1 - TARGET, method="higher") for i in range(n)])
    loo_relative = (peaks - m) / np.maximum(others - m, 1e-6)
    return fine + float(data["broad_weight"]) * np.maximum(loo_relative - 1.0, 0.0)


CALIBRATIONS = {"as fit": lambda data: data["calibration"], "LOO broad": loo_calibration}

RULES = {
    "order statistic (today)": order_statistic,
    "normal, median/MAD": normal_tail,
    "normal, mean/sd": normal_mean_sd,
    "half-normal over median": half_normal_upper,
    "log-normal over median": lognormal_upper,
    "exponential over median": exponential_upper,
    "GPD over median": gpd_upper,
}


def compare(args) -> None:
    runs = []
    for path in sorted(args.cache.glob("n*_s*.npz")):
        n_fit, seed = (int(part[1:]) for part in path.stem.split("_"))
        data = np.load(path)
        if args.seeds and seed not in args.seeds or args.n_fit and n_fit != args.n_fit:
            continue
        if f"{args.split}_scores" not in data:
            continue
        runs.append((n_fit, seed, data))
    print(f"split {args.split}, target {TARGET:.0%}: realized share of unseen good tiles flagged / defect tiles caught")
    header = "  ".join(f"n{n}s{s}" for n, s, _ in runs)
    print(f"{'calibration, rule':<38} {'mean good':>9} {'sd':>5} {'max':>6} {'recall':>7}   per run (good %): {header}")
    for cal_name, calibration in CALIBRATIONS.items():
        for name, rule in RULES.items():
            goods, recalls = [], []
            for _, _, data in runs:
                thr = rule(calibration(data))
                scores, kinds = data[f"{args.split}_scores"], data[f"{args.split}_kinds"]
                good = kinds == "good"
                goods.append(float(np.mean(scores[good] > thr)))
                recalls.append(float(np.mean(scores[~good] > thr)))
            goods = np.array(goods)
            per = " ".join(f"{100 * g:5.1f}" for g in goods)
            sd = 100 * goods.std(ddof=1) if len(goods) > 1 else 0.0
            print(
                f"{cal_name + ', ' + name:<38} {100 * goods.mean():8.1f}% {sd:5.1f} {100 * goods.max():5.1f}% "
                f"{100 * np.mean(recalls):6.1f}%   {per}"
            )
    # where the unseen good tiles' flags come from, under today's threshold
    for n_fit, seed, data in runs:
        parts, kinds = data[f"{args.split}_parts"], data[f"{args.split}_kinds"]
        good = kinds == "good"
        thr = float(data["threshold"])
        flagged = data[f"{args.split}_scores"][good] > thr
        fine_alone = parts[good, 0] > thr
        print(
            f"n{n_fit}s{seed}: threshold {thr:.3f}, {flagged.sum()} good flagged: fine alone above {fine_alone.sum()}, "
            f"broad > 1 {np.sum(parts[good, 1] > 1)}, image > 1 {np.sum(parts[good, 2] > 1)}"
        )


def resample(args) -> None:
    """Holdout size at a fixed model: draw ``m`` calibration scores from the run's held-out and
    unseen good scores (all unseen by its fit), set the threshold by each rule, count the rest.

    This isolates the calibration draw's noise; the fit's own noise (another model per seed)
    comes on top and is what ``compare`` shows.
    """
    runs = [np.load(path) for path in sorted(args.cache.glob(f"n{args.n_fit}_s*.npz"))]
    runs = [data for data in runs if f"{args.split}_scores" in data]
    rng = np.random.default_rng(0)
    print(f"n-fit {args.n_fit}, split {args.split}, {len(runs)} models, {args.draws} draws each")
    print(f"{'rule':<26} " + " ".join(f"{f'm={m} mean/sd':>16}" for m in args.sizes))
    for name, rule in RULES.items():
        cells = []
        for m in args.sizes:
            rates = []
            for data in runs:
                good = data[f"{args.split}_kinds"] == "good"
                pool = np.concatenate([data["calibration"], data[f"{args.split}_scores"][good]])
                for _ in range(args.draws):
                    order = rng.permutation(len(pool))
                    thr = rule(pool[order[:m]])
                    rates.append(float(np.mean(pool[order[m:]] > thr)))
            cells.append(f"{100 * np.mean(rates):7.1f}/{100 * np.std(rates):<5.1f}%  ")
        print(f"{name:<26} " + " ".join(cells))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--data", type=Path, default=DEFAULT_DATA)
    c.add_argument("--n-fit", type=int, default=150)
    c.add_argument("--n-test-good", type=int, help="at most this many unseen good tiles per half (eval_mtd's option)")
    c.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    c.add_argument("--splits", nargs="+", default=["choose"], choices=("choose", "confirm"))
    c.add_argument("--defect-step", type=int, default=1, help="score every this many defect tiles (for speed)")
    c.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("compare")
    m.add_argument("cache", type=Path)
    m.add_argument("--seeds", type=int, nargs="+")
    m.add_argument("--n-fit", type=int)
    m.add_argument("--split", default="choose", choices=("choose", "confirm"))
    r = sub.add_parser("resample")
    r.add_argument("cache", type=Path)
    r.add_argument("--n-fit", type=int, default=150)
    r.add_argument("--split", default="choose", choices=("choose", "confirm"))
    r.add_argument("--sizes", type=int, nargs="+", default=[30, 50, 80])
    r.add_argument("--draws", type=int, default=200)
    args = parser.parse_args(argv)
    if args.command == "resample":
        resample(args)
    elif args.command == "cache":
        if not args.data.is_dir():
            print(f"MTD data not found at {args.data}; pass --data", file=sys.stderr)
            return 2
        cache(args)
    else:
        compare(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
