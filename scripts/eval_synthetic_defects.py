"""Measure DefectModel on the regenerable synthetic benchmark: every defect family, on textures and tiles.

Hosts: scikit-image's brick, grass and gravel textures (fit on 40 good 128x128 crops, test on
20 other good crops) and good MTD tiles (``MT_Free``; fit on ``--n-fit-tiles`` tiles, test on
20 other good tiles, defects pasted onto yet other tiles the model never saw). Every host gets
each family of :data:`make_synthetic_defects.FAMILIES` at each contrast of
:data:`make_synthetic_defects.CONTRASTS`, twice; the script prints image AUROC, pixel AUROC
and AUPRO (FPR <= 30%) per host and family. The synthetic families are a check set of their
own: no setting is chosen on them.

    python scripts/eval_synthetic_defects.py [--seed 0] [--hosts brick grass gravel mtd] [--set NAME=VALUE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# measure the checkout this script sits in, not whichever gmmseg is installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from make_synthetic_defects import CONTRASTS, FAMILIES, TEXTURES, make_set, paste_set

from gmmseg.image.defects import DefectModel
from gmmseg.image.metrics import detection_metrics

MTD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mtd"
N_BAD = 2 * len(FAMILIES) * len(CONTRASTS)
N_TEST_GOOD = 20


def host_images(host: str, seed: int, n_fit_tiles: int):
    """``(fit, test_good, bad, masks, kinds)`` for one host."""
    if host in TEXTURES:
        good, bad, masks, kinds = make_set(host, 40 + N_TEST_GOOD, N_BAD, 128, seed, FAMILIES, CONTRASTS)
        return good[:40], good[40:], bad, masks, kinds
    from gmmseg.image.io import read_image

    free = sorted((MTD / "MT_Free" / "Imgs").glob("*.jpg"))
    if not free:
        sys.exit(f"no MT_Free tiles under {MTD}; run with --hosts {' '.join(TEXTURES)}")
    order = np.random.default_rng(seed + 1000).permutation(len(free))
    tiles = [read_image(free[i], mode="gray").pixels for i in order[: n_fit_tiles + N_TEST_GOOD + N_BAD]]
    fit, test_good, hosts = tiles[:n_fit_tiles], tiles[n_fit_tiles : n_fit_tiles + N_TEST_GOOD], tiles[-N_BAD:]
    bad, masks, kinds = paste_set(hosts, N_BAD, seed, FAMILIES, CONTRASTS)
    return fit, test_good, bad, masks, kinds


def evaluate(host: str, seed: int, params: dict, n_fit_tiles: int) -> dict[str, dict[str, float]]:
    fit, test_good, bad, masks, kinds = host_images(host, seed, n_fit_tiles)
    model = DefectModel(random_state=seed, **params).fit(fit)
    test = test_good + bad
    truth = [np.zeros(g.shape, bool) for g in test_good] + list(masks)
    results = [model.detect(img) for img in test]
    scores = np.array([r["score"] for r in results])
    maps = [r["score_map"] for r in results]
    labels = np.array([False] * len(test_good) + [True] * len(bad))
    kind_of = np.array(["good"] * len(test_good) + list(kinds))
    out = {"all": detection_metrics(labels, scores, truth, maps)}
    for kind in FAMILIES:
        sel = np.flatnonzero((kind_of == "good") | (kind_of == kind))
        out[kind] = detection_metrics(labels[sel], scores[sel], [truth[i] for i in sel], [maps[i] for i in sel])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hosts", nargs="+", default=[*TEXTURES, "mtd"], choices=[*TEXTURES, "mtd"])
    parser.add_argument("--n-fit-tiles", type=int, default=100, help="good MTD tiles given to fit")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--json", type=Path, help="write the metrics here")
    args = parser.parse_args(argv)
    params = {}
    for item in args.overrides:
        name, _, value = item.partition("=")
        params[name] = json.loads(value)
    print(f"{'host':<8} {'family':<15} {'image AUROC':>11} {'pixel AUROC':>11} {'AUPRO@30%':>10}")
    everything = {}
    for host in args.hosts:
        everything[host] = evaluate(host, args.seed, params, args.n_fit_tiles)
        for family, m in everything[host].items():
            print(
                f"{host:<8} {family:<15} {m['image_auroc']:>11.3f} {m['pixel_auroc']:>11.3f} {m['aupro']:>10.3f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
