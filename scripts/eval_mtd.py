"""Measure DefectModel on the real Magnetic Tile Defect images (../shared/data/mtd).

Fit on a random part of MT_Free (the model holds out 20% of it for the threshold), test on
the rest of MT_Free plus the MT_Blowhole, MT_Crack and MT_Break images; print image AUROC,
pixel AUROC, AUPRO (up to 30% FPR) and F1-max, overall and per defect type, and the false
positive rate of the calibrated threshold on the unseen good images.

The test images (good and defective) are split once, by a fixed draw, into two halves:
``--split choose`` is the half settings are decided on, ``--split confirm`` the half that
confirms them (report both; never a score of the half a setting was chosen on).

    python scripts/eval_mtd.py [--data ../shared/data/mtd] [--n-fit 250] [--split choose|confirm|all]
        [--n-test-good 200] [--seed 0] [--json out.json]

One setting for every defect type: the model's defaults; nothing is tuned per type.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

# measure the checkout this script sits in, not whichever gmmseg is installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gmmseg.image.defects import DefectModel
from gmmseg.image.io import read_image
from gmmseg.image.metrics import detection_metrics

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mtd"
TYPES = ("MT_Blowhole", "MT_Crack", "MT_Break")
#: Seed of the one draw that splits the test images into the choose and confirm halves.
_SPLIT_SEED = 20261201


def _half(paths: list[Path], split: str) -> list[Path]:
    if split == "all":
        return paths
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(paths))
    keep = order[: len(paths) // 2] if split == "choose" else order[len(paths) // 2 :]
    return [paths[i] for i in sorted(keep)]


def load_split(data: Path, n_fit: int, seed: int, split: str = "all", n_test_good: int | None = None):
    """Return (fit_paths, test_items) with test_items = [(path, mask_path or None, kind)]."""
    free = sorted((data / "MT_Free" / "Imgs").glob("*.jpg"))
    if not free:
        sys.exit(f"no MT_Free images under {data}; pass --data")
    # the fit draws from the first half of a fixed order, the test goods from the second,
    # so the choose/confirm halves of the goods never change with --n-fit or --seed
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(free))
    pool, rest = order[: len(free) // 2], order[len(free) // 2 :]
    fit_idx = np.random.default_rng(seed).permutation(pool)[:n_fit]
    fit = [free[i] for i in fit_idx]
    goods = _half([free[i] for i in sorted(rest)], split)[:n_test_good]
    test = [(p, None, "good") for p in goods]
    for kind in TYPES:
        for p in _half(sorted((data / kind / "Imgs").glob("*.jpg")), split):
            test.append((p, p.with_suffix(".png"), kind))
    return fit, test


def read_mask(path, shape) -> np.ndarray:
    if path is None:
        return np.zeros(shape, dtype=bool)
    m = read_image(path, mode="gray").pixels
    return m > 127


def evaluate(model: DefectModel, test, *, stride: int = 2):
    """Score every test image; return per-image rows, metrics overall and per type."""
    rows, masks, maps = [], [], []
    for path, mask_path, kind in test:
        img = read_image(path, mode="gray").pixels
        result = model.detect(img)
        rows.append({"path": str(path), "kind": kind, "score": result["score"], "flagged": result["flagged"]})
        masks.append(read_mask(mask_path, img.shape)[::stride, ::stride])
        maps.append(result["score_map"][::stride, ::stride])
    kinds = np.array([r["kind"] for r in rows])
    scores = np.array([r["score"] for r in rows])
    labels = kinds != "good"
    metrics = {"all": detection_metrics(labels, scores, masks, maps)}
    for kind in TYPES:
        sel = np.nonzero((kinds == "good") | (kinds == kind))[0]
        metrics[kind] = detection_metrics(labels[sel], scores[sel], [masks[i] for i in sel], [maps[i] for i in sel])
    good = kinds == "good"
    flagged = np.array([r["flagged"] for r in rows])
    metrics["threshold"] = {
        "threshold": model.threshold_,
        "good_flagged_rate": float(flagged[good].mean()),
        "defective_flagged_rate": float(flagged[~good].mean()),
        "target_fpr": model.target_fpr,
    }
    return rows, metrics, masks, maps


def print_table(metrics) -> None:
    print(
        f"{'set':<14} {'image AUROC':>11} {'pixel AUROC':>11} {'AUPRO@30%':>10} {'img F1-max':>10} {'pix F1-max':>10}"
    )
    for name in ("all", *TYPES):
        m = metrics[name]
        print(
            f"{name:<14} {m['image_auroc']:>11.3f} {m['pixel_auroc']:>11.3f} {m['aupro']:>10.3f} "
            f"{m['image_f1_max']:>10.3f} {m['pixel_f1_max']:>10.3f}"
        )
    t = metrics["threshold"]
    print(
        f"threshold {t['threshold']:.3f} (target FPR {t['target_fpr']:.0%}): flags {t['good_flagged_rate']:.1%} of "
        f"unseen good images and {t['defective_flagged_rate']:.1%} of defective ones"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n-fit", type=int, default=250, help="MT_Free images given to fit (20%% held out inside)")
    parser.add_argument("--split", choices=("choose", "confirm", "all"), default="all")
    parser.add_argument("--n-test-good", type=int, help="at most this many unseen good tiles in the test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stride", type=int, default=2, help="pixel subsampling for the pixel metrics")
    parser.add_argument("--json", type=Path, help="write metrics and per-image scores here")
    parser.add_argument("--save-model", type=Path, help="write the fitted model here (for the figures)")
    parser.add_argument(
        "--families",
        nargs="+",
        help="feature families to use instead of the default (experiments only; see gmmseg.image.texture)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a DefectModel parameter (experiments only), e.g. --set tail_share=0",
    )
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"MTD data not found at {args.data}; pass --data", file=sys.stderr)
        return 2
    fit_paths, test = load_split(args.data, args.n_fit, args.seed, args.split, args.n_test_good)
    t0 = time.perf_counter()
    kwargs = {"families": tuple(args.families)} if args.families else {}
    for item in args.overrides:
        name, _, value = item.partition("=")
        kwargs[name] = json.loads(value)
    model = DefectModel(random_state=args.seed, **kwargs).fit([read_image(p, mode="gray").pixels for p in fit_paths])
    t_fit = time.perf_counter() - t0
    if args.save_model:
        model.save(args.save_model)
    t0 = time.perf_counter()
    rows, metrics, _, _ = evaluate(model, test, stride=args.stride)
    t_scan = time.perf_counter() - t0
    n_good = sum(r["kind"] == "good" for r in rows)
    print(
        f"MTD: fit on {len(fit_paths)} MT_Free ({model.n_train_images_} fit + {model.n_holdout_images_} held out "
        f"for the threshold) in {t_fit:.1f} s; scanned {len(rows)} test images ({n_good} good) in {t_scan:.1f} s"
    )
    print_table(metrics)
    if args.json:
        args.json.write_text(json.dumps({"metrics": metrics, "model": model.info(), "images": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
