"""Region benchmark on BSDS500 (issue 12): gmmseg and its peers side by side in one run.

Every photo is resized to a longest side of 320 px (Lanczos; its human segmentations by
nearest neighbour), segmented by every method in turn, and scored against all its human
segmentations with :mod:`gmmseg.image.region_metrics` (PRI, VI in bits, covering; each
the mean over the humans). The table gives the mean over the photos and the wall-clock
seconds per photo of each method (the same photos, interleaved, so a busy machine slows
all methods alike).

    python scripts/eval_bsds.py --split train --limit 50 --methods felzenszwalb,gmmseg-k4
    python scripts/eval_bsds.py --split val --json /tmp/val.json

``gmmseg-auto`` is the default ``gmmseg segment`` (``-k auto``: ICL over K 2..10,
:mod:`gmmseg.image.auto_k`; the color pieces cut along the edges of
:mod:`gmmseg.image.region_edges`, then the mean-Lab merge at 9 and the boundary-contrast merge
at 3 of :mod:`gmmseg.image.region_merge`); ``gmmseg-regions`` is ``-k 4`` (mean-Lab merge at 12). ``--plugin FILE.py`` adds the methods of a module's ``METHODS`` dict (name -> function of an
(H, W, 3) uint8 image returning an (H, W) integer label map), for region variants under
development (issue 12's were measured with ``--plugin /work/scratch/r12/regions.py
--methods gmmseg-regions,felzenszwalb``). The data live in ../shared/data/bsds (``--data`` to change); without them the
script says so and exits with status 0. The photos are for research use only: nothing
derived from them is written into the project.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

# One thread per method for every library (BLAS, OpenMP): the timings compare algorithms, not
# thread pools, and the benchmark machine is shared.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmmseg.image.region_metrics import region_scores  # noqa: E402

LONGEST_SIDE = 320
DEFAULT_DATA = ROOT.parent.parent / "shared" / "data" / "bsds"
if not DEFAULT_DATA.is_dir():
    DEFAULT_DATA = Path("/work/shared/data/bsds")


# ---------------------------------------------------------------------------- data


def load_photo(image_path: Path, truth_path: Path, longest: int = LONGEST_SIDE):
    """(H, W, 3) uint8 photo and (n_humans, H, W) human segmentations at ``longest`` px."""
    from PIL import Image

    with Image.open(image_path) as im:
        im = im.convert("RGB")
        w, h = im.size
        scale = longest / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        photo = np.asarray(im.resize(size, Image.Resampling.LANCZOS))
    segs = np.load(truth_path)["segmentations"]
    rows = np.minimum((np.arange(size[1]) + 0.5) * segs.shape[1] / size[1], segs.shape[1] - 1).astype(int)
    cols = np.minimum((np.arange(size[0]) + 0.5) * segs.shape[2] / size[0], segs.shape[2] - 1).astype(int)
    truths = segs[:, rows[:, None], cols[None, :]]
    return photo, truths


def photo_ids(folder: Path) -> list[str]:
    jpgs = (folder / "images").glob("*.jpg")
    return sorted(p.stem for p in jpgs if (folder / "groundtruth" / f"{p.stem}.npz").exists())


# ---------------------------------------------------------------------------- methods


def _lab_pixels(image):
    from skimage.color import rgb2lab

    return rgb2lab(image).reshape(-1, 3)


def gmmseg_method(k=4, **options):
    def run(image):
        from gmmseg import segment_image

        return segment_image(image, k, random_state=0, **options).labels

    return run


def gmmseg_regions(k=4, **options):
    """The regions ``gmmseg segment -k K`` writes (blur 1, min size 50, its default merge thresholds)."""

    def run(image):
        from gmmseg import segment_image

        return segment_image(image, k, random_state=0, blur=1.0, **options).regions

    return run


def felzenszwalb(image):
    from skimage.segmentation import felzenszwalb as fh

    return fh(image, scale=500, sigma=0.5, min_size=20)


def slic(image):
    from skimage.segmentation import slic as sl

    return sl(image)


def quickshift(image):
    from skimage.segmentation import quickshift as qs

    return qs(image)


def kmeans_lab(image):
    from sklearn.cluster import KMeans

    X = _lab_pixels(image)
    return KMeans(n_clusters=4, random_state=0).fit_predict(X).reshape(image.shape[:2])


def sklearn_gmm_lab(image):
    from sklearn.mixture import GaussianMixture

    X = _lab_pixels(image)
    return GaussianMixture(4, random_state=0).fit_predict(X).reshape(image.shape[:2])


METHODS = {
    "gmmseg-k4": gmmseg_method(4),
    "gmmseg-k4-smooth1": gmmseg_method(4, smoothing=1.0),
    "gmmseg-regions": gmmseg_regions(4),
    "gmmseg-auto": gmmseg_regions("auto"),
    "felzenszwalb": felzenszwalb,
    "slic": slic,
    "quickshift": quickshift,
    "kmeans-lab-k4": kmeans_lab,
    "sklearn-gmm-lab-k4": sklearn_gmm_lab,
}


def load_plugin(path: str) -> dict:
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return dict(module.METHODS)


# ---------------------------------------------------------------------------- run


def evaluate(folder: Path, methods: dict, limit: int | None = None, progress=True, checkpoint=None, skip: int = 0):
    """Per-method lists of per-photo rows {id, pri, vi, covering, seconds, n_regions}.

    ``checkpoint`` (a path) receives the rows so far as JSON after every photo.
    """
    ids = photo_ids(folder)[skip:]
    ids = ids[:limit] if limit else ids
    rows = {name: [] for name in methods}
    for i, pid in enumerate(ids):
        photo, truths = load_photo(folder / "images" / f"{pid}.jpg", folder / "groundtruth" / f"{pid}.npz")
        for name, fn in methods.items():
            start = time.perf_counter()
            labels = np.asarray(fn(photo))
            seconds = time.perf_counter() - start
            scores = region_scores(labels, truths)
            rows[name].append({"id": pid, **scores, "seconds": seconds, "n_regions": int(np.unique(labels).size)})
        if checkpoint:
            Path(checkpoint).write_text(json.dumps(rows))
        if progress:
            print(f"\r{i + 1}/{len(ids)} photos", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return rows


def paired_difference(rows: list, reference: list) -> str:
    """Mean per-photo PRI difference to the reference method, with its standard error."""
    d = np.array([r["pri"] - q["pri"] for r, q in zip(rows, reference)])
    if d.size < 2:
        return ""
    return f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(d.size):.4f}"


def table(rows: dict, title: str, reference: str = "felzenszwalb") -> str:
    """Markdown table of the mean scores; ΔPRI is paired with ``reference`` when it ran."""
    lines = [
        f"### {title}",
        "",
        f"| method | PRI | VI (bits) | covering | s/photo | time vs {reference} | regions | ΔPRI vs {reference} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ref = rows.get(reference) or []
    ref_seconds = float(np.mean([r["seconds"] for r in ref])) if ref else float("nan")
    for name, rs in rows.items():
        if not rs:
            continue
        mean = {k: float(np.mean([r[k] for r in rs])) for k in ("pri", "vi", "covering", "seconds", "n_regions")}
        delta = paired_difference(rs, ref) if ref and name != reference else ""
        lines.append(
            f"| {name} | {mean['pri']:.4f} | {mean['vi']:.3f} | {mean['covering']:.4f} | {mean['seconds']:.3f} "
            f"| {mean['seconds'] / ref_seconds:.2f}x | {mean['n_regions']:.0f} | {delta} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("train", "val"), default="train")
    parser.add_argument("--limit", type=int, default=None, help="first N photos (sorted by id, after --skip)")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first N photos (to split a run)")
    parser.add_argument("--methods", default=None, help="comma-separated method names (default: all)")
    parser.add_argument("--plugin", action="append", default=[], help="FILE.py with a METHODS dict to add")
    parser.add_argument("--data", default=os.environ.get("GMMSEG_BSDS", str(DEFAULT_DATA)))
    parser.add_argument("--json", default=None, help="write the per-photo rows here (updated after every photo)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    folder = Path(args.data) / args.split
    if not (folder / "images").is_dir():
        print(f"BSDS {args.split} photos not found in {folder}: nothing to evaluate (see ../shared/data/README.md)")
        return 0
    methods = dict(METHODS)
    for plugin in args.plugin:
        methods.update(load_plugin(plugin))
    if args.methods:
        names = [n.strip() for n in args.methods.split(",") if n.strip()]
        unknown = [n for n in names if n not in methods]
        if unknown:
            parser.error(f"unknown methods {', '.join(unknown)}; choose from {', '.join(methods)}")
        methods = {n: methods[n] for n in names}
    rows = evaluate(folder, methods, args.limit, progress=not args.quiet, checkpoint=args.json, skip=args.skip)
    n = len(next(iter(rows.values()))) if rows else 0
    print(table(rows, f"BSDS500 {args.split}, {n} photos, longest side {LONGEST_SIDE} px"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
