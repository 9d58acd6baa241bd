"""`gmmseg segment`: files written, exit codes, batches with failures, inputs never overwritten."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import gmmseg.cli.segment as segment_cli  # registers the command (and its demo step) on the group
from gmmseg import segment_image
from gmmseg.cli import cli
from gmmseg.image.io import read_image


@pytest.fixture
def runner():
    return CliRunner()


def _photo(path, size=(40, 60), seed=0, colors=((200, 40, 40), (40, 160, 60), (50, 60, 200))):
    rng = np.random.default_rng(seed)
    h, w = size
    truth = (np.arange(w)[None, :] * len(colors) // w).repeat(h, axis=0)
    image = np.asarray(colors, float)[truth] + rng.normal(0, 8, (h, w, 3))
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    Image.fromarray(image).save(path)
    return image


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_segment_one_image_writes_every_output(runner, tmp_path):
    image = _photo(tmp_path / "photo.png")
    out = tmp_path / "out"
    result = runner.invoke(cli, ["segment", str(tmp_path / "photo.png"), "-k", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "photo.json",
        "photo.labels.png",
        "photo.overlay.png",
        "photo.regions.png",
        "photo.segmented.png",
    ]
    labels = read_image(out / "photo.labels.png").pixels
    assert labels.dtype == np.uint8
    expected = segment_image(image, 3, random_state=0, blur=1.0)  # the command's defaults
    np.testing.assert_array_equal(labels, expected.labels)
    regions = read_image(out / "photo.regions.png").pixels
    assert regions.dtype == np.uint16
    np.testing.assert_array_equal(regions, expected.regions)
    summary = json.loads((out / "photo.json").read_text())
    assert summary["n_segments"] == 3 and len(summary["segments"]) == 3
    # three vertical color bands: three regions, each one band with its bounding box
    assert summary["n_regions"] == 3 and [r["area"] for r in summary["regions"]] == [40 * 20] * 3
    assert [r["bbox"] for r in summary["regions"]] == [[0, 0, 40, 20], [0, 20, 40, 40], [0, 40, 40, 60]]
    assert summary["settings"]["blur"] == 1.0 and summary["settings"]["merge_threshold"] == 12.0
    overlay = read_image(out / "photo.overlay.png").pixels
    assert (overlay[:, 19] == (255, 255, 0)).all() and (overlay[:, 18] != (255, 255, 0)).any(axis=1).all()
    assert {"read", "fit", "write", "total"} <= set(summary["timings"])
    segmented = read_image(out / "photo.segmented.png").pixels
    for row in summary["segments"]:
        np.testing.assert_array_equal(segmented[labels == row["label"]][0], np.round(row["mean_rgb"]))
    assert "K=3" in result.output and "Traceback" not in result.output


def test_auto_k_json_and_probabilities(runner, tmp_path):
    _photo(tmp_path / "p.png")
    out = tmp_path / "o"
    result = runner.invoke(
        cli,
        [
            "segment",
            str(tmp_path / "p.png"),
            "-k",
            "auto",
            "--k-max",
            "5",
            "--blur",
            "0",
            "--probabilities",
            "--json",
            "-o",
            out,
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    summary = data["images"][0]
    assert data["failed"] == [] and summary["n_segments"] == 3
    assert [row["n_components"] for row in summary["selection"]["table"]] == [1, 2, 3, 4, 5]
    assert (out / "p.criterion.png").stat().st_size > 0
    with np.load(out / "p.proba.npz", allow_pickle=False) as npz:
        maps = npz["probabilities"]
        assert maps.dtype == np.float16 and maps.shape == (3, 40, 60)
        np.testing.assert_allclose(maps.astype(np.float32).sum(axis=0), 1.0, atol=5e-3)
        assert npz["labels"].tolist() == [0, 1, 2]
        np.testing.assert_array_equal(maps.argmax(axis=0), read_image(out / "p.labels.png").pixels)


def test_batch_goes_on_after_bad_images_and_exits_3(runner, tmp_path):
    _photo(tmp_path / "a.png")
    _photo(tmp_path / "c.jpg", seed=1)
    (tmp_path / "b.png").write_bytes(b"")  # empty
    (tmp_path / "d.jpg").write_bytes(b"GIF89a not really")  # not an image
    out = tmp_path / "out"
    result = runner.invoke(cli, ["segment", str(tmp_path), "-k", "3", "-o", str(out)])
    assert result.exit_code == 3, result.output
    assert (out / "a.labels.png").exists() and (out / "c.labels.png").exists()
    assert not (out / "b.labels.png").exists()
    err = result.stderr
    assert "b.png" in err and "empty" in err and "d.jpg" in err and "2 of 4 images failed" in err
    assert "Traceback" not in result.output + err
    assert all(line.startswith("gmmseg: ") for line in err.splitlines() if "error" in line)


def test_nothing_processed_exits_2(runner, tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = runner.invoke(cli, ["segment", str(tmp_path / "x.png"), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "x.png" in result.stderr
    result = runner.invoke(cli, ["segment", str(tmp_path / "missing.png"), "-o", str(tmp_path)])
    assert result.exit_code == 2 and "no such file" in result.stderr
    result = runner.invoke(cli, ["segment", str(tmp_path / "*.tif")])
    assert result.exit_code == 2 and "matches no file" in result.stderr
    result = runner.invoke(cli, ["segment", str(tmp_path / "x.png"), "-k", "many"])
    assert result.exit_code == 2 and "-k" in result.stderr


def test_max_pixels_guard(runner, tmp_path):
    _photo(tmp_path / "p.png")
    result = runner.invoke(cli, ["segment", str(tmp_path / "p.png"), "--max-pixels", "1000", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "--max-pixels" in result.stderr
    result = runner.invoke(cli, ["segment", str(tmp_path / "p.png"), "--max-pixels", "0", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.stderr


def test_never_overwrites_an_input(runner, tmp_path):
    _photo(tmp_path / "p.png")
    # an input that happens to carry an output's name
    _photo(tmp_path / "p.labels.png", seed=4)
    before = {name: _digest(tmp_path / name) for name in ("p.png", "p.labels.png")}
    result = runner.invoke(
        cli, ["segment", str(tmp_path / "p.png"), str(tmp_path / "p.labels.png"), "-k", "2", "-o", str(tmp_path)]
    )
    assert result.exit_code == 3, result.output
    assert "refusing to overwrite" in result.stderr
    assert {name: _digest(tmp_path / name) for name in before} == before
    assert (tmp_path / "p.labels.labels.png").exists()  # the other image went through


def test_same_seed_same_bytes_and_stem_collisions(runner, tmp_path):
    _photo(tmp_path / "a.png")
    _photo(tmp_path / "a.jpg", seed=2)
    digests = []
    for run in ("one", "two"):
        out = tmp_path / run
        result = runner.invoke(cli, ["segment", str(tmp_path / "a.png"), str(tmp_path / "a.jpg"), "-o", str(out)])
        assert result.exit_code == 0, result.output
        names = sorted(p.name for p in out.glob("*.png"))
        assert "a-1.labels.png" in names and "a-2.regions.png" in names
        digests.append({name: _digest(out / name) for name in names})
    assert digests[0] == digests[1]


def test_smoothing_16_bit_labels_and_gray(runner, tmp_path):
    levels = np.repeat(np.arange(300, dtype=np.uint16) * 200, 4).reshape(30, 40)
    Image.fromarray(levels).save(tmp_path / "g16.png")
    result = runner.invoke(
        cli, ["segment", str(tmp_path / "g16.png"), "-k", "260", "--covariance", "spherical", "-o", str(tmp_path), "-q"]
    )
    assert result.exit_code == 0, result.output
    labels = read_image(tmp_path / "g16.labels.png").pixels
    assert labels.dtype == np.uint16 and labels.max() == 259
    assert result.output == ""  # --quiet
    _photo(tmp_path / "s.png", size=(30, 30))
    result = runner.invoke(cli, ["segment", str(tmp_path / "s.png"), "--smooth", "1.5", "-k", "3", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s.json").read_text())["smoothing"] == 1.5


def test_demo_step_segments_the_sample_photos(tmp_path):
    lines = segment_cli.demo_segment(tmp_path, quiet=True)
    assert len(lines) == 6
    assert any(path.name == "coffee.regions.png" for _, path in lines)
    for _, path in lines:
        assert path.is_file() and path.stat().st_size > 0 and tmp_path in path.parents
    assert (tmp_path / "segment" / "coffee.criterion.png").exists()


def test_smoothing_neighborhood_and_probability_maps(runner, tmp_path):
    image = _photo(tmp_path / "photo.png")
    out = tmp_path / "out"
    argv = ["segment", str(tmp_path / "photo.png"), "-k", "3", "--smooth", "1", "--neighborhood", "8"]
    result = runner.invoke(cli, [*argv, "--probabilities", "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "photo.json").read_text())
    assert summary["settings"]["neighborhood"] == 8
    seg = segment_image(image, 3, random_state=0, smoothing=1.0, neighborhood=8)
    with np.load(out / "photo.proba.npz") as saved:
        np.testing.assert_array_equal(saved["labels"], seg.segment_labels)
        maps = saved["probabilities"]
    assert maps.dtype == np.float16 and maps.shape == (3, *image.shape[:2])
    np.testing.assert_array_equal(maps, np.stack([seg.probabilities(j) for j in seg.segment_labels]).astype(np.float16))
