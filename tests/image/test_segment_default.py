"""The default K is chosen by ICL: in ``segment_image`` and in ``gmmseg segment`` (issue 12)."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image
from sklearn.metrics import adjusted_rand_score

import gmmseg.cli.segment  # noqa: F401  (registers the command on the group)
from gmmseg import segment_image
from gmmseg.cli import cli


def _stripes(colors, width=24, height=30, sigma=6.0, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(colors)), width)[None, :].repeat(height, axis=0)
    image = np.asarray(colors, dtype=np.float64)[truth] + rng.normal(0, sigma, (*truth.shape, 3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8), truth


FIVE = [[220, 40, 40], [40, 180, 60], [40, 60, 220], [230, 220, 60], [30, 30, 30]]


def test_segment_image_chooses_k_by_default():
    image, truth = _stripes(FIVE)
    seg = segment_image(image, random_state=0)
    assert seg.settings["n_components"] == "auto" and seg.selection.criterion == "icl"
    assert seg.n_segments == 5
    assert adjusted_rand_score(truth.ravel(), seg.labels.ravel()) == 1.0
    assert segment_image(image, 3, random_state=0).selection is None


def test_the_command_chooses_k_by_default_and_writes_the_criterion_curve(tmp_path):
    image, _ = _stripes(FIVE)
    Image.fromarray(image).save(tmp_path / "stripes.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["segment", str(tmp_path / "stripes.png"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "stripes.json").read_text())
    table = summary["selection"]["table"]
    assert summary["settings"]["n_components"] == "auto"
    assert [row["n_components"] for row in table] == list(range(1, 11))
    # The blur of the command makes colors between the stripes, which ICL gives segments of their own;
    # the regions are still the five stripes.
    assert summary["n_segments"] == min(table[1:], key=lambda row: row["icl"])["n_components"]
    assert f"K={summary['n_segments']} (chosen by ICL), 5 regions" in result.output
    assert (out / "stripes.criterion.png").stat().st_size > 0
    fixed = CliRunner().invoke(cli, ["segment", str(tmp_path / "stripes.png"), "-k", "3", "-o", str(tmp_path / "k3")])
    assert fixed.exit_code == 0, fixed.output
    assert json.loads((tmp_path / "k3" / "stripes.json").read_text())["n_segments"] == 3
    assert not (tmp_path / "k3" / "stripes.criterion.png").exists()


def test_the_default_merges_regions_by_boundary_contrast_and_a_fixed_k_does_not():
    from pathlib import Path

    from gmmseg.image.io import read_image

    photo = read_image(Path(__file__).resolve().parents[2] / "sample_images" / "coffee.jpg").pixels[::3, ::3]
    default = segment_image(photo, blur=1.0, random_state=0)
    without = segment_image(photo, blur=1.0, random_state=0, contrast_threshold=0)
    assert default.settings["contrast_threshold"] == 3.0 and default.settings["merge_threshold"] == 9.0
    assert default.n_regions < without.n_regions
    # the pieces are cut along the edges and then only merged: each cut piece lies in one region
    from gmmseg.image.region_edges import edge_segments
    from gmmseg.image.regions import connected_regions

    pieces = connected_regions(default.labels, cut=edge_segments(photo))
    pairs = np.unique(np.stack([pieces.ravel(), default.regions.ravel()]), axis=1)
    assert np.unique(pairs[0]).size == pairs.shape[1] > default.n_regions
    fixed = segment_image(photo, 4, blur=1.0, random_state=0)
    assert fixed.settings["contrast_threshold"] == 0.0 and fixed.settings["merge_threshold"] == 12.0
