"""CLI: gmmseg customers refuses to overwrite its inputs, parses -k, writes through one writer."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from gmmseg.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tables"))
from conftest import make_customers


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "customers.csv"
    make_customers(n_per=60).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", ["assignments.csv", "profiles.csv", "model.gmmseg"])
def test_refuses_an_output_that_is_an_input(tmp_path, table, name):
    # the input sits where an output would go: refused before anything is written
    inside = tmp_path / "run"
    inside.mkdir()
    source = inside / name
    source.write_bytes(table.read_bytes())
    before = sorted(p.name for p in inside.iterdir())
    args = ["customers", str(source), "-k", "2", "--stability-seeds", "0", "-o", str(inside)]
    if name == "model.gmmseg":
        args = ["customers", str(table), "--model", str(source), "-o", str(inside)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert "refusing to overwrite the input" in result.output
    assert sorted(p.name for p in inside.iterdir()) == before
    assert source.read_bytes() == table.read_bytes()


def test_k_is_a_components_type(tmp_path, table):
    bad = CliRunner().invoke(cli, ["customers", str(table), "-k", "many", "-o", str(tmp_path / "out")])
    assert bad.exit_code == 2
    assert "is not a number of components" in bad.output
    out = tmp_path / "out"
    good = CliRunner().invoke(cli, ["customers", str(table), "-k", " 2 ", "--stability-seeds", "0", "-o", str(out)])
    assert good.exit_code == 0, good.output
    written = {"assignments.csv", "profiles.csv", "summary.json", "report.html", "model.gmmseg"}
    assert {p.name for p in out.iterdir()} == written  # and no temporary file left behind
    assert pd.read_csv(out / "profiles.csv")["segment"].tolist() == [0, 1]


def test_demo_step_segments_the_bundled_customer_table(tmp_path):
    from gmmseg.cli.demo import sample_folder
    from gmmseg.cli.tables.customers import demo_customers

    if sample_folder("customers") is None:
        pytest.skip("sample_images/customers is absent (make it with scripts/make_customer_sample.py)")
    lines = dict(demo_customers(tmp_path, quiet=True))
    assert all(path.is_file() for path in lines.values())
    profiles = pd.read_csv(lines["customer profiles"])
    assert 3 <= profiles.shape[0] <= 6  # four customer types in the generative story
    assert "newsletter_share" in profiles  # the binary column, as a share
    assert "S1" in lines["customer report"].read_text()
