"""RFM against an explicit per-customer loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gmmseg.errors import TableError
from gmmseg.tables.rfm import rfm_from_transactions

from .conftest import make_transactions


def _reference(log: pd.DataFrame, snapshot: pd.Timestamp) -> dict:
    out = {}
    for cust in sorted(set(log["customer"])):
        rows = log[log["customer"] == cust]
        dates = [pd.Timestamp(str(d)) for d in rows["date"]]
        values = list(rows["value"])
        purchase_days = sorted({d for d, v in zip(dates, values) if v > 0})
        if not purchase_days:
            continue
        monetary = sum(values)
        out[cust] = (
            (snapshot - purchase_days[-1]).days,
            len(purchase_days),
            monetary,
            (snapshot - purchase_days[0]).days,
            monetary / len(purchase_days),
        )
    return out


def test_rfm_matches_explicit_loop():
    log = make_transactions()
    rfm = rfm_from_transactions(log, customer="customer", date="date", amount="value")
    snapshot = max(pd.Timestamp(str(d)) for d in log["date"]) + pd.Timedelta(days=1)
    ref = _reference(log, snapshot)
    assert rfm.attrs["snapshot"] == str(snapshot.date())
    assert sorted(rfm["customer"]) == sorted(ref)
    assert rfm.attrs["customers_without_purchase"] == 1 and rfm.attrs["return_rows"] == 2
    for _, row in rfm.iterrows():
        np.testing.assert_allclose(
            [row.recency, row.frequency, row.monetary, row.tenure, row.average_order_value], ref[row.customer]
        )


def test_invoices_snapshot_quantity_and_unit_price():
    log = pd.DataFrame(
        {
            "c": ["a", "a", "a", "b", "b"],
            "inv": ["1", "1", "2", "3", "4"],
            "d": ["2024-01-01", "2024-01-01", "2024-01-01", "2024-01-02", "2024-02-01"],
            "price": [2.0, 3.0, 4.0, 5.0, 5.0],
            "qty": [1, 2, 1, 1, -1],
        }
    )
    rfm = rfm_from_transactions(
        log,
        customer="c",
        date="d",
        amount="price",
        invoice="inv",
        quantity="qty",
        unit_price=True,
        snapshot="2024-01-10",
    )
    a = rfm.set_index("c").loc["a"]
    assert a.frequency == 2 and a.monetary == 2 + 6 + 4 and a.quantity == 4 and a.recency == 9
    assert rfm.attrs["rows_after_snapshot"] == 1  # b's return is after the snapshot


def test_missing_column_lists_columns():
    log = make_transactions()
    with pytest.raises(TableError, match="the columns are: customer, date, items, value"):
        rfm_from_transactions(log, customer="nope", date="date", amount="value")


def test_bad_dates():
    log = pd.DataFrame({"c": [1, 2], "d": ["2024-01-01", "not a date"], "v": [1.0, 2.0]})
    with pytest.raises(TableError, match="not dates"):
        rfm_from_transactions(log, customer="c", date="d", amount="v")


def test_cdnow_log_as_is(shared_data):
    from gmmseg.tables.io import read_table

    log = read_table(shared_data / "customers" / "cdnow_transactions.txt")
    rfm = rfm_from_transactions(log, customer="customer_id", date="date", amount="dollar_value")
    grouped = log[log["dollar_value"] > 0].groupby("customer_id")
    assert rfm.shape[0] == grouped.ngroups
    freq = grouped["date"].nunique()
    np.testing.assert_array_equal(rfm.set_index("customer_id")["frequency"], freq.loc[rfm["customer_id"]])
