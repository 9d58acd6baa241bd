"""The report a QA engineer opens: per-kind metrics, heat-map thumbnails, the no-region note."""

from __future__ import annotations

import base64
import json

import numpy as np
from click.testing import CliRunner
from PIL import Image
from sklearn.metrics import roc_auc_score

from gmmseg.cli import cli
from gmmseg.image.defects import DefectModel

from .conftest import texture


def kind_folders(root, rng):
    """``root/good`` (3 good), ``root/spot`` (2 dark spots), ``root/line`` (1 dark line), masks in ``root/masks``."""
    for name in ("good", "spot", "line", "masks"):
        (root / name).mkdir(parents=True)
    yy, xx = np.mgrid[:64, :64]
    for i in range(3):
        Image.fromarray(texture(rng)).save(root / "good" / f"good{i}.png")
    shapes = {
        "spot/spot0": (yy - 30) ** 2 + (xx - 22) ** 2 <= 16,
        "spot/spot1": (yy - 40) ** 2 + (xx - 40) ** 2 <= 12,
        "line/line0": (np.abs(yy - 20) <= 1) & (xx > 10) & (xx < 50),
    }
    for name, mask in shapes.items():
        img = texture(rng)
        img[mask] = 0
        Image.fromarray(img).save(root / f"{name}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / f"{name.split('/')[1]}.png")
    return [root / name for name in ("good", "spot", "line")]


def test_scan_of_one_folder_per_kind_reports_metrics_per_kind(workspace, tmp_path):
    _, model = workspace
    folders = kind_folders(tmp_path / "in", np.random.default_rng(5))
    outdir = tmp_path / "report"
    result = CliRunner().invoke(
        cli,
        [
            "defects",
            "scan",
            str(model),
            *map(str, folders),
            "-o",
            str(outdir),
            "--masks",
            str(folders[0].parent / "masks"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((outdir / "report.json").read_text())
    metrics = report["metrics"]
    assert set(k for k, v in metrics.items() if isinstance(v, dict)) == {"spot", "line"}  # not "good"
    scores = {r["path"].rsplit("/", 2)[-2] + "/" + r["path"].rsplit("/", 1)[-1]: r["score"] for r in report["images"]}
    good = [s for k, s in scores.items() if k.startswith("good/")]
    for kind in ("spot", "line"):
        bad = [s for k, s in scores.items() if k.startswith(kind + "/")]
        expected = roc_auc_score([0] * len(good) + [1] * len(bad), good + bad)
        assert metrics[kind]["image_auroc"] == expected
        assert 0 <= metrics[kind]["pixel_auroc"] <= 1 and "aupro" in metrics[kind]
    everything = list(scores.values())
    labels = [0 if k.startswith("good/") else 1 for k in scores]
    assert metrics["image_auroc"] == roc_auc_score(labels, everything)
    assert "  spot: image_auroc" in result.output and "  line: image_auroc" in result.output
    html = (outdir / "report.html").read_text()
    assert "Per defect kind" in html and ">spot<" in html and ">line<" in html


def test_scan_of_one_folder_gives_no_per_kind_table(workspace, tmp_path):
    root, model = workspace
    outdir = tmp_path / "report"
    result = CliRunner().invoke(
        cli, ["defects", "scan", str(model), str(root / "scan"), "-o", str(outdir), "--masks", str(root / "masks")]
    )
    assert result.exit_code == 3, result.output  # the corrupt file
    metrics = json.loads((outdir / "report.json").read_text())["metrics"]
    assert not any(isinstance(v, dict) for v in metrics.values())
    assert "Per defect kind" not in (outdir / "report.html").read_text()


def test_flagged_thumbnails_are_heat_map_overlays(workspace, tmp_path):
    root, model = workspace
    outdir = tmp_path / "report"
    result = CliRunner().invoke(cli, ["defects", "scan", str(model), str(root / "scan" / "bad.png"), "-o", str(outdir)])
    assert result.exit_code == 0, result.output
    heat_file = outdir / "heatmaps" / "bad.png"
    heat = np.asarray(Image.open(heat_file)).astype(int)
    # Colored (inferno) where the spot is, gray far from it.
    assert heat.shape == (64, 64, 3) and heat[30, 22, 0] - heat[30, 22, 2] > 30
    assert abs(heat[5, 60, 0] - heat[5, 60, 2]) < 30
    html = (outdir / "report.html").read_text()
    assert base64.b64encode(heat_file.read_bytes()).decode("ascii") in html
    row = json.loads((outdir / "report.json").read_text())["images"][0]
    assert row["flagged"] and f"{row['n_regions']} region(s)" in html


def test_images_flagged_with_no_region_get_the_note(workspace, tmp_path):
    root, model = workspace
    # A model whose image threshold every part passes but whose pixel threshold none reaches.
    fitted = DefectModel.load(model)
    fitted.threshold_, fitted.pixel_threshold_ = -1e9, 1e9
    altered = fitted.save(tmp_path / "altered.gmmseg")
    outdir = tmp_path / "report"
    result = CliRunner().invoke(
        cli, ["defects", "scan", str(altered), str(root / "scan" / "ok.png"), "-o", str(outdir)]
    )
    assert result.exit_code == 0, result.output
    row = json.loads((outdir / "report.json").read_text())["images"][0]
    assert row["flagged"] and row["n_regions"] == 0
    html = (outdir / "report.html").read_text()
    assert "1 flagged image(s) have no region above the pixel threshold" in html
    assert "no region: the whole part is unusual" in html
