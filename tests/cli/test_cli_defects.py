"""``gmmseg defects fit`` and ``gmmseg defects scan``: exit codes, files written, error rows."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import gmmseg
from gmmseg.cli import cli
from tests.cli.conftest import texture


def test_fit_writes_a_loadable_model(workspace):
    root, model = workspace
    loaded = gmmseg.load(model)
    assert isinstance(loaded, gmmseg.DefectModel)
    assert loaded.n_holdout_images_ == 10 and loaded.n_train_images_ == 10
    assert np.isfinite(loaded.threshold_)


def test_fit_json_and_bad_options(workspace, tmp_path):
    root, _ = workspace
    runner = CliRunner()
    out = tmp_path / "m.gmmseg"
    result = runner.invoke(cli, ["defects", "fit", str(root / "good"), "-o", str(out), "--json", "--fpr", "0.05"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["params"]["target_fpr"] == 0.05 and out.exists()
    # n held-out images at 5% with n < 20: the threshold is their highest score, and the fit says so
    n = info["n_holdout_images"]
    assert n < 20 and f"highest score of the {n} held-out" in info["threshold_note"]
    result = runner.invoke(cli, ["defects", "fit", str(root / "good"), "-o", str(out), "--fpr", str(1 / n)])
    assert result.exit_code == 0 and "note:" not in result.stdout  # one held-out image above the threshold
    result = runner.invoke(cli, ["defects", "fit", str(root / "good"), "-o", str(out)])
    assert result.exit_code == 0 and f"note: the threshold is the highest score of the {n} held-out" in result.stdout
    result = runner.invoke(cli, ["defects", "fit", str(root / "good"), "-o", str(out), "--fpr", "1.5"])
    assert result.exit_code == 2 and "--fpr" in result.output
    result = runner.invoke(cli, ["defects", "fit", str(tmp_path / "nothing*.png"), "-o", str(out)])
    assert result.exit_code == 2


def test_scan_writes_reports_and_finds_the_spot(workspace, tmp_path):
    root, model = workspace
    outdir = tmp_path / "report"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["defects", "scan", str(model), str(root / "scan"), "-o", str(outdir), "--masks", str(root / "masks")]
    )
    # The corrupt file becomes a row with its error; the run goes on and exits 3.
    assert result.exit_code == 3, result.output
    for name in ("report.csv", "report.json", "report.html", "heatmaps/bad.png", "masks/bad.png", "masks/ok.png"):
        assert (outdir / name).is_file(), name
    assert not (outdir / "heatmaps" / "corrupt.png").exists()
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in csv.DictReader((outdir / "report.csv").open())}
    assert set(rows) == {"bad.png", "ok.png", "corrupt.png"}
    assert rows["corrupt.png"]["error"] and rows["corrupt.png"]["score"] == ""
    assert rows["bad.png"]["flagged"] == "true" and int(rows["bad.png"]["n_regions"]) >= 1
    assert rows["ok.png"]["flagged"] == "false" and not rows["ok.png"]["error"]
    report = json.loads((outdir / "report.json").read_text())
    bad = next(r for r in report["images"] if r["path"].endswith("bad.png"))
    r0, c0, r1, c1 = bad["regions"][0]["bbox"]
    assert r0 <= 30 < r1 and c0 <= 22 < c1
    predicted = np.asarray(Image.open(outdir / "masks" / "bad.png")) > 0
    assert predicted[30, 22] and not predicted[5, 60]
    assert not np.asarray(Image.open(outdir / "masks" / "ok.png")).any()
    heat = np.asarray(Image.open(outdir / "heatmaps" / "bad.png"))
    assert heat.shape == (64, 64, 3)
    metrics = report["metrics"]
    assert metrics["image_auroc"] == 1.0 and metrics["pixel_auroc"] > 0.9 and 0 < metrics["aupro"] <= 1
    assert "pixel_auroc" in result.output
    html = (outdir / "report.html").read_text()
    assert "data:image/png;base64" in html and "http://" not in html and "AUPRO" in html


def test_fail_on_defect_exit_code_and_json(workspace, tmp_path):
    root, model = workspace
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "defects",
            "scan",
            str(model),
            str(root / "scan" / "bad.png"),
            "-o",
            str(tmp_path / "a"),
            "--fail-on-defect",
            "--json",
        ],
    )
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["summary"]["flagged"] == 1
    result = runner.invoke(
        cli,
        ["defects", "scan", str(model), str(root / "scan" / "ok.png"), "-o", str(tmp_path / "b"), "--fail-on-defect"],
    )
    assert result.exit_code == 0, result.output


def test_workers_give_the_same_scores(workspace, tmp_path):
    root, model = workspace
    runner = CliRunner()
    images = [str(root / "scan" / "bad.png"), str(root / "scan" / "ok.png")]
    one = runner.invoke(cli, ["defects", "scan", str(model), *images, "-o", str(tmp_path / "one"), "-q"])
    two = runner.invoke(
        cli, ["defects", "scan", str(model), *images, "-o", str(tmp_path / "two"), "--workers", "2", "-q"]
    )
    assert one.exit_code == two.exit_code == 0, one.output + two.output
    a = (tmp_path / "one" / "report.csv").read_text()
    b = (tmp_path / "two" / "report.csv").read_text()
    assert a == b


def test_bad_model_file_exits_2(workspace, tmp_path):
    root, _ = workspace
    broken = tmp_path / "broken.gmmseg"
    broken.write_bytes(b"nope")
    result = CliRunner().invoke(cli, ["defects", "scan", str(broken), str(root / "scan"), "-o", str(tmp_path / "r")])
    assert result.exit_code == 2 and "model file" in result.output
    assert not (tmp_path / "r" / "report.csv").exists()


def test_fit_leaves_out_masks_and_excluded_files_and_says_so(tmp_path):
    rng = np.random.default_rng(3)
    good = tmp_path / "good"
    good.mkdir()
    for i in range(8):
        Image.fromarray(texture(rng, shape=(48, 48))).save(good / f"p{i}.jpg", quality=95)
        noise = rng.integers(0, 3, size=(48, 48)).astype(np.uint8)  # MTD-like mask: faint noise near 0
        Image.fromarray(noise).save(good / f"p{i}.png")
    out = tmp_path / "m.gmmseg"
    runner = CliRunner()
    args = ["defects", "fit", str(good), "-o", str(out), "--holdout", "0.5", "--exclude", "p7.*"]
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert sorted(p.rsplit("/", 1)[-1] for p in info["images_used"]) == [f"p{i}.jpg" for i in range(7)]
    skipped = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in info["images_skipped"]}
    assert len(skipped) == 9 and skipped["p7.jpg"] == "matches the exclude pattern 'p7.*'"
    assert skipped["p0.png"] == "a mask of p0.jpg (binary image with the same stem)"
    model = gmmseg.load(out)
    assert model.n_train_images_ + model.n_holdout_images_ == 7 == info["n_images"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "used 7 files, skipped 9" in result.output and "... and 4 more (all listed with --json)" in result.output


def test_fit_refuses_to_write_the_model_over_an_input_image(workspace, tmp_path):
    root, _ = workspace
    target = root / "good" / "g00.png"
    before = target.read_bytes()
    result = CliRunner().invoke(cli, ["defects", "fit", str(root / "good"), "-o", str(target)])
    assert result.exit_code == 2 and "refusing to overwrite the input" in result.output
    assert target.read_bytes() == before


def test_fit_has_the_broad_channel_by_default_as_the_library_and_no_broad_leaves_it_out(workspace, tmp_path):
    from gmmseg.image.io import read_image

    root, _ = workspace
    runs = {}
    for name, flags in (("default", []), ("fine", ["--no-broad"])):
        out = tmp_path / f"{name}.gmmseg"
        result = CliRunner().invoke(cli, ["defects", "fit", str(root / "good"), "-o", str(out), *flags, "--json"])
        assert result.exit_code == 0, result.output
        runs[name] = json.loads(result.stdout)["broad"], gmmseg.load(out)
    assert runs["default"][0] and runs["default"][1].broad_ is not None
    assert not runs["fine"][0] and runs["fine"][1].broad_ is None
    cli_model = runs["default"][1]
    images = [read_image(p, mode="keep").pixels for p in sorted((root / "good").glob("*.png"))]
    library = gmmseg.DefectModel(holdout=0.2, random_state=0).fit(images)
    assert cli_model.broad_ is not None and cli_model.threshold_ == pytest.approx(library.threshold_)
    probe = images[0]
    assert cli_model.score(probe) == pytest.approx(library.score(probe))
