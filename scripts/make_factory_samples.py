"""Write the small factory-like samples in sample_images/factory/ (used by ``gmmseg demo``).

Good parts are random 128x128 crops of scikit-image's ``gravel`` texture (CC0) with a
random exposure; defective parts are other crops with one drawn scratch, spot or stain
(see scripts/make_synthetic_defects.py); their exact masks go to ``masks/``.

    python scripts/make_factory_samples.py [--outdir sample_images/factory] [--seed 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_synthetic_defects import KINDS, crop, draw_defect, texture, to_uint8

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outdir", type=Path, default=ROOT / "sample_images" / "factory")
    parser.add_argument("--n-good", type=int, default=30)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--texture", default="gravel", help="brick, grass or gravel")
    args = parser.parse_args(argv)
    from gmmseg.image.io import write_png

    rng = np.random.default_rng(args.seed)
    tex = texture(args.texture)
    (args.outdir / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(args.n_good):
        write_png(args.outdir / f"good_{i:02d}.png", to_uint8(crop(tex, args.size, rng)))
    for kind in KINDS:
        img, mask = draw_defect(crop(tex, args.size, rng), kind, rng)
        write_png(args.outdir / f"defect_{kind}.png", to_uint8(img))
        write_png(args.outdir / "masks" / f"defect_{kind}.png", mask.astype(np.uint8) * 255)
    total = sum(p.stat().st_size for p in args.outdir.rglob("*.png"))
    print(f"wrote {args.n_good} good and {len(KINDS)} defective samples to {args.outdir} ({total / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
