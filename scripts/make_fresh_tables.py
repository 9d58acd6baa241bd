"""A second anomaly benchmark that nobody tuned on: real tables bundled in installed packages, and synthetic ones.

Made without network at run time. The set and its protocol were fixed before any model was run on
it (docs/anomalies.md, "A fresh check"); nothing in gmmseg was chosen on it.

**Real tables** (the ODDS/ADBench recipe: one class, or the majority classes, are normal; a seeded
sample without replacement of the other class(es) are the anomalies; the labels only score):

========================  ===================================================================  =====
table                     normal rows / anomalies                                              draws
========================  ===================================================================  =====
``iris_oneclass``         one class (50) / 5 rows of the other two                             3 x 5
``wine_oneclass``         one class / 10% of its count from the others                         3 x 5
``breast_cancer``         benign (357) / 18 malignant (5%)                                     5
``digits_oneclass``       one digit (~180) / 5% of its count from the other digits             10 x 3
``digits_majority``       the other nine digits (~1617) / 3% of their count of one digit       10 x 3
``penguins_oneclass``     one species / 5% of its count from the other two                     3 x 5
========================  ===================================================================  =====

The first four are scikit-learn's bundled datasets. ``penguins`` is the Palmer penguins table of
the ``palmerpenguins`` package (PyPI; package MIT, data CC0; Horst, Hill and Gorman 2020), used
for this evaluation only: rows with a missing value are dropped (333 left) and the features are
``island``, the four measurements and ``sex`` (text columns, as an analyst has them). The table is
skipped with a message when the package is absent. Overlap with ADBench, said up front:
breast_cancer is WDBC's data, digits is part of optdigits' and wine is 45_wine's, with other
protocols (which class is normal, the shares and the samples).

**Synthetic tables** (five seeds each): realistic mixed-type normal data (skewed money columns,
counts, 0/1 and categorical columns, columns on scales from 1e-3 to 1e6, correlated features,
clustered rows) with the four kinds of anomaly of ADBench's synthetic study: global, local,
dependency and clustered.

========================  ===================================================================
table                     normal data / anomalies
========================  ===================================================================
``customers_global``      3 customer segments (3,000 rows: age, income, spend, orders, tenure,
                          member 0/1, region, channel) / 2% with spend x 8-30 or orders x 5-10
``customers_local``       the same / 3% rows of one segment with two of income, spend, orders,
                          age replaced by typical values of another segment
``dependency``            2-factor model (2,000 rows: 8 features, a money and a 0/1 column) /
                          5% with every column drawn independently from the normal marginals
``local_clusters``        4 clusters in 6-D of sd 0.3-2.5 and a count column / 5% cluster
                          members with covariance x 5 (ADBench's local, alpha = 5)
``clustered_anomalies``   3 clusters in 8-D with a money and a 0/1 column / 10% as one tight
                          cluster 3 sd off in 3 features
``mixed_scales``          3,000 rows on scales 1e-3 .. 1e6, a count, a 0/1, a categorical /
                          1% uniform in the 1.1x bounding box of the numeric columns
``transactions``          4,000 orders (amount, items, hour, discount, new account, payment,
                          account age) / 1%: half amount x 20-60, half combinations (many items
                          for a tiny amount; a new account at 2-4 a.m. with a top-2% amount)
``wide_noise``            30 columns: 6 informative (2 factors) and 24 noise columns of mixed
                          types / 5% with factor-model residuals x 5 in the informative columns
========================  ===================================================================

``python scripts/make_fresh_tables.py --out DIR`` writes every draw as ``NAME__DRAW.csv`` with a
``NAME__DRAW.truth.csv`` (0/1 per row) beside it, to look at; ``scripts/eval_fresh_tables.py``
runs the methods on them in memory.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

REAL_SEEDS = range(5)
DIGIT_SEEDS = range(3)
SYNTHETIC_SEEDS = range(5)


def _one_class_draws(X: pd.DataFrame, labels: np.ndarray, share: float | int, seeds, *, majority: bool = False):
    """Yield ``(draw, frame, y)`` for every class as the normal one (or as the anomalies if ``majority``)."""
    for number, c in enumerate(np.unique(labels)):
        normal = np.flatnonzero(labels != c) if majority else np.flatnonzero(labels == c)
        others = np.flatnonzero(labels == c) if majority else np.flatnonzero(labels != c)
        n_anomalies = share if isinstance(share, int) else round(share * normal.size)
        for seed in seeds:
            rng = np.random.default_rng(1000 * int(seed) + number)
            chosen = rng.choice(others, size=n_anomalies, replace=False)
            rows = np.concatenate([normal, chosen])
            y = np.r_[np.zeros(normal.size, int), np.ones(n_anomalies, int)]
            yield f"{c}-{seed}", X.iloc[rows].reset_index(drop=True), y


def real_tables() -> Iterator[tuple[str, str, pd.DataFrame, np.ndarray]]:
    """Yield ``(table, draw, frame, y)`` for the real tables."""
    from sklearn import datasets

    for name, loader, share in (("iris_oneclass", datasets.load_iris, 5), ("wine_oneclass", datasets.load_wine, 0.10)):
        bunch = loader(as_frame=True)
        for draw, frame, y in _one_class_draws(bunch.data, bunch.target.to_numpy(), share, REAL_SEEDS):
            yield name, draw, frame, y
    bunch = datasets.load_breast_cancer(as_frame=True)
    benign = (bunch.target.to_numpy() == 1).astype(int)  # 1 = benign in scikit-learn's coding
    for draw, frame, y in _one_class_draws(bunch.data, benign, 18, REAL_SEEDS):
        if draw.startswith("1-"):  # benign as the normal class only
            yield "breast_cancer", draw, frame, y
    bunch = datasets.load_digits(as_frame=True)
    digits = bunch.target.to_numpy()
    for draw, frame, y in _one_class_draws(bunch.data, digits, 0.05, DIGIT_SEEDS):
        yield "digits_oneclass", draw, frame, y
    for draw, frame, y in _one_class_draws(bunch.data, digits, 0.03, DIGIT_SEEDS, majority=True):
        yield "digits_majority", draw, frame, y
    try:
        from palmerpenguins import load_penguins
    except ImportError:
        print("penguins_oneclass skipped: palmerpenguins is not installed (pip install palmerpenguins)")
        return
    penguins = load_penguins().dropna().reset_index(drop=True)
    features = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
    species = penguins["species"].to_numpy()
    frame = penguins[features].astype({"island": str, "sex": str})
    for draw, part, y in _one_class_draws(frame, species, 0.05, REAL_SEEDS):
        yield "penguins_oneclass", draw, part, y


# ---------------------------------------------------------------- synthetic tables


def _customers(rng: np.random.Generator, n: int = 3000) -> tuple[pd.DataFrame, np.ndarray]:
    """Three customer segments; returns the table and each row's segment."""
    segment = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    age = np.array([34.0, 52.0, 27.0])[segment] + rng.normal(0, 6, n)
    log_income = np.array([10.6, 11.3, 10.1])[segment] + rng.normal(0, 0.3, n)
    log_spend = np.array([-3.0, -3.4, -2.2])[segment] + 0.8 * log_income + rng.normal(0, 0.35, n)
    orders = rng.poisson(np.array([4.0, 9.0, 22.0])[segment])
    tenure = rng.gamma(np.array([2.0, 6.0, 1.5])[segment], 200.0).round()
    member = (rng.random(n) < np.array([0.2, 0.7, 0.4])[segment]).astype(int)
    region_p = np.array([[0.4, 0.3, 0.1, 0.1, 0.1], [0.1, 0.2, 0.4, 0.2, 0.1], [0.2, 0.1, 0.1, 0.2, 0.4]])
    region = np.array([rng.choice(5, p=region_p[s]) for s in segment])
    channel_p = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.8, 0.15, 0.05]])
    channel = np.array([rng.choice(3, p=channel_p[s]) for s in segment])
    frame = pd.DataFrame(
        {
            "age": age.round(),
            "income": np.exp(log_income).round(-2),
            "spend": np.exp(log_spend).round(2),
            "orders": orders,
            "tenure_days": tenure,
            "member": member,
            "region": np.array(["north", "south", "east", "west", "center"])[region],
            "channel": np.array(["web", "store", "phone"])[channel],
        }
    )
    return frame, segment


