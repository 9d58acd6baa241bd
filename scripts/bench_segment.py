"""Benchmark of photo segmentation (issue 3), side by side in one run. Not a test.

Run from the project folder::

    python scripts/bench_segment.py            # about 3-6 minutes on two cores
    python scripts/bench_segment.py --quick    # caps scikit-learn at 10 EM iterations
    python scripts/bench_segment.py --parts BC # only the 12 MP command-line runs

What it measures (the issue's targets in brackets):

A. A 1 MP photo, K=4, full covariances: ``segment_image`` against scikit-learn's
   ``GaussianMixture`` fitted on all pixels (same Lab features, same ``reg_covar``,
   ``tol`` and ``max_iter``): speed ratio [>= 100x] and mean log-likelihood per
   pixel, both models evaluated on every pixel [gmmseg >= scikit-learn - 1e-3].
B. A 12 MP photo through the whole CLI, with its defaults (``-k auto``) and with ``-k 4``
   (a fresh ``python`` process: read, blur, fit, regions, write every output) against the
   I/O floor: a fresh ``python`` process in which Pillow alone decodes the same JPEG and
   encodes the four PNGs the CLI writes (the photo as RGB twice, as 8-bit and as 16-bit
   gray, at the same zlib level) [<= 3x]; peak memory of the CLI process (``ru_maxrss``)
   [<= 1.5 GB]. Beside them, the color labels alone of ``-k 4`` (``--blur 0
   --min-region-size 0 --merge-threshold 0``) show what the regions cost. The runs
   alternate (floor, auto, -k 4, labels) so that the load of a shared machine hits them
   alike; the CPU time of each process is printed too.
C. ``-k auto`` (ICL over K = 2..10) against the single-K run ``-k 4`` [<= 4x].
D. Smoothing on synthetic truth (4 painted regions + Gaussian RGB noise, sigma 30
   and 60): adjusted Rand index of the plain mixture and of the smoothed one
   [>= 0.93 plain at 30; >= 0.99 and >= 0.80 smoothed], time per megapixel, and the
   12 MP photo with ``--smooth`` through the CLI (time, peak memory).

The test photos are made here (no download): ``sample_images/coffee.jpg`` upscaled
(bicubic) with Gaussian noise (sigma 3) to 1 MP and 12 MP.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "image"))
from synthetic import painted_regions

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_images" / "coffee.jpg"
#: Runs the CLI in a fresh interpreter (and registers the command if the group does not import it yet).
LAUNCH = "import sys, gmmseg.cli.segment; from gmmseg.cli import main; main(sys.argv[1:])"
#: Runs a command and prints its wall time, peak resident memory and CPU time (only that
#: child's, via RUSAGE_CHILDREN).
MEASURE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "rc = subprocess.run(sys.argv[1:]).returncode; wall = time.perf_counter() - t; "
    "u = resource.getrusage(resource.RUSAGE_CHILDREN); print(rc, wall, u.ru_maxrss, u.ru_utime + u.ru_stime)"
)


def make_photo(megapixels: float, seed: int = 0) -> np.ndarray:
    """The coffee sample upscaled to about ``megapixels`` with Gaussian noise (sigma 3)."""
    with Image.open(SAMPLE) as im:
        src = im.convert("RGB")
    ratio = src.width / src.height
    h = int(round(np.sqrt(megapixels * 1e6 / ratio)))
    w = int(round(h * ratio))
    big = np.asarray(src.resize((w, h), Image.BICUBIC), dtype=np.float32)
    rng = np.random.default_rng(seed)
    for start in range(0, h, 512):  # bounded temporaries
        big[start : start + 512] += rng.normal(0, 3, big[start : start + 512].shape).astype(np.float32)
    return np.clip(np.round(big), 0, 255).astype(np.uint8)


def measured(cmd: list[str]) -> tuple[int, float, float, float]:
    """(return code, wall seconds, peak RSS in MB, CPU seconds) of ``cmd`` run in a fresh process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, check=True)
    rc, wall, rss, cpu = out.stdout.strip().splitlines()[-1].split()
    return int(rc), float(wall), float(rss) / 1024.0, float(cpu)


