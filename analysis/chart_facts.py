"""What a chart says, read from the drawn matplotlib figure itself (its title, each panel's series, legend entries,
text labels and axis labels), so that the HTML can carry it beside the PNG and a check can hold every chart to the
report's rules: a question for a title, at most MAX_SERIES series a panel, each series named in a legend or by a
label, and a unit on an axis."""

from __future__ import annotations

import re
from typing import Any

from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

MAX_SERIES = 8
"""More lines than this in one panel cannot be told apart: the report draws small multiples instead."""
REFERENCE = "reference"
"""The gid of an artist that is no series: a threshold, a ceiling, a step's mark."""
UNIT = re.compile(r"\([^)]*[A-Za-z%][^)]*\)")
"""An axis label's unit, in parentheses: '(ms)', '(MiB, largest rank)', '(%, log scale)'."""


def _legend_texts(legend: Any) -> list[str]:
    return [t.get_text() for t in legend.get_texts()] if legend is not None else []


def _series(ax: Axes) -> list[str]:
    """The names of the panel's data series ('' for an unnamed one): its lines, scatters and bar groups, but not
    reference artists. A bar group whose bars are named by the ticks of their category axis is named 'ticks'."""
    names = []
    for artist in [*ax.lines, *ax.collections]:
        if artist.get_gid() != REFERENCE and artist.get_visible():
            label = str(artist.get_label())
            names.append("" if label.startswith("_") else label)
    for container in ax.containers:
        if not isinstance(container, BarContainer):
            continue
        label = str(container.get_label())
        if label.startswith("_") and container.patches:  # hist() names a group by its first bar
            label = str(container.patches[0].get_label())
        ticks = ax.get_yticklabels() if container.orientation == "horizontal" else ax.get_xticklabels()
        named_by_ticks = sum(bool(t.get_text()) for t in ticks) >= len(container.patches)
        names.append(label if not label.startswith("_") else "ticks" if named_by_ticks else "")
    return names


def chart_facts(fig: Figure) -> dict[str, Any]:
    """{title, panels: [{title, series, legend, labels, xlabel, ylabel}]} of the figure as drawn. The figure's title
    is its suptitle, or its one panel's title; figure-wide legends count for every panel."""
    figure_legends = [text for legend in fig.legends for text in _legend_texts(legend)]
    panels = []
    for ax in fig.axes:
        if not ax.get_visible() or not ax.has_data():
            continue
        panels.append({"title": ax.get_title(), "series": _series(ax),
                       "legend": _legend_texts(ax.get_legend()) + figure_legends,
                       "labels": [t.get_text() for t in ax.texts if t.get_text()],
                       "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel()})
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""  # get_suptitle() is 3.8's, we need 3.7
    title = suptitle or (panels[0]["title"] if len(panels) == 1 else "")
    return {"title": title, "panels": panels}


def chart_problems(facts: dict[str, Any]) -> list[str]:
    """What breaks the report's rules, one line each; empty for a readable chart."""
    problems = []
    if "?" not in facts.get("title", ""):
        problems.append(f"the title {facts.get('title')!r} asks no question")
    if not facts.get("panels"):
        problems.append("no panel with data")
    for i, panel in enumerate(facts.get("panels", [])):
        where = f"panel {i + 1} ({panel['title'] or 'untitled'})"
        series = panel["series"]
        if len(series) > MAX_SERIES:
            problems.append(f"{where}: {len(series)} series, more than {MAX_SERIES}")
        named = set(panel["legend"]) | set(panel["labels"]) | {"ticks"}
        unnamed = [s for s in series if not s or s not in named]
        if unnamed:
            problems.append(f"{where}: {len(unnamed)} series named neither in a legend nor by a label")
        if not (UNIT.search(panel["xlabel"]) or UNIT.search(panel["ylabel"])):
            problems.append(f"{where}: no axis label with a unit")
    return problems
