"""Figures for docs/defects.md: heat maps of hits and misses on the real MTD tiles.

Needs the outputs of ``scripts/eval_mtd.py --json EVAL.json --save-model MODEL``:

    python scripts/make_defect_figures.py EVAL.json MODEL [--outdir docs/figures]

writes ``defects_hits.png`` (the defective tiles with the highest scores and the good
tiles with the lowest), ``defects_misses.png`` (defective tiles scored lowest and good
tiles scored highest) and ``defects_scores.png`` (score histograms with the threshold).
Each tile is shown with its ground-truth outline (green) over the heat-map overlay.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from gmmseg.image.defects import DefectModel
from gmmseg.image.io import read_image
from gmmseg.reports.defects import overlay_heatmap
from gmmseg.reports.plots import pyplot, save_figure

ROOT = Path(__file__).resolve().parents[1]


def panel(ax, model, row):
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


def grid(model, rows, title, path):
    plt = pyplot()
    fig, axes = plt.subplots(2, 4, figsize=(10, 6))
    for ax, row in zip(axes.ravel(), rows):
        panel(ax, model, row)
    for ax in axes.ravel()[len(rows) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_json", type=Path)
    parser.add_argument("model", type=Path)
    parser.add_argument("--outdir", type=Path, default=ROOT / "docs" / "figures")
    args = parser.parse_args(argv)
    data = json.loads(args.eval_json.read_text())
    model = DefectModel.load(args.model)
    rows = data["images"]
    good = sorted((r for r in rows if r["kind"] == "good"), key=lambda r: r["score"])
    bad = sorted((r for r in rows if r["kind"] != "good"), key=lambda r: r["score"])
    holes = [r for r in bad if r["kind"] == "MT_Blowhole"]
    cracks = [r for r in bad if r["kind"] == "MT_Crack"]
    args.outdir.mkdir(parents=True, exist_ok=True)
    hits = holes[-3:] + cracks[-3:] + good[:2]
    grid(
        model,
        hits,
        "Hits: highest-scored defective tiles and lowest-scored good tiles (green = ground truth, boxes = regions)",
        args.outdir / "defects_hits.png",
    )
    misses = holes[:3] + cracks[:3] + good[-2:]
    grid(
        model,
        misses,
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


if __name__ == "__main__":
    raise SystemExit(main())