def floor_command(photo: Path, outdir: Path, level: int) -> list[str]:
    """Pillow decodes the photo and encodes the four PNGs of the CLI's formats (RGB, RGB, L, I;16)."""
    code = (
        "import io, sys\n"
        "import numpy as np\n"
        "from PIL import Image\n"
        "im = Image.open(sys.argv[1]); im.load()\n"
        "gray = im.convert('L')\n"
        "wide = Image.fromarray(np.asarray(gray, dtype=np.uint16) * 257)\n"
        "for i, out in enumerate((im, im, gray, wide)):\n"
        "    buf = io.BytesIO(); out.save(buf, format='PNG', compress_level=int(sys.argv[3]))\n"
        "    open(f'{sys.argv[2]}/floor{i}.png', 'wb').write(buf.getvalue())\n"
    )
    return [sys.executable, "-c", code, str(photo), str(outdir), str(level)]


def cli_command(photo: Path, outdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", LAUNCH, "segment", str(photo), "-o", str(outdir), "--quiet", *args]


def best_of_alternating(n: int, commands: dict[str, list[str]]) -> dict[str, tuple[int, float, float, float]]:
    """The best (by wall time) of ``n`` rounds of every command, run one after the other in each round."""
    runs: dict[str, list] = {name: [] for name in commands}
    for _ in range(n):
        for name, cmd in commands.items():
            runs[name].append(measured(cmd))
    return {name: min(results, key=lambda r: r[1]) for name, results in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="Folder for the test photos and outputs.")
    parser.add_argument(
        "--quick", action="store_true", help="Cap scikit-learn at 10 EM iterations (compare per iteration)."
    )
    parser.add_argument("--repeat", type=int, default=2, help="Runs per CLI timing (the best is kept).")
    parser.add_argument("--parts", default="ABCD", help="Which parts to run (letters of A, B, C, D; C needs B).")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import sklearn
    from sklearn.metrics import adjusted_rand_score
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from gmmseg import __version__, segment_image
    from gmmseg.image.features import color_features
    from gmmseg.image.io import PNG_COMPRESS_LEVEL
    from gmmseg.image.segment import REG_COVAR

    work = args.workdir or Path(tempfile.mkdtemp(prefix="gmmseg-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str, str]] = []

    def report(name, value, target, ok):
        rows.append((name, value, target, "yes" if ok else ("NO" if ok is not None else "-")))
        print(f"  {name:<58} {value:<34} {target:<16} {rows[-1][3]}", flush=True)

    print(f"gmmseg {__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}, {os.cpu_count()} cores")
    print(f"work folder: {work}\n")

    # ------------------------------------------------------------------ A. 1 MP vs scikit-learn
    if "A" in args.parts:
        print("A. 1 MP photo, K=4, full: gmmseg vs scikit-learn GaussianMixture on all pixels", flush=True)
        photo1 = make_photo(1.0)
        h, w = photo1.shape[:2]
        times = []
        for _ in range(3):
            t = time.perf_counter()
            seg = segment_image(photo1, 4, random_state=0)
            times.append(time.perf_counter() - t)
        gm_seconds = min(times)
        X = color_features(photo1.reshape(-1, 3), "lab")
        sk_iter = 10 if args.quick else 100
        sk = SkGaussianMixture(
            4, covariance_type="full", reg_covar=REG_COVAR, tol=1e-3, max_iter=sk_iter, random_state=0
        )
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk.fit(X)
        sk_seconds = time.perf_counter() - t
        gm_ll = float(seg.model.score(X))
        sk_ll = float(sk.score(X))
        print(f"  {w}x{h} = {h * w / 1e6:.2f} MP, {seg.n_colors:,} distinct colours")
        print(
            f"  gmmseg: {gm_seconds:.3f} s (best of 3; fit {seg.timings['fit']:.3f} s, {seg.settings['n_iter']} EM iterations)"
        )
        print(f"  scikit-learn: {sk_seconds:.2f} s ({sk.n_iter_} EM iterations, converged={sk.converged_})")
        ratio = sk_seconds / gm_seconds
        if args.quick or not sk.converged_:
            per_it = (sk_seconds / sk.n_iter_) / (gm_seconds / max(seg.settings["n_iter"], 1))
            report(
                "A. speed-up vs scikit-learn (capped: per EM iteration)",
                f"{per_it:.0f}x per iteration",
                ">= 100x",
                None,
            )
        report(
            "A. speed-up vs scikit-learn, whole fit (1 MP, K=4 full)",
            f"{ratio:.0f}x ({sk_seconds:.1f} s / {gm_seconds:.2f} s)",
            ">= 100x",
            ratio >= 100,
        )
        report(
            "A. mean log-likelihood per pixel, gmmseg - scikit-learn",
            f"{gm_ll - sk_ll:+.4f} ({gm_ll:.4f} vs {sk_ll:.4f})",
            ">= -0.001",
            gm_ll >= sk_ll - 1e-3,
        )
        del X

    # ------------------------------------------------------------------ B/C. 12 MP through the CLI
    photo12 = work / "photo12.jpg"
    out_dir = work / "out"
    if "B" in args.parts or "D" in args.parts:
        if not photo12.exists():
            Image.fromarray(make_photo(12.0, seed=1)).save(photo12, quality=92)
        with Image.open(photo12) as im:
            print(f"\n12 MP photo {photo12.name}: {im.width}x{im.height} = {im.width * im.height / 1e6:.1f} MP, JPEG")
    if "B" in args.parts:
        print("B/C. 12 MP photo through the CLI (fresh processes) vs the Pillow I/O floor", flush=True)
        floor_dir = work / "floor"
        floor_dir.mkdir(exist_ok=True)
        runs = best_of_alternating(
            args.repeat,
            {
                "floor": floor_command(photo12, floor_dir, PNG_COMPRESS_LEVEL),
                "auto": cli_command(photo12, out_dir / "auto", "-k", "auto"),
                "k4": cli_command(photo12, out_dir / "k4", "-k", "4"),
                "labels": cli_command(
                    photo12,
                    out_dir / "labels",
                    "-k",
                    "4",
                    "--blur",
                    "0",
                    "--min-region-size",
                    "0",
                    "--merge-threshold",
                    "0",
                ),
            },
        )
        runs["startup"] = measured([sys.executable, "-c", "import gmmseg.cli.segment"])
        for name, (rc, *_) in runs.items():
            if rc != 0:
                raise SystemExit(f"the {name} run failed with exit code {rc}")
        floor, auto, k4, labels = (runs[name] for name in ("floor", "auto", "k4", "labels"))
        summaries = {name: json.loads((out_dir / name / "photo12.json").read_text()) for name in ("auto", "k4")}
        print(
            f"  I/O floor (Pillow decode + 4 PNG encodes, zlib level {PNG_COMPRESS_LEVEL}): "
            f"{floor[1]:.2f} s wall, {floor[3]:.2f} s CPU; Python + imports {runs['startup'][1]:.2f} s"
        )
        for name, (_, wall, _, cpu) in (("auto", auto), ("k4", k4)):
            summary = summaries[name]
            print(
                f"  CLI -k {name.lstrip('k')}: {wall:.2f} s wall, {cpu:.2f} s CPU, K={summary['n_segments']}, "
                f"{summary['n_colors']:,} colors after the blur, {summary['n_regions']:,} regions; in-process: "
                + ", ".join(f"{k} {v:.2f}" for k, v in summary["timings"].items())
            )
        print(f"  CLI color labels alone: {labels[1]:.2f} s wall, {labels[3]:.2f} s CPU")
        for name, run in (("-k auto (the default)", auto), ("-k 4", k4)):
            report(
                f"B. 12 MP CLI {name}, regions / I/O floor",
                f"{run[1] / floor[1]:.2f}x ({run[1]:.2f} s / {floor[1]:.2f} s; CPU {run[3] / floor[3]:.2f}x)",
                "<= 3x",
                run[1] <= 3 * floor[1],
            )
            report(f"B. 12 MP CLI {name} peak memory", f"{run[2]:.0f} MB", "<= 1500 MB", run[2] <= 1500)
        report(
            "B. 12 MP CLI color labels alone (-k 4) / I/O floor",
            f"{labels[1] / floor[1]:.2f}x ({labels[1]:.2f} s; {labels[2]:.0f} MB)",
            "-",
            None,
        )
        report(
            "C. 12 MP CLI -k auto (ICL, K 2..10) / -k 4",
            f"{auto[1] / k4[1]:.2f}x ({auto[1]:.2f} s; CPU {auto[3] / k4[3]:.2f}x)",
            "<= 4x",
            auto[1] <= 4 * k4[1],
        )

    # ------------------------------------------------------------------ D. smoothing on synthetic truth
    if "D" in args.parts:
        print("\nD. smoothing (Potts MRF, mean-field, beta 1.5) on 4 painted regions + RGB noise", flush=True)
        for sigma, target_plain, target_smooth in ((30, 0.93, 0.99), (60, None, 0.80)):
            image, truth = painted_regions(sigma, 128, seed=0 if sigma == 30 else 1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plain = segment_image(image, 4, random_state=0)
                smoothed = segment_image(image, 4, random_state=0, smoothing=1.5)
            a_plain = adjusted_rand_score(truth.ravel(), plain.labels.ravel())
            a_smooth = adjusted_rand_score(truth.ravel(), smoothed.labels.ravel())
            report(
                f"D. ARI plain, sigma {sigma} (128x128)",
                f"{a_plain:.3f}",
                f">= {target_plain}" if target_plain else "-",
                a_plain >= target_plain if target_plain else None,
            )
            report(
                f"D. ARI smoothed, sigma {sigma} (128x128)",
                f"{a_smooth:.3f}",
                f">= {target_smooth}",
                a_smooth >= target_smooth,
            )
        for sigma in (30, 60):
            image, truth = painted_regions(sigma, 1000, seed=2)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plain = segment_image(image, 4, random_state=0)
                t = time.perf_counter()
                smoothed = segment_image(image, 4, random_state=0, smoothing=1.5)
                seconds = time.perf_counter() - t
            a_plain = adjusted_rand_score(truth.ravel(), plain.labels.ravel())
            a_smooth = adjusted_rand_score(truth.ravel(), smoothed.labels.ravel())
            report(
                f"D. 1 MP synthetic, sigma {sigma}: smoothing s/MP; ARI plain -> smoothed",
                f"{smoothed.timings['smoothing']:.2f} s/MP ({seconds:.2f} s total); {a_plain:.3f} -> {a_smooth:.3f}",
                "-",
                None,
            )
        smooth = measured(cli_command(photo12, out_dir / "smooth", "--smooth", "1.5"))
        smooth_json = json.loads((out_dir / "smooth" / "photo12.json").read_text())
        report("D. 12 MP CLI --smooth 1.5 time / peak memory", f"{smooth[1]:.1f} s / {smooth[2]:.0f} MB", "-", None)
        mp12 = smooth_json["shape"][0] * smooth_json["shape"][1] / 1e6
        report(
            "D. 12 MP photo: smoothing time per MP",
            f"{smooth_json['timings']['smoothing'] / mp12:.2f} s/MP",
            "-",
            None,
        )

    print("\n| measure | value | target | met |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
