"""Render a customer segmentation (figures and a self-contained HTML page). Computes nothing new."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .html import RawHTML, details, escape, figure_img, page, table, write_html
from .plots import plot_criterion, pyplot, save_figure

__all__ = [
    "segment_label",
    "format_value",
    "sizes_figure",
    "projection_figure",
    "criterion_figure",
    "render_customer_report",
    "write_customer_report",
    "save_customer_figures",
]


#: Column-name words that tell a column's unit (the table's own units in the report).
MONEY_WORDS = ("monetary", "spend", "amount", "revenue", "value", "price", "sales", "charges", "income")
DAY_WORDS = ("recency", "tenure", "days", "age_days")


def segment_label(k: int) -> str:
    """Short chart label of segment ``k`` (0-based): "S1", "S2", ..."""
    return f"S{k + 1}"


def format_value(column: str, value, *, share: bool = False) -> str:
    """A number in its column's units: dollars, days, a share or a plain number.

    Parameters
    ----------
    column : str
        The column name (its words tell the unit).
    value : float
    share : bool, default=False
        The value is a share of rows (a 0/1 column).

    Returns
    -------
    str

    Examples
    --------
    >>> format_value("monetary", 1234.5), format_value("recency", 12.4), format_value("partner", 0.62, share=True)
    ('$1,234', '12 days', '62%')
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not np.isfinite(number):
        return "–"
    name = column.lower()
    if share:
        return f"{number:.0%}"
    if any(word in name for word in MONEY_WORDS):
        return f"${number:,.0f}" if abs(number) >= 100 else f"${number:,.2f}"
    if any(word in name for word in DAY_WORDS):
        return f"{number:,.0f} day" + ("" if round(number) == 1 else "s")
    if abs(number) >= 100:
        return f"{number:,.0f}"
    return f"{number:.3g}"


def sizes_figure(result):
    """Bar chart of segment sizes, labelled S1..Sk (the report's table gives the names).

    Parameters
    ----------
    result : CustomerSegmentation

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    k = result.n_segments
    sizes = np.asarray(result.sizes)
    fig, ax = plt.subplots(figsize=(5.0, 0.35 * k + 1.2))
    ax.barh(range(k), sizes, color=plt.cm.tab10(np.arange(k) % 10))
    ax.set_yticks(range(k), [segment_label(i) for i in range(k)])
    for i, size in enumerate(sizes):
        ax.text(size, i, f" {size / max(1, sizes.sum()):.0%}", va="center", fontsize=8)
    ax.set_xlim(0, sizes.max() * 1.15 if k else 1)
    ax.invert_yaxis()
    ax.set_xlabel("customers")
    ax.set_title("Segment sizes")
    return fig


def projection_figure(result, max_points: int = 20_000):
    """2-D projection scatter colored by segment (a random subset of at most ``max_points``).

    Parameters
    ----------
    result : CustomerSegmentation
        Its ``projection`` of shape (n_described, 2) and ``labels`` of shape (n_described,) are drawn.
    max_points : int, default=20000

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    rng = np.random.default_rng(0)
    n = result.labels.shape[0]
    rows = np.arange(n) if n <= max_points else rng.choice(n, max_points, replace=False)
    fig, ax = plt.subplots(figsize=(5.0, 4.2))
    for k in range(result.n_segments):
        m = rows[result.labels[rows] == k]
        ax.scatter(result.projection[m, 0], result.projection[m, 1], s=4, alpha=0.5, label=segment_label(k))
    ev = result.explained_variance or [0.0, 0.0]
    ax.set_xlabel(f"principal axis 1 ({ev[0]:.0%} of variance)")
    ax.set_ylabel(f"principal axis 2 ({ev[1]:.0%} of variance)")
    ax.legend(fontsize=8, markerscale=3, loc="best")
    ax.set_title("Customers on two principal axes")
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


def _apart(result, k: int, limit: int = 3) -> str:
    """What sets segment ``k`` apart, in the table's units: "recency median 12 days (all 45)"."""
    profiles, overall = result.profiles, result.overall
    parts = []
    for item in result.distinguishing[k][:limit]:
        col = item["column"]
        if item["kind"] == "category":
            parts.append(f"{col} = {item['level']}: {item['share']:.0%} (×{item['lift']:.1f} the average)")
            continue
        arrow = "↑" if item["std_diff"] > 0 else "↓"
        stat = next((s for s in ("share", "median") if f"{col}_{s}" in profiles.columns), None)
        if stat is None or overall is None:
            parts.append(f"{col} {arrow} ({item['std_diff']:+.1f} sd)")
            continue
        here, everyone = profiles.loc[k, f"{col}_{stat}"], overall.loc[0, f"{col}_{stat}"]
        if here != everyone:  # medians order as the model's (monotone) transforms do
            arrow = "↑" if here > everyone else "↓"
        shown = [format_value(col, v, share=stat == "share") for v in (here, everyone)]
        label = f"{col} median" if stat == "median" else col
        parts.append(f"{label} {shown[0]} {arrow} (all {shown[1]})")
    return "; ".join(parts) or "close to the average on every column"


