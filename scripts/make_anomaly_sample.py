"""Write the bundled order table ``sample_images/orders/orders.csv``, its truth and its README.

The generative story (seeded, so the files are the same on every run): an online shop's
orders, one row each. Ordinary orders:

==============  ==========================================================================
column          ordinary orders
==============  ==========================================================================
items           1 + Poisson(1.5)
unit_price      lognormal around $25 (sigma 0.6), not written; it makes ``amount``
discount_pct    0 for 70% of orders, else one of 5, 10, 15, 20
shipping_km     lognormal around 40 km (sigma 0.8), rounded to 0.1 km
amount          items x unit_price x (1 - discount) + shipping ($4.90 + $0.01 per km), cents
hour            the hour of the order: 60% around 13:00 (sd 2.5 h), 40% around 20:00 (sd 2 h)
account_days    age of the customer's account in days, uniform 1-2000
==============  ==========================================================================

Planted among them, 24 unusual orders of four kinds (6 each), written to ``orders.truth.csv``:

- ``price error``: 10-20 items charged $1-5 in all (a price field lost a digit);
- ``card testing``: one item for $0.50-2.00 between 02:00 and 04:59 from an account 0-2 days old;
- ``bulk reseller``: 40-80 items shipped 2,000-5,000 km;
- ``discount abuse``: 80-95% off an ordinary basket.

Each planted value is within the range ordinary orders take on its own column except the
count of items of the bulk orders and the discounts: the first two kinds are unusual only
in a combination of columns, which is what a density sees and a per-column rule does not.

Usage::

    python scripts/make_anomaly_sample.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "sample_images" / "orders"
N_ORDERS = 3000
N_PER_KIND = 6
SEED = 20261201

README = """# Order sample

`orders.csv`: {n} synthetic orders of an online shop, one row each: `order_id`, `items`,
`discount_pct`, `shipping_km`, `amount` (dollars), `hour` (0-23) and `account_days` (age of the
customer's account). {planted} of them are planted unusual orders of four kinds (price errors,
card testing, bulk resellers, discount abuse); `orders.truth.csv` names them (`order_id`,
`kind`) and is not an input of the model.

- Source: made by `scripts/make_anomaly_sample.py` (seed {seed}) from a documented generative
  story; the script's docstring gives every distribution. No real person's data.
- Licence: CC0 1.0 (public domain dedication).
- Used by `gmmseg demo` (`gmmseg anomalies orders.csv --id order_id` and its `report.html`).
"""


def _ordinary(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    items = 1 + rng.poisson(1.5, n)
    discount = np.where(rng.random(n) < 0.7, 0, rng.choice([5, 10, 15, 20], n))
    km = np.round(rng.lognormal(np.log(40), 0.8, n), 1)
    evening = rng.random(n) < 0.4
    hour = np.where(evening, rng.normal(20, 2, n), rng.normal(13, 2.5, n))
    return {
        "items": items,
        "discount_pct": discount,
        "shipping_km": km,
        "amount": _amount(rng, items, discount, km),
        "hour": np.mod(np.round(hour), 24).astype(int),
        "account_days": rng.integers(1, 2001, n),
    }


def _amount(rng, items, discount, km):
    unit = rng.lognormal(np.log(25), 0.6, np.size(items))
    return np.round(items * unit * (1 - discount / 100) + 4.90 + 0.01 * km, 2)


def _planted(rng: np.random.Generator, m: int) -> tuple[dict[str, np.ndarray], list[str]]:
    rows = {key: [] for key in ("items", "discount_pct", "shipping_km", "amount", "hour", "account_days")}
    base = _ordinary(rng, 4 * m)
    kinds = []
    for k, kind in enumerate(("price error", "card testing", "bulk reseller", "discount abuse")):
        part = {key: value[k * m : (k + 1) * m].copy() for key, value in base.items()}
        if kind == "price error":
            part["items"] = rng.integers(10, 21, m)
            part["amount"] = np.round(rng.uniform(1, 5, m), 2)
        elif kind == "card testing":
            part["items"] = np.ones(m, dtype=int)
            part["discount_pct"] = np.zeros(m, dtype=int)
            part["amount"] = np.round(rng.uniform(0.5, 2.0, m), 2)
            part["hour"] = rng.integers(2, 5, m)
            part["account_days"] = rng.integers(0, 3, m)
        elif kind == "bulk reseller":
            part["items"] = rng.integers(40, 81, m)
            part["shipping_km"] = np.round(rng.uniform(2000, 5000, m), 1)
            part["amount"] = _amount(rng, part["items"], part["discount_pct"], part["shipping_km"])
        else:
            part["discount_pct"] = rng.integers(80, 96, m)
            part["amount"] = _amount(rng, part["items"], part["discount_pct"], part["shipping_km"])
        for key in rows:
            rows[key].append(part[key])
        kinds += [kind] * m
    return {key: np.concatenate(value) for key, value in rows.items()}, kinds


def make_orders(n: int = N_ORDERS, per_kind: int = N_PER_KIND, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The order table of the generative story above and its truth.

    Parameters
    ----------
    n : int, default=3000
        Rows in all, planted ones included.
    per_kind : int, default=6
        Planted orders of each of the four kinds.
    seed : int

    Returns
    -------
    orders : pandas.DataFrame of shape (n, 7)
    truth : pandas.DataFrame of shape (4 * per_kind, 2)
        ``order_id`` and ``kind`` of the planted orders.
    """
    rng = np.random.default_rng(seed)
    ordinary = _ordinary(rng, n - 4 * per_kind)
    planted, kinds = _planted(rng, per_kind)
    frame = pd.DataFrame({key: np.concatenate([ordinary[key], planted[key]]) for key in ordinary})
    shuffle = rng.permutation(n)  # row i of the file is generated row shuffle[i]: planted rows spread out
    frame = frame.iloc[shuffle].reset_index(drop=True)
    frame.insert(0, "order_id", [f"O{i:05d}" for i in range(n)])
    first_planted = n - 4 * per_kind
    at = np.flatnonzero(shuffle >= first_planted)
    truth = pd.DataFrame(
        {"order_id": frame["order_id"].to_numpy()[at], "kind": np.array(kinds)[shuffle[at] - first_planted]}
    )
    return frame, truth


def main() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    orders, truth = make_orders()
    orders.to_csv(FOLDER / "orders.csv", index=False)
    truth.to_csv(FOLDER / "orders.truth.csv", index=False)
    (FOLDER / "README.md").write_text(README.format(n=N_ORDERS, planted=len(truth), seed=SEED))
    print(f"wrote {FOLDER / 'orders.csv'}, orders.truth.csv and README.md")


if __name__ == "__main__":
    main()
