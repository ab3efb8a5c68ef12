"""Cost against ranks, generic over cases: for each (api, op), one figure per cost (time, peak host memory) with a
panel per model, one line per variant (state-dict type, options, mesh dimensions, simulated or real), each line's
fitted growth exponent in its legend entry (analysis.growth). The report's sections: analysis/scaling_section.py."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import pandas as pd

from analysis.charts import memory_unit
from analysis.growth import GrowthFit, growth_fit
from analysis.labels import describing_fields, short_names
from analysis.panel_charts import Panel, Series, packed, small_multiples

VARIANT_FIELDS = ("state_dict_type", "options_label", "mesh_dims")
"""What tells the lines of one (api, op, model) panel apart, besides simulated or real."""


@dataclass(frozen=True)
class Cost:
    """One cost the scaling section charts: a column of the scaling frame, its unit, and how the question says it."""

    column: str
    label: str
    """The y axis's label, with {unit} where the cost is in bytes (MiB or KiB, per panel as its values need)."""
    words: str
    in_bytes: bool = False


def scaling_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The timed cases with the columns the section reads: median_ms, peak_rss_bytes_max, mesh_dims."""
    if frame.empty:
        return frame.assign(median_ms=[], mesh_dims=[])
    ok = frame[(frame["status"] == "ok") & frame["median_s"].notna()]
    simulated = ok["simulated"].fillna(False).astype(bool) if "simulated" in ok else False
    return ok.assign(median_ms=ok["median_s"] * 1e3, simulated=simulated,
                     mesh_dims=[len(m) if isinstance(m, list) else 1 for m in ok["mesh_shape"]])


TIME = Cost("median_ms", "median round time (ms)", "time")
MEMORY = Cost("peak_rss_max_bytes", "peak host memory ({unit}, largest rank)", "peak host memory", in_bytes=True)


def costs(ok: pd.DataFrame) -> list[Cost]:
    """Time always; peak host memory where some case has it."""
    peaks = ok["peak_rss_max_bytes"] if "peak_rss_max_bytes" in ok else pd.Series(dtype=float)
    return [TIME, MEMORY] if (peaks > 0).any() else [TIME]


def in_units(panel: Panel, cost: Cost) -> Panel:
    """The panel with its y axis label; a cost in bytes in MiB or KiB, as the panel's values need."""
    if not cost.in_bytes:
        return replace(panel, ylabel=cost.label)
    unit, divisor = memory_unit([v for line in panel.series for v in line.y])
    series = [replace(line, y=[v / divisor for v in line.y]) for line in panel.series]
    return replace(panel, series=series, ylabel=cost.label.format(unit=unit))


@dataclass
class Line:
    """One variant's line: its key (VARIANT_FIELDS and simulated), what describes it, its points and its fit."""

    key: tuple
    described: dict[str, str]
    """Its VARIANT_FIELDS as analysis.labels.describing_fields gives them."""
    api: str
    simulated: bool
    points: pd.Series
    """The cost (the median of its cases) per world size."""
    fit: GrowthFit | None
    largest: pd.Series
    """The variant's case at its largest world size."""


def variant_lines(rows: pd.DataFrame, column: str) -> list[Line]:
    """The lines of one api, op and model, with their fits: real ones first, then simulated ones."""
    lines = []
    for key, group in rows.groupby(list(VARIANT_FIELDS) + ["simulated"], dropna=False, sort=True):
        points = group.groupby("world_size")[column].median().dropna()
        largest = group[group["world_size"] == group["world_size"].max()].iloc[-1]
        lines.append(Line(key, describing_fields(group.iloc[0], VARIANT_FIELDS), str(group["api"].iloc[0]),
                          bool(group["simulated"].iloc[0]), points,
                          growth_fit(list(points.index), list(points.values)), largest))
    lines.sort(key=lambda line: (line.simulated, list(line.described.values())))
    return lines


def panels_of(title: str, lines: list[Line]) -> list[Panel]:
    """The panels of one model's lines: those of one state-dict type kept together where they fit in a panel, each
    panel's lines named by what sets them apart there, with their fit."""
    by_type: dict[str, list[Line]] = {}
    for line in lines:
        by_type.setdefault(line.described.get("state_dict_type", ""), []).append(line)
    packs = packed(list(by_type.values()))
    panels = []
    for number, pack in enumerate(packs, 1):
        shared, names = short_names([line.described for line in pack])
        series = [Series(f"{name}: {line.fit.label()}" if line.fit else name, line.api, list(line.points.index),
                         list(line.points.values), line.simulated) for line, name in zip(pack, names)]
        panels.append(Panel(f"{title}, {number} of {len(packs)}" if len(packs) > 1 else title, series, shared))
    return panels


def scaling_figures(ok: pd.DataFrame, cost: Cost, chart: Callable[[str, Any], str]) -> list[str]:
    """One figure per (api, op) whose cases span two or more world sizes, through `chart(name, figure)`."""
    figures = []
    for (api, op), rows in ok.groupby(["api", "op"], sort=True):
        if rows["world_size"].nunique() < 2:
            continue
        panels = []
        for model, model_rows in rows.groupby(rows["model"].fillna("no model"), sort=True):
            panels += [in_units(panel, cost) for panel in panels_of(str(model), variant_lines(model_rows, cost.column))]
        question = f"How does {op}'s {cost.words} grow with ranks? ({api})"
        figures.append(chart(f"scaling_{cost.words.split()[-1]}_{api}_{op}", small_multiples(
            question, panels, xlabel="world size (ranks, log scale)")))
    return figures
