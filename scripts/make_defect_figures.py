"""Figures for docs/defects.md: heat maps of hits and misses.

Two jobs:

``broad``: the broad defect families (stain, brightness gradient, worn area, missing corner,
frayed edge; scripts/make_synthetic_defects.py) drawn at every contrast on good parts the
model never saw, scored by a fitted model; writes ``defects_broad_hits_misses.png`` (per
family, the two best-scored and the two worst-scored parts, with the ground truth outlined)
and ``defects_broad_scores.png`` (scores per family and contrast against the good parts and
the threshold), and prints the share found per family and contrast::

    python scripts/make_defect_figures.py broad [--model MODEL] [--source textures|mtd] [--outdir DIR]

The hosts are crops of a scikit-image texture (CC0, the default; ``--model`` must then have
been fitted on good crops of that texture, e.g. ``gmmseg-demo/defects/model.gmmseg``; without
it the script fits the default model on 60 good crops, half held out for the threshold, as the
demo does) or, with ``--source mtd``, good MTD tiles (``../shared/data/mtd/MT_Free``): the
script then fits the default model on a seeded half of them and draws on the other half.
MTD's photos are the dataset's, not the project's (``../shared/data/README.md``: do not copy
them into the project), so figures made from them are for looking at, not for docs/figures:
``--source mtd`` refuses an ``--outdir`` inside docs/.

``mtd-eval``: hits and misses of the real MTD blow holes and cracks, from the outputs of
``scripts/eval_mtd.py --json EVAL.json --save-model MODEL``; writes ``defects_hits.png``,
``defects_misses.png`` and ``defects_scores.png`` for looking at (MTD tiles: never into docs/)::

    python scripts/make_defect_figures.py mtd-eval EVAL.json MODEL [--outdir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_synthetic_defects import CONTRASTS, crop, draw_defect, texture, to_uint8

from gmmseg.image.defects import DefectModel
from gmmseg.image.io import list_images, read_image
from gmmseg.reports.defects import overlay_heatmap
from gmmseg.reports.plots import pyplot, save_figure

ROOT = Path(__file__).resolve().parents[1]
MTD = ROOT / ".." / "shared" / "data" / "mtd"
#: The broad, faint families: what a detector of small, sharp blemishes misses.
BROAD = ("stain", "gradient", "worn", "missing_corner", "frayed_edge")


# ---------------------------------------------------------------------- broad families


def good_hosts(source: str, texture_name: str, n: int, n_good: int, seed: int, model_path: Path | None):
    """``(model, hosts, good)``: a fitted model and good parts it never saw (uint8 arrays)."""
    rng = np.random.default_rng(seed)
    if source == "mtd":
        tiles = [read_image(p, mode="gray").pixels for p in list_images([MTD / "MT_Free" / "Imgs" / "*.jpg"])]
        order = rng.permutation(len(tiles))
        half = len(tiles) // 2
        train = [tiles[i] for i in order[:half]]
        unseen = [tiles[i] for i in order[half:]]
        model = DefectModel(random_state=seed).fit(train)
        return model, unseen[:n], unseen[n : n + n_good]
    tex = texture(texture_name)
    if model_path is not None:
        model = DefectModel.load(model_path)
    else:
        model = DefectModel(holdout=0.5, random_state=seed).fit([to_uint8(crop(tex, 128, rng)) for _ in range(60)])
    parts = [crop(tex, 128, rng) for _ in range(n + n_good)]
    return model, parts[:n], [to_uint8(p) for p in parts[n:]]


def score_broad(model, hosts, good, seed: int):
    """Every broad family at every contrast on the hosts; the good parts; their scores."""
    rng = np.random.default_rng(seed + 1)
    cases = []
    for family in BROAD:
        for contrast in CONTRASTS:
            for host in hosts:
                img, mask = draw_defect(np.asarray(host, dtype=np.float32), family, rng, contrast)
                img = to_uint8(img)
                cases.append({"family": family, "contrast": contrast, "image": img, "mask": mask, **detect(model, img)})
    good_cases = [{"family": "good", "image": g, "mask": None, **detect(model, g)} for g in good]
    return cases, good_cases


def detect(model, img) -> dict:
    res = model.detect(img)
    return {
        "score": float(res["score"]),
        "flagged": bool(res["flagged"]),
        "map": res["score_map"],
        "regions": res["regions"],
    }


def broad_panel(ax, model, case) -> None:
    ax.imshow(overlay_heatmap(case["image"], case["map"], model.pixel_threshold_, case["regions"]))
    if case["mask"] is not None and case["mask"].any():
        ax.contour(case["mask"], [0.5], colors="lime", linewidths=0.8)
    mark = "found" if case["flagged"] else "missed"
    ax.set_title(f"{case['family']}, contrast {case['contrast']}\nscore {case['score']:.1f}: {mark}", fontsize=7)
    ax.axis("off")


def broad_figures(model, cases, good_cases, outdir: Path, where: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(len(BROAD), 4, figsize=(7.2, 2.0 * len(BROAD)), layout="constrained")
    for row, family in zip(axes, BROAD):
        ranked = sorted((c for c in cases if c["family"] == family), key=lambda c: -c["score"])
        for ax, case in zip(row, ranked[:2] + ranked[-2:]):
            broad_panel(ax, model, case)
    fig.suptitle(
        f"Broad defects on {where} the model never saw, per family: the two highest scores (left),\n"
        f"the two lowest (right); threshold {model.threshold_:.2f}; green = drawn defect, boxes = regions",
        fontsize=8,
    )
    save_figure(fig, outdir / "defects_broad_hits_misses.png")

    fig, ax = plt.subplots(figsize=(7.2, 3.4), layout="constrained")
    labels = ["good"]
    data = [[c["score"] for c in good_cases]]
    for family in BROAD:
        for contrast in CONTRASTS:
            labels.append(f"{family}\n{contrast}")
            data.append([c["score"] for c in cases if c["family"] == family and c["contrast"] == contrast])
    for i, values in enumerate(data):
        jitter = np.random.default_rng(i).uniform(-0.2, 0.2, len(values))
        ax.scatter(i + jitter, values, s=8, color="#4477aa" if i == 0 else "#cc3311")
    ax.axhline(model.threshold_, color="black", linestyle="--", linewidth=1, label="threshold")
    ax.set_xticks(range(len(labels)), labels, fontsize=6, rotation=90)
    ax.set_ylabel("image score")
    ax.legend(frameon=False, fontsize=7)
    ax.set_title("Image scores of the broad families by contrast (1 = clearly visible)", fontsize=8)
    save_figure(fig, outdir / "defects_broad_scores.png")


def run_broad(args) -> int:
    outdir = args.outdir.resolve()
    if args.source == "mtd":
        if not MTD.is_dir():
            raise SystemExit(f"{MTD} is absent; use --source textures")
        if args.model is not None:
            raise SystemExit(
                "--source mtd fits its own model on half of MT_Free (so the hosts are unseen); drop --model"
            )
        refuse_docs(outdir)
    model, hosts, good = good_hosts(args.source, args.texture, args.n, args.n_good, args.seed, args.model)
    cases, good_cases = score_broad(model, hosts, good, args.seed)
    outdir.mkdir(parents=True, exist_ok=True)
    where = "good MTD tiles" if args.source == "mtd" else f"{args.texture} crops"
    broad_figures(model, cases, good_cases, outdir, where)
    good_rate = np.mean([c["flagged"] for c in good_cases])
    print(f"good parts flagged: {good_rate:.0%} of {len(good_cases)}; found per family and contrast:")
    print(f"  {'family':<16}" + "".join(f"{c:>8}" for c in CONTRASTS))
    for family in BROAD:
        found = [
            np.mean([c["flagged"] for c in cases if c["family"] == family and c["contrast"] == k]) for k in CONTRASTS
        ]
        print(f"  {family:<16}" + "".join(f"{f:>8.0%}" for f in found))
    print(f"wrote defects_broad_hits_misses.png and defects_broad_scores.png to {outdir}")
    return 0


# ---------------------------------------------------------------------- MTD blow holes and cracks


def tile_panel(ax, model, row) -> None:
    path = Path(row["path"])
    img = read_image(path, mode="gray").pixels
    res = model.detect(img)
    ax.imshow(overlay_heatmap(img, res["score_map"], model.pixel_threshold_, res["regions"]))
    mask_path = path.with_suffix(".png")
    if row["kind"] != "good" and mask_path.exists():
        ax.contour(read_image(mask_path, mode="gray").pixels > 127, [0.5], colors="lime", linewidths=0.8)
    mark = "flagged" if res["flagged"] else "passed"
    ax.set_title(f"{row['kind'].replace('MT_', '')}: {res['score']:.1f} ({mark})", fontsize=8)
    ax.axis("off")


def tile_grid(model, rows, title, path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(2, 4, figsize=(10, 6))
    for ax, row in zip(axes.ravel(), rows):
        tile_panel(ax, model, row)
    for ax in axes.ravel()[len(rows) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def refuse_docs(outdir: Path) -> None:
    """Stop when a figure of MTD tiles would land in docs/: the tiles are the dataset's, not ours."""
    if (ROOT / "docs").resolve() in (outdir.resolve(), *outdir.resolve().parents):
        raise SystemExit(
            "figures of MTD tiles may not be shipped (../shared/data/README.md); pass --outdir outside docs/"
        )


