"""Synthetic defect benchmark: public textures with drawn scratches, spots and stains, exact masks.

The textures are scikit-image's ``brick``, ``grass`` and ``gravel`` (all CC0, bundled with
scikit-image, see their docstrings). Every image is a random crop with a random exposure
(gain and offset); a defective image gets one scratch, spot or stain whose mask is exact
(the pixels the drawing changed by a visible amount).

    python scripts/make_synthetic_defects.py OUTDIR [--texture gravel] [--n-good 40] [--n-bad 20]
        [--size 128] [--seed 0]

writes ``OUTDIR/good/*.png``, ``OUTDIR/defective/*.png`` and ``OUTDIR/masks/*.png``
(masks have the defective images' stems; 255 = defect). Also importable:
``make_set(texture, n_good, n_bad, size, seed) -> (good, bad, masks, kinds)``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage

TEXTURES = ("brick", "grass", "gravel")
KINDS = ("scratch", "spot", "stain")


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


def draw_defect(img: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw one defect of ``kind`` on a copy of ``img`` (float, H x W); return (image, mask)."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    spread = float(np.std(img)) + 1.0
    out = img.copy()
    margin = 0.15
    cy, cx = rng.uniform(margin * h, (1 - margin) * h), rng.uniform(margin * w, (1 - margin) * w)
    if kind == "spot":
        radius = rng.uniform(0.025, 0.05) * min(h, w) + 1.5
        ratio = rng.uniform(0.6, 1.0)
        inside = ((yy - cy) / radius) ** 2 + ((xx - cx) / (radius * ratio)) ** 2 <= 1.0
        level = np.percentile(img, 2) - 0.8 * spread
        out[inside] = level + rng.normal(0, 0.1 * spread, inside.sum())
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
        out[inside] = level
        mask = inside
    elif kind == "stain":
        radius = rng.uniform(0.08, 0.14) * min(h, w)
        base = ((yy - cy) / radius) ** 2 + ((xx - cx) / (radius * rng.uniform(0.6, 1.0))) ** 2
        alpha = np.clip(1.5 - base, 0, 1)
        alpha = ndimage.gaussian_filter(alpha, 1.0)
        factor = rng.choice([0.45, 1.6])
        mean = float(img.mean())
        out = img + alpha * (mean * factor - mean)
        mask = alpha >= 0.5
    else:
        raise ValueError(f"unknown defect kind {kind!r}")
    return out, mask


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def make_set(texture_name: str, n_good: int, n_bad: int, size=128, seed: int = 0):
    """Return ``(good, bad, masks, kinds)``: lists of uint8 (H, W) images and bool masks."""
    rng = np.random.default_rng(seed)
    tex = texture(texture_name)
    good = [to_uint8(crop(tex, size, rng)) for _ in range(n_good)]
    bad, masks, kinds = [], [], []
    for i in range(n_bad):
        kind = KINDS[i % len(KINDS)]
        img, mask = draw_defect(crop(tex, size, rng), kind, rng)
        bad.append(to_uint8(img))
        masks.append(mask)
        kinds.append(kind)
    return good, bad, masks, kinds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--texture", choices=TEXTURES, default="gravel")
    parser.add_argument("--n-good", type=int, default=40)
    parser.add_argument("--n-bad", type=int, default=21)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from gmmseg.image.io import write_png

    good, bad, masks, kinds = make_set(args.texture, args.n_good, args.n_bad, args.size, args.seed)
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
