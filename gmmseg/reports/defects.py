"""Render defect-scan results: heat-map overlays (PNG arrays) and the self-contained HTML report.

Nothing here computes a new result: the scores, flags, regions and metrics come from
:mod:`gmmseg.image.defects` and :mod:`gmmseg.image.metrics` through the scan rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .html import RawHTML, escape, figure_img, page, png_img, table, write_html

__all__ = ["overlay_heatmap", "build_report_html", "write_report_html"]


def overlay_heatmap(image: np.ndarray, score_map: np.ndarray, threshold: float, regions: Sequence = ()) -> np.ndarray:
    """Color-map a score map over a gray copy of the image and box the regions.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), uint8 or uint16
    score_map : ndarray of shape (H, W)
    threshold : float
        Scores at or above it are drawn fully opaque; 0 and below are transparent.
    regions : sequence of Region or dict with ``bbox`` ``(r0, c0, r1, c1)``

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
    """
    img = np.asarray(image)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=2)
    gray = img.astype(np.float32)
    top = 65535.0 if np.asarray(image).dtype == np.uint16 else 255.0
    gray = np.clip(gray / top, 0, 1)
    smap = np.asarray(score_map, dtype=np.float32)
    scale = max(float(threshold), 1e-6) if np.isfinite(threshold) else max(float(smap.max()), 1e-6)
    level = np.clip(smap / scale, 0.0, 1.0)
    color = _lut()[np.round(level * 255).astype(np.uint8)]
    alpha = (0.65 * level)[..., None]
    out = (1 - alpha) * gray[..., None] + alpha * color
    rgb = np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)
    h, w = rgb.shape[:2]
    t = max(1, round(min(h, w) / 150))
    for reg in regions:
        bbox = reg["bbox"] if isinstance(reg, dict) else reg.bbox
        r0, c0, r1, c1 = (int(v) for v in bbox)
        r0, c0 = max(0, r0 - t), max(0, c0 - t)
        r1, c1 = min(h, r1 + t), min(w, c1 + t)
        red = np.array([0, 255, 80], dtype=np.uint8)
        rgb[r0 : r0 + t, c0:c1] = red
        rgb[max(r0, r1 - t) : r1, c0:c1] = red
        rgb[r0:r1, c0 : c0 + t] = red
        rgb[r0:r1, max(c0, c1 - t) : c1] = red
    return rgb


_LUT: list[np.ndarray] = []


def _lut() -> np.ndarray:
    """The 'inferno' color map as a (256, 3) float32 lookup table (computed once)."""
    if not _LUT:
        from matplotlib import colormaps

        _LUT.append(colormaps["inferno"](np.linspace(0, 1, 256))[:, :3].astype(np.float32))
    return _LUT[0]


def _histogram(rows, threshold: float) -> str:
    from .plots import pyplot

    plt = pyplot()
    scores = np.array([r["score"] for r in rows if r.get("score") is not None], dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    if scores.size:
        flagged = scores > threshold
        bins = np.histogram_bin_edges(scores, bins=min(40, max(5, scores.size // 2)))
        ax.hist(scores[~flagged], bins=bins, color="#4477aa", label="not flagged")
        ax.hist(scores[flagged], bins=bins, color="#cc3311", label="flagged")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3g}")
    ax.set_xlabel("image score")
    ax.set_ylabel("images")
    ax.legend(frameon=False)
    return figure_img(fig, alt="score histogram")


def _fmt(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.3f}"


def build_report_html(
    rows: list[dict[str, Any]],
    *,
    threshold: float,
    summary: dict[str, Any],
    metrics: dict[str, float] | None = None,
    outdir: Path | None = None,
    max_thumbnails: int = 60,
) -> str:
    """The HTML document of a scan.

    Parameters
    ----------
    rows : list of dict
        One per image with ``path``, ``score``, ``threshold``, ``flagged``, ``n_regions``,
        ``largest_region_area``, ``error``, ``note`` (an image unlike the training images) and
        ``heatmap`` (path of the overlay PNG).
    threshold : float
    summary : dict
        Counts and run facts shown at the top.
    metrics : dict, optional
        Image/pixel AUROC, AUPRO, F1-max when ground-truth masks were given; a value that
        is itself such a dict is the metrics of one defect kind (shown per kind).
    outdir : Path, optional
        Base folder that relative heat-map paths are resolved against.
    max_thumbnails : int
        At most this many flagged images (highest scores first) are shown.
    """
    parts = ["<h2>Summary</h2>"]
    parts.append(table([[k, v] for k, v in summary.items()], ["", "value"], sortable=False))
    if metrics:
        parts.append("<h2>Quality against the ground-truth masks</h2>")
        names = {
            "image_auroc": "image AUROC",
            "pixel_auroc": "pixel AUROC",
            "aupro": "AUPRO (FPR ≤ 30%)",
            "image_f1_max": "image F1-max",
            "pixel_f1_max": "pixel F1-max",
        }
        overall = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
        parts.append(table([[names.get(k, k), _fmt(v)] for k, v in overall.items()], ["metric", "value"]))
        per_kind = {k: v for k, v in metrics.items() if isinstance(v, dict)}
        if per_kind:
            # one row per defect kind (images in one folder per kind), each against the good images
            columns = list(names)
            parts.append("<h3>Per defect kind</h3>")
            body = [[kind, *(_fmt(m.get(c)) for c in columns)] for kind, m in per_kind.items()]
            parts.append(table(body, ["kind", *(names[c] for c in columns)]))
    parts.append("<h2>Scores</h2>")
    parts.append(_histogram(rows, threshold))
    flagged = sorted((r for r in rows if r.get("flagged")), key=lambda r: -r["score"])
    parts.append(f"<h2>Flagged images ({len(flagged)})</h2>")
    if len(flagged) > max_thumbnails:
        parts.append(f'<p class="muted">The {max_thumbnails} highest scores are shown; all are in the table.</p>')
    no_region = [r for r in flagged if not r.get("n_regions")]
    if no_region:
        parts.append(
            f"<p>{len(no_region)} flagged image(s) have no region above the pixel threshold: "
            "their overall appearance (brightness, texture, a broad worn or stained area) is unlike the good "
            "parts, but no small spot stands out. Their heat maps show where they are least typical; inspect "
            "the whole part.</p>"
        )
    unlike = sum(bool(r.get("note")) for r in rows)
    if unlike:
        parts.append(
            f"<p>{unlike} image(s) differ in size or mode (gray/color) from the training images (see the "
            "note column): a part photographed otherwise than the good ones can score high for that reason "
            "alone.</p>"
        )
    thumbs = []
    for r in flagged[:max_thumbnails]:
        heat = r.get("heatmap")
        if not heat:
            continue
        p = Path(heat)
        if outdir is not None and not p.is_absolute():
            p = Path(outdir) / p
        try:
            data = p.read_bytes()
        except OSError:
            continue
        where = f"{r['n_regions']} region(s)" if r.get("n_regions") else "no region: the whole part is unusual"
        caption = f"{escape(Path(r['path']).name)}<br>score {r['score']:.3g}, {where}"
        if r.get("note"):
            caption += f"<br>{escape(r['note'])}"
        thumbs.append(
            f'<figure style="display:inline-block;margin:4px;vertical-align:top">'
            f"{png_img(data, alt=Path(r['path']).name, width=220)}<figcaption>{caption}</figcaption></figure>"
        )
    parts.append("".join(thumbs) or '<p class="muted">No image is above the threshold.</p>')
    parts.append("<h2>All images</h2>")
    header = ["image", "score", "threshold", "flagged", "regions", "largest region (px)", "error", "note"]
    body = [
        [
            RawHTML(f'<span title="{escape(r["path"])}">{escape(Path(r["path"]).name)}</span>'),
            r["score"] if r.get("score") is not None else "",
            r.get("threshold", threshold),
            "yes" if r.get("flagged") else ("" if r.get("error") else "no"),
            r.get("n_regions", 0) if not r.get("error") else "",
            r.get("largest_region_area", 0) if not r.get("error") else "",
            r.get("error") or "",
            r.get("note") or "",
        ]
        for r in rows
    ]
    parts.append(table(body, header))
    return page("gmmseg defect scan", "".join(parts), subtitle=f"{len(rows)} images, threshold {threshold:.4g}")


def write_report_html(path, rows, **kwargs) -> Path:
    """Build the report with :func:`build_report_html` and write it atomically."""
    return write_html(path, build_report_html(rows, **kwargs))
