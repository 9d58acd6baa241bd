"""Fixtures of the CLI tests: a fitted defect model and the images it scans (built once per session)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy import ndimage

from gmmseg.cli import cli


def texture(rng, shape=(64, 64), gain=1.0, offset=0.0):
    tex = ndimage.gaussian_filter(rng.normal(size=shape), 1.2)
    return np.clip(120 + 25 * tex / tex.std() * gain + offset, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    """Good images, a defective one with its mask, a good test image, a corrupt file and a fitted model."""
    root = tmp_path_factory.mktemp("defects")
    rng = np.random.default_rng(0)
    good = root / "good"
    good.mkdir()
    for i in range(20):
        Image.fromarray(texture(rng, gain=rng.uniform(0.8, 1.2), offset=rng.uniform(-15, 15))).save(
            good / f"g{i:02d}.png"
        )
    scan = root / "scan"
    masks = root / "masks"
    scan.mkdir()
    masks.mkdir()
    bad = texture(rng)
    yy, xx = np.mgrid[:64, :64]
    spot = (yy - 30) ** 2 + (xx - 22) ** 2 <= 16
    bad[spot] = 0
    Image.fromarray(bad).save(scan / "bad.png")
    Image.fromarray(spot.astype(np.uint8) * 255).save(masks / "bad.png")
    Image.fromarray(texture(rng)).save(scan / "ok.png")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(masks / "ok.png")
    (scan / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    model = root / "model.gmmseg"
    runner = CliRunner()
    result = runner.invoke(cli, ["defects", "fit", str(good), "-o", str(model), "--holdout", "0.5", "--seed", "1"])
    assert result.exit_code == 0, result.output
    return root, model
