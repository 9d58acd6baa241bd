"""Self-contained HTML pages: inline styles, inline PNGs (base64), no network, no JavaScript libraries.

Primitives shared by every report (defects, customers, anomalies). Everything is escaped.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["page", "png_img", "figure_img", "table", "details", "escape", "write_html", "SORTABLE_JS"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f4f4f4;cursor:pointer;position:sticky;top:0}td.text,th.text{text-align:left}
.muted{color:#777;font-size:.85rem}.bad{color:#b00020;font-weight:600}.ok{color:#0a7d32}
.grid{display:flex;flex-wrap:wrap;gap:1rem}.card{border:1px solid #ddd;border-radius:6px;padding:.5rem;max-width:360px}
.card img{max-width:100%;height:auto;display:block}.kpi{display:inline-block;margin-right:2rem}.kpi b{font-size:1.4rem;display:block}
"""

#: Minimal inline script that makes every table with class "sortable" sortable by clicking a header.
SORTABLE_JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var rows=Array.from(t.tBodies[0].rows),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
  rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].innerText,y=b.cells[i].dataset.v||b.cells[i].innerText;
   var nx=parseFloat(x),ny=parseFloat(y);var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?c:-c;});
  rows.forEach(function(r){t.tBodies[0].appendChild(r);});});});});
"""


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def png_img(png: bytes, alt: str = "", width: int | None = None) -> str:
    """An ``<img>`` with the PNG inlined as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    size = f' width="{int(width)}"' if width else ""
    return f'<img alt="{escape(alt)}"{size} src="data:image/png;base64,{data}">'


def figure_img(fig, alt: str = "", dpi: int = 100) -> str:
    """Render a matplotlib figure to an inline PNG ``<img>`` and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return png_img(buffer.getvalue(), alt)


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, float):
        text = f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:.3e}"
        return f'<td data-v="{value!r}">{escape(text)}</td>'
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return f'<td data-v="{value}">{value}</td>'
    if isinstance(value, RawHTML):
        return f'<td class="text">{value.html}</td>'
    return f'<td class="text">{escape(value)}</td>'


class RawHTML:
    """Mark a cell's content as already-safe HTML (e.g. a thumbnail)."""

    def __init__(self, markup: str):
        self.html = markup


def table(rows: Iterable[Sequence[Any]], header: Sequence[str], *, sortable: bool = True, digits: int = 4) -> str:
    """An HTML table; numbers right-aligned and sortable by value."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v, digits) for v in row) + "</tr>" for row in rows)
    cls = ' class="sortable"' if sortable else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def details(summary: str, content: str) -> str:
    """A collapsed section: ``summary`` (text, escaped) always shown, ``content`` (HTML) on a click."""
    # styled inline so that pages without sections keep their bytes
    return (
        '<details style="margin-top:1.2rem">'
        f'<summary style="cursor:pointer;font-size:1.1rem;font-weight:600">{escape(summary)}</summary>'
        f'<div style="overflow-x:auto">{content}</div></details>'
    )


def page(title: str, body: str, *, subtitle: str = "") -> str:
    """A complete self-contained HTML document."""
    sub = f'<p class="muted">{escape(subtitle)}</p>' if subtitle else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{sub}{body}"
        f"<script>{SORTABLE_JS}</script></body></html>"
    )


def write_html(path, document: str) -> Path:
    """Write an HTML document atomically."""
    from ..files import atomic_write_bytes

    atomic_write_bytes(Path(path), document.encode("utf-8"))
    return Path(path)
