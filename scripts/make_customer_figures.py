"""Make the pictures of docs/customers.md and docs/anomalies.md from the CDNOW log.

    python scripts/make_customer_figures.py [--log ../shared/data/customers/cdnow_transactions.txt]

Writes docs/figures/customers_{sizes,bic,projection}.png and docs/figures/anomalies_scores.png.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

# measure the checkout this script sits in, not whichever gmmseg is installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gmmseg.reports.anomalies import score_histogram
from gmmseg.reports.customers import save_customer_figures
from gmmseg.reports.plots import save_figure
from gmmseg.tables.anomalies import TableAnomalyDetector
from gmmseg.tables.customers import segment_customers
from gmmseg.tables.io import read_table
from gmmseg.tables.rfm import rfm_from_transactions

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--log", type=Path, default=ROOT / ".." / "shared" / "data" / "customers" / "cdnow_transactions.txt"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    out = ROOT / "docs" / "figures"
    out.mkdir(parents=True, exist_ok=True)
    rfm = rfm_from_transactions(read_table(args.log), customer="customer_id", date="date", amount="dollar_value")
    result = segment_customers(rfm, id_column="customer_id", n_seeds=0)
    for path in save_customer_figures(result, out / "customers"):
        print(path)
    det = TableAnomalyDetector(roles={"customer_id": "id"}).fit(rfm)
    path = save_figure(score_histogram(det.score_samples(rfm), det.offset_), out / "anomalies_scores.png")
    print(path)


if __name__ == "__main__":
    main()
