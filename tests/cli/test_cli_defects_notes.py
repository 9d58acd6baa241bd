"""``gmmseg defects scan`` notes images whose size or mode differs from the training images."""

from __future__ import annotations

import csv
import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

import gmmseg
from gmmseg.cli import cli
from gmmseg.image.scan import input_note
from tests.cli.conftest import texture


def test_scan_notes_a_larger_and_a_color_image_and_not_a_like_one(workspace, tmp_path):
    root, model = workspace  # fitted on 20 gray 64x64 images
    scan = tmp_path / "scan"
    scan.mkdir()
    rng = np.random.default_rng(7)
    Image.fromarray(texture(rng)).save(scan / "like.png")
    Image.fromarray(texture(rng, shape=(80, 96))).save(scan / "larger.png")
    Image.fromarray(np.repeat(texture(rng)[:, :, None], 3, axis=2)).save(scan / "color.png")
    outdir = tmp_path / "report"
    result = CliRunner().invoke(cli, ["defects", "scan", str(model), str(scan), "-o", str(outdir)])
    assert result.exit_code == 0, result.output
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in csv.DictReader((outdir / "report.csv").open())}
    assert rows["like.png"]["note"] == ""
    assert rows["larger.png"]["note"] == "size 96x80 is outside the training images' 64x64"
    assert rows["color.png"]["note"] == "a color image, the model was trained on gray images"
    report = json.loads((outdir / "report.json").read_text())
    assert report["summary"]["unlike the training images"] == 2
    assert report["model"]["training_images"] == {"min_size": [64, 64], "max_size": [64, 64], "modes": ["gray"]}
    notes = {r["path"].rsplit("/", 1)[-1]: r["note"] for r in report["images"]}
    assert notes == {k: r["note"] for k, r in rows.items()}
    html = (outdir / "report.html").read_text()
    assert "2 image(s) differ in size or mode" in html and "size 96x80 is outside" in html


def test_files_written_before_the_training_images_were_recorded_load_and_give_no_note(workspace, tmp_path):
    from gmmseg.core.persist import load_arrays, save_arrays

    _, model = workspace
    odd = np.zeros((10, 12, 3), np.uint8)
    assert input_note(gmmseg.load(model), odd) == (
        "size 12x10 is outside the training images' 64x64; a color image, the model was trained on gray images"
    )
    header, arrays = load_arrays(model, "DefectModel")
    header["metadata"].pop("training_images")
    older = gmmseg.load(save_arrays(tmp_path / "older.gmmseg", "DefectModel", header["metadata"], arrays))
    assert older.training_images_ is None and input_note(older, odd) == ""
