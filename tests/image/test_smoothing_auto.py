"""``smoothing="auto"``: the pseudo-likelihood estimate of the Potts beta, in the library and the CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy.optimize import minimize_scalar
from sklearn.metrics import adjusted_rand_score

import gmmseg.cli.segment  # noqa: F401  (registers the command)
from gmmseg import segment_image
from gmmseg.cli import cli
from gmmseg.errors import ParameterError
from gmmseg.image.smoothing import BETA_MAX, potts_beta
from tests.image.synthetic import random_color_scene


def _pseudo_likelihood(labels, beta, k, neighborhood):
    """``Σ_i log p(z_i | neighbors)`` written as a plain loop over the pixels."""
    h, w = labels.shape
    steps = [(-1, 0, 1.0), (1, 0, 1.0), (0, -1, 1.0), (0, 1, 1.0)]
    if neighborhood == 8:
        steps += [(dr, dc, 1 / np.sqrt(2)) for dr in (-1, 1) for dc in (-1, 1)]
    total = 0.0
    for r in range(h):
        for c in range(w):
            if labels[r, c] < 0:
                continue
            weight = np.zeros(k)
            for dr, dc, wt in steps:
                rr, cc = r + dr, c + dc
                if 0 <= rr < h and 0 <= cc < w and labels[rr, cc] >= 0:
                    weight[labels[rr, cc]] += wt
            total += beta * weight[labels[r, c]] - np.log(np.sum(np.exp(beta * weight)))
    return total


@pytest.mark.parametrize("neighborhood", [4, 8])
def test_potts_beta_maximizes_the_pseudo_likelihood_of_a_plain_loop(neighborhood):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, (24, 20))
    labels[:12, :10] = 0  # some structure, so the maximum is inside (0, BETA_MAX)
    labels[12:, 10:] = 4  # K = 5 with label 1..2 speckle; excluded pixels too
    labels[0, :5] = -1
    reference = minimize_scalar(
        lambda b: -_pseudo_likelihood(labels, b, 5, neighborhood), bounds=(0, BETA_MAX), method="bounded"
    ).x
    assert potts_beta(labels, 5, neighborhood=neighborhood) == pytest.approx(reference, abs=2e-3)
    # empty labels of the prior count: with K = 7 two more labels compete at every pixel
    reference7 = minimize_scalar(lambda b: -_pseudo_likelihood(labels, b, 7, 4), bounds=(0, 10), method="bounded").x
    assert potts_beta(labels, 7) == pytest.approx(reference7, abs=2e-3)


def test_potts_beta_recovers_the_beta_of_potts_samples_and_its_bounds():
    rng = np.random.default_rng(0)
    k = 3
    for beta in (0.4, 0.8):  # below the critical 1.005 of 3 labels: the samples stay mixed
        z = rng.integers(0, k, (64, 64))
        parity = np.indices(z.shape).sum(axis=0) % 2
        for _ in range(150):  # Gibbs sweeps over the two checkerboard classes
            for p in (0, 1):
                padded = np.pad(z, 1, constant_values=-1)
                counts = np.stack(
                    [
                        sum(
                            (padded[1 + dr : 65 + dr, 1 + dc : 65 + dc] == j).astype(int)
                            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                        )
                        for j in range(k)
                    ]
                )
                prob = np.exp(beta * counts)
                draw = (np.cumsum(prob / prob.sum(axis=0), axis=0) < rng.random(z.shape)).sum(axis=0)
                z = np.where(parity == p, np.minimum(draw, k - 1), z)
        assert potts_beta(z, k) == pytest.approx(beta, abs=0.12)
    assert potts_beta(np.indices((30, 30))[1] // 10) == BETA_MAX  # no pixel loses to its neighbors
    assert potts_beta(np.zeros((5, 5), dtype=int)) == 0.0  # one label: nothing to estimate
    with pytest.raises(ParameterError, match="neighborhood"):
        potts_beta(np.zeros((5, 5), dtype=int), neighborhood=6)


def test_auto_lands_where_the_scene_meets_the_target():
    image, truth = random_color_scene(30, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = segment_image(image, 5, random_state=0, smoothing="auto")
        plain = segment_image(image, 5, random_state=0)
    # on this scene ARI >= 0.97 holds for every beta from 1 to 6 (0.966 at 0.5); the estimate lands inside
    assert 1.0 <= seg.smoothing <= 6.0
    assert seg.settings["smoothing"] == "auto" and seg.settings["smoothing_beta"] == seg.smoothing
    assert adjusted_rand_score(truth.ravel(), seg.labels.ravel()) >= 0.97
    assert adjusted_rand_score(truth.ravel(), seg.labels.ravel()) > adjusted_rand_score(
        truth.ravel(), plain.labels.ravel()
    )


def test_auto_keeps_the_small_regions_of_a_nearly_noise_free_scene():
    truth = np.zeros((60, 60), dtype=int)
    truth[:, 30:] = 1
    for r in range(4, 58, 6):  # 3 x 3 and 2 x 2 dots of two more colors (4.5 % and 2 % of the pixels)
        truth[r : r + 3, 8:11] = truth[r : r + 3, 20:23] = 2
        truth[r : r + 2, 40:42] = truth[r : r + 2, 50:52] = 3
    colors = np.array([[30, 30, 30], [220, 220, 220], [200, 40, 40], [40, 60, 200]], dtype=float)
    image = np.clip(colors[truth] + np.random.default_rng(0).normal(0, 3, (60, 60, 3)), 0, 255).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = segment_image(image, 4, random_state=0, smoothing="auto")
    # no pixel of these labels loses to its neighbors, so the estimate is the bound; the colors still win
    assert seg.smoothing == BETA_MAX
    assert adjusted_rand_score(truth.ravel(), seg.labels.ravel()) == 1.0


def test_cli_smooth_auto_reports_the_estimate(tmp_path):
    rng = np.random.default_rng(0)
    truth = (np.arange(60)[None, :] * 3 // 60).repeat(40, axis=0)
    image = np.array([[200, 40, 40], [40, 160, 60], [50, 60, 200]], float)[truth] + rng.normal(0, 25, (40, 60, 3))
    Image.fromarray(np.clip(np.round(image), 0, 255).astype(np.uint8)).save(tmp_path / "p.png")
    runner = CliRunner()
    result = runner.invoke(
        cli, ["segment", str(tmp_path / "p.png"), "-k", "3", "--smooth", "auto", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "p.json").read_text())
    assert summary["settings"]["smoothing"] == "auto"
    assert summary["smoothing"] == summary["settings"]["smoothing_beta"] > 0
    assert f"smoothing {summary['smoothing']:.3g} (auto)" in result.output
    assert (tmp_path / "p.regions.png").is_file()
    bad = runner.invoke(cli, ["segment", str(tmp_path / "p.png"), "--smooth", "strong", "-o", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "use a number >= 0 (e.g. 2) or auto" in bad.output
    with pytest.raises(ParameterError, match="or 'auto'"):
        segment_image(image.astype(np.uint8), 3, smoothing="strong")
