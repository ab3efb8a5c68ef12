"""The report's scaling sections: cost against ranks for every (api, op) (analysis.scaling), FULL against SHARDED and
FSDP1 against FSDP2 where the run has them, and the simulated worlds' figures at their largest size."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from analysis import charts
from analysis.charts import memory_unit
from analysis.depth_extrapolation import extrapolate_to_full_depth
from analysis.html_page import Page, html_table, note
from analysis.labels import SEPARATOR, short_names
from analysis.panel_charts import Panel, Series, small_multiples
from analysis.render import fmt_number
from analysis.scaling import costs, scaling_figures, scaling_frame, variant_lines
from bench.results.schema import SIMULATED_LABEL, SIMULATED_MEANING

STATE_DICT_OPS = ("get_model", "get_optim", "set_model", "set_optim")


def scaling(page: Page, frame: pd.DataFrame) -> None:
    ok = scaling_frame(frame)
    if ok.empty:
        page.section("Scaling", note("No timed case in this run."), anchor="scaling")
        return
    body = [note("One figure per api and op, a panel per model, a line per variant. The legend gives each line's "
                 "growth exponent b of cost = c x N^b (least squares on log-log axes) with its 95% interval; "
                 "'superlinear' where the interval lies above 1. Dashed lines with hollow markers are simulated "
                 f"({SIMULATED_LABEL}): {SIMULATED_MEANING}.")]
    if ok["world_size"].nunique() < 2:
        body.append(note("This run has one world size; scaling lines need several (run with more --mesh shapes)."))
    for cost in costs(ok):
        body += scaling_figures(ok, cost, page.chart)
    real = ok[~ok["simulated"]]
    typed = real[real["state_dict_type"].isin(["full", "sharded"]) & real["op"].isin(STATE_DICT_OPS)]
    if typed["world_size"].nunique() > 1:
        body.append(page.chart("full_vs_sharded", full_vs_sharded(typed),
                               "Each line: the fastest variant (options, model) of that api and state-dict type."))
    fsdp = typed[typed["api"].isin(["fsdp1", "fsdp2"])]
    if fsdp["api"].nunique() == 2:
        largest = fsdp[fsdp["world_size"] == fsdp["world_size"].max()]
        table = largest.pivot_table(index=[largest["op"] + " " + largest["state_dict_type"]], columns="api",
                                    values="median_ms", aggfunc="min")
        body.append(page.chart("fsdp1_vs_fsdp2", charts.grouped_bars(
            table, "median round time (ms)",
            f"Which is faster at {largest['world_size'].max()} ranks, FSDP1 or FSDP2?"),
            "Each bar: the fastest variant (options, model) of that api, op and state-dict type."))
    page.section("Scaling", *body, anchor="scaling")


def full_vs_sharded(typed: pd.DataFrame) -> Any:
    fastest = typed.groupby(["op", "api", "state_dict_type", "world_size"], as_index=False)["median_ms"].min()
    panels = []
    for op, rows in fastest.groupby("op", sort=True):
        series = [Series(f"{api}{SEPARATOR}{sdt}", str(api), list(group["world_size"]), list(group["median_ms"]))
                  for (api, sdt), group in rows.groupby(["api", "state_dict_type"], sort=True)]
        panels.append(Panel(str(op), series))
    return small_multiples("Does a FULL state dict cost more than a SHARDED one as ranks grow?", panels,
                           xlabel="world size (ranks, log scale)", ylabel="median round time (ms, fastest variant)")


def _extra_figures(row: pd.Series) -> dict[str, float]:
    """The op's own numbers of a case (extra_per_rank, the largest over ranks), e.g. write items, metadata bytes."""
    figures: dict[str, float] = {}
    for per_rank in row.get("extra_per_rank") if isinstance(row.get("extra_per_rank"), list) else []:
        for name, value in (per_rank or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                figures[name] = max(figures.get(name, value), value)
    return figures


def _growth(fit: Any) -> str:
    return fit.label() if fit is not None else "-"


def largest_simulated(ok: pd.DataFrame) -> str:
    """A row per simulated variant at its largest world size: time, peak memory, growth exponents, the op's
    figures."""
    rows, extras = [], []
    unit, divisor = memory_unit(ok["peak_rss_max_bytes"])
    for (api, op, model), group in ok.groupby(["api", "op", ok["model"].fillna("no model")], sort=True):
        times = variant_lines(group, "median_ms")
        memory = {line.key: line for line in variant_lines(group, "peak_rss_max_bytes")}
        _, names = short_names([line.described for line in times])
        for line, name in zip(times, names):
            figures = _extra_figures(line.largest)
            extras += [figure for figure in figures if figure not in extras]
            rows.append(([f"{api}{SEPARATOR}{op}", model, name, f"{int(line.largest['world_size']):,}",
                          fmt_number(line.largest["median_ms"], 3), _growth(line.fit),
                          fmt_number(line.largest["peak_rss_max_bytes"] / divisor, 1), _growth(memory[line.key].fit)],
                         figures))
    header = ["api · op", "model", "variant", "ranks", "median ms", "time growth", f"peak host {unit}",
              "memory growth"]
    cells = [row + [f"{figures[name]:,.0f}" if name in figures else "-" for name in extras] for row, figures in rows]
    return html_table(header + extras, cells, "largest-simulated")


def simulated_scale(page: Page, frame: pd.DataFrame) -> None:
    """The simulated worlds apart: what their figures leave out, each variant at its largest simulated size, and
    DCP's planning items."""
    title = f"Simulated scale: {SIMULATED_LABEL}"
    sim = frame[frame["simulated"].fillna(False).astype(bool)] if "simulated" in frame else frame.iloc[:0]
    if sim.empty:
        page.section(title, note("No simulated case in this run."), anchor="simulated")
        return
    ok = scaling_frame(sim)
    body = [note(f"{SIMULATED_MEANING[0].upper()}{SIMULATED_MEANING[1:]}: the gather of plans to the coordinator is "
                 "not in these times either. Their lines are in the Scaling section's figures (dashed).")]
    if not ok.empty:
        body.append(largest_simulated(ok))
    plans = ok[ok["op"] == "plan"] if not ok.empty else ok
    if not plans.empty:
        rows = [[r["model"], r["world_size"], fmt_number(r["median_ms"], 3), _count(r.get("write_items_local")),
                 _count(r.get("write_items_global")), {True: "yes", False: "NO"}.get(r.get("correct"), "-")]
                for _, r in plans.sort_values(["model", "world_size"]).iterrows()]
        body.append(html_table(["model", "ranks", "median ms", "local plan items (all ranks)",
                                "global plan items", "correct"], rows, "planner-cost"))
    extrapolated = full_depth_table(sim)
    if extrapolated:
        body.append(extrapolated)
    failed = sim[sim["status"] != "ok"]
    if not failed.empty:
        body.append(html_table(["case", "status", "message"], [
            [r["case"], r["status"], str(r.get("message") or "").splitlines()[0][:300] if r.get("message") else ""]
            for _, r in failed.iterrows()], "simulated-not-ok"))
    page.section(title, *body, anchor="simulated")


EXTRAPOLATED_FIGURES = (("median_s", "median time", 1e3, "ms"), ("metadata_chunks", "metadata chunks", 1, ""),
                        ("metadata_bytes", "metadata", 2**-20, "MiB"))
"""(column or extra figure, what it is, factor to the unit shown, unit)."""


def full_depth_table(sim: pd.DataFrame) -> str:
    """A real model's planning at its full depth, read off the line through its depth-truncated variants
    (analysis/depth_extrapolation.py), labelled as extrapolated; empty where the run has no such variants."""
    rows = []
    for column, what, factor, unit in EXTRAPOLATED_FIGURES:
        table = extrapolate_to_full_depth(sim, column)
        for _, r in table.iterrows():
            interval = ("-" if math.isnan(r["low"]) else
                        f"[{fmt_number(r['low'] * factor, 3)}, {fmt_number(r['high'] * factor, 3)}]")
            rows.append([f"{r['api']}{SEPARATOR}{r['op']}", r["options_label"] or "-", r["of"],
                         f"{int(r['world_size']):,}", f"{what} ({unit})" if unit else what,
                         fmt_number(r["estimate"] * factor, 3), interval,
                         f"{', '.join(map(str, r['layers']))} of {r['of_layers']}"])
    if not rows:
        return ""
    return (note("Extrapolated, not measured: the whole model's planning does not fit here, so these figures are "
                 "the line through its first blocks (exact shapes) read at its block count, with the line's 95% "
                 "interval there (docs/simulated.md, 'The scale profile').")
            + html_table(["api · op", "options", "model", "ranks", "figure", "extrapolated", "95% interval",
                          "blocks measured"], rows, "extrapolated-full-depth"))


def _count(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"
