"""``gmmseg customers`` / ``gmmseg anomalies`` with ``--scheduler`` on a real LocalCluster (loopback).

The table is a glob of 3 CSV files and a Parquet dataset (folder of 3 files); references: the
synthetic groups (adjusted Rand index) and the planted outliers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

dask = pytest.importorskip("dask")
pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

from click.testing import CliRunner  # noqa: E402

from gmmseg.cli import cli  # noqa: E402
from gmmseg.core.agreement import adjusted_rand_index  # noqa: E402
from tests.conftest import loopback_cluster  # noqa: E402

N_PER_GROUP = 600
N_OUTLIERS = 8
PLANS = ("basic", "plus", "pro")


@pytest.fixture(scope="module")
def address():
    # the CLI only ships gmmseg's own (installed) functions to the workers
    cluster = loopback_cluster(distributed)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _table(seed: int = 3, outliers: int = 0):
    """Three well-separated customer groups (+ outliers); returns the frame and the true group per row."""
    rng = np.random.default_rng(seed)
    centers = [(20.0, 2.0, 300.0), (200.0, 12.0, 60.0), (1500.0, 40.0, 900.0)]
    parts, truth = [], []
    for g, (spend, visits, tenure) in enumerate(centers):
        parts.append(
            pd.DataFrame(
                {
                    "spend": rng.normal(spend, 0.08 * spend, N_PER_GROUP).round(2),
                    "visits": rng.normal(visits, 0.1 * visits, N_PER_GROUP).round(2),
                    "tenure": rng.normal(tenure, 0.05 * tenure, N_PER_GROUP).round(1),
                    "plan": np.where(rng.uniform(size=N_PER_GROUP) < 0.95, PLANS[g], PLANS[(g + 1) % 3]),
                }
            )
        )
        truth.append(np.full(N_PER_GROUP, g))
    frame = pd.concat(parts, ignore_index=True)
    truth = np.concatenate(truth)
    if outliers:
        rows = rng.choice(frame.shape[0], outliers, replace=False)
        frame.loc[rows, "spend"] = 60_000.0 + 1000.0 * np.arange(outliers)  # far beyond every group
        frame.loc[rows, "tenure"] = 5.0
        truth[rows] = -1
    order = rng.permutation(frame.shape[0])
    frame, truth = frame.iloc[order].reset_index(drop=True), truth[order]
    frame.insert(0, "customer_id", np.arange(100_000, 100_000 + frame.shape[0]))
    return frame, truth


def _write(frame, folder, kind: str) -> str:
    folder.mkdir()
    chunks = np.array_split(np.arange(frame.shape[0]), 3)
    for i, rows in enumerate(chunks):
        part = frame.iloc[rows]
        if kind == "csv":
            part.to_csv(folder / f"part-{i}.csv", index=False)
        else:
            part.to_parquet(folder / f"part-{i}.parquet", index=False)
    return str(folder / "part-*.csv") if kind == "csv" else str(folder)


def _run(args):
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_customers_on_scheduler(address, tmp_path, kind):
    frame, truth = _table()
    table = _write(frame, tmp_path / "table", kind)
    out = tmp_path / "out"
    args = ["customers", table, "--id", "customer_id", "-k", "auto", "--k-max", "4", "--covariance", "full"]
    result = _run([*args, "--stability-seeds", "2", "-o", str(out), "--scheduler", address, "--json"])
    written = {"assignments.csv", "profiles.csv", "summary.json", "model.gmmseg", "report.html"}
    assert {p.name for p in out.iterdir()} == written  # no temporary file left behind
    assert "Segments</h2>" in (out / "report.html").read_text()
    assign = pd.read_csv(out / "assignments.csv")
    assert assign.shape[0] == frame.shape[0]
    assert list(assign.columns[:4]) == ["customer_id", "segment", "segment_name", "confidence"]
    assert sorted(assign["customer_id"]) == sorted(frame["customer_id"])  # every row once, ids intact
    by_id = dict(zip(frame["customer_id"], truth))
    ari = adjusted_rand_index([by_id[i] for i in assign["customer_id"]], assign["segment"])
    assert ari > 0.95
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_rows"] == frame.shape[0] and summary["n_segments"] == 3
    assert summary["distributed"]["partitions"] == 3
    assert json.loads(result.stdout)["n_segments"] == 3
    profiles = pd.read_csv(out / "profiles.csv")
    assert profiles["size"].sum() == frame.shape[0]
    assert list(profiles["size"]) == sorted(profiles["size"], reverse=True)
    # exact means in original units: the mean spend of each segment equals the pandas mean of its rows
    merged = frame.merge(assign[["customer_id", "segment"]], on="customer_id")
    expected = merged.groupby("segment")["spend"].mean()
    assert np.allclose(profiles.set_index("segment")["spend_mean"], expected, rtol=1e-9)
    # the saved model assigns the table again (in memory) the same way
    again = tmp_path / "again"
    in_memory = tmp_path / "whole.csv"
    frame.to_csv(in_memory, index=False)
    _run(["customers", str(in_memory), "--model", str(out / "model.gmmseg"), "-o", str(again), "--quiet"])
    assert (pd.read_csv(again / "assignments.csv")["segment"] == frame.merge(assign)["segment"]).all()


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_anomalies_on_scheduler(address, tmp_path, kind):
    frame, truth = _table(seed=5, outliers=N_OUTLIERS)
    table = _write(frame, tmp_path / "table", kind)
    out = tmp_path / "out"
    _run(["anomalies", table, "--id", "customer_id", "-o", str(out), "--scheduler", address, "--quiet"])
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns) == ["customer_id", "score", "flagged"]
    assert scores.shape[0] == frame.shape[0]
    flagged = set(scores.loc[scores["flagged"], "customer_id"])
    planted = set(frame["customer_id"][truth == -1])
    assert planted <= flagged  # every planted outlier is caught
    assert len(flagged) <= 0.02 * frame.shape[0]  # contamination 0.01, approximate quantile
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_rows"] == frame.shape[0] and summary["n_flagged"] == len(flagged)
    assert summary["ensemble"] == "none"
    if kind == "csv":
        return
    # an explicit threshold flags exactly the rows scoring below it; without --id the identifier
    # FeaturePrep finds is carried (not row numbers), as in memory
    low = np.sort(scores["score"])  # scores.csv rounds to 6 decimals: cut halfway between two scores
    cut = float((low[N_OUTLIERS - 1] + low[N_OUTLIERS]) / 2)
    out2 = tmp_path / "out2"
    _run(["anomalies", table, "--threshold", str(cut), "-o", str(out2), "--scheduler", address])
    again = pd.read_csv(out2 / "scores.csv")
    assert again["flagged"].sum() == N_OUTLIERS
    assert list(again.columns) == ["customer_id", "score", "flagged"]
    pd.testing.assert_frame_equal(again.drop(columns="flagged"), scores.drop(columns="flagged"))
    assert json.loads((out2 / "summary.json").read_text())["id_column"] == "customer_id"


def test_wide_table_is_scored_on_principal_components(address, tmp_path, monkeypatch):
    import gmmseg.tables.anomalies as module
    from gmmseg import distributed as gd

    monkeypatch.setattr(module, "WIDE_FEATURES", 20)
    monkeypatch.setattr(module, "WIDE_COMPONENTS", 4)
    rng = np.random.default_rng(2)
    values = rng.normal(size=(900, 3)) @ rng.normal(size=(3, 30)) + 0.1 * rng.normal(size=(900, 30))
    values[:5, 7] += 10.0  # 5 rows off the 3-factor pattern
    frame = pd.DataFrame(values, columns=[f"c{j}" for j in range(30)])
    table = _write(frame, tmp_path / "table", "parquet")
    with distributed.Client(address, set_as_default=False) as client:
        scores, summary = gd.score_table(table, client=client)
        scores = scores.compute()
    assert summary["reduction"] == {
        "method": "pca",
        "n_features": 30,
        "n_components": 4,
        "explained_variance": summary["reduction"]["explained_variance"],
    }
    assert set(np.argsort(scores["score"].to_numpy())[:5]) == set(range(5))


def test_scheduler_refuses_transactions(address, tmp_path):
    result = CliRunner().invoke(
        cli,
        ["customers", "--transactions", str(tmp_path / "log.csv"), "-o", str(tmp_path), "--scheduler", address],
    )
    assert result.exit_code == 2
    assert "--scheduler" in result.output


def test_prep_fitted_on_a_sample(address, tmp_path):
    # more rows than the FeaturePrep sample: the sample is drawn on the workers, the fit uses every row
    from gmmseg import distributed as gd

    frame, truth = _table(seed=11)
    table = _write(frame, tmp_path / "table", "parquet")
    with distributed.Client(address, set_as_default=False) as client:
        result = gd.segment_table(
            table,
            id_column="customer_id",
            n_components=3,
            covariance_type="full",
            n_seeds=0,
            client=client,
            sample_rows=500,
        )
        assign = result.assignments().compute()  # lazy: the library writes nothing
    assert not any(tmp_path.glob("**/assignments.csv"))
    summary = result.summary()
    assert 300 < summary["distributed"]["prep_sample_rows"] < 700
    assert summary["n_rows"] == frame.shape[0] == assign.shape[0]
    by_id = dict(zip(frame["customer_id"].astype(str), truth))  # ids are read as text
    assert adjusted_rand_index([by_id[i] for i in assign["customer_id"]], assign["segment"]) > 0.95
    assert result.profiles["size"].sum() == frame.shape[0]
    assert result.labels.shape[0] == summary["distributed"]["prep_sample_rows"]  # the sample is described
