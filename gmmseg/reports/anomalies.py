"""Render anomaly scores (a histogram and a self-contained HTML page). Computes nothing new."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from .html import escape, page, table, write_html
from .plots import pyplot

__all__ = ["score_histogram", "score_histogram_svg", "render_anomaly_report", "write_anomaly_report"]


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


def score_histogram_svg(scores: np.ndarray, threshold: float, *, bins: int = 80) -> str:
    """The histogram of :func:`score_histogram` as inline SVG (log row axis), without matplotlib.

    Drawing the PNG imported matplotlib (about 40 MB) and took about 1 s of CPU in a
    ``gmmseg anomalies`` run of a few seconds.

    Parameters
    ----------
    scores : ndarray of shape (n_rows,)
        ``score_samples`` of the rows (higher = more normal).
    threshold : float
        The detector's ``offset_``.
    bins : int, default=80

    Returns
    -------
    str
        A standalone ``<svg>`` document (the report embeds it as an ``<img>`` data URI).
    """
    finite = scores[np.isfinite(scores)]
    counts, edges = np.histogram(finite, bins=bins) if finite.size else (np.zeros(bins), np.linspace(0, 1, bins + 1))
    width, height, left, bottom, top = 640, 300, 56, 44, 12
    plot_w, plot_h = width - left - 28, height - bottom - top
    decades = max(1, int(np.ceil(np.log10(max(float(counts.max()), 1.0) + 1))))
    low, high = float(edges[0]), float(edges[-1])
    span = high - low if high > low else 1.0

    def x_of(value):
        return left + plot_w * (value - low) / span

    def y_of(count):  # log axis: 1 row one step above the floor, 10**decades rows at the top
        return top + plot_h * (1 - np.log10(1 + count) / decades)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="score histogram">'
    ]
    step = plot_w / len(counts)
    for i, c in enumerate(counts):
        if c > 0:
            y = y_of(c)
            bar = f'x="{left + i * step:.1f}" y="{y:.1f}" width="{max(step - 0.5, 0.5):.1f}" height="{top + plot_h - y:.1f}"'
            parts.append(f'<rect {bar} fill="#4c72b0"/>')
    for d in range(decades + 1):
        y = y_of(10**d - 1)
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{10**d:g}</text>')
    for value in np.linspace(low, high, 5):
        x = x_of(value)
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle">{value:.3g}</text>'
        )
    xt = x_of(min(max(float(threshold), low), high))
    right = xt > left + plot_w / 2  # the threshold label goes on the side with room for it
    parts += [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
        f'<line x1="{xt:.1f}" y1="{top}" x2="{xt:.1f}" y2="{top + plot_h}" stroke="crimson" stroke-width="1.5"/>',
        # the label on the side of the line with room for it
        f'<text x="{xt + (-4 if right else 4):.1f}" y="{top + 12}" font-size="11" fill="crimson" '
        f'text-anchor="{"end" if right else "start"}">threshold {threshold:.3g}</text>',
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" font-size="12" text-anchor="middle">'
        "score (log-density; lower = more unusual)</text>",
        f'<text x="14" y="{top + plot_h / 2:.1f}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">rows</text>',
        "</svg>",
    ]
    return "".join(parts)


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
    svg = base64.b64encode(score_histogram_svg(scores_frame["score"].to_numpy(), threshold).encode()).decode()
    body.append(f'<div><img src="data:image/svg+xml;base64,{svg}" alt="scores"></div>')
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
