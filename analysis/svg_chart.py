"""Row charts drawn as inline SVG, for the case pages: a row per rank or per run, holding its samples as dots with
their median and interquartile range, or stacked segments (phases, memory). SVG, not matplotlib: a report has a page
per case, hundreds of them, and a PNG costs a few tenths of a second to draw where this costs a millisecond.

Every mark carries its series' name (data-series) and the legend names every series, so a check can hold the chart
to the report's rules from the SVG itself (tests/test_analysis_report.py)."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

from analysis.charts import DECADES_FOR_LOG

WIDTH, LEFT, RIGHT, TOP, ROW, AXIS, LEGEND_ROW = 860, 250, 30, 34, 24, 44, 18


@dataclass
class Row:
    label: str
    dots: list[float] = field(default_factory=list)
    """Samples, drawn as dots of `dot_series`."""
    dot_series: str = ""
    summary: tuple[float, float, float] | None = None
    """(low, median, high): a tick at the median and a bar from low to high, of the series 'median and IQR'."""
    segments: list[tuple[str, float]] = field(default_factory=list)
    """(series, value): bars stacked from zero."""


@dataclass
class Scale:
    low: float
    high: float
    log: bool

    def x(self, value: float) -> float:
        if self.log:
            value = math.log10(max(value, self.low))
            low, high = math.log10(self.low), math.log10(self.high)
        else:
            low, high = self.low, self.high
        return LEFT + (value - low) / ((high - low) or 1.0) * (WIDTH - LEFT - RIGHT)

    def ticks(self) -> list[float]:
        if self.log:
            return [10.0**k for k in range(math.floor(math.log10(self.low)), math.ceil(math.log10(self.high)) + 1)]
        raw = (self.high - self.low) / 5 or 1.0
        step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
        return [i * step for i in range(math.ceil(self.low / step), int(self.high // step) + 1)]


def scale_of(rows: list[Row]) -> Scale:
    """Stacks from zero; samples over their own range (their spread is what a reader looks at), logarithmic where
    they span more than DECADES_FOR_LOG decades."""
    values = [v for r in rows for v in r.dots + ([*r.summary] if r.summary else []) if v > 0]
    stacks = [sum(v for _, v in r.segments) for r in rows if r.segments]
    if stacks or not values:
        return Scale(0.0, max(values + stacks + [1e-12]) * 1.05, False)
    if max(values) / min(values) > 10**DECADES_FOR_LOG:
        return Scale(10 ** math.floor(math.log10(min(values))), 10 ** math.ceil(math.log10(max(values))), True)
    margin = (max(values) - min(values)) * 0.05 or max(values) * 0.05
    return Scale(max(0.0, min(values) - margin), max(values) + margin, False)


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start", size: int = 11) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"'
            + (f' class="{cls}"' if cls else "") + f">{html.escape(text)}</text>")


def _row_marks(row: Row, y: float, scale: Scale, colours: dict[str, str]) -> list[str]:
    marks = []
    start = 0.0
    for name, value in row.segments:
        x0, x1 = scale.x(start), scale.x(start + value)
        marks.append(f'<rect data-series="{html.escape(name)}" x="{x0:.1f}" y="{y - 7:.1f}" '
                     f'width="{max(x1 - x0, 0.5):.1f}" height="14" fill="{colours[name]}">'
                     f'<title>{html.escape(name)}: {value:.4g}</title></rect>')
        start += value
    for i, value in enumerate(row.dots):
        marks.append(f'<circle data-series="{html.escape(row.dot_series)}" cx="{scale.x(value):.1f}" '
                     f'cy="{y + (i % 5 - 2) * 1.6:.1f}" r="2.6" fill="{colours[row.dot_series]}" fill-opacity="0.6"/>')
    if row.summary:  # drawn over the dots: a bar through the row's middle from low to high, a tick at the median
        low, median, high = (scale.x(v) for v in row.summary)
        marks.append(f'<g data-series="median and IQR" stroke="black"><line x1="{low:.1f}" x2="{high:.1f}" '
                     f'y1="{y:.1f}" y2="{y:.1f}" stroke-width="1.5" stroke-opacity="0.7"/><line x1="{median:.1f}" '
                     f'x2="{median:.1f}" y1="{y - 8:.1f}" y2="{y + 8:.1f}" stroke-width="2.5"/></g>')
    return marks


def row_chart(title: str, rows: list[Row], xlabel: str, colours: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(svg, facts) of a chart with a row per `rows`, its x axis labelled `xlabel` (with its unit), and a legend of
    `colours` (series -> colour) and, where a row has a summary, 'median and IQR'."""
    scale = scale_of(rows)
    legend = list(colours) + (["median and IQR"] if any(r.summary for r in rows) else [])
    axis_y = TOP + ROW * len(rows) + 4
    height = axis_y + AXIS + LEGEND_ROW * math.ceil(len(legend) / 3) + 6
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}"><title>{html.escape(title)}</title>',
             _text(WIDTH / 2, 18, title, "chart-title", "middle", 14)]
    for i, row in enumerate(rows):
        y = TOP + ROW * i + ROW / 2
        parts.append(_text(LEFT - 8, y + 4, row.label, "row-label", "end"))
        parts += _row_marks(row, y, scale, {**colours, "median and IQR": "black"})
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{axis_y}" y2="{axis_y}" stroke="#444"/>')
    for tick in (t for t in scale.ticks() if scale.low <= t <= scale.high):
        x = scale.x(tick)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{axis_y + 4}" stroke="#ddd"/>')
        parts.append(_text(x, axis_y + 16, f"{tick:g}", "tick", "middle", 10))
    parts.append(_text(LEFT + (WIDTH - LEFT - RIGHT) / 2, axis_y + 34, xlabel, "axis-label", "middle"))
    for i, name in enumerate(legend):
        x, y = LEFT + (i % 3) * 200, axis_y + AXIS + LEGEND_ROW * (i // 3) + 8
        parts.append(f'<rect x="{x}" y="{y - 9}" width="12" height="10" fill="{colours.get(name, "black")}"/>')
        parts.append(_text(x + 16, y, name, "legend-entry"))
    parts.append("</svg>")
    facts = {"title": title, "panels": [{"title": title, "series": legend, "legend": legend,
                                         "labels": [r.label for r in rows], "xlabel": xlabel, "ylabel": ""}]}
    return "".join(parts), facts
