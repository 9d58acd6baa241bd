"""Smoke tests of reports/: every renderer produces a readable file from a small real result."""

from __future__ import annotations

import numpy as np
from PIL import Image

import gmmseg
from gmmseg.reports.html import escape, page, table, write_html
from gmmseg.reports.plots import plot_criterion, pyplot


def _selection():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (150, 2)), rng.normal(6, 1, (150, 2))])
    return gmmseg.select_components(X, range(1, 4), ("full", "diag"), random_state=0)


def test_plot_criterion_writes_a_png_with_one_line_per_covariance_type(tmp_path):
    result = _selection()
    fig = plot_criterion(result, tmp_path / "bic.png", title="BIC <test>")
    assert len([line for line in fig.axes[0].get_lines() if line.get_label() in ("full", "diag")]) == 2
    with Image.open(tmp_path / "bic.png") as im:
        assert im.format == "PNG" and im.size[0] > 100
    pyplot().close(fig)
    assert [p.name for p in tmp_path.iterdir()] == ["bic.png"]  # written atomically, no temporary left


def test_html_page_escapes_and_is_self_contained(tmp_path):
    body = table([["<b>x</b>", 1.23456789], ["y", np.nan]], ["name", "value"], digits=3)
    document = page("Title & <more>", body, subtitle="sub")
    assert "&lt;b&gt;x&lt;/b&gt;" in document and "<b>x</b>" not in document
    assert "Title &amp; &lt;more&gt;" in document
    assert "1.23" in document and "http://" not in document and "https://" not in document
    path = write_html(tmp_path / "report.html", document)
    assert path.read_text(encoding="utf-8") == document
    assert escape("a<b") == "a&lt;b"


def test_customer_and_anomaly_reports_render(tmp_path):
    import pandas as pd

    from gmmseg.reports.anomalies import write_anomaly_report
    from gmmseg.reports.customers import write_customer_report
    from gmmseg.tables.anomalies import detect_anomalies
    from gmmseg.tables.customers import segment_customers

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(300)],
            "recency": np.concatenate([rng.gamma(2, 10, 150), rng.gamma(2, 100, 150)]),
            "monetary": np.concatenate([rng.gamma(2, 200, 150), rng.gamma(2, 20, 150)]),
        }
    )
    result = segment_customers(frame, id_column="id", n_components=2, random_state=0, n_seeds=0)
    html = write_customer_report(result, tmp_path / "customers.html").read_text(encoding="utf-8")
    assert "<img" in html and all(str(name) in html for name in result.names)

    detection = detect_anomalies(frame, id_column="id", random_state=0)
    html = write_anomaly_report(detection.scores, detection.summary(), tmp_path / "anomalies.html")
    text = html.read_text(encoding="utf-8")
    flagged = detection.scores[detection.scores["flagged"].astype(bool)]
    assert "<img" in text and len(flagged) > 0
    assert all(str(value) in text for value in flagged["id"].head(5))
