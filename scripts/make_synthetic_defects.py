"""Synthetic defect benchmark: drawn defects with exact masks, on public textures and on good MTD tiles.

Seven defect families span what a line can produce, small and sharp to broad and faint:
``scratch``, ``spot``, ``stain`` (soft), ``gradient`` (brightness ramp), ``worn`` (flattened,
shifted texture over 10-40% of the part), ``missing_corner`` and ``frayed_edge``; each is
drawn at several contrasts (:data:`CONTRASTS`). The hosts are scikit-image's ``brick``,
``grass`` and ``gravel`` textures (CC0, bundled with scikit-image) as random crops with a
random exposure, or good MTD tiles (``MT_Free``) that the caller keeps out of training.
A mask holds the pixels the drawing changed (exact, 255 = defect).

    python scripts/make_synthetic_defects.py OUTDIR [--texture gravel] [--n-good 40] [--n-bad 21]
        [--size 128] [--seed 0] [--all-families]

writes ``OUTDIR/good/*.png``, ``OUTDIR/defective/*.png`` and ``OUTDIR/masks/*.png``
(masks have the defective images' stems). Also importable:
``make_set(texture, n_good, n_bad, size, seed, families, contrasts) -> (good, bad, masks, kinds)``
and ``paste_set(tiles, n_bad, seed, families, contrasts)`` for tiles given as arrays.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage

TEXTURES = ("brick", "grass", "gravel")
#: The defect families of earlier versions (the factory samples and the benchmark draw these).
KINDS = ("scratch", "spot", "stain")
#: Every defect family.
FAMILIES = (*KINDS, "gradient", "worn", "missing_corner", "frayed_edge")
#: Contrasts every family is drawn at (1 = clearly visible).
CONTRASTS = (0.4, 0.7, 1.0)


def texture(name: str) -> np.ndarray:
    """The 512x512 uint8 texture ``name`` from scikit-image (no network needed)."""
    import skimage.data

    if name not in TEXTURES:
        raise SystemExit(f"unknown texture {name!r}; choose from {', '.join(TEXTURES)}")
    return getattr(skimage.data, name)()


def crop(tex: np.ndarray, size: int | tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``tex`` with a random exposure (gain 0.75-1.25, offset -20..20); float32."""
    h, w = (size, size) if isinstance(size, int) else size
    r = rng.integers(0, tex.shape[0] - h + 1)
    c = rng.integers(0, tex.shape[1] - w + 1)
    patch = tex[r : r + h, c : c + w].astype(np.float32)
    gain, offset = rng.uniform(0.75, 1.25), rng.uniform(-20, 20)
    return patch * gain + offset


