"""Write the bundled customer table ``sample_images/customers/customers.csv`` (and its README).

The generative story (seeded, so the file is the same on every run): a shop has four kinds
of customer, and each row is one customer at the analysis date.

=================  =====  ===========  ===============  ==============  ==========  ==========
type               share  recency (d)  frequency        monetary ($)    tenure (d)  newsletter
=================  =====  ===========  ===============  ==============  ==========  ==========
loyal big spender    15%  exp, 10      1 + Poisson 20   lognormal 1500  800-1500    80%
regular              35%  exp, 30      1 + Poisson 6    lognormal 300   300-1200    45%
new                  25%  exp, 15      1 + Poisson 1    lognormal 60    10-90       30%
lapsed one-off       25%  150 + exp 200  1 + Poisson 0.3  lognormal 40  200-1500    10%
=================  =====  ===========  ===============  ==============  ==========  ==========

``monetary`` is total spend (lognormal around the type's median, sigma 0.5, rounded to cents),
``newsletter`` is 1 when the customer is subscribed (a Bernoulli draw with the type's rate).
The type itself is not written: it is what ``gmmseg customers`` should find.

Usage::

    python scripts/make_customer_sample.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "sample_images" / "customers"
N_CUSTOMERS = 2000
SEED = 20240613

#: type -> (share, recency sampler, frequency mean, monetary median, tenure range, newsletter rate)
TYPES = {
    "loyal big spender": (0.15, lambda r, n: r.exponential(10, n), 20.0, 1500.0, (800, 1500), 0.80),
    "regular": (0.35, lambda r, n: r.exponential(30, n), 6.0, 300.0, (300, 1200), 0.45),
    "new": (0.25, lambda r, n: r.exponential(15, n), 1.0, 60.0, (10, 90), 0.30),
    "lapsed one-off": (0.25, lambda r, n: 150 + r.exponential(200, n), 0.3, 40.0, (200, 1500), 0.10),
}

README = """# Customer sample

`customers.csv`: {n} synthetic customers of a shop, one row each: `customer_id`, `recency` (days
since the last order), `frequency` (orders), `monetary` (total spend in dollars), `tenure` (days
since the first order) and `newsletter` (1 when subscribed).

- Source: made by `scripts/make_customer_sample.py` (seed {seed}) from a documented generative
  story of four customer types (loyal big spenders, regulars, new customers, lapsed one-off
  buyers); the script's docstring gives every distribution. No real person's data.
- Licence: CC0 1.0 (public domain dedication).
- Used by `gmmseg demo` (a customer segmentation and its `report.html`).
"""


def make_customers(n: int = N_CUSTOMERS, seed: int = SEED) -> pd.DataFrame:
    """The customer table of the generative story above.

    Parameters
    ----------
    n : int, default=2000
    seed : int

    Returns
    -------
    pandas.DataFrame of shape (n, 6)
    """
    rng = np.random.default_rng(seed)
    shares = np.array([spec[0] for spec in TYPES.values()])
    kinds = rng.choice(len(TYPES), size=n, p=shares / shares.sum())
    frame = pd.DataFrame(index=range(n), columns=["recency", "frequency", "monetary", "tenure", "newsletter"])
    for kind, (_, recency, freq, money, (low, high), rate) in enumerate(TYPES.values()):
        rows = np.flatnonzero(kinds == kind)
        m = rows.size
        frame.loc[rows, "recency"] = np.floor(recency(rng, m)).astype(int)
        frame.loc[rows, "frequency"] = 1 + rng.poisson(freq, m)
        frame.loc[rows, "monetary"] = np.round(rng.lognormal(np.log(money), 0.5, m), 2)
        frame.loc[rows, "tenure"] = rng.integers(low, high + 1, m)
        frame.loc[rows, "newsletter"] = (rng.random(m) < rate).astype(int)
    frame = frame.astype({"recency": int, "frequency": int, "monetary": float, "tenure": int, "newsletter": int})
    frame["tenure"] = np.maximum(frame["tenure"], frame["recency"])  # the first order is not after the last
    frame.insert(0, "customer_id", [f"C{i:05d}" for i in range(n)])
    return frame


def main() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    make_customers().to_csv(FOLDER / "customers.csv", index=False)
    (FOLDER / "README.md").write_text(README.format(n=N_CUSTOMERS, seed=SEED))
    print(f"wrote {FOLDER / 'customers.csv'} and README.md")


if __name__ == "__main__":
    main()
