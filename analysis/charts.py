"""The report's charts: matplotlib figures with titles, axis labels with units, log scales where values span
decades, and one colour per api in every chart."""

from __future__ import annotations

import io
from itertools import cycle
from typing import Iterable

import matplotlib

matplotlib.use("Agg")  # files only, no display: the report is made on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from analysis.chart_facts import REFERENCE  # noqa: E402

API_COLOURS = {"fsdp1": "#1f77b4", "fsdp2": "#d62728", "dcp": "#2ca02c", "torch_save": "#9467bd",
               "null": "#7f7f7f"}
_SPARE_COLOURS = ["#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#17becf"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
DECADES_FOR_LOG = 1.5
"""Log scale when the largest value is more than 10**1.5 (about 30) times the smallest."""
DPI = 100
PLAIN = FuncFormatter(lambda value, _: f"{value:g}")
MDE_TICKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)
MAX_RUN_LABELS = 15
"""Up to this many runs, the trend's x axis names each run; beyond, it counts them."""


def api_colour(api: str) -> str:
    if api not in API_COLOURS:  # an api this version does not know still gets one colour, the same everywhere
        API_COLOURS[api] = _SPARE_COLOURS[(len(API_COLOURS) - 5) % len(_SPARE_COLOURS)]
    return API_COLOURS[api]


def set_scale(ax: plt.Axes, values: Iterable[float], axis: str = "y") -> None:
    finite = [v for v in values if v is not None and np.isfinite(v) and v > 0]
    if finite and max(finite) / min(finite) > 10**DECADES_FOR_LOG:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PLAIN)  # 0.1, 1, 10: not 10^-1, 10^0, 10^1


def memory_unit(values: Iterable[float]) -> tuple[str, float]:
    """MiB, or KiB where every value is under a MiB (small models' peaks would all read 0.0 MiB)."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return ("MiB", 2.0**20) if finite and max(finite) >= 2**20 else ("KiB", 2.0**10)


def png_bytes(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    # a constrained layout already fits its texts; "tight" would draw the figure once more to measure them
    constrained = type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches=None if constrained else "tight")
    plt.close(fig)
    return buffer.getvalue()


def _legend(ax: plt.Axes, entries: int) -> None:
    if entries:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def grouped_bars(table: pd.DataFrame, ylabel: str, title: str) -> plt.Figure:
    """table: index = groups on the x axis, columns = apis (one colour each); values plotted as bars."""
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(table) + 2), 4.2))
    width = 0.8 / max(1, len(table.columns))
    x = np.arange(len(table))
    for i, api in enumerate(table.columns):
        ax.bar(x + i * width, table[api].to_numpy(dtype=float), width, color=api_colour(str(api)), label=str(api))
    ax.set_xticks(x + width * (len(table.columns) - 1) / 2, [str(i) for i in table.index], rotation=30,
                  ha="right", fontsize=8)
    set_scale(ax, table.to_numpy(dtype=float).ravel())
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    _legend(ax, len(table.columns))
    return fig


def horizontal_bars(labels: list[str], values: list[float], apis: list[str], xlabel: str, title: str,
                    reference: dict[str, float] | None = None) -> plt.Figure:
    """One bar per case, coloured by api; optional reference lines (ceilings) across."""
    fig, ax = plt.subplots(figsize=(10, 0.22 * len(labels) + 1.6))
    y = np.arange(len(labels))
    ax.barh(y, values, color=[api_colour(a) for a in apis])
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    for (name, value), style in zip((reference or {}).items(), cycle(["--", ":", "-."])):
        ax.axvline(value, color="black", linestyle=style, linewidth=1, label=f"{name}: {value:.3g}", gid=REFERENCE)
    set_scale(ax, list(values) + list((reference or {}).values()), axis="x")
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(color=api_colour(api), label=api) for api in dict.fromkeys(apis)]
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def mde_chart(cases: pd.DataFrame, threshold: float) -> plt.Figure:
    """What the comparison could see: each timed case's minimum detectable effect, by api, against the threshold."""
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    timed = cases[np.isfinite(cases["mde"].astype(float))]
    apis = sorted(timed["api"].dropna().unique())
    values = [100 * timed.loc[timed["api"] == api, "mde"].astype(float) for api in apis]
    if values:  # the axis spans at least from half the threshold to 4 times it, so a narrow spread reads as one
        low = min(min(v.min() for v in values), 50 * threshold)
        high = max(max(v.max() for v in values) * 1.01, 400 * threshold)
        bins = np.geomspace(max(0.5, low), high, 30)
        ax.hist(values, bins=bins, stacked=True, color=[api_colour(a) for a in apis], label=list(apis))
        ax.set_xscale("log")
        ticks = [t for t in MDE_TICKS if bins[0] <= t <= bins[-1]]
        if len(ticks) > 6:  # over many decades 1, 2, 5 crowd: powers of ten
            ticks = [t for t in ticks if str(t).strip("0") == "1"]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.legend(title="api", fontsize=8, loc="upper right")
    ax.axvline(100 * threshold, color="black", linestyle="--", linewidth=1, gid=REFERENCE)
    ax.text(100 * threshold, ax.get_ylim()[1] * 0.95, f" threshold {threshold:.0%}", va="top", fontsize=8)
    ax.set_xlabel("minimum detectable effect (%, 80% power, log scale)")
    ax.set_ylabel("cases (count)")
    untimed = len(cases) - len(timed)
    suffix = f" ({untimed} cases untestable)" if untimed else ""
    ax.set_title("What could this comparison detect? MDE per case" + suffix, fontsize=10)
    return fig
