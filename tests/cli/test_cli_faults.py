"""Faults end in clear errors (issue 14): write errors in batches and reports, usage errors."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from click.testing import CliRunner

import gmmseg.files
from gmmseg.cli import cli
from gmmseg.cli._common import run_batch, write_all
from gmmseg.errors import FailedItem, OutputError
from gmmseg.files import output_error


def _writer(fail_on: set[int], code: int, calls: list[int]):
    def write(item: int) -> int:
        calls.append(item)
        if item in fail_on:
            raise output_error(Path(f"out/{item}.png"), OSError(code, "simulated"))
        return item * 10

    return write


def test_run_batch_an_io_error_on_one_item_is_that_items_failure():
    calls: list[int] = []
    outcomes = run_batch(_writer({1}, errno.EIO, calls), range(4), scheduler=None, quiet=True, label="x")
    assert calls == [0, 1, 2, 3]
    assert [o for _, o in outcomes] == [
        0,
        FailedItem("cannot write out/1.png: simulated; check the output folder"),
        20,
        30,
    ]
    assert isinstance(outcomes[1][1], FailedItem)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_run_batch_stops_at_once_on_a_fatal_output_error(code):
    calls: list[int] = []
    with pytest.raises(OutputError, match=r"out/1\.png.*\(the batch stopped after 1 of 4 items\)") as info:
        run_batch(_writer({1}, code, calls), range(4), scheduler=None, quiet=True, label="x")
    assert info.value.fatal and calls == [0, 1]


def test_write_all_writes_every_output_it_can_then_raises_the_first_error(tmp_path):
    written = []

    def fail(name):
        raise output_error(tmp_path / name, OSError(errno.ENOSPC, "No space left on device"))

    with pytest.raises(OutputError, match="no space left on the device holding .*b.json"):
        write_all([lambda: written.append("a"), lambda: fail("b.json"), lambda: fail("c"), lambda: written.append("d")])
    assert written == ["a", "d"]


def _failing_fsync(predicate, code):
    real = gmmseg.files.os.fsync

    def fsync(fd):
        if predicate():
            raise OSError(code, "simulated")
        return real(fd)

    return fsync


def test_scan_an_unwritable_heat_map_fails_its_row_and_the_batch_goes_on(workspace, tmp_path, monkeypatch):
    root, model = workspace
    real = gmmseg.files.atomic_write_bytes

    def write(path, data):
        if Path(path).name == "bad.png":
            raise output_error(path, OSError(errno.EIO, "Input/output error"))
        return real(path, data)

    monkeypatch.setattr(gmmseg.files, "atomic_write_bytes", write)
    outdir = tmp_path / "r"
    images = [str(root / "scan" / "bad.png"), str(root / "scan" / "ok.png")]
    result = CliRunner().invoke(cli, ["defects", "scan", str(model), *images, "-o", str(outdir), "-q"])
    assert result.exit_code == 3, result.output
    assert "failed: " in result.output and "cannot write" in result.output and "bad.png" in result.output
    assert (outdir / "heatmaps" / "ok.png").is_file() and not (outdir / "heatmaps" / "bad.png").exists()
    assert (outdir / "report.csv").is_file() and (outdir / "report.html").is_file()


def test_scan_on_a_full_disk_stops_with_exit_2_and_no_partial_files(workspace, tmp_path, monkeypatch):
    root, model = workspace
    monkeypatch.setattr(gmmseg.files.os, "fsync", _failing_fsync(lambda: True, errno.ENOSPC))
    outdir = tmp_path / "r"
    result = CliRunner().invoke(cli, ["defects", "scan", str(model), str(root / "scan"), "-o", str(outdir)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("gmmseg:")]
    assert len(lines) == 1 and "no space left on the device holding" in lines[0] and "Traceback" not in result.output
    assert [p for p in outdir.rglob("*") if p.is_file()] == []


def test_scan_writes_every_report_it_can_when_one_fails(workspace, tmp_path, monkeypatch):
    import gmmseg.cli.defects as defects_cli

    root, model = workspace

    def no_space(path, data):
        raise output_error(path, OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(defects_cli, "write_json", no_space)
    outdir = tmp_path / "r"
    result = CliRunner().invoke(cli, ["defects", "scan", str(model), str(root / "scan" / "ok.png"), "-o", str(outdir)])
    assert result.exit_code == 2, result.output
    assert f"gmmseg: error: no space left on the device holding {outdir / 'report.json'}" in result.output
    assert (outdir / "report.csv").is_file() and (outdir / "report.html").is_file()
    assert not (outdir / "report.json").exists() and (outdir / "heatmaps" / "ok.png").is_file()


@pytest.mark.parametrize("option", ["--plot", "--save-model"])
def test_select_refuses_to_write_over_its_input(tmp_path, option):
    import numpy as np

    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).normal(size=(30, 2)))
    before = data.read_bytes()
    result = CliRunner().invoke(cli, ["select", str(data), "-k", "1-2", option, str(data)])
    assert result.exit_code == 2
    assert f"refusing to overwrite the input {data}; choose another output path with {option}" in result.output
    assert data.read_bytes() == before


def test_select_plot_and_model_must_differ(tmp_path):
    import numpy as np

    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).normal(size=(30, 2)))
    same = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["select", str(data), "--plot", str(same), "--save-model", str(same)])
    assert result.exit_code == 2 and "--plot and --save-model both name" in result.output and not same.exists()


def test_scan_refuses_a_report_folder_whose_report_is_an_input(workspace, tmp_path):
    root, model = workspace
    folder = tmp_path / "r"
    folder.mkdir()
    victim = folder / "report.html"
    victim.write_bytes((root / "scan" / "ok.png").read_bytes())
    result = CliRunner().invoke(cli, ["defects", "scan", str(model), str(victim), "-o", str(folder)])
    assert result.exit_code == 2 and f"refusing to overwrite the input {victim}" in result.output
    assert victim.read_bytes() == (root / "scan" / "ok.png").read_bytes()
    assert not (folder / "heatmaps").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["select"], "gmmseg: error: Missing argument 'DATA'; try 'cli select -h'"),
        (["bogus"], "gmmseg: error: No such command 'bogus'; try 'cli -h'"),
        (["--bogus"], "gmmseg: error: No such option '--bogus'; try 'cli -h'"),
        (["defects", "scan", "m", "x", "-o", "r", "--workers", "two"], "'two' is not a valid integer"),
        (["select", "x.npy", "-k", "0"], "gives no number of components of at least 1"),
    ],
)
def test_usage_errors_are_one_line_with_the_prefix_and_exit_2(tmp_path, args, expected):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gmmseg: error: ") and expected in lines[0], result.stderr
    assert lines[0].endswith("-h'") and result.stdout == ""
