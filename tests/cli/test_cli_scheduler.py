"""Batch commands on a Dask cluster (--scheduler local:N): same outputs, failures listed."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gmmseg.cli import cli

pytest.importorskip("distributed")


def _images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        arr = np.zeros((40, 50, 3), dtype=np.uint8)
        arr[:, :25] = (200, 30, 30)
        arr[:, 25:] = (20, 20, 190)
        arr = np.clip(arr + rng.normal(0, 8, arr.shape), 0, 255).astype(np.uint8)
        path = tmp_path / f"img{i}.png"
        Image.fromarray(arr).save(path)
        paths.append(path)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    return paths, bad


def test_segment_on_a_local_cluster_matches_in_process_and_lists_failures(tmp_path):
    (a, b), bad = _images(tmp_path)
    runner = CliRunner()
    local = runner.invoke(cli, ["segment", str(a), str(b), "-k", "2", "-o", str(tmp_path / "local"), "--quiet"])
    assert local.exit_code == 0, local.output
    result = runner.invoke(
        cli,
        ["segment", str(a), str(bad), str(b), "-k", "2", "-o", str(tmp_path / "dask"), "--scheduler", "local:1"],
    )
    assert result.exit_code == 3, result.output
    assert "broken.png" in result.output and "1 of 3 images failed" in result.output
    for stem in ("img0", "img1"):
        for suffix in ("labels.png", "segmented.png", "overlay.png"):
            on_cluster = (tmp_path / "dask" / f"{stem}.{suffix}").read_bytes()
            assert on_cluster == (tmp_path / "local" / f"{stem}.{suffix}").read_bytes()


def test_bad_scheduler_is_a_usage_error(tmp_path):
    (a, _), _ = _images(tmp_path)
    result = CliRunner().invoke(cli, ["segment", str(a), "-o", str(tmp_path), "--scheduler", "local:zero"])
    assert result.exit_code == 2 and "local:N" in result.output


def test_defect_scan_on_a_local_cluster_matches_in_process(tmp_path):
    from tests.cli.conftest import texture

    rng = np.random.default_rng(0)
    good = tmp_path / "good"
    good.mkdir()
    for i in range(12):
        Image.fromarray(texture(rng, gain=rng.uniform(0.8, 1.2))).save(good / f"g{i:02d}.png")
    model = tmp_path / "model.gmmseg"
    runner = CliRunner()
    assert runner.invoke(cli, ["defects", "fit", str(good), "-o", str(model), "--seed", "1", "-q"]).exit_code == 0
    scan = tmp_path / "scan"
    scan.mkdir()
    for i in range(2):
        Image.fromarray(texture(rng)).save(scan / f"s{i}.png")
    (scan / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    here = runner.invoke(cli, ["defects", "scan", str(model), str(scan), "-o", str(tmp_path / "here"), "-q"])
    there = runner.invoke(
        cli, ["defects", "scan", str(model), str(scan), "-o", str(tmp_path / "there"), "-q", "--scheduler", "local:1"]
    )
    assert here.exit_code == there.exit_code == 3, here.output + there.output
    assert (tmp_path / "here" / "report.csv").read_text() == (tmp_path / "there" / "report.csv").read_text()
    assert "corrupt.png" in (tmp_path / "there" / "report.csv").read_text()
    for stem in ("s0", "s1"):
        assert (tmp_path / "there" / "heatmaps" / f"{stem}.png").read_bytes() == (
            tmp_path / "here" / "heatmaps" / f"{stem}.png"
        ).read_bytes()
