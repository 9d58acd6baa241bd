"""The command line: version, help on every command, `select`, `demo`, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import gmmseg
from gmmseg.cli import cli
from tests.conftest import make_mixture


@pytest.fixture
def runner():
    return CliRunner()


def _walk(group, prefix=()):
    import click

    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _walk(command, (*prefix, name))


def test_version_and_help_on_every_command(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and gmmseg.__version__ in result.output
    for path in _walk(cli):
        for flag in ("-h", "--help"):
            result = runner.invoke(cli, [*path, flag])
            assert result.exit_code == 0, (path, result.output)
            assert "Usage:" in result.output


def test_python_dash_m_runs_the_same_cli():
    out = subprocess.run([sys.executable, "-m", "gmmseg", "--version"], capture_output=True, text=True, check=True)
    assert gmmseg.__version__ in out.stdout


def test_select_prints_table_and_writes_plot_and_model(runner, tmp_path):
    X, _, _, _ = make_mixture(450, 3, 2, separation=10.0, seed=2)
    path = tmp_path / "data.csv"
    np.savetxt(path, X, delimiter=",", header="a,b", comments="")
    result = runner.invoke(
        cli,
        [
            "select",
            str(path),
            "-k",
            "1-5",
            "--covariance",
            "full",
            "--plot",
            str(tmp_path / "c.png"),
            "--save-model",
            str(tmp_path / "m.npz"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "chosen by BIC: K=3, covariance=full" in result.output
    assert (tmp_path / "c.png").stat().st_size > 1000
    model = gmmseg.load(tmp_path / "m.npz")
    assert model.n_components == 3 and list(model.feature_names_in_) == ["a", "b"]


def test_select_json_and_npy_input(runner, tmp_path):
    X, _, _, _ = make_mixture(300, 2, 3, separation=10.0, seed=3)
    np.save(tmp_path / "x.npy", X)
    result = runner.invoke(cli, ["select", str(tmp_path / "x.npy"), "-k", "1,2,3", "--json", "--criterion", "aic"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["criterion"] == "aic" and data["n_rows"] == 300 and len(data["table"]) == 12


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "file not found"),
        (b"", "is empty"),
        (b"a,b\n", "no rows"),
        (b"name,city\nx,y\nz,w\n", "no numeric columns"),
    ],
)
def test_select_bad_input_is_one_line_and_exit_2(runner, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(cli, ["select", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


def test_bad_k_range_is_a_usage_error(runner, tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(20, 2)))
    result = runner.invoke(cli, ["select", str(tmp_path / "x.npy"), "-k", "three"])
    assert result.exit_code == 2 and "not a number of components" in result.output


def test_internal_errors_become_one_line_with_exit_4(runner, tmp_path, monkeypatch):
    import gmmseg.cli.select as select_module

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(select_module, "select_components", boom)
    np.save(tmp_path / "x.npy", np.zeros((5, 2)))
    result = runner.invoke(cli, ["select", str(tmp_path / "x.npy")])
    assert result.exit_code == 4 and "internal error" in result.output and "Traceback" not in result.output


def test_demo_runs_every_job_and_writes_what_it_lists(runner, tmp_path):
    result = runner.invoke(cli, ["demo", "-o", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    listed = [line.split()[-1] for line in result.output.splitlines() if line.startswith("  ")]
    assert len(listed) >= 8
    for path in listed:
        assert (tmp_path / "demo").resolve() in __import__("pathlib").Path(path).resolve().parents
        assert __import__("pathlib").Path(path).stat().st_size > 0, path
    for expected in ("segment/coffee.segmented.png", "defects/report/report.html", "table/iris.bic.png"):
        assert (tmp_path / "demo" / expected).is_file()
