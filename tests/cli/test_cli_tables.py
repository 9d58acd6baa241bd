"""CLI: gmmseg rfm / customers / anomalies with CliRunner, files in tmp_path, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from gmmseg.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tables"))
from conftest import make_customers, make_transactions


@pytest.fixture
def runner():
    return CliRunner()


def test_rfm_then_customers_then_model(runner, tmp_path):
    log = tmp_path / "log.txt"
    make_transactions().to_csv(log, sep=" ", index=False, header=False)
    before = log.read_bytes()
    out = tmp_path / "rfm.csv"
    res = runner.invoke(
        cli,
        [
            "rfm",
            str(log),
            "--names",
            "cust,day,n,value",
            "--customer",
            "cust",
            "--date",
            "day",
            "--amount",
            "value",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert log.read_bytes() == before
    rfm = pd.read_csv(out)
    assert list(rfm.columns) == ["cust", "recency", "frequency", "monetary", "tenure", "average_order_value"]
    # positions work with --no-header
    res = runner.invoke(
        cli, ["rfm", str(log), "--no-header", "--customer", "0", "--date", "1", "--amount", "3", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output

    table = tmp_path / "customers.csv"
    make_customers().to_csv(table, index=False)
    outdir = tmp_path / "seg"
    res = runner.invoke(
        cli,
        [
            "customers",
            str(table),
            "--id",
            "customer_id",
            "-k",
            "auto",
            "--k-max",
            "4",
            "--stability-seeds",
            "2",
            "-o",
            str(outdir),
        ],
    )
    assert res.exit_code == 0, res.output
    for name in ("assignments.csv", "profiles.csv", "summary.json", "report.html", "model.gmmseg"):
        assert (outdir / name).is_file()
    assign = pd.read_csv(outdir / "assignments.csv")
    summary = json.loads((outdir / "summary.json").read_text())
    assert summary["n_segments"] == assign["segment"].nunique() == 2
    html = (outdir / "report.html").read_text()
    assert "data:image/png;base64" in html and "http://" not in html and "https://" not in html

    out2 = tmp_path / "again"
    res = runner.invoke(cli, ["customers", str(table), "--model", str(outdir / "model.gmmseg"), "-o", str(out2)])
    assert res.exit_code == 0, res.output
    again = pd.read_csv(out2 / "assignments.csv")
    np.testing.assert_array_equal(again["segment"], assign["segment"])


def test_customers_from_transactions(runner, tmp_path):
    log = tmp_path / "log.csv"
    frame = make_transactions()
    frame = pd.concat([frame] * 3, ignore_index=True)
    frame["customer"] = frame["customer"] + np.repeat(["a", "b", "c"], len(frame) // 3)
    frame.to_csv(log, index=False)
    res = runner.invoke(
        cli,
        [
            "customers",
            "--transactions",
            str(log),
            "--customer",
            "customer",
            "--date",
            "date",
            "--amount",
            "value",
            "-k",
            "2",
            "--stability-seeds",
            "0",
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "customer" in pd.read_csv(tmp_path / "o" / "assignments.csv").columns


def test_anomalies_command(runner, tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    frame.loc[299, "c"] = 25.0
    frame.insert(0, "key", [f"k{i}" for i in range(300)])
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    res = runner.invoke(
        cli, ["anomalies", str(path), "--id", "key", "--contamination", "0.01", "-o", str(tmp_path / "a")]
    )
    assert res.exit_code == 0, res.output
    scores = pd.read_csv(tmp_path / "a" / "scores.csv")
    assert list(scores.columns) == ["key", "score", "flagged", "reason_1", "reason_2", "reason_3"]
    assert scores.loc[scores["score"].idxmin(), "key"] == "k299"
    assert scores["reason_1"][299].startswith("c = 25")
    assert scores["flagged"].sum() == 3
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["n_flagged"] == 3
    res = runner.invoke(
        cli, ["anomalies", str(path), "--reference", str(path), "--threshold", "-1e9", "-o", str(tmp_path / "b")]
    )
    assert res.exit_code == 0 and pd.read_csv(tmp_path / "b" / "scores.csv")["flagged"].sum() == 0


@pytest.mark.parametrize("key", ["text", "number"])
def test_anomalies_without_id_carries_the_detected_identifier(runner, tmp_path, key):
    # "number": a CSV of plain numbers, read without pandas; "text": through pandas
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    frame.loc[7, "b"] = -30.0
    ids = [f"k{i:04d}" for i in range(300)] if key == "text" else 1000 + rng.permutation(300)
    frame.insert(1, "order_id", ids)
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    res = runner.invoke(cli, ["anomalies", str(path), "-o", str(tmp_path / "auto"), "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["anomalies", str(path), "--id", "order_id", "-o", str(tmp_path / "given"), "--quiet"])
    assert res.exit_code == 0, res.output
    auto = (tmp_path / "auto" / "scores.csv").read_bytes()
    assert auto == (tmp_path / "given" / "scores.csv").read_bytes()  # as if --id had been given
    scores = pd.read_csv(tmp_path / "auto" / "scores.csv")
    assert list(scores.columns[:3]) == ["order_id", "score", "flagged"]
    assert list(scores["order_id"]) == list(frame["order_id"])
    assert scores.loc[scores["score"].idxmin(), "order_id"] == frame.loc[7, "order_id"]
    summary = json.loads((tmp_path / "auto" / "summary.json").read_text())
    assert summary["id_column"] == "order_id"
    assert {c["column"]: c["role"] for c in summary["columns"]}["order_id"] == "id"


def test_anomalies_without_an_identifier_numbers_the_rows(runner, tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "t.csv"
    pd.DataFrame(rng.normal(size=(200, 2)), columns=["a", "b"]).to_csv(path, index=False)
    res = runner.invoke(cli, ["anomalies", str(path), "-o", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 0, res.output
    scores = pd.read_csv(tmp_path / "o" / "scores.csv")
    assert list(scores.columns[:2]) == ["row", "score"] and list(scores["row"]) == list(range(200))
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["id_column"] is None


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["customers", "{missing}", "-o", "{out}"], "file not found"),
        (["customers", "{table}", "--id", "nope", "-o", "{out}"], "the columns are"),
        (["customers", "{table}", "-k", "many", "-o", "{out}"], "is not a number"),
        (["customers", "{table}", "--model", "{table}", "-o", "{out}"], "model file"),
        (["anomalies", "{table}", "--contamination", "0.1", "--threshold", "1", "-o", "{out}"], "not both"),
        (
            ["anomalies", "{table}", "--small-clusters", "anomalous", "--scheduler", "local:1", "-o", "{out}"],
            "needs the in-memory ensemble",
        ),
        (["rfm", "{table}", "--customer", "customer_id", "-o", "{out}/x.csv"], "required"),
    ],
)
def test_bad_input_exit_2_one_line(runner, tmp_path, args, needle):
    table = tmp_path / "c.csv"
    make_customers().to_csv(table, index=False)
    fill = {"missing": str(tmp_path / "none.csv"), "out": str(tmp_path / "out"), "table": str(table)}
    res = runner.invoke(cli, [a.format(**fill) for a in args])
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output


def test_rfm_and_anomalies_refuse_to_overwrite_their_input(runner, tmp_path):
    log = tmp_path / "log.csv"
    make_transactions().to_csv(log, index=False)
    before = log.read_bytes()
    args = ["rfm", str(log), "--customer", "customer", "--date", "date", "--amount", "amount", "-o", str(log)]
    res = runner.invoke(cli, args)
    assert res.exit_code == 2 and "refusing to overwrite the input" in res.output
    assert log.read_bytes() == before
    folder = tmp_path / "run"
    folder.mkdir()
    scores = folder / "scores.csv"
    make_customers().to_csv(scores, index=False)
    before = scores.read_bytes()
    res = runner.invoke(cli, ["anomalies", str(scores), "--id", "customer_id", "-o", str(folder)])
    assert res.exit_code == 2 and "refusing to overwrite the input" in res.output
    assert scores.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["scores.csv"]


def test_anomalies_wide_table_is_modelled_on_principal_components(runner, tmp_path, monkeypatch):
    import gmmseg.tables.anomalies as module

    monkeypatch.setattr(module, "WIDE_FEATURES", 20)
    monkeypatch.setattr(module, "WIDE_COMPONENTS", 4)
    rng = np.random.default_rng(0)
    # 30 columns driven by 3 factors; row 0 breaks the pattern on column c7
    frame = pd.DataFrame(rng.normal(size=(200, 3)) @ rng.normal(size=(3, 30)) + 0.1 * rng.normal(size=(200, 30)))
    frame.columns = [f"c{j}" for j in range(30)]
    frame.loc[0, "c7"] += 8.0
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    res = runner.invoke(cli, ["anomalies", str(path), "-o", str(tmp_path / "out"), "--json"])
    assert res.exit_code == 0, res.output
    assert "30 features after preparation" in res.stderr and "4 principal components" in res.stderr
    printed = json.loads(res.stdout)
    assert printed["reduction"]["n_components"] == 4 and printed["reduction"]["n_features"] == 30
    assert set(printed["timings"]) >= {"prepare_seconds", "fit_seconds", "score_seconds", "table_seconds"}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["reduction"]["method"] == "pca" and 0.9 < summary["reduction"]["explained_variance"] <= 1.0
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert len(scores) == 200 and scores["score"].idxmin() == 0
    assert scores.loc[0, "reason_1"].startswith("c7 = ")


def test_anomalies_small_clusters_anomalous_flags_a_tight_cluster(runner, tmp_path):
    # 200 rows in one tight cluster 3 sd off the first segment in three columns: a component of their own
    rng = np.random.default_rng(0)
    normal = np.vstack([rng.normal(0, 1, (1000, 5)), rng.normal([6, 0, 0, 0, 0], 1, (800, 5))])
    cluster = rng.normal([0, 3, 3, 3, 0], 0.1, (200, 5))
    path = tmp_path / "t.csv"
    pd.DataFrame(np.vstack([normal, cluster]).round(4), columns=list("abcde")).to_csv(path, index=False)
    flagged = {}
    for choice in ("normal", "anomalous"):
        out = tmp_path / choice
        args = ["anomalies", str(path), "--contamination", "0.1", "--small-clusters", choice, "-o", str(out), "-q"]
        res = runner.invoke(cli, args)
        assert res.exit_code == 0, res.output
        scores = pd.read_csv(out / "scores.csv")
        flagged[choice] = int(scores.loc[scores["flagged"], "row"].ge(1800).sum())
        assert json.loads((out / "summary.json").read_text())["small_clusters"] == choice
    assert flagged["normal"] < 20 and flagged["anomalous"] >= 150, flagged


def test_anomalies_json_has_timings(runner, tmp_path):
    path = tmp_path / "t.csv"
    make_customers().to_csv(path, index=False)
    res = runner.invoke(cli, ["anomalies", str(path), "--id", "customer_id", "-o", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.output
    timings = json.loads(res.stdout)["timings"]
    stages = ("read_seconds", "prepare_seconds", "fit_seconds", "score_seconds", "table_seconds", "write_seconds")
    assert all(timings[k] >= 0 for k in stages)
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["timings"] == timings
    assert "reduction" not in json.loads(res.stdout)
    # what a person sees on stderr, in order (the bar's label is printed when it changes off a terminal)
    lines = [line.split()[0] for line in res.stderr.splitlines() if line.strip()]
    assert lines == ["reading", "fitting", "scoring", "writing"], res.stderr


def test_demo_step_flags_the_planted_orders(tmp_path):
    from gmmseg.cli.demo import sample_folder
    from gmmseg.cli.tables.anomalies import demo_anomalies

    folder = sample_folder("orders")
    if folder is None:
        pytest.skip("sample_images/orders is absent (make it with scripts/make_anomaly_sample.py)")
    lines = dict(demo_anomalies(tmp_path, quiet=True))
    assert all(path.is_file() for path in lines.values())
    scores = pd.read_csv(lines["anomaly scores"])
    planted = set(pd.read_csv(folder / "orders.truth.csv")["order_id"])
    flagged = set(scores.loc[scores["flagged"], "order_id"])
    assert len(flagged) == 30  # 1% of 3000
    # the generator's planted kinds differ from ordinary orders by far more than its noise
    assert len(flagged & planted) >= 0.9 * len(planted)
    assert "O0" in lines["anomaly report"].read_text()