def _profile_table(result) -> str:
    """The full profile table, every number in its column's units, with an "all customers" row."""
    profiles = result.profiles
    columns = [c for c in profiles.columns if c not in ("segment", "name", "size", "share")]
    frames = [(segment_label(k), profiles.loc[k]) for k in range(result.n_segments)]
    if result.overall is not None:
        frames.append(("all", result.overall.loc[0]))
    rows = []
    for label, record in frames:
        size = int(result.n_rows) if label == "all" else int(record["size"])
        row = [label, record["name"], size, f"{size / max(1, result.n_rows):.1%}"]
        for col in columns:
            base, _, stat = col.rpartition("_")
            value = record.get(col, "")
            row.append(
                format_value(base, value, share=stat == "share") if stat in ("mean", "median", "share") else value
            )
        rows.append(row)
    header = ["segment", "name", "customers", "share"] + [c.replace("_", " ") for c in columns]
    return table(rows, header)


def render_customer_report(result, *, title: str = "Customer segments", source: str = "") -> str:
    """The HTML document of a :class:`~gmmseg.tables.customers.CustomerSegmentation`.

    It leads with what sets each segment apart (in the table's units), then the charts
    (segments labelled S1..Sk), then the full profiles, the criterion table and the columns
    folded in ``<details>``.

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
        f'<div class="kpi"><b>{summary["n_rows"]:,}</b>customers</div>'
        f'<div class="kpi"><b>{result.n_segments}</b>segments ({escape(summary["covariance_type"])} covariance)</div>'
    )
    if stab.get("mean") is not None:
        cls = "ok" if stab["mean"] >= 0.8 else "bad"
        kpis += (
            f'<div class="kpi"><b class="{cls}">{stab["mean"]:.2f}</b>stability (mean ARI, {stab["seeds"]} seeds)</div>'
        )
    body = [f"<p>{kpis}</p>", "<h2>Segments</h2>"]
    body.append(
        '<p class="muted">What sets each segment apart from all customers: its median (or share) of the '
        "columns that differ most, against all customers' (↑ above, ↓ below).</p>"
    )
    profiles = result.profiles
    rows = [
        [
            segment_label(k),
            result.names[k],
            int(profiles.loc[k, "size"]),
            f"{profiles.loc[k, 'share']:.1%}",
            RawHTML(escape(_apart(result, k))),
        ]
        for k in range(result.n_segments)
    ]
    body.append(table(rows, ["segment", "name", "customers", "share", "what sets it apart"]))
    body.append('<div class="grid">')
    body.append(f'<div class="card">{figure_img(sizes_figure(result), "segment sizes")}</div>')
    body.append(f'<div class="card">{figure_img(projection_figure(result), "2-D projection")}</div>')
    crit = criterion_figure(result)
    if crit is not None:
        body.append(f'<div class="card">{figure_img(crit, "criterion curve")}</div>')
    body.append("</div>")
    described = result.labels.shape[0]
    if described != summary["n_rows"]:
        body.append(
            f'<p class="muted">Medians, top categories, names and the projection come from a random sample '
            f"of {described:,} rows; sizes, shares and means from every row.</p>"
        )
    body.append(
        details(f"Full profiles ({len(profiles.columns) - 4} columns, in the table's units)", _profile_table(result))
    )
    if summary["criterion_table"]:
        keys = ["n_components", "covariance_type", "log_likelihood", "n_parameters", "bic", "aic", "icl", "converged"]
        note = ""
        if summary.get("interior_minimum") is not None:
            note = f'<p class="muted">Interior minimum of the criterion over K: {summary["interior_minimum"]}</p>'
        crit_table = table([[r[k] for k in keys] for r in summary["criterion_table"]], keys)
        body.append(details("Criterion table", crit_table + note))
    if stab.get("aris"):
        body.append(
            details(
                "Stability",
                f"<p>Adjusted Rand index of {stab['seeds']} refits with other EM seeds against the reported "
                f"segments (on {stab['rows']} rows): {', '.join(f'{a:.3f}' for a in stab['aris'])}; mean "
                f"{stab['mean']:.3f}, min {stab['min']:.3f}. 1 means identical segments.</p>",
            )
        )
    keys = ["column", "role", "reason", "transform", "imputed", "dequantized"]
    body.append(details("Columns", table([[str(e.get(k, "")) for k in keys] for e in summary["columns"]], keys)))
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
