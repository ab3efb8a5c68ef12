"""An HTML page under construction: sections in order, charts embedded as data URIs and written as PNG files, each
chart's figure element carrying what the chart says (its title, each panel's series and legend: chart_facts), and
case names linked to their case pages."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from analysis.chart_facts import chart_facts
from analysis.charts import png_bytes

STYLE = """
body { font-family: sans-serif; margin: 1.2em 2em; max-width: 1400px; color: #222; }
h1 { font-size: 22px; margin: 0 0 0.4em; } h2 { margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
th { background: #f0f0f0; }
td.regression, td.status-changed, td.new-failure { background: #fdd; } td.improvement, td.fixed { background: #dfd; }
td.not-significant { color: #888; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
figure { margin: 1em 0; }
figcaption { position: absolute; left: -10000px; } /* the chart draws its title; the caption is for screen readers */
.note { color: #555; font-size: 13px; }
.glance { display: grid; grid-template-columns: 1fr 1fr; gap: 0.3em 2em; }
.glance h3 { margin: 0.4em 0 0.2em; font-size: 15px; } .glance table { margin: 0.2em 0 0.6em; }
.glance p, .glance ul { margin: 0.2em 0; font-size: 13px; } .glance img { max-height: 250px; }
.count { display: inline-block; padding: 1px 7px; margin: 1px; border-radius: 3px; background: #eee; font-size: 13px; }
.count.regression, .count.new-failure { background: #f6b3b3; } .count.improvement, .count.fixed { background: #bfe6bf; }
nav a { margin-right: 1em; font-size: 13px; }
"""


def note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def slug(text: str) -> str:
    """A name safe for a file or an anchor."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def figure(name: str, facts: dict[str, Any], content: str, caption: str = "") -> str:
    """A chart's figure element: its title as the caption, its facts as data-facts for checks and tools."""
    extra = note(caption) if caption else ""
    return (f'<figure class="chart" data-name="{html.escape(name)}" data-facts="{html.escape(json.dumps(facts))}">'
            f"<figcaption>{html.escape(facts['title'])}</figcaption>{content}{extra}</figure>")


class Page:
    """The report being built: sections of HTML in order, and the charts written as PNGs as they come."""

    def __init__(self, out_dir: Path, title: str, case_pages: Mapping[str, str] | None = None) -> None:
        self.out_dir = out_dir
        self.title = title
        self.parts: list[str] = []
        self.case_pages: Mapping[str, str] = case_pages or {}
        """case -> its page's path relative to this page: html_table links case names there."""
        self.sections: list[tuple[str, str]] = []

    def section(self, heading: str, *body: str, anchor: str = "") -> None:
        anchor = anchor or slug(heading.lower())
        self.sections.append((anchor, heading))
        self.parts.append(f'<h2 id="{anchor}">{html.escape(heading)}</h2>\n' + "\n".join(body))

    def chart(self, name: str, fig: Any, caption: str = "") -> str:
        facts = chart_facts(fig)
        data = png_bytes(fig)
        (self.out_dir / f"{slug(name)}.png").write_bytes(data)
        encoded = base64.b64encode(data).decode("ascii")
        legend = sorted({entry for panel in facts["panels"] for entry in panel["legend"]})
        alt = facts["title"] + (f" Legend: {'; '.join(legend)}" if legend else "")
        return figure(name, facts, f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">', caption)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str = "",
              classes: Sequence[str] | None = None) -> str:
        return html_table(header, rows, table_id, classes, self.case_pages)

    def html(self, first_screen: str = "") -> str:
        """The page: its title, `first_screen` (what a reader came for), links to the sections, the sections."""
        links = "".join(f'<a href="#{anchor}">{html.escape(heading)}</a>' for anchor, heading in self.sections)
        return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(self.title)}</h1>\n{first_screen}"
                f"<nav>{links}</nav>\n" + "\n".join(self.parts) + "\n</body></html>\n")


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str = "",
               classes: Sequence[str] | None = None, links: Mapping[str, str] | None = None) -> str:
    """Rows of cells; `classes` gives each row's last cell a CSS class (a verdict's colour); a first cell named in
    `links` links to its page."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = [f"<td>{html.escape(str(c))}</td>" for c in row]
        if links and row and str(row[0]) in links:
            cells[0] = f'<td><a href="{html.escape(links[str(row[0])])}">{html.escape(str(row[0]))}</a></td>'
        if classes and classes[i]:
            cells[-1] = f'<td class="{classes[i]}">{html.escape(str(row[-1]))}</td>'
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"