def _blob(h: int, w: int, area: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random blob covering about ``area`` of an (h, w) image (bool mask)."""
    noise = ndimage.gaussian_filter(rng.normal(size=(h, w)), 0.12 * min(h, w), mode="wrap")
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = rng.uniform(0.3 * h, 0.7 * h), rng.uniform(0.3 * w, 0.7 * w)
    # a radial bias keeps the blob in one piece; the noise makes its outline irregular
    field = noise / (noise.std() + 1e-9) - 2.0 * np.hypot((yy - cy) / h, (xx - cx) / w)
    return field >= np.quantile(field, 1.0 - area)


def _frayed_line(n: int, depth: float, rng: np.random.Generator) -> np.ndarray:
    """An irregular depth profile of length ``n`` (pixels, mean about ``depth``)."""
    rough = ndimage.gaussian_filter1d(rng.normal(size=n), 2.0, mode="wrap")
    return np.clip(depth * (1.0 + 1.2 * rough / (rough.std() + 1e-9)), 0, None)


def draw_defect(
    img: np.ndarray, kind: str, rng: np.random.Generator, contrast: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one defect of ``kind`` on a copy of ``img`` (float, H x W); return (image, mask).

    ``contrast`` scales how far the defect departs from the part (1 = clearly visible;
    the scratch, spot and stain at 1 are those of earlier versions, draw for draw).
    """
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    spread = float(np.std(img)) + 1.0
    mean = float(img.mean())
    out = img.copy()
    margin = 0.15
    cy, cx = rng.uniform(margin * h, (1 - margin) * h), rng.uniform(margin * w, (1 - margin) * w)
    if kind == "spot":
        radius = rng.uniform(0.025, 0.05) * min(h, w) + 1.5
        ratio = rng.uniform(0.6, 1.0)
        inside = ((yy - cy) / radius) ** 2 + ((xx - cx) / (radius * ratio)) ** 2 <= 1.0
        level = np.percentile(img, 2) - 0.8 * spread
        values = level + rng.normal(0, 0.1 * spread, inside.sum())
        out[inside] = img[inside] + contrast * (values - img[inside])
        mask = inside
    elif kind == "scratch":
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(0.3, 0.5) * min(h, w)
        width = rng.uniform(0.8, 1.6)
        dy, dx = np.sin(angle), np.cos(angle)
        t = (yy - cy) * dy + (xx - cx) * dx
        bend = 0.002 * rng.uniform(-1, 1) * t**2
        d = np.abs(-(yy - cy) * dx + (xx - cx) * dy - bend)
        inside = (np.abs(t) <= length / 2) & (d <= width)
        sign = 1.0 if rng.random() < 0.5 else -1.0
        level = (np.percentile(img, 99) + 0.6 * spread) if sign > 0 else (np.percentile(img, 1) - 0.6 * spread)
        out[inside] = img[inside] + contrast * (level - img[inside])
        mask = inside
    elif kind == "stain":
        radius = rng.uniform(0.08, 0.14) * min(h, w)
        base = ((yy - cy) / radius) ** 2 + ((xx - cx) / (radius * rng.uniform(0.6, 1.0))) ** 2
        alpha = np.clip(1.5 - base, 0, 1)
        alpha = ndimage.gaussian_filter(alpha, 1.0)
        factor = rng.choice([0.45, 1.6])
        out = img + contrast * alpha * (mean * factor - mean)
        mask = alpha >= 0.5
    elif kind == "gradient":
        # a brightness ramp across the part: one side darker or brighter by up to ~60%
        angle = rng.uniform(0, 2 * np.pi)
        ramp = ((yy - h / 2) * np.sin(angle) + (xx - w / 2) * np.cos(angle)) / (0.5 * max(h, w))
        ramp = np.clip(ramp, 0, None)
        sign = rng.choice([-1.0, 1.0])
        out = img * (1.0 + sign * 0.6 * contrast * ramp)
        mask = ramp >= 0.5 * ramp.max()
    elif kind == "worn":
        # a worn or uneven area over 10-40% of the part: flattened texture, shifted level
        mask = _blob(h, w, rng.uniform(0.1, 0.4), rng)
        alpha = ndimage.gaussian_filter(mask.astype(np.float32), 1.5)
        smooth = ndimage.gaussian_filter(img, 2.0)
        shift = rng.choice([-1.0, 1.0]) * 0.4 * spread
        worn = img + contrast * (0.8 * (smooth - img) + shift)
        out = img + alpha * (worn - img)
    elif kind in ("missing_corner", "frayed_edge"):
        # material missing at a corner or along an edge: the background (dark) shows
        background = np.percentile(img, 1) - 1.5 * spread
        if kind == "missing_corner":
            size = rng.uniform(0.15, 0.3) * min(h, w)
            corner_y = 0 if rng.random() < 0.5 else h - 1
            corner_x = 0 if rng.random() < 0.5 else w - 1
            wobble = ndimage.gaussian_filter1d(rng.normal(size=h + w), 3.0) * 0.1 * size
            dist = np.abs(yy - corner_y) + np.abs(xx - corner_x)
            mask = dist <= size + wobble[(yy + xx).astype(int) % (h + w)]
        else:
            side = rng.integers(4)
            n = w if side < 2 else h
            profile = _frayed_line(n, rng.uniform(0.03, 0.08) * min(h, w), rng)
            along = xx if side < 2 else yy
            across = {0: yy, 1: h - 1 - yy, 2: xx, 3: w - 1 - xx}[int(side)]
            mask = across < profile[along.astype(int)]
        out[mask] = img[mask] + contrast * (background - img[mask])
    else:
        raise ValueError(f"unknown defect kind {kind!r}")
    return out, mask


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def make_set(texture_name: str, n_good: int, n_bad: int, size=128, seed: int = 0, families=KINDS, contrasts=(1.0,)):
    """Return ``(good, bad, masks, kinds)``: lists of uint8 (H, W) images and bool masks.

    Defective image ``i`` gets family ``families[i % len(families)]`` at contrast
    ``contrasts[(i // len(families)) % len(contrasts)]``; ``kinds[i]`` names the family.
    """
    rng = np.random.default_rng(seed)
    tex = texture(texture_name)
    good = [to_uint8(crop(tex, size, rng)) for _ in range(n_good)]
    bad, masks, kinds = [], [], []
    for i in range(n_bad):
        kind = families[i % len(families)]
        contrast = contrasts[(i // len(families)) % len(contrasts)]
        img, mask = draw_defect(crop(tex, size, rng), kind, rng, contrast)
        bad.append(to_uint8(img))
        masks.append(mask)
        kinds.append(kind)
    return good, bad, masks, kinds


def paste_set(tiles, n_bad: int, seed: int = 0, families=FAMILIES, contrasts=CONTRASTS):
    """Draw defects on copies of good ``tiles`` (uint8 (H, W) arrays, used in turn).

    Returns
    -------
    bad, masks, kinds : lists
        As :func:`make_set`'s.
    """
    rng = np.random.default_rng(seed)
    bad, masks, kinds = [], [], []
    for i in range(n_bad):
        kind = families[i % len(families)]
        contrast = contrasts[(i // len(families)) % len(contrasts)]
        img, mask = draw_defect(np.asarray(tiles[i % len(tiles)], dtype=np.float32), kind, rng, contrast)
        bad.append(to_uint8(img))
        masks.append(mask)
        kinds.append(kind)
    return bad, masks, kinds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--texture", choices=TEXTURES, default="gravel")
    parser.add_argument("--n-good", type=int, default=40)
    parser.add_argument("--n-bad", type=int, default=21)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--all-families",
        action="store_true",
        help="every family at every contrast (default: the first three at full contrast)",
    )
    args = parser.parse_args(argv)
    from gmmseg.image.io import write_png

    spread = {"families": FAMILIES, "contrasts": CONTRASTS} if args.all_families else {}
    good, bad, masks, kinds = make_set(args.texture, args.n_good, args.n_bad, args.size, args.seed, **spread)
    for sub in ("good", "defective", "masks"):
        (args.outdir / sub).mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(good):
        write_png(args.outdir / "good" / f"{args.texture}_good_{i:03d}.png", img)
    for i, (img, mask, kind) in enumerate(zip(bad, masks, kinds)):
        stem = f"{args.texture}_{kind}_{i:03d}"
        write_png(args.outdir / "defective" / f"{stem}.png", img)
        write_png(args.outdir / "masks" / f"{stem}.png", mask.astype(np.uint8) * 255)
    print(f"wrote {len(good)} good and {len(bad)} defective {args.texture} images to {args.outdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
