"""Speed of the defect detector, side by side with a naive per-pixel scikit-learn pipeline.

Targets (issues 4 and 11): fit on 400 good images of about 300x300 in at most 60 s; scan at least
20 images/s at 256x256 with ``--workers 2`` (the ``gmmseg defects scan`` code path: read
PNG, score, write heat map and mask PNGs). The naive baseline is the usual recipe: 7x7
grey patches at every pixel -> scikit-learn PCA(16) -> scikit-learn GaussianMixture(8, full)
``score_samples`` per pixel, blurred, max as the image score.

    python scripts/bench_defects.py [--n-fit 400] [--n-scan 60] [--workers 2]

Images are crops of scikit-image's gravel texture with drawn defects (regenerated each run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

# measure the checkout this script sits in, not whichever gmmseg is installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_synthetic_defects import crop, draw_defect, texture, to_uint8

from gmmseg.image.defects import DefectModel


def naive_features(img: np.ndarray, patch: int = 7) -> np.ndarray:
    from numpy.lib.stride_tricks import sliding_window_view

    g = img.astype(np.float32) / 255.0
    pad = patch // 2
    g = np.pad(g, pad, mode="reflect")
    return sliding_window_view(g, (patch, patch)).reshape(-1, patch * patch)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-fit", type=int, default=400)
    parser.add_argument("--fit-size", type=int, default=300)
    parser.add_argument("--n-scan", type=int, default=60)
    parser.add_argument("--scan-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--naive-rows-per-image", type=int, default=500)
    args = parser.parse_args(argv)
    import os

    # The machine may be shared: say how loaded it was, and compare ratios from this one run.
    print("load average (1, 5, 15 min) at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture as SkGMM
    from sklearn.pipeline import make_pipeline
    from threadpoolctl import threadpool_limits

    from gmmseg.image.io import write_png
    from gmmseg.image.scan import scan_images

    rng = np.random.default_rng(0)
    tex = texture("gravel")
    good = [to_uint8(crop(tex, args.fit_size, rng)) for _ in range(args.n_fit)]
    scan = []
    for i in range(args.n_scan):
        img = crop(tex, args.scan_size, rng)
        if i % 2:
            img, _ = draw_defect(img, ("scratch", "spot", "stain")[i % 3], rng)
        scan.append(to_uint8(img))

    print(f"fit: {args.n_fit} good images of {args.fit_size}x{args.fit_size}")
    t0 = time.perf_counter()
    model = DefectModel(random_state=0).fit(good)
    t_fit = time.perf_counter() - t0
    info = model.info()  # only the summary every version of the model gives, so this runs on later models
    print(
        f"  gmmseg DefectModel.fit         {t_fit:7.1f} s  ({info['n_features']} features, scales "
        f"{'+'.join(info['scales'])}, threshold calibration on {info['n_holdout_images']} images)"
    )

    t0 = time.perf_counter()
    X = np.concatenate(
        [naive_features(g)[rng.choice(args.fit_size**2, args.naive_rows_per_image, replace=False)] for g in good]
    )
    naive = make_pipeline(PCA(16, random_state=0), SkGMM(8, covariance_type="full", random_state=0))
    naive.fit(X)
    t_naive_fit = time.perf_counter() - t0
    print(f"  naive sklearn patch pipeline   {t_naive_fit:7.1f} s  ({X.shape[0]} rows x 49 -> PCA 16, K=8)")

    print(f"scan: {args.n_scan} images of {args.scan_size}x{args.scan_size} (in-memory loops: one BLAS thread each)")
    with threadpool_limits(1):
        t0 = time.perf_counter()
        for img in scan:
            model.detect(img)
        t_lib = time.perf_counter() - t0
        t0 = time.perf_counter()
        for img in scan:
            s = -naive.score_samples(naive_features(img)).reshape(img.shape)
            float(ndimage.gaussian_filter(s, 2).max())
        t_naive = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = [write_png(tmp / f"img_{i:03d}.png", img) for i, img in enumerate(scan)]
        model_path = model.save(tmp / "model.gmmseg")
        timings = {}
        for workers in sorted({1, args.workers}):
            t0 = time.perf_counter()
            scan_images(model_path, paths, tmp / f"out{workers}", [p.stem for p in paths], workers=workers)
            timings[workers] = time.perf_counter() - t0
    rate_lib, rate_naive = args.n_scan / t_lib, args.n_scan / t_naive
    print(f"  {'':34} {'images/s':>9} {'ms/image':>9}")
    print(f"  {'gmmseg detect (1 process)':34} {rate_lib:9.1f} {1000 / rate_lib:9.1f}")
    for workers, t in timings.items():
        r = args.n_scan / t
        print(f"  {f'gmmseg scan files, --workers {workers}':34} {r:9.1f} {1000 / r:9.1f}")
    print(f"  {'naive sklearn patch pipeline (1)':34} {rate_naive:9.1f} {1000 / rate_naive:9.1f}")
    print("ratios (gmmseg / naive):")
    print(f"  fit time       {t_fit / t_naive_fit:6.2f}x  (target: fit <= 60 s: {'met' if t_fit <= 60 else 'NOT met'})")
    best = args.n_scan / timings[args.workers]
    print(
        f"  scan speed     {rate_lib / rate_naive:6.2f}x  in one process; --workers {args.workers}: {best:.1f} images/s "
        f"(target >= 20: {'met' if best >= 20 else 'NOT met'})"
    )
    print("load average (1, 5, 15 min) at end:   {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
