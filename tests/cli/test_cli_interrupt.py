"""Ctrl-C ends `defects scan --workers 2` promptly: exit 130, nothing written afterwards, no hang."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli.conftest import texture

ROOT = Path(__file__).resolve().parents[2]


def _default_ctrl_c() -> None:
    # A runner started in the background (`pytest &` in a script) ignores SIGINT, and a child
    # inherits that, so the scan would never see the Ctrl-C this test sends: give it the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to a child process")
def test_ctrl_c_stops_a_worker_pool_promptly_and_nothing_is_written_after(workspace, tmp_path):
    _, model = workspace
    rng = np.random.default_rng(5)
    scan = tmp_path / "scan"
    scan.mkdir()
    for i in range(80):
        Image.fromarray(texture(rng, shape=(128, 128))).save(scan / f"s{i:02d}.png", compress_level=1)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "gmmseg", "defects", "scan", str(model), str(scan), "-o", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [*command, "--workers", "2", "-q"], cwd=ROOT, env=env, stderr=subprocess.PIPE, preexec_fn=_default_ctrl_c
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "heatmaps").is_dir() or not any((out / "heatmaps").iterdir()):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no output appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        returncode = proc.wait(timeout=20)
        waited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read().decode()
    assert returncode == 130, stderr
    assert waited < 5, f"took {waited:.1f} s to stop"
    assert stderr.strip().splitlines()[-1] == "gmmseg: interrupted" and "Traceback" not in stderr
    at_exit = _files(out)
    time.sleep(1.0)
    assert _files(out) == at_exit, "files appeared after the command ended"
    assert not any(p.name.endswith(".tmp") for p in at_exit)
    assert len([p for p in at_exit if p.parent.name == "heatmaps"]) < 80 and not (out / "report.csv").exists()
