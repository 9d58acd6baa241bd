"""The defect step of ``gmmseg demo``: fit on good samples, scan only parts the fit never saw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from gmmseg.cli.defects import demo_defects

from .conftest import texture

ROOT = Path(__file__).resolve().parents[2]


def small_factory(root: Path) -> Path:
    """A factory folder laid out as the bundled one, with 64x64 parts (fast)."""
    rng = np.random.default_rng(3)
    factory = root / "factory"
    for sub in ("unseen/good", "unseen/spot", "masks"):
        (factory / sub).mkdir(parents=True)
    for i in range(12):
        Image.fromarray(texture(rng, gain=rng.uniform(0.8, 1.2), offset=rng.uniform(-15, 15))).save(
            factory / f"good_{i:02d}.png"
        )
    for i in range(4):
        Image.fromarray(texture(rng)).save(factory / "unseen" / "good" / f"unseen_good_{i}.png")
    yy, xx = np.mgrid[:64, :64]
    spot = (yy - 30) ** 2 + (xx - 22) ** 2 <= 16
    bad = texture(rng)
    bad[spot] = 0
    Image.fromarray(bad).save(factory / "unseen" / "spot" / "spot_00.png")
    Image.fromarray(spot.astype(np.uint8) * 255).save(factory / "masks" / "spot_00.png")
    return factory


def test_demo_counts_defects_found_and_good_flagged_on_unseen_parts(tmp_path, monkeypatch, capsys):
    factory = small_factory(tmp_path / "samples")
    monkeypatch.setenv("GMMSEG_SAMPLES", str(factory.parent))
    lines = dict(demo_defects(tmp_path / "out", quiet=False))
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "defects" / "report" / "report.json").read_text())
    rows = report["images"]
    # Only the unseen parts are scanned: none of the 12 good parts the fit used.
    assert sorted(Path(r["path"]).parent.name for r in rows) == ["good"] * 4 + ["spot"]
    good_flagged = sum(r["flagged"] for r in rows if Path(r["path"]).parent.name == "good")
    assert report["demo"] == {
        "defects": 1,
        "defects found": 1,
        "good": 4,
        "good flagged": good_flagged,
        "missed": [],
    }
    assert "fitted on 6 good parts, threshold from 6 other good parts" in out
    assert f"found 1 of 1 defects, flagged {good_flagged} of 4 good" in out and "missed" not in out
    assert "spot" in report["metrics"] and report["metrics"]["spot"]["image_auroc"] >= 0.75
    assert lines["defect report (HTML)"].is_file() and lines["defect model"].is_file()


def test_bundled_factory_samples_keep_unseen_parts_apart():
    factory = ROOT / "sample_images" / "factory"
    train = sorted(factory.glob("good_*.png"))
    unseen_good = sorted((factory / "unseen" / "good").glob("*.png"))
    defective = sorted(p for p in (factory / "unseen").glob("*/*.png") if p.parent.name != "good")
    assert len(train) >= 60 and len(unseen_good) == 30
    kinds = {p.parent.name for p in defective}
    assert {"scratch", "spot", "stain", "worn", "gradient", "missing_corner"} <= kinds
    pixels = {np.asarray(Image.open(p)).tobytes() for p in train}
    assert not any(np.asarray(Image.open(p)).tobytes() in pixels for p in unseen_good + defective)
    for path in defective:
        mask = np.asarray(Image.open(factory / "masks" / path.name)) > 127
        assert mask.shape == (128, 128) and mask.any(), path
    assert sum(p.stat().st_size for p in factory.rglob("*") if p.is_file()) < 2_000_000
