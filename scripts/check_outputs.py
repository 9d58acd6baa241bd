"""Run every gmmseg command on the bundled samples and compare the outputs with reference hashes.

A refactoring must not change what users get: this script runs each command (through
``python -m gmmseg``, as a user would) into a scratch folder, hashes every file it wrote
and its ``--json`` summary, and compares the hashes with ``scripts/output_hashes.json``.

Values that legitimately differ between runs (timings, absolute paths, the version) are
normalised away before hashing: JSON keys naming seconds/timings are dropped, the scratch
folder's path becomes ``<OUT>``, and the timing phrases of HTML/text outputs are masked.
Renamed output fields (listed in ``CHANGELOG.md``) are mapped back through ``RENAMED``.

The reference was recorded before the restructuring of issue 10 (which kept all 218 outputs
identical), then re-recorded once after the deliberate changes of issues 11-14 listed in
CHANGELOG.md (regions in ``segment``, the customer report, the faster anomaly ensemble, the
defect report's notes and ``defects fit``'s list of files used).

Usage::

    python scripts/check_outputs.py            # compare with the committed reference
    python scripts/check_outputs.py --update   # rewrite the reference (only before a change)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_images"
REFERENCE = Path(__file__).with_name("output_hashes.json")

#: New JSON/CSV field name -> the name the reference was recorded with (see CHANGELOG.md).
RENAMED: dict[str, str] = {"neighborhood": "neighbourhood", "blur_sigma": "smoothing"}
#: Settings deleted as rejected experiments (issue 10): dropped from the model-file headers and
#: JSON summaries on both sides, so the remaining bytes must still agree.
REMOVED: frozenset[str] = frozenset({"contrast_sigma", "extra"})

_TIMING_KEY = re.compile(r"(seconds|_time|time_|elapsed|duration|timings|per.second|throughput|version)", re.I)
_TIMING_TEXT = re.compile(r"\d+(\.\d+)?\s*(s|ms|seconds|images/s|img/s)\b|(seconds|per second)</td><td[^>]*>[^<]*")


def _commands(work: Path) -> list[tuple[str, list[str]]]:
    """(name, argv) of every command run, in order (later ones read earlier outputs)."""
    s = str(SAMPLES)
    factory = SAMPLES / "factory"
    goods = sorted(str(p) for p in factory.glob("good_*.png"))
    return [
        ("segment_k4", ["segment", f"{s}/coffee.jpg", "-k", "4", "-o", "seg_k4", "--json"]),
        ("segment_auto", ["segment", f"{s}/chelsea.jpg", "-k", "auto", "--k-max", "6", "-o", "seg_auto", "--json"]),
        (
            "segment_smooth",
            [
                "segment",
                f"{s}/astronaut.jpg",
                "-k",
                "3",
                "--smooth",
                "1.0",
                "--probabilities",
                "-o",
                "seg_smooth",
                "--json",
            ],
        ),
        (
            "segment_rgb_spatial",
            [
                "segment",
                f"{s}/rocket.jpg",
                "-k",
                "5",
                "--color-space",
                "rgb",
                "--spatial-weight",
                "0.5",
                "-o",
                "seg_rgb",
                "--json",
            ],
        ),
        (
            "segment_gray_diag",
            [
                "segment",
                f"{s}/coffee.jpg",
                "-k",
                "3",
                "--color-space",
                "gray",
                "--covariance",
                "diag",
                "-o",
                "seg_gray",
                "--json",
            ],
        ),
        ("defects_fit", ["defects", "fit", *goods, "-o", "factory.gmmseg", "--seed", "0", "--json"]),
        (
            "defects_scan",
            [
                "defects",
                "scan",
                "factory.gmmseg",
                str(factory / "unseen" / "*" / "*.png"),
                "-o",
                "scan",
                "--masks",
                str(factory / "masks"),
                "--json",
            ],
        ),
        (
            "rfm",
            ["rfm", "transactions.csv", "--customer", "id", "--date", "date", "--amount", "amount", "-o", "rfm.csv"],
        ),
        (
            "customers",
            ["customers", "rfm.csv", "--id", "id", "-k", "auto", "--k-max", "5", "-o", "customers", "--json"],
        ),
        (
            "customers_model",
            [
                "customers",
                "rfm.csv",
                "--id",
                "id",
                "--model",
                "customers/model.gmmseg",
                "-o",
                "customers_again",
                "--json",
            ],
        ),
        ("anomalies", ["anomalies", "table.csv", "--id", "id", "-o", "anomalies", "--json"]),
        (
            "select",
            ["select", "table.csv", "-k", "1-5", "--plot", "select.png", "--save-model", "select.npz", "--json"],
        ),
        ("demo", ["demo", "-o", "demo"]),
    ]


def _make_inputs(work: Path) -> None:
    """A small transaction log and a numeric table with a few planted outliers (seeded)."""
    rng = np.random.default_rng(7)
    lines = ["id,date,amount"]
    for customer in range(300):
        n = 1 + rng.poisson(3 if customer % 3 else 10)
        days = np.sort(rng.integers(0, 365, size=n))
        scale = 20 if customer % 2 else 120
        for day in days:
            date = np.datetime64("2024-01-01") + int(day)
            lines.append(f"C{customer:04d},{date},{rng.gamma(2.0, scale):.2f}")
    (work / "transactions.csv").write_text("\n".join(lines) + "\n")
    X = np.concatenate([rng.normal(0, 1, (400, 3)), rng.normal(5, 1.5, (200, 3)), rng.uniform(-15, 15, (6, 3))])
    rows = ["id,a,b,c"] + [f"r{i},{x[0]:.4f},{x[1]:.4f},{x[2]:.4f}" for i, x in enumerate(X)]
    (work / "table.csv").write_text("\n".join(rows) + "\n")


def _normalise_json(value):
    if isinstance(value, dict):
        return {
            RENAMED.get(k, k): _normalise_json(v)
            for k, v in sorted(value.items())
            if not _TIMING_KEY.search(str(k)) and k not in REMOVED
        }
    if isinstance(value, list):
        return [_normalise_json(v) for v in value]
    return value


def _normalise_text(text: str, work: Path) -> str:
    text = text.replace(str(work.resolve()), "<OUT>").replace(str(work), "<OUT>").replace(str(ROOT), "<ROOT>")
    for new, old in RENAMED.items():
        text = text.replace(new, old)
    return text


def _model_digests(path: Path, work: Path) -> dict[str, str]:
    """A model file (.npz / .gmmseg) as two hashes: its arrays, and its normalised JSON header."""
    arrays, header = hashlib.sha256(), ""
    with np.load(path, allow_pickle=False) as archive:
        for name in sorted(archive.files):
            value = archive[name]
            if name == "__header__":
                header = json.dumps(_normalise_json(json.loads(value.tobytes().decode())), sort_keys=True)
            else:
                arrays.update(RENAMED.get(name, name).encode() + value.tobytes())
    return {"#arrays": arrays.hexdigest()[:16], "#header": hashlib.sha256(header.encode()).hexdigest()[:16]}


def _digest(path: Path, work: Path) -> str:
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = json.dumps(_normalise_json(json.loads(_normalise_text(data.decode(), work))), sort_keys=True).encode()
    elif suffix in (".csv", ".html", ".txt"):
        text = _normalise_text(data.decode(), work)
        if suffix == ".csv":
            lines = text.splitlines()
            if lines:
                header = lines[0].split(",")
                keep = [i for i, name in enumerate(header) if not _TIMING_KEY.search(name)]
                text = "\n".join(
                    ",".join(cell for i, cell in enumerate(line.split(",")) if i in keep) for line in lines
                )
        else:
            text = _TIMING_TEXT.sub("<T>", text)
        data = text.encode()
    return hashlib.sha256(data).hexdigest()[:16]


def run(work: Path) -> dict[str, str]:
    """Run every command in ``work``; return {output name: hash} (stdout JSON included)."""
    _make_inputs(work)
    hashes: dict[str, str] = {}
    for name, argv in _commands(work):
        before = {p for p in work.rglob("*") if p.is_file()}
        done = subprocess.run(
            [sys.executable, "-m", "gmmseg", "--quiet", *argv]
            if "--json" not in argv
            else [sys.executable, "-m", "gmmseg", *argv],
            cwd=work,
            capture_output=True,
            text=True,
            # this checkout's gmmseg, whatever is installed (so a git worktree checks itself)
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
        )
        hashes[f"{name}:exit"] = str(done.returncode)
        if done.returncode not in (0, 1):
            print(f"{name}: exit {done.returncode}\n{done.stderr}", file=sys.stderr)
        if "--json" in argv:
            summary = _normalise_json(json.loads(_normalise_text(done.stdout, work)))
            hashes[f"{name}:stdout"] = hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()[:16]
        for path in sorted(p for p in work.rglob("*") if p.is_file() and p not in before):
            key = f"{name}:{path.relative_to(work)}"
            if path.suffix in (".npz", ".gmmseg") and not path.name.endswith(".proba.npz"):
                for part, digest in _model_digests(path, work).items():
                    hashes[key + part] = digest
            else:
                hashes[key] = _digest(path, work)
    return hashes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the reference hashes")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (for inspection)")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        hashes = run(args.keep)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            hashes = run(Path(tmp))
    if args.update:
        REFERENCE.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(hashes)} reference hashes to {REFERENCE}")
        return 0
    reference = json.loads(REFERENCE.read_text())
    differ = sorted(k for k in reference.keys() & hashes.keys() if reference[k] != hashes[k])
    missing = sorted(reference.keys() - hashes.keys())
    extra = sorted(hashes.keys() - reference.keys())
    same = len(reference.keys() & hashes.keys()) - len(differ)
    print(f"{same} outputs identical, {len(differ)} differ, {len(missing)} missing, {len(extra)} new")
    for label, names in (("differs", differ), ("missing", missing), ("new", extra)):
        for key in names:
            print(f"  {label}: {key}")
    return 1 if differ or missing else 0


if __name__ == "__main__":
    sys.exit(main())
