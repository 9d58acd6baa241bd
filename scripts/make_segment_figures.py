"""Make the before/after figures of ``docs/segment.md`` from ``sample_images/``.

Run ``python scripts/make_segment_figures.py`` from the project folder. Writes
``docs/figures/segment_*.png`` (atomically, same bytes for the same inputs and
library versions) and prints the figures' numbers used in the text.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "image"))
import synthetic

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_images"
FIGURES = ROOT / "docs" / "figures"


#: The options `gmmseg segment` sets beyond ``segment_image``'s defaults.
CLI_DEFAULTS = {"blur": 1.0}


def region_means(seg) -> np.ndarray:
    """Every pixel painted with its region's mean color, shape (H, W, 3), uint8."""
    palette = np.zeros((seg.n_regions + 1, 3))
    for row in seg.region_table:
        palette[row["region"]] = row["mean_rgb"]
    return np.clip(np.round(palette), 0, 255).astype(np.uint8)[seg.regions]


def painted_regions(sigma: float, size: int = 160, seed: int = 1):
    """The synthetic four-region image of the benchmarks, at the figure's size and seed."""
    return synthetic.painted_regions(sigma, size, seed)


def panels(images, titles, path, suptitle=None):
    from gmmseg.reports.plots import pyplot, save_figure

    plt = pyplot()
    h, w = images[0].shape[:2]
    fig, axes = plt.subplots(1, len(images), figsize=(3.4 * len(images), 3.4 * h / w + 0.5))
    for ax, image, title in zip(np.atleast_1d(axes), images, titles):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    path.chmod(0o644)  # the atomic writer's temporary file is private (0600)
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from sklearn.metrics import adjusted_rand_score

    from gmmseg import read_image, segment_image
    from gmmseg.reports.plots import plot_criterion

    FIGURES.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")

    # 1. coffee: what `gmmseg segment coffee.jpg` gives (K chosen by ICL, blur 1, regions)
    coffee = read_image(SAMPLES / "coffee.jpg").pixels
    seg = segment_image(coffee, random_state=0, **CLI_DEFAULTS)
    panels(
        [coffee, seg.segmented_image(), region_means(seg), seg.overlay_image()],
        [
            "coffee.jpg",
            f"{seg.n_segments} color segments (K by ICL)",
            f"{seg.n_regions} regions (mean colors)",
            "region boundaries",
        ],
        FIGURES / "segment_coffee.png",
        suptitle="gmmseg segment coffee.jpg (the defaults: -k auto, blur 1, regions)",
    )
    print(f"  coffee: {seg.n_colors:,} distinct colors after the blur, K={seg.n_segments}, {seg.n_regions} regions")
    plot_criterion(
        seg.selection,
        FIGURES / "segment_coffee_criterion.png",
        title="ICL of coffee.jpg (full covariances, Lab, binned colors)",
    )
    (FIGURES / "segment_coffee_criterion.png").chmod(0o644)

    # 2. chelsea: K=3 without and with smoothing
    cat = read_image(SAMPLES / "chelsea.jpg").pixels
    plain = segment_image(cat, 3, random_state=0, **CLI_DEFAULTS)
    smooth = segment_image(cat, 3, random_state=0, smoothing=1.5, **CLI_DEFAULTS)
    changed = float(np.mean(plain.labels != smooth.labels))
    panels(
        [cat, plain.segmented_image(), smooth.segmented_image(), smooth.overlay_image()],
        [
            "chelsea.jpg",
            f"K=3, no smoothing ({plain.n_regions} regions)",
            f"K=3, smoothing 1.5 ({smooth.n_regions} regions)",
            "boundaries of the smoothed regions",
        ],
        FIGURES / "segment_chelsea_smoothing.png",
    )
    print(f"  chelsea: smoothing changed {changed:.1%} of the labels, {smooth.timings['smoothing']:.2f} s")

    # 3. astronaut: colour spaces
    astro = read_image(SAMPLES / "astronaut.jpg").pixels
    results = {space: segment_image(astro, 5, color_space=space, random_state=0) for space in ("lab", "rgb", "hsv")}
    panels(
        [astro] + [r.segmented_image() for r in results.values()],
        ["astronaut.jpg"] + [f"K=5, {space}" for space in results],
        FIGURES / "segment_astronaut_spaces.png",
    )

    # 4. rocket: position features
    rocket = read_image(SAMPLES / "rocket.jpg").pixels
    colour_only = segment_image(rocket, 4, random_state=0)
    spatial = segment_image(rocket, 4, random_state=0, spatial_weight=1.0)
    panels(
        [rocket, colour_only.segmented_image(), spatial.segmented_image()],
        ["rocket.jpg", "K=4, colour only", "K=4, spatial_weight=1"],
        FIGURES / "segment_rocket_position.png",
    )

    # 5. synthetic truth: smoothing at sigma 60
    image, truth = painted_regions(60)
    plain = segment_image(image, 4, random_state=0)
    smooth = segment_image(image, 4, random_state=0, smoothing=1.5)
    a_plain = adjusted_rand_score(truth.ravel(), plain.labels.ravel())
    a_smooth = adjusted_rand_score(truth.ravel(), smooth.labels.ravel())
    panels(
        [image, plain.segmented_image(), smooth.segmented_image()],
        ["4 regions + RGB noise sigma 60", f"plain mixture (ARI {a_plain:.2f})", f"smoothing 1.5 (ARI {a_smooth:.2f})"],
        FIGURES / "segment_synthetic_smoothing.png",
    )
    print(f"  synthetic sigma 60: ARI plain {a_plain:.3f}, smoothed {a_smooth:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
