"""Write the sample photos in ``sample_images/`` from scikit-image's bundled data (no network).

Photos (all free of copyright restrictions, see ``sample_images/README.md``):

* ``coffee.jpg``    – scikit-image ``data.coffee()``, CC0 (Rachel Michetti / Pikolo Espresso Bar)
* ``chelsea.jpg``   – scikit-image ``data.chelsea()``, CC0 (Stefan van der Walt)
* ``astronaut.jpg`` – scikit-image ``data.astronaut()``, public domain (NASA)
* ``rocket.jpg``    – scikit-image ``data.rocket()``, public domain (SpaceX)

Run ``python scripts/make_samples.py`` from the project folder; files are written
atomically and the script is idempotent (same bytes on every run).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "sample_images"
#: name -> (scikit-image loader, JPEG quality)
SAMPLES = {
    "coffee.jpg": (data.coffee, 90),
    "chelsea.jpg": (data.chelsea, 90),
    "astronaut.jpg": (data.astronaut, 90),
    "rocket.jpg": (data.rocket, 90),
}
MAX_BYTES = 300_000


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from gmmseg.core.persist import atomic_write_bytes

    OUT.mkdir(exist_ok=True)
    for name, (loader, quality) in SAMPLES.items():
        buffer = io.BytesIO()
        Image.fromarray(loader()).save(buffer, format="JPEG", quality=quality, optimize=True)
        payload = buffer.getvalue()
        if len(payload) > MAX_BYTES:
            raise SystemExit(f"{name} is {len(payload):,} bytes, above {MAX_BYTES:,}; lower its quality")
        atomic_write_bytes(OUT / name, payload)
        (OUT / name).chmod(0o644)  # the atomic writer's temporary file is private (0600)
        print(f"{OUT / name}: {len(payload) / 1000:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
