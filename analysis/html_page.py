"""An HTML page under construction: sections in order, charts embedded as data URIs and written as PNG files."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any, Sequence

from analysis.charts import png_bytes

STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1400px; color: #222; }
table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
th { background: #f0f0f0; }
td.regression, td.status-changed { background: #fdd; } td.improvement { background: #dfd; }
td.not-significant { color: #888; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #555; font-size: 13px; }
"""


class Page:
    """The report being built: sections of HTML in order, and the charts written as PNGs as they come."""

    def __init__(self, out_dir: Path, title: str) -> None:
        self.out_dir = out_dir
        self.title = title
        self.parts: list[str] = []

    def section(self, heading: str, *body: str) -> None:
        self.parts.append(f"<h2>{html.escape(heading)}</h2>\n" + "\n".join(body))

    def chart(self, name: str, fig: Any, caption: str = "") -> str:
        data = png_bytes(fig)
        path = self.out_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        path.write_bytes(data)
        encoded = base64.b64encode(data).decode("ascii")
        note = f'<p class="note">{html.escape(caption)}</p>' if caption else ""
        return f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{encoded}">{note}</figure>'

    def html(self) -> str:
        return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(self.title)}</h1>\n"
                + "\n".join(self.parts) + "\n</body></html>\n")


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str = "",
               classes: Sequence[str] | None = None) -> str:
    """Rows of cells; `classes` gives each row's last cell a CSS class (a verdict's colour)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = [f"<td>{html.escape(str(c))}</td>" for c in row]
        if classes and classes[i]:
            cells[-1] = f'<td class="{classes[i]}">{html.escape(str(row[-1]))}</td>'
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"
