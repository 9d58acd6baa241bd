"""Render a customer segmentation (figures and a self-contained HTML page). Computes nothing new."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .html import RawHTML, escape, figure_img, page, table, write_html
from .plots import plot_criterion, pyplot, save_figure

__all__ = [
    "sizes_figure",
    "projection_figure",
    "criterion_figure",
    "render_customer_report",
    "write_customer_report",
    "save_customer_figures",
]


def sizes_figure(result):
    """Bar chart of segment sizes with their names.

    Parameters
    ----------
    result : CustomerSegmentation

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    sizes = result.sizes
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * result.n_segments + 1.2))
    ax.barh(range(result.n_segments), sizes, color=plt.cm.tab10(np.arange(result.n_segments) % 10))
    ax.set_yticks(range(result.n_segments), [f"{k}: {n}" for k, n in enumerate(result.names)], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("customers")
    ax.set_title("Segment sizes")
    return fig


def projection_figure(result, max_points: int = 20_000):
    """2-D projection scatter colored by segment (a random subset of at most ``max_points``).

    Parameters
    ----------
    result : CustomerSegmentation
        Its ``projection`` of shape (n_rows, 2) and ``labels`` of shape (n_rows,) are drawn.
    max_points : int, default=20000

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    rng = np.random.default_rng(0)
    n = result.labels.shape[0]
    rows = np.arange(n) if n <= max_points else rng.choice(n, max_points, replace=False)
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    for k in range(result.n_segments):
        m = rows[result.labels[rows] == k]
        ax.scatter(result.projection[m, 0], result.projection[m, 1], s=4, alpha=0.5, label=f"{k}: {result.names[k]}")
    ev = result.explained_variance or [0.0, 0.0]
    ax.set_xlabel(f"principal axis 1 ({ev[0]:.0%} of variance)")
    ax.set_ylabel(f"principal axis 2 ({ev[1]:.0%} of variance)")
    ax.legend(fontsize=7, markerscale=3, loc="best")
    ax.set_title("Customers on the first two principal axes of the features")
    return fig


def criterion_figure(result):
    """The BIC (or chosen criterion) curve, or None when K was fixed.

    Parameters
    ----------
    result : CustomerSegmentation

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    if result.selection is None:
        return None
    return plot_criterion(result.selection, title=f"{result.selection.criterion.upper()} by number of segments")


def _distinguishing_text(items, limit: int = 4) -> str:
    parts = []
    for item in items[:limit]:
        if item["kind"] == "numeric":
            parts.append(f"{item['column']} {item['std_diff']:+.2f} sd")
        else:
            parts.append(f"{item['column']}={item['level']} ×{item['lift']:.2f}")
    return "; ".join(parts)


def render_customer_report(result, *, title: str = "Customer segments", source: str = "") -> str:
    """The HTML document of a :class:`~gmmseg.tables.customers.CustomerSegmentation`.

    Parameters
    ----------
    result : CustomerSegmentation
    title : str, default="Customer segments"
    source : str, default=""
        Shown under the title (the input file).

    Returns
    -------
    str
    """
    summary = result.summary()
    stab = result.stability or {}
    kpis = (
        f'<div class="kpi"><b>{summary["n_rows"]}</b>customers</div>'
        f'<div class="kpi"><b>{result.n_segments}</b>segments ({escape(summary["covariance_type"])})</div>'
    )
    if stab.get("mean") is not None:
        cls = "ok" if stab["mean"] >= 0.8 else "bad"
        kpis += (
            f'<div class="kpi"><b class="{cls}">{stab["mean"]:.2f}</b>stability (mean ARI, {stab["seeds"]} seeds)</div>'
        )
    body = [f"<p>{kpis}</p>"]
    body.append("<h2>Segments</h2>")
    profiles = result.profiles
    rows = []
    for k in range(result.n_segments):
        rows.append(
            [
                k,
                result.names[k],
                int(profiles.loc[k, "size"]),
                float(profiles.loc[k, "share"]),
                RawHTML(escape(_distinguishing_text(result.distinguishing[k]))),
            ]
        )
    body.append(table(rows, ["segment", "name", "size", "share", "distinguishing features (vs all customers)"]))
    body.append('<div class="grid">')
    body.append(f'<div class="card">{figure_img(sizes_figure(result), "segment sizes")}</div>')
    crit = criterion_figure(result)
    if crit is not None:
        body.append(f'<div class="card">{figure_img(crit, "criterion curve")}</div>')
    body.append(f'<div class="card">{figure_img(projection_figure(result), "2-D projection")}</div>')
    body.append("</div>")
    body.append("<h2>Profiles (original units)</h2>")
    cols = [c for c in profiles.columns]
    body.append(table(profiles[cols].itertuples(index=False, name=None), cols))
    if summary["criterion_table"]:
        body.append("<h2>Criterion table</h2>")
        keys = ["n_components", "covariance_type", "log_likelihood", "n_parameters", "bic", "aic", "icl", "converged"]
        body.append(table([[r[k] for k in keys] for r in summary["criterion_table"]], keys))
        if summary.get("interior_minimum") is not None:
            body.append(f'<p class="muted">Interior minimum of the criterion over K: {summary["interior_minimum"]}</p>')
    if stab.get("aris"):
        body.append("<h2>Stability</h2>")
        body.append(
            f"<p>Adjusted Rand index of {stab['seeds']} refits with other EM seeds against the reported segments "
            f"(on {stab['rows']} rows): {', '.join(f'{a:.3f}' for a in stab['aris'])}; mean {stab['mean']:.3f}, "
            f"min {stab['min']:.3f}. 1 means identical segments.</p>"
        )
    body.append("<h2>Columns</h2>")
    keys = ["column", "role", "reason", "transform", "imputed", "dequantized"]
    body.append(table([[str(e.get(k, "")) for k in keys] for e in summary["columns"]], keys))
    return page(title, "".join(body), subtitle=source)


def write_customer_report(result, path, **kwargs) -> Path:
    """Write the self-contained HTML report atomically.

    Parameters
    ----------
    result : CustomerSegmentation
    path : str or Path
    **kwargs
        ``title`` and ``source`` of :func:`render_customer_report`.

    Returns
    -------
    Path
    """
    return write_html(path, render_customer_report(result, **kwargs))


def save_customer_figures(result, prefix) -> list[Path]:
    """Save the report's pictures as PNG files ``PREFIX_sizes.png``, ``_bic.png``, ``_projection.png``.

    Parameters
    ----------
    result : CustomerSegmentation
    prefix : str or Path

    Returns
    -------
    list of Path
    """
    prefix = str(prefix)
    paths = [save_figure(sizes_figure(result), f"{prefix}_sizes.png")]
    crit = criterion_figure(result)
    if crit is not None:
        paths.append(save_figure(crit, f"{prefix}_bic.png"))
    paths.append(save_figure(projection_figure(result), f"{prefix}_projection.png"))
    return paths