def run_mtd_eval(args) -> int:
    refuse_docs(args.outdir)
    data = json.loads(args.eval_json.read_text())
    model = DefectModel.load(args.model)
    rows = data["images"]
    good = sorted((r for r in rows if r["kind"] == "good"), key=lambda r: r["score"])
    bad = sorted((r for r in rows if r["kind"] != "good"), key=lambda r: r["score"])
    holes = [r for r in bad if r["kind"] == "MT_Blowhole"]
    cracks = [r for r in bad if r["kind"] == "MT_Crack"]
    args.outdir.mkdir(parents=True, exist_ok=True)
    tile_grid(
        model,
        holes[-3:] + cracks[-3:] + good[:2],
        "Hits: highest-scored defective tiles and lowest-scored good tiles (green = ground truth, boxes = regions)",
        args.outdir / "defects_hits.png",
    )
    tile_grid(
        model,
        holes[:3] + cracks[:3] + good[-2:],
        "Misses: lowest-scored defective tiles and highest-scored good tiles",
        args.outdir / "defects_misses.png",
    )
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    bins = np.histogram_bin_edges([r["score"] for r in rows], bins=40)
    for name, sel, colour in (("good", good, "#4477aa"), ("blow hole", holes, "#cc3311"), ("crack", cracks, "#ee7733")):
        ax.hist([r["score"] for r in sel], bins=bins, alpha=0.6, label=name, color=colour)
    ax.axvline(model.threshold_, color="black", linestyle="--", label="threshold (1% FPR)")
    ax.set_xlabel("image score")
    ax.set_ylabel("tiles")
    ax.legend(frameon=False)
    save_figure(fig, args.outdir / "defects_scores.png")
    print(f"wrote figures to {args.outdir}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    jobs = parser.add_subparsers(dest="job", required=True)
    broad = jobs.add_parser("broad", help="hits and misses of the broad synthetic families")
    broad.add_argument("--model", type=Path, help="a model fitted on good crops of --texture (default: fit one)")
    broad.add_argument("--source", choices=("textures", "mtd"), default="textures")
    broad.add_argument("--texture", default="gravel", help="brick, grass or gravel")
    broad.add_argument("-n", type=int, default=6, help="parts per family and contrast")
    broad.add_argument("--n-good", type=int, default=30, help="unseen good parts, for the false-alarm rate")
    broad.add_argument("--seed", type=int, default=0)
    broad.add_argument("--outdir", type=Path, default=ROOT / "docs" / "figures")
    tiles = jobs.add_parser("mtd-eval", help="hits and misses of MTD's blow holes and cracks (eval_mtd.py outputs)")
    tiles.add_argument("eval_json", type=Path)
    tiles.add_argument("model", type=Path)
    tiles.add_argument(
        "--outdir", type=Path, default=Path("mtd-figures"), help="outside docs/ (default: ./mtd-figures)"
    )
    args = parser.parse_args(argv)
    return run_broad(args) if args.job == "broad" else run_mtd_eval(args)


if __name__ == "__main__":
    raise SystemExit(main())
