"""The report's charts: matplotlib figures with titles, axis labels with units, log scales where values span
decades, and one colour per api in every chart."""

from __future__ import annotations

import io
from itertools import cycle
from pathlib import Path
from typing import Iterable

import matplotlib

matplotlib.use("Agg")  # files only, no display: the report is made on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from analysis.metrics import DEFAULT_METRIC, DISPLAY_UNITS  # noqa: E402
from analysis.trend import Step  # noqa: E402

API_COLOURS = {"fsdp1": "#1f77b4", "fsdp2": "#d62728", "dcp": "#2ca02c", "torch_save": "#9467bd",
               "null": "#7f7f7f"}
_SPARE_COLOURS = ["#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#17becf"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
DECADES_FOR_LOG = 1.5
"""Log scale when the largest value is more than 10**1.5 (about 30) times the smallest."""
DPI = 100
PANELS_PER_ROW = 3
MAX_RUN_LABELS = 15
"""Up to this many runs, the trend's x axis names each run; beyond, it counts them."""
MAX_LEGEND_ENTRIES = 40
"""More entries than this make a legend taller than its chart; the lines' colours still say the api."""


def api_colour(api: str) -> str:
    if api not in API_COLOURS:  # an api this version does not know still gets one colour, the same everywhere
        API_COLOURS[api] = _SPARE_COLOURS[(len(API_COLOURS) - 5) % len(_SPARE_COLOURS)]
    return API_COLOURS[api]


def set_scale(ax: plt.Axes, values: Iterable[float], axis: str = "y") -> None:
    finite = [v for v in values if v is not None and np.isfinite(v) and v > 0]
    if finite and max(finite) / min(finite) > 10**DECADES_FOR_LOG:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def memory_unit(values: Iterable[float]) -> tuple[str, float]:
    """MiB, or KiB where every value is under a MiB (small models' peaks would all read 0.0 MiB)."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return ("MiB", 2.0**20) if finite and max(finite) >= 2**20 else ("KiB", 2.0**10)


def png_bytes(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _legend(ax: plt.Axes, entries: int) -> None:
    if entries:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def trend_chart(title: str, histories: dict[str, pd.DataFrame], steps: list[Step], runs: list[str],
                metric: str = DEFAULT_METRIC) -> plt.Figure:
    """Median time (or `metric`'s value) per run, one line per case, each detected step marked where it happened."""
    unit, scale = DISPLAY_UNITS[metric]
    fig, ax = plt.subplots(figsize=(10, 4.2))
    markers = cycle(MARKERS)
    values = []
    for case, history in histories.items():
        api = history["api"].iloc[0]
        ax.plot(history["position"], history["median_s"] * scale, marker=next(markers), markersize=4, linewidth=1,
                color=api_colour(api), label=case)
        values += list(history["median_s"] * scale)
        for step in (s for s in steps if s.case == case):
            x = history["position"].iloc[step.index] - 0.5
            ax.axvline(x, color=api_colour(api), linestyle="--", linewidth=1)
            ax.annotate(f"{step.change:+.0%}", (x, step.after_s * scale), fontsize=8, color=api_colour(api))
    set_scale(ax, values)
    ax.set_xlim(-0.5, len(runs) - 0.5)
    if len(runs) <= MAX_RUN_LABELS:
        ax.set_xticks(range(len(runs)), [Path(run).stem for run in runs], rotation=30, ha="right", fontsize=7)
    ax.set_title(title)
    ax.set_xlabel(f"run (oldest to newest, {len(runs)} runs)")
    ax.set_ylabel(f"median round {'time' if unit == 'ms' else 'count'} ({unit})")
    ax.grid(alpha=0.3)
    _legend(ax, len(histories))
    return fig


def lines_by_world_size(frame: pd.DataFrame, metric: str, ylabel: str, title: str, panel: str = "op",
                        line: Iterable[str] = ("api", "state_dict_type", "options_label", "model"),
                        style_by_type: bool = False) -> plt.Figure:
    """One panel per `panel` value; x is world size, one line per case without its mesh."""
    panels = sorted(frame[panel].dropna().unique())
    columns = min(PANELS_PER_ROW, len(panels))
    rows_of_panels = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows_of_panels, columns, figsize=(4.5 * columns, 3.6 * rows_of_panels + 0.6),
                             squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, value in zip(axes.flat, panels):
        rows = frame[frame[panel] == value]
        for key, group in rows.groupby(list(line), dropna=False, sort=True):
            group = group.groupby("world_size")[metric].median()
            api, sdt = key[0], key[1]
            ax.plot(group.index, group.values, marker="o", markersize=4, color=api_colour(api),
                    linestyle="--" if style_by_type and sdt == "full" else "-",
                    label=" ".join(str(k) for k in key if k is not None and k == k))
        set_scale(ax, rows[metric])
        ax.set_xticks(sorted(rows["world_size"].unique()))
        ax.set_title(str(value), fontsize=10)
        ax.set_xlabel("world size (ranks)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    # one legend for all panels: a line's label names its api, options and model, whichever panel it is in
    legend = {label: handle for ax in axes.flat for handle, label in zip(*ax.get_legend_handles_labels())}
    if len(legend) <= MAX_LEGEND_ENTRIES:
        fig.legend(legend.values(), legend.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 0.95),
                   frameon=False)
    fig.tight_layout()
    return fig


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
        ax.axvline(value, color="black", linestyle=style, linewidth=1, label=f"{name}: {value:.3g}")
    set_scale(ax, list(values) + list((reference or {}).values()), axis="x")
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(color=api_colour(api), label=api) for api in dict.fromkeys(apis)]
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def planner_cost_chart(frame: pd.DataFrame, title: str) -> plt.Figure:
    """DCP's global save planning: median time against the simulated rank count (log-log), one line per model, each
    point labelled with the write items the global plan held."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    markers = cycle(MARKERS)
    for model, rows in frame.groupby("model", dropna=False, sort=True):
        rows = rows.groupby("world_size", as_index=False).agg(median_ms=("median_ms", "median"),
                                                              items=("write_items_global", "max"))
        ax.plot(rows["world_size"], rows["median_ms"], marker=next(markers), markersize=5,
                color=api_colour("dcp"), label=str(model))
        for _, row in rows.iterrows():
            if np.isfinite(row["items"]):
                ax.annotate(f"{int(row['items']):,} items", (row["world_size"], row["median_ms"]), fontsize=7,
                            textcoords="offset points", xytext=(4, -10))
    ax.set_xscale("log", base=2)
    set_scale(ax, frame["median_ms"])
    ax.set_xticks(sorted(frame["world_size"].unique()), [str(n) for n in sorted(frame["world_size"].unique())])
    ax.set_xlabel("ranks (simulated)")
    ax.set_ylabel("median global planning time (ms)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _legend(ax, frame["model"].nunique())
    return fig


def mde_chart(cases: pd.DataFrame, threshold: float) -> plt.Figure:
    """What the comparison could see: each timed case's minimum detectable effect, by api, against the threshold."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    timed = cases[np.isfinite(cases["mde"].astype(float))]
    apis = sorted(timed["api"].dropna().unique())
    values = [100 * timed.loc[timed["api"] == api, "mde"].astype(float) for api in apis]
    if values:
        bins = np.geomspace(max(0.5, min(v.min() for v in values)), max(v.max() for v in values) * 1.01, 25)
        ax.hist(values, bins=bins, stacked=True, color=[api_colour(a) for a in apis], label=list(apis))
        ax.set_xscale("log")
        ax.legend(title="api", fontsize=8)
    ax.axvline(100 * threshold, color="black", linestyle="--", linewidth=1)
    ax.text(100 * threshold, ax.get_ylim()[1] * 0.95, f" threshold {threshold:.0%}", va="top", fontsize=8)
    ax.set_xlabel("minimum detectable effect (%, 80% power, log scale)")
    ax.set_ylabel("cases")
    untimed = len(cases) - len(timed)
    suffix = f" ({untimed} cases untestable)" if untimed else ""
    ax.set_title("What could this comparison detect? MDE per case" + suffix)
    return fig
