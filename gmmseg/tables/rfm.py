"""Recency, frequency and monetary value (RFM) per customer from a transaction log.

Rules
-----
- A **purchase** is a transaction (or, with an invoice column, an invoice) whose value is
  positive. **Returns and cancellations** are rows with a negative value: they are
  subtracted from the customer's monetary value (net spend, which can fall to zero or
  below), but they never count as a purchase, so they change neither frequency nor
  recency nor tenure. Rows with a zero value are ignored.
- Customers without any purchase (only returns or zero rows) are left out; how many is
  reported in ``result.attrs["customers_without_purchase"]``.
- Transactions dated after the snapshot are left out (counted in
  ``result.attrs["rows_after_snapshot"]``).
- ``recency``: days from the last purchase to the snapshot (default: the last date in
  the log + 1 day, so the most recent buyers have recency 1).
- ``frequency``: distinct invoices with a positive value, or without an invoice column,
  distinct purchase days.
- ``monetary``: net spend (sum of all values, returns included).
- ``tenure``: days from the first purchase to the snapshot (the customer's age).
- ``average_order_value``: monetary / frequency.
- ``quantity`` (with a quantity column): net number of items.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError, TableError

__all__ = ["rfm_from_transactions", "parse_dates"]


def parse_dates(series, name: str = "date"):
    """Parse a column of dates: datetimes, ``YYYYMMDD`` integers or date strings.

    Returns a pandas datetime Series (time of day kept); unreadable dates raise a
    :class:`TableError` naming the first bad value.
    """
    import warnings

    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series):
        dates = pd.to_datetime(series)
    elif pd.api.types.is_numeric_dtype(series):
        text = series.astype("Int64").astype("string")
        dates = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    else:
        text = series.astype("string").str.strip()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dates = pd.to_datetime(text, errors="coerce", format="mixed")
        if dates.isna().mean() > 0.5 and text.str.fullmatch(r"\d{8}").mean() > 0.5:
            dates = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    bad = dates.isna() & series.notna()
    if bad.any():
        first = series[bad].iloc[0]
        raise TableError(
            f"{int(bad.sum())} value(s) of column {name!r} are not dates (first: {first!r}); use YYYY-MM-DD or YYYYMMDD"
        )
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(None)
    return dates


def rfm_from_transactions(
    transactions,
    *,
    customer: str,
    date: str,
    amount: str,
    invoice: str | None = None,
    quantity: str | None = None,
    unit_price: bool = False,
    snapshot=None,
):
    """Per-customer recency, frequency, monetary value, tenure and average order value.

    Parameters
    ----------
    transactions : pandas.DataFrame of shape (n_transactions, n_columns)
        One row per transaction line. Not modified.
    customer, date, amount : str
        Columns with the customer identifier, the date and the value of the line.
    invoice : str, optional
        Invoice/order column; frequency then counts invoices instead of purchase days.
    quantity : str, optional
        Item count column; adds a net ``quantity`` column.
    unit_price : bool, default=False
        If True, ``amount`` is a unit price and the line value is ``amount × quantity``.
    snapshot : date-like, optional
        The "today" of the analysis; default the last date in the log + 1 day.

    Returns
    -------
    pandas.DataFrame of shape (n_customers, 6 or 7)
        Columns ``customer`` (named as the input column), ``recency``, ``frequency``,
        ``monetary``, ``tenure``, ``average_order_value`` [, ``quantity``], sorted by
        customer. ``attrs`` holds ``snapshot`` and the counts of the rules above.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"c": [1, 1, 2], "d": ["2024-01-01", "2024-01-05", "2024-01-03"],
    ...                     "v": [10.0, 5.0, 7.0]})
    >>> rfm = rfm_from_transactions(log, customer="c", date="d", amount="v")
    >>> rfm[["recency", "frequency", "monetary", "tenure"]].values.tolist()
    [[1.0, 2.0, 15.0, 5.0], [3.0, 1.0, 7.0, 3.0]]
    """
    import pandas as pd

    frame = transactions
    needed = [c for c in (customer, date, amount, invoice, quantity) if c is not None]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise TableError(
            f"column(s) {', '.join(map(str, missing))} not found in the transactions; "
            f"the columns are: {', '.join(map(str, frame.columns))}"
        )
    if unit_price and quantity is None:
        raise ParameterError("unit_price=True needs a quantity column; pass quantity=COLUMN")
    if frame.shape[0] == 0:
        raise TableError("the transaction log has no rows")
    dates = parse_dates(frame[date], date).dt.normalize()
    values = pd.to_numeric(frame[amount], errors="coerce")
    if values.isna().all():
        raise TableError(f"column {amount!r} has no numbers; pass the amount column with --amount")
    qty = pd.to_numeric(frame[quantity], errors="coerce").fillna(0.0) if quantity else None
    if unit_price:
        values = values * qty
    ids = frame[customer]
    keep = ids.notna() & dates.notna() & values.notna()
    attrs: dict[str, Any] = {"rows_without_customer_date_or_amount": int((~keep).sum())}
    if snapshot is None:
        snap = dates[keep].max() + pd.Timedelta(days=1)
    else:
        try:
            snap = pd.Timestamp(snapshot).normalize()
        except (ValueError, TypeError):
            raise ParameterError(f"snapshot {snapshot!r} is not a date; use YYYY-MM-DD") from None
    after = keep & (dates > snap)
    attrs["rows_after_snapshot"] = int(after.sum())
    keep &= ~after
    work = pd.DataFrame(
        {
            "customer": ids[keep].to_numpy(),
            "date": dates[keep].to_numpy(),
            "value": values[keep].to_numpy(dtype=np.float64),
        }
    )
    if invoice is not None:
        work["order"] = frame.loc[keep, invoice].astype("string").to_numpy()
    else:
        work["order"] = work["date"]
    if qty is not None:
        work["quantity"] = qty[keep].to_numpy(dtype=np.float64)
    attrs["return_rows"] = int((work["value"] < 0).sum())
    attrs["zero_value_rows"] = int((work["value"] == 0).sum())
    grouped = work.groupby("customer", sort=True)
    monetary = grouped["value"].sum()
    # orders: value per (customer, order); a purchase is an order with positive value
    orders = work.groupby(["customer", "order"], sort=False).agg(value=("value", "sum"), date=("date", "max"))
    positive_rows = work[work["value"] > 0]
    purchases = orders[orders["value"] > 0].reset_index()
    frequency = purchases.groupby("customer")["order"].nunique()
    first = positive_rows.groupby("customer")["date"].min()
    last = positive_rows.groupby("customer")["date"].max()
    customers = frequency.index.intersection(first.index)
    attrs["customers_without_purchase"] = int(monetary.index.size - customers.size)
    out = pd.DataFrame(index=customers)
    out["recency"] = (snap - last.loc[customers]).dt.days.astype(np.float64)
    out["frequency"] = frequency.loc[customers].astype(np.float64)
    out["monetary"] = monetary.loc[customers].astype(np.float64)
    out["tenure"] = (snap - first.loc[customers]).dt.days.astype(np.float64)
    out["average_order_value"] = out["monetary"] / out["frequency"]
    if qty is not None:
        out["quantity"] = grouped["quantity"].sum().loc[customers].astype(np.float64)
    out.index.name = customer
    out = out.reset_index()
    attrs["snapshot"] = str(snap.date())
    attrs["n_customers"] = int(out.shape[0])
    attrs["n_transactions"] = int(keep.sum())
    if out.shape[0] == 0:
        raise TableError("no customer has a purchase (a positive amount) before the snapshot; check --amount")
    out.attrs.update(attrs)
    return out
