"""Shared makers of small synthetic tables and the path of the shared real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared real data not found at {DATA}; real-data tests skipped")
    return DATA


def make_customers(n_per: int = 150, seed: int = 0) -> pd.DataFrame:
    """Two well separated customer groups with a categorical plan and a date column."""
    rng = np.random.default_rng(seed)
    spend = np.concatenate([rng.lognormal(3, 0.3, n_per), rng.lognormal(6, 0.3, n_per)])
    visits = np.concatenate([rng.poisson(1, n_per) + 1, rng.poisson(12, n_per) + 1]).astype(float)
    plan = np.where(np.arange(2 * n_per) < n_per, "basic", "pro")
    plan[rng.choice(2 * n_per, 10, replace=False)] = "trial"
    signup = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, 2 * n_per), unit="D")
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(2 * n_per)],
            "spend": spend,
            "visits": visits,
            "plan": plan,
            "signup": signup.strftime("%Y-%m-%d"),
        }
    )


def make_transactions(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(40):
        for _ in range(rng.integers(1, 6)):
            day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 120)))
            rows.append((f"c{c}", day.strftime("%Y%m%d"), int(rng.integers(1, 4)), round(float(rng.uniform(5, 50)), 2)))
    rows.append(("c0", "20240301", -1, -7.5))  # a return
    rows.append(("c99", "20240302", -1, -3.0))  # only a return: no purchase
    return pd.DataFrame(rows, columns=["customer", "date", "items", "value"])
