"""Render anomaly scores (a histogram and a self-contained HTML page). Computes nothing new."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .html import escape, figure_img, page, table, write_html
from .plots import pyplot

__all__ = ["score_histogram", "render_anomaly_report", "write_anomaly_report"]


def score_histogram(scores: np.ndarray, threshold: float):
    """Histogram of log-density scores with the threshold line.

    Parameters
    ----------
    scores : ndarray of shape (n_rows,)
        ``score_samples`` of the rows (higher = more normal).
    threshold : float
        The detector's ``offset_``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    finite = scores[np.isfinite(scores)]
    ax.hist(finite, bins=80, color="#4c72b0")
    ax.axvline(threshold, color="crimson", label=f"threshold {threshold:.3g}")
    ax.set_yscale("log")
    ax.set_xlabel("score (log-density; lower = more unusual)")
    ax.set_ylabel("rows")
    ax.legend(fontsize=8)
    return fig


def render_anomaly_report(scores_frame, summary: dict, *, title: str = "Unusual rows", max_rows: int = 200) -> str:
    """HTML document from the scores table and the summary.

    Parameters
    ----------
    scores_frame : pandas.DataFrame of shape (n_rows, 6)
        :func:`~gmmseg.tables.anomalies.anomaly_table`: id, score, flagged, reason_1..3.
    summary : dict
        :meth:`~gmmseg.tables.anomalies.AnomalyDetection.summary`.
    title : str, default="Unusual rows"
    max_rows : int, default=200
        Flagged rows listed, lowest scores first.

    Returns
    -------
    str
    """
    threshold = summary["threshold_score"]
    flagged = scores_frame[scores_frame["flagged"]].sort_values("score")
    body = [
        f'<p><span class="kpi"><b>{summary["n_rows"]}</b>rows scored</span>'
        f'<span class="kpi"><b class="bad">{summary["n_flagged"]}</b>flagged</span>'
        f'<span class="kpi"><b>{summary["n_components"]}</b>components ({escape(summary["covariance_type"])})</span></p>'
    ]
    body.append(f"<div>{figure_img(score_histogram(scores_frame['score'].to_numpy(), threshold), 'scores')}</div>")
    body.append(f"<h2>Flagged rows (lowest scores first, at most {max_rows})</h2>")
    cols = list(flagged.columns)
    body.append(table(flagged.head(max_rows).itertuples(index=False, name=None), cols))
    body.append(
        '<p class="muted">Reasons: the features with the largest terms of the Mahalanobis distance to the '
        "component most responsible for the row, with that component's typical range (mean ± 2 sd) in "
        "original units.</p>"
    )
    return page(title, "".join(body), subtitle=str(summary.get("data", "")))


def write_anomaly_report(scores_frame, summary: dict, path, **kwargs) -> Path:
    """Write the self-contained HTML report atomically.

    Parameters
    ----------
    scores_frame : pandas.DataFrame
    summary : dict
    path : str or Path
    **kwargs
        ``title`` and ``max_rows`` of :func:`render_anomaly_report`.

    Returns
    -------
    Path
    """
    return write_html(path, render_anomaly_report(scores_frame, summary, **kwargs))
