"""Matplotlib figures (Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

_STYLES = {"full": "-o", "tied": "-s", "diag": "-^", "spherical": "-v"}


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path) -> Path:
    """Save a figure as PNG atomically (temporary file, then rename) and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path

    Returns
    -------
    Path
    """
    import io

    from ..files import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(Path(path), buffer.getvalue())
    pyplot().close(fig)
    return Path(path)


def plot_criterion(result, path=None, *, ax=None, title: str | None = None):
    """Criterion against K, one line per covariance type, the chosen model circled.

    Parameters
    ----------
    result : SelectionResult
        From :func:`gmmseg.select_components`.
    path : str or Path, optional
        Save the figure there as PNG.
    ax : matplotlib Axes, optional
        Draw into it instead of a new figure.
    title : str, optional
        Default: "<CRITERION> by number of components".

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
    else:
        fig = ax.figure
    crit = result.criterion
    types = sorted({r["covariance_type"] for r in result.table}, key=list(_STYLES).index)
    for ct in types:
        ks, values = result.criterion_values(ct)
        ax.plot(ks, values, _STYLES.get(ct, "-o"), label=ct, markersize=4)
    best = [
        r
        for r in result.table
        if r["n_components"] == result.best_n_components and r["covariance_type"] == result.best_covariance_type
    ][0]
    ax.plot(
        [best["n_components"]],
        [best[crit]],
        "o",
        markersize=14,
        markerfacecolor="none",
        markeredgecolor="crimson",
        markeredgewidth=2,
        label=f"chosen: K={best['n_components']} {best['covariance_type']}",
    )
    ax.set_xlabel("number of components K")
    ax.set_ylabel(f"{crit.upper()} (lower is better)")
    ks_all = sorted({r["n_components"] for r in result.table})
    ax.set_xticks(ks_all if len(ks_all) <= 20 else np.linspace(ks_all[0], ks_all[-1], 10).astype(int))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{crit.upper()} by number of components")
    if path is not None:
        save_figure(fig, path)
    return fig