def customers_global(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    frame, _ = _customers(rng)
    y = np.zeros(len(frame), int)
    bad = rng.choice(len(frame), size=round(0.02 * len(frame)), replace=False)
    y[bad] = 1
    spend = rng.random(bad.size) < 0.5
    frame.loc[bad[spend], "spend"] = (frame.loc[bad[spend], "spend"] * rng.uniform(8, 30, spend.sum())).round(2)
    frame.loc[bad[~spend], "orders"] = (
        frame.loc[bad[~spend], "orders"] * rng.uniform(5, 10, (~spend).sum()) + 5
    ).round()
    return frame, y


def customers_local(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    frame, segment = _customers(rng)
    y = np.zeros(len(frame), int)
    bad = rng.choice(len(frame), size=round(0.03 * len(frame)), replace=False)
    y[bad] = 1
    columns = ["income", "spend", "orders", "age"]
    for row in bad:
        other = rng.choice([s for s in range(3) if s != segment[row]])
        donors = np.flatnonzero(segment == other)
        for column in rng.choice(columns, size=2, replace=False):
            frame.loc[row, column] = frame.loc[rng.choice(donors), column]
    return frame, y


def _factor_rows(rng: np.random.Generator, n: int, d: int, noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of a 2-factor model: values (n, d), factors (n, 2), loadings (2, d)."""
    loadings = rng.normal(0, 1, (2, d))
    factors = rng.normal(0, 1, (n, 2))
    return factors @ loadings + rng.normal(0, noise, (n, d)), factors, loadings


def dependency(rng: np.random.Generator, n: int = 2000) -> tuple[pd.DataFrame, np.ndarray]:
    values, factors, _ = _factor_rows(rng, n, 8, 0.3)
    money = np.exp(4.0 + 0.6 * factors[:, 0] + rng.normal(0, 0.2, n)).round(2)
    flag = (factors[:, 1] + rng.normal(0, 0.3, n) > 0.5).astype(int)
    frame = pd.DataFrame(
        values * rng.uniform(0.5, 20, 8) + rng.uniform(-50, 50, 8), columns=[f"x{i}" for i in range(8)]
    )
    frame["amount"] = money
    frame["flag"] = flag
    y = np.zeros(n, int)
    bad = rng.choice(n, size=round(0.05 * n), replace=False)
    y[bad] = 1
    normal = np.flatnonzero(y == 0)
    for column in frame.columns:  # each column from its own marginal: the dependence is gone
        frame.loc[bad, column] = frame.loc[rng.choice(normal, size=bad.size), column].to_numpy()
    return frame, y


def local_clusters(rng: np.random.Generator, n: int = 2000) -> tuple[pd.DataFrame, np.ndarray]:
    sds = np.array([0.3, 0.6, 1.2, 2.5])
    cluster = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    centers = rng.normal(0, 6, (4, 6))
    y = np.zeros(n, int)
    bad = rng.choice(n, size=round(0.05 * n), replace=False)
    y[bad] = 1
    scale = sds[cluster] * np.where(y == 1, np.sqrt(5.0), 1.0)  # covariance x 5
    values = centers[cluster] + rng.normal(0, 1, (n, 6)) * scale[:, None]
    frame = pd.DataFrame(values.round(3), columns=[f"m{i}" for i in range(6)])
    frame["visits"] = rng.poisson(np.array([2.0, 5.0, 10.0, 3.0])[cluster])
    return frame, y


def clustered_anomalies(rng: np.random.Generator, n: int = 2000) -> tuple[pd.DataFrame, np.ndarray]:
    cluster = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    centers = rng.normal(0, 4, (3, 8))
    values = centers[cluster] + rng.normal(0, 1, (n, 8))
    y = np.zeros(n, int)
    bad = rng.choice(n, size=round(0.10 * n), replace=False)
    y[bad] = 1
    centre = centers[0].copy()
    centre[rng.choice(8, size=3, replace=False)] += 3.0
    values[bad] = centre + rng.normal(0, 0.25, (bad.size, 8))
    frame = pd.DataFrame(values.round(3), columns=[f"f{i}" for i in range(8)])
    frame["amount"] = np.exp(3.0 + 0.4 * cluster + rng.normal(0, 0.5, n)).round(2)
    frame["returning"] = (rng.random(n) < np.array([0.3, 0.6, 0.8])[cluster]).astype(int)
    return frame, y


def mixed_scales(rng: np.random.Generator, n: int = 3000) -> tuple[pd.DataFrame, np.ndarray]:
    cluster = rng.choice(2, size=n, p=[0.7, 0.3])
    base, _, _ = _factor_rows(rng, n, 4, 0.5)
    base += np.array([[0.0] * 4, [2.0, -1.5, 1.0, 2.5]])[cluster]
    scales = np.array([1e-3, 1.0, 1e3, 1e6])
    frame = pd.DataFrame(
        {
            "ratio": (0.01 + base[:, 0] * scales[0]).round(6),
            "score": (50 + 5 * base[:, 1] * scales[1]).round(2),
            "volume": (1e4 + base[:, 2] * scales[2]).round(1),
            "revenue": (5e6 + base[:, 3] * scales[3]).round(0),
            "tickets": rng.poisson(np.where(cluster == 1, 6.0, 2.0)),
            "premium": (rng.random(n) < np.where(cluster == 1, 0.7, 0.2)).astype(int),
            "tier": np.array(["bronze", "silver", "gold", "platinum"])[
                np.minimum(3, rng.poisson(np.where(cluster == 1, 2.0, 0.5)))
            ],
        }
    )
    y = np.zeros(n, int)
    bad = rng.choice(n, size=round(0.01 * n), replace=False)
    y[bad] = 1
    for column in ("ratio", "score", "volume", "revenue"):
        low, high = frame[column].min(), frame[column].max()
        middle, half = (low + high) / 2, 1.1 * (high - low) / 2
        frame.loc[bad, column] = rng.uniform(middle - half, middle + half, bad.size)
    return frame, y


def transactions(rng: np.random.Generator, n: int = 4000) -> tuple[pd.DataFrame, np.ndarray]:
    items = 1 + rng.poisson(1.5, n)
    heavy = rng.random(n) < 0.1
    unit = np.exp(np.where(heavy, rng.normal(4.5, 0.8, n), rng.normal(3.0, 0.6, n)))
    discount = rng.choice([0, 5, 10, 20], size=n, p=[0.7, 0.12, 0.12, 0.06])
    amount = items * unit * (1 - discount / 100) + 4.9
    evening = rng.random(n) < 0.4
    hour = np.clip(np.where(evening, rng.normal(20, 2, n), rng.normal(13, 2.5, n)).round(), 0, 23).astype(int)
    account_days = rng.gamma(1.5, 400, n).round()
    new_account = (account_days < 7).astype(int)
    frame = pd.DataFrame(
        {
            "amount": amount.round(2),
            "items": items,
            "hour": hour,
            "discount_pct": discount,
            "new_account": new_account,
            "payment": rng.choice(["card", "paypal", "invoice", "voucher"], size=n, p=[0.6, 0.25, 0.1, 0.05]),
            "account_days": account_days,
        }
    )
    y = np.zeros(n, int)
    bad = rng.choice(n, size=round(0.01 * n), replace=False)
    y[bad] = 1
    top = np.quantile(frame["amount"], 0.98)
    for i, row in enumerate(bad):
        kind = i % 4
        if kind < 2:  # global: a huge amount
            frame.loc[row, "amount"] = round(frame.loc[row, "amount"] * rng.uniform(20, 60), 2)
        elif kind == 2:  # many items for a tiny amount
            frame.loc[row, "items"] = int(rng.integers(8, 13))
            frame.loc[row, "amount"] = round(rng.uniform(5.5, 12), 2)
        else:  # a new account at night with a large amount
            days = int(rng.integers(0, 3))
            frame.loc[row, ["hour", "account_days", "new_account"]] = [int(rng.integers(2, 5)), days, 1]
            frame.loc[row, "amount"] = round(top * rng.uniform(1.0, 1.5), 2)
    return frame, y


def wide_noise(rng: np.random.Generator, n: int = 2000) -> tuple[pd.DataFrame, np.ndarray]:
    values, factors, loadings = _factor_rows(rng, n, 6, 0.3)
    y = np.zeros(n, int)
    bad = rng.choice(n, size=round(0.05 * n), replace=False)
    y[bad] = 1
    values[bad] = factors[bad] @ loadings + rng.normal(0, 0.3 * 5, (bad.size, 6))
    frame = pd.DataFrame(values.round(4), columns=[f"signal{i}" for i in range(6)])
    for i in range(24):
        kind = i % 4
        if kind == 0:
            column = rng.normal(rng.uniform(-10, 10), rng.uniform(0.1, 10), n).round(3)
        elif kind == 1:
            column = np.exp(rng.normal(rng.uniform(0, 5), rng.uniform(0.3, 1.2), n)).round(2)
        elif kind == 2:
            column = rng.poisson(rng.uniform(0.5, 20), n)
        else:
            column = (rng.random(n) < rng.uniform(0.1, 0.5)).astype(int)
        frame[f"noise{i}"] = column
    return frame, y


SYNTHETIC = {
    "customers_global": customers_global,
    "customers_local": customers_local,
    "dependency": dependency,
    "local_clusters": local_clusters,
    "clustered_anomalies": clustered_anomalies,
    "mixed_scales": mixed_scales,
    "transactions": transactions,
    "wide_noise": wide_noise,
}


def synthetic_tables() -> Iterator[tuple[str, str, pd.DataFrame, np.ndarray]]:
    """Yield ``(table, draw, frame, y)`` for the synthetic tables."""
    for number, (name, make) in enumerate(SYNTHETIC.items()):
        for seed in SYNTHETIC_SEEDS:
            frame, y = make(np.random.default_rng([20261201, number, seed]))
            yield name, str(seed), frame, y


def fresh_tables() -> Iterator[tuple[str, str, str, pd.DataFrame, np.ndarray]]:
    """Yield ``(kind, table, draw, frame, y)``: kind is ``real`` or ``synthetic``, y is 1 for anomalies."""
    for name, draw, frame, y in real_tables():
        yield "real", name, draw, frame, y
    for name, draw, frame, y in synthetic_tables():
        yield "synthetic", name, draw, frame, y


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for NAME__DRAW.csv and .truth.csv")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for kind, name, draw, frame, y in fresh_tables():
        frame.to_csv(args.out / f"{name}__{draw}.csv", index=False)
        pd.DataFrame({"anomaly": y}).to_csv(args.out / f"{name}__{draw}.truth.csv", index=False)
        print(f"{kind:<10}{name:<22}{draw:>5}{len(frame):>7} rows{frame.shape[1]:>4} cols{y.mean():>7.1%} anomalies")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
