"""Small multiples: one figure answers one question; its panels hold at most MAX_SERIES lines each, every line named
in its panel's legend, coloured by its api (shades of it where one api has several lines in a panel) and told apart
by its marker; simulated lines dashed with hollow markers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, TypeVar

import numpy as np
from matplotlib.colors import to_hex, to_rgb

from analysis.chart_facts import MAX_SERIES, REFERENCE
from analysis.charts import MARKERS, api_colour, plt, set_scale

T = TypeVar("T")
PANELS_PER_ROW = 2
PANEL_WIDTH_IN = 6.4
PANEL_HEIGHT_IN = 2.9
LEGEND_LINE_IN = 0.16
"""The height of one legend entry under a panel (7-point text)."""
SHADES = (0.0, -0.35, 0.4, -0.6, 0.6, -0.2, 0.2, 0.75)
"""How the k-th line of one api in a panel departs from the api's colour: towards black (< 0) or white (> 0)."""


@dataclass
class Series:
    name: str
    """The legend's entry: what sets this line apart in its panel (analysis.labels.short_names), and its fit."""
    api: str
    x: Sequence[float]
    y: Sequence[float]
    simulated: bool = False
    marks: list[tuple[float, str]] = field(default_factory=list)
    """(x, text): a vertical mark at x in the line's colour, e.g. a step found in a trend."""


@dataclass
class Panel:
    title: str
    series: list[Series]
    shared: str = ""
    """What every line of the panel shares, said once under its title."""
    ylabel: str = ""
    """The y axis's label with its unit, where it is the panel's own (else the figure's)."""


def packed(groups: list[list[T]], size: int = MAX_SERIES) -> list[list[T]]:
    """The groups' items in panels of at most `size`: whole groups together where they fit (first fit, in order),
    a group larger than a panel in panels of its own."""
    packs: list[list[T]] = []
    for group in groups:
        if len(group) > size:
            packs += [group[i:i + size] for i in range(0, len(group), size)]
        elif packs and len(packs[-1]) + len(group) <= size:
            packs[-1] += group
        else:
            packs.append(list(group))
    return packs


def shade(colour: str, amount: float) -> str:
    rgb = np.array(to_rgb(colour))
    target = np.ones(3) if amount > 0 else np.zeros(3)
    return to_hex(rgb + (target - rgb) * abs(amount))


def _draw_series(ax: plt.Axes, panel: Panel) -> None:
    """The panel's lines, on the y scale already set: on a log one a zero (a peak of no page) has no place, and is
    left out rather than drawn as a plunge to the axis."""
    seen: dict[str, int] = {}
    log = ax.get_yscale() == "log"
    for i, line in enumerate(panel.series):
        k = seen[line.api] = seen.get(line.api, -1) + 1
        colour = shade(api_colour(line.api), SHADES[k % len(SHADES)])
        y = [v if v > 0 or not log else np.nan for v in line.y]
        ax.plot(line.x, y, marker=MARKERS[i % len(MARKERS)], markersize=5, linewidth=1.3, color=colour,
                linestyle="--" if line.simulated else "-", markerfacecolor="white" if line.simulated else colour,
                label=line.name + (" (simulated)" if line.simulated else ""))
        for x, text in line.marks:
            ax.axvline(x, color=colour, linestyle=":", linewidth=1, gid=REFERENCE)
            ax.annotate(text, (x, 1.0), xycoords=("data", "axes fraction"), fontsize=7, color=colour,
                        xytext=(2, -10), textcoords="offset points")


def small_multiples(question: str, panels: list[Panel], *, xlabel: str, ylabel: str = "", ranks_axis: bool = True,
                    xticks: tuple[list[float], list[str]] | None = None) -> plt.Figure:
    """The figure of `panels` under the title `question`. `ranks_axis`: x is a rank count, on a log-2 scale with a
    tick at every count present; else x is linear, with `xticks` (positions, labels) where given."""
    columns = min(PANELS_PER_ROW, len(panels))
    rows = -(-len(panels) // columns)
    legend_in = LEGEND_LINE_IN * max(len(p.series) for p in panels) + 0.7
    fig, axes = plt.subplots(rows, columns, figsize=(PANEL_WIDTH_IN * columns, (PANEL_HEIGHT_IN + legend_in) * rows
                                                     + 0.5), squeeze=False, layout="constrained")
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels):
        set_scale(ax, [v for s in panel.series for v in s.y])
        _draw_series(ax, panel)
        xs = sorted({float(x) for s in panel.series for x in s.x})
        if ranks_axis:
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs, [f"{int(x):,}" for x in xs], fontsize=8)
            ax.minorticks_off()
        elif xticks:
            ax.set_xticks(*xticks, rotation=30, ha="right", fontsize=7)
        ax.set_title(panel.title + (f"\n{panel.shared}" if panel.shared else ""), fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(panel.ylabel or ylabel, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.2), frameon=False, borderaxespad=0.0)
    fig.suptitle(question, fontsize=12)
    return fig
