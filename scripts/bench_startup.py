"""Start-up cost of the command line, side by side with its floors, in one run.

Every CLI call and every Dask worker pays gmmseg's import time, so it is measured against
what cannot be avoided:

- ``gmmseg --help`` against ``python -c "import numpy, click"`` (target: within 3x);
- ``gmmseg segment -k 4`` on a 1-megapixel photo against the same work in process
  (``read_image`` + ``segment_image`` + writing the same PNGs, timed after the imports;
  target: within 2x);
- which heavy modules ``import gmmseg`` and ``gmmseg --help`` load (target: none of
  scikit-learn, pandas, matplotlib, scikit-image, OpenCV, Dask).

Each timing is the median of ``--repeats`` runs; the ratios are what to read (a loaded
machine moves the times, much less their ratios).

Usage::

    python scripts/bench_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("sklearn", "pandas", "matplotlib", "skimage", "cv2", "dask", "distributed", "pyarrow", "scipy.stats")


def _time(argv: list[str], repeats: int, cwd: Path | None = None) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=cwd)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _loaded(code: str) -> list[str]:
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    modules = set(json.loads(out.strip().splitlines()[-1]))
    return [name for name in HEAVY if name in modules]


_IN_PROCESS = """
import sys, time
from pathlib import Path
import numpy as np
from gmmseg.image.io import read_image
from gmmseg.image.segment import segment_image
from gmmseg.cli.segment import SegmentSettings, segment_file
path, out = Path(sys.argv[1]), Path(sys.argv[2])
segment_file(path, out, SegmentSettings(n_components=4))  # warm: imports done, caches filled
times = []
for _ in range(int(sys.argv[3])):
    started = time.perf_counter()
    segment_file(path, out, SegmentSettings(n_components=4))
    times.append(time.perf_counter() - started)
print(sorted(times)[len(times) // 2])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    py = sys.executable

    floor = _time([py, "-c", "import numpy, click"], args.repeats)
    help_time = _time([py, "-m", "gmmseg", "--help"], args.repeats)
    print(f"python -c 'import numpy, click'   {floor:6.3f} s")
    print(f"gmmseg --help                     {help_time:6.3f} s   {help_time / floor:4.2f}x the floor (target <= 3x)")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        import numpy as np
        from PIL import Image
        from skimage import data

        photo = np.asarray(Image.fromarray(data.astronaut()).resize((1155, 866), Image.BICUBIC))  # 1.0 MP
        Image.fromarray(photo).save(work / "photo.png")
        cli = _time([py, "-m", "gmmseg", "--quiet", "segment", "photo.png", "-k", "4", "-o", "cli"], args.repeats, work)
        (work / "lib").mkdir()
        out = subprocess.run(
            [py, "-c", _IN_PROCESS, str(work / "photo.png"), str(work / "lib"), str(args.repeats)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        in_process = float(out.strip().splitlines()[-1])
    print(f"segment 1 MP -k 4, in process     {in_process:6.3f} s   (read, segment, write; after imports)")
    print(f"gmmseg segment 1 MP -k 4          {cli:6.3f} s   {cli / in_process:4.2f}x in process (target <= 2x)")

    for label, code in (
        ("import gmmseg", "import gmmseg"),
        ("gmmseg --help", "import gmmseg.cli as c\ntry:\n    c.main(['--help'])\nexcept SystemExit:\n    pass"),
    ):
        heavy = _loaded(code)
        print(f"{label:<20} loads: {', '.join(heavy) if heavy else 'none of ' + ', '.join(HEAVY)}")


if __name__ == "__main__":
    main()
