"""Write the small factory-like samples in sample_images/factory/ (used by ``gmmseg demo``).

Every part is a random 128x128 crop of scikit-image's ``gravel`` texture (CC0) with a random
exposure, as on a line whose lighting drifts. The folder holds:

- ``good_00.png`` ... : good parts to fit on (the fit holds half of them out to set the threshold);
- ``unseen/good/``: 30 other good parts, never used by the fit, to count false alarms;
- ``unseen/KIND/KIND_00.png``: one defective part per family, small and sharp (scratch, spot)
  to broad and faint (stain, gradient, worn area, missing corner, frayed edge), drawn at full
  contrast by scripts/make_synthetic_defects.py; one folder per kind, so a scan with
  ``--masks`` reports metrics per kind;
- ``masks/KIND_00.png``: the exact mask of each drawn defect (255 = defect).

    python scripts/make_factory_samples.py [--outdir sample_images/factory] [--seed 4]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_synthetic_defects import FAMILIES, crop, draw_defect, texture, to_uint8

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outdir", type=Path, default=ROOT / "sample_images" / "factory")
    parser.add_argument("--n-good", type=int, default=60, help="good parts to fit on")
    parser.add_argument("--n-unseen", type=int, default=30, help="other good parts, for the false-alarm count")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--texture", default="gravel", help="brick, grass or gravel")
    args = parser.parse_args(argv)
    from gmmseg.image.io import write_png

    rng = np.random.default_rng(args.seed)
    tex = texture(args.texture)
    # Rewrite from scratch: no file of an earlier layout may linger and be taken for a sample.
    for old in [*args.outdir.glob("*.png"), args.outdir / "masks", args.outdir / "unseen"]:
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    (args.outdir / "masks").mkdir(parents=True)
    for i in range(args.n_good):
        write_png(args.outdir / f"good_{i:02d}.png", to_uint8(crop(tex, args.size, rng)))
    (args.outdir / "unseen" / "good").mkdir(parents=True)
    for i in range(args.n_unseen):
        write_png(args.outdir / "unseen" / "good" / f"unseen_good_{i:02d}.png", to_uint8(crop(tex, args.size, rng)))
    for kind in FAMILIES:
        img, mask = draw_defect(crop(tex, args.size, rng), kind, rng)
        (args.outdir / "unseen" / kind).mkdir()
        write_png(args.outdir / "unseen" / kind / f"{kind}_00.png", to_uint8(img))
        write_png(args.outdir / "masks" / f"{kind}_00.png", mask.astype(np.uint8) * 255)
    total = sum(p.stat().st_size for p in args.outdir.rglob("*.png"))
    print(
        f"wrote {args.n_good} good parts to fit on, {args.n_unseen} unseen good and {len(FAMILIES)} defective "
        f"parts to {args.outdir} ({total / 1024:.0f} KiB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
