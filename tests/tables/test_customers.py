"""segment_customers: profiles against pandas groupby, saved model, BIC recovery, CDNOW quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from gmmseg.tables.customers import segment_customers
from gmmseg.tables.segment_model import load_customer_model

from .conftest import make_customers


@pytest.fixture(scope="module")
def result():
    return segment_customers(make_customers(), id_column="customer_id", max_components=4, n_seeds=2)


def test_recovers_two_groups(result):
    truth = (np.arange(300) >= 150).astype(int)
    assert result.n_segments == 2
    assert adjusted_rand_score(truth, result.labels) > 0.95
    np.testing.assert_allclose(result.proba.sum(axis=1), 1.0)
    assert (result.labels == result.proba.argmax(axis=1)).all()
    sizes = np.bincount(result.labels)
    assert (np.diff(sizes) <= 0).all()  # numbered by size


def test_profiles_match_pandas_groupby(result):
    frame = make_customers()
    frame["segment"] = result.labels
    ref = frame.groupby("segment")
    prof = result.profiles.set_index("segment")
    np.testing.assert_allclose(prof["spend_mean"], ref["spend"].mean())
    np.testing.assert_allclose(prof["visits_median"], ref["visits"].median())
    np.testing.assert_array_equal(prof["size"], ref.size())
    np.testing.assert_allclose(prof["share"], ref.size() / len(frame))
    top = ref["plan"].agg(lambda s: s.value_counts().index[0])
    assert [t.split(" (")[0] for t in prof["plan_top"]] == list(top)


def test_distinguishing_and_names(result):
    frame = make_customers()
    high = int(np.argmax(result.profiles["spend_mean"]))
    spend = next(i for i in result.distinguishing[high] if i["column"] == "spend")
    assert spend["std_diff"] > 0.5
    assert "high spend" in result.names[high]
    lift = next(i for i in result.distinguishing[high] if i.get("level") == "pro")
    share_in = (frame["plan"][result.labels == high] == "pro").mean()
    assert lift["lift"] == pytest.approx(share_in / (frame["plan"] == "pro").mean(), rel=1e-3)


def test_saved_model_assigns_new_tables_identically(result, tmp_path):
    path = result.model.save(tmp_path / "m.gmmseg")
    model = load_customer_model(path)
    frame = make_customers()
    np.testing.assert_array_equal(model.predict(frame), result.labels)
    shuffled = frame.sample(frac=1.0, random_state=1)
    np.testing.assert_array_equal(model.predict(shuffled), result.labels[shuffled.index])


def test_assignments_and_summary(result):
    table = result.assignments()
    assert list(table.columns[:4]) == ["customer_id", "segment", "segment_name", "confidence"]
    assert table.shape == (300, 4 + result.n_segments)
    summary = result.summary()
    assert summary["n_segments"] == 2 and len(summary["criterion_table"]) == 8
    assert len(summary["stability"]["aris"]) == 2


def test_rfm_table_uses_rfm_columns_by_default():
    rng = np.random.default_rng(0)
    n = 400
    table = pd.DataFrame(
        {
            "cid": np.arange(n),
            "recency": rng.integers(1, 300, n).astype(float),
            "frequency": rng.integers(1, 10, n).astype(float),
            "monetary": rng.lognormal(3, 1, n),
        }
    )
    table["tenure"] = table["recency"] + rng.integers(0, 100, n)
    res = segment_customers(table, id_column="cid", max_components=3, n_seeds=0)
    assert res.model.prep.columns_ == ["recency", "frequency", "monetary"]
    assert "tenure_mean" in res.profiles.columns


def test_cdnow_bic_interior_minimum_and_stability(shared_data):
    """The real check (K=1..8 full+diag, 5 seeds) runs in scripts/eval_cdnow.py; here a lighter one."""
    from gmmseg.tables.io import read_table
    from gmmseg.tables.rfm import rfm_from_transactions

    log = read_table(shared_data / "customers" / "cdnow_transactions.txt")
    rfm = rfm_from_transactions(log, customer="customer_id", date="date", amount="dollar_value")
    res = segment_customers(rfm, id_column="customer_id", covariance_type="full", max_components=9, n_seeds=2)
    assert res.selection.has_interior_minimum("full")
    assert res.stability["min"] >= 0.8


def test_id_inferred_and_columns_restrict_the_model():
    frame = make_customers()
    res = segment_customers(frame, columns=["spend"], n_components=2, n_seeds=0)
    assert res.id_column == "customer_id"
    assert res.model.prep.columns_ == ["spend"]
    assert (res.ids == frame["customer_id"].to_numpy()).all()
    assert "visits_mean" in res.profiles.columns  # still profiled


def test_binary_columns_are_profiled_as_shares():
    frame = make_customers()
    rng = np.random.default_rng(3)
    frame["partner"] = (rng.random(frame.shape[0]) < np.where(frame["spend"] > 100, 0.8, 0.2)).astype(int)
    result = segment_customers(frame, id_column="customer_id", n_components=2, n_seeds=0, exclude=["partner"])
    assert "partner_share" in result.profiles and "partner_mean" not in result.profiles
    expected = frame.groupby(result.labels)["partner"].mean()
    np.testing.assert_allclose(result.profiles["partner_share"], expected)
    assert result.overall.loc[0, "partner_share"] == pytest.approx(frame["partner"].mean())


def test_report_leads_with_what_sets_segments_apart(result):
    from gmmseg.reports.customers import format_value, render_customer_report

    page = render_customer_report(result)
    lead, rest = page.split("<details", 1)
    assert "what sets it apart" in lead and "Full profiles" in rest  # the full table is folded away
    high = int(np.argmax(result.profiles["spend_median"]))
    median = format_value("spend", result.profiles.loc[high, "spend_median"])
    assert median.startswith("$") and f"spend median {median} ↑" in lead  # in dollars, against all customers
    assert ">S1<" in lead and ">S2<" in lead
    assert format_value("tenure", 3.2) == "3 days" and format_value("x", 0.25, share=True) == "25%"


def test_binary_columns_name_segments_by_their_share():
    frame = make_customers()[["customer_id", "spend"]]
    rng = np.random.default_rng(3)
    # a 0/1 flag held by 90% of the high spenders and 10% of the others
    frame["partner"] = (rng.random(300) < np.where(np.arange(300) >= 150, 0.9, 0.1)).astype(int)
    result = segment_customers(frame, id_column="customer_id", n_components=2, n_seeds=0)
    assert result.model.prep.roles_["partner"] == "binary"
    for k in range(2):
        item = next(i for i in result.distinguishing[k] if i["column"] == "partner")
        share = frame["partner"][result.labels == k].mean()
        assert item["kind"] == "binary" and item["share"] == pytest.approx(share, abs=1e-4)
        assert f"{share:.0%} partner" in result.names[k]
        assert "high partner" not in result.names[k] and "low partner" not in result.names[k]
