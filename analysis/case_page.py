"""A page per case, for drilling down from the report's tables: what the case is and how it went, its comparison,
and four charts: which rank is slowest, where a round's time goes (phases), memory per rank, and every run's rounds
as dots beside their median and interquartile range."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.charts import api_colour, memory_unit
from analysis.html_page import STYLE, figure, html_table, note, slug
from analysis.render import fmt_interval, fmt_mde, fmt_number, fmt_p
from analysis.svg_chart import Row, row_chart

FOLDER = "cases"
PHASE_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
                 "#9c755f", "#bab0ac")
MEMORY_SERIES = {"peak_rss_bytes": ("peak host", "#4e79a7"), "peak_cuda_bytes": ("peak device", "#e15759"),
                 "bytes_per_rank": ("state held", "#bab0ac")}
"""A record's memory figures per rank: the peak host memory over the op's start, the peak device memory, and the
bytes of the state dict the rank holds."""
SIDE_COLOURS = {"baseline run": "#9a9a9a"}


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return float(q1), float(median), float(q3)


def _numbers(values: Any) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)] if isinstance(
        values, list) else []


def rank_rows(rank_times_s: Any) -> list[Row]:
    """A row per rank: its round times (ms) as dots, and in how many rounds it was the slowest."""
    rounds = [r for r in rank_times_s or [] if isinstance(r, list) and r and all(v is not None for v in r)]
    if not rounds:
        return []
    slowest = np.bincount(np.argmax(np.array(rounds), axis=1), minlength=len(rounds[0]))
    rows = []
    for rank in range(len(rounds[0])):
        times = [1e3 * r[rank] for r in rounds]
        rows.append(Row(f"rank {rank}: slowest in {slowest[rank]} of {len(rounds)}", times, "rounds",
                        _quartiles(times)))
    return rows


def phase_rows(phases_s: Any, cover: Any = None) -> tuple[list[Row], dict[str, str]]:
    """A row per rank: the median over rounds of each phase (ms), stacked, and the share of the rank's round time
    the phases cover (the record's phases_cover); and the phases' colours."""
    if not isinstance(phases_s, dict) or not phases_s:
        return [], {}
    names = sorted(phases_s)
    ranks = max(len(row) for rows in phases_s.values() for row in rows or [[]])
    rows = []
    for rank in range(ranks):
        segments = []
        for name in names:
            values = _numbers([row[rank] for row in phases_s[name] if rank < len(row)])
            if values:
                segments.append((name, 1e3 * float(np.median(values))))
        covered = _numbers(cover)[rank] if rank < len(_numbers(cover)) else None
        rows.append(Row(f"rank {rank}" + (f": phases cover {covered:.0%}" if covered is not None else ""),
                        segments=segments))
    return rows, {name: PHASE_COLOURS[i % len(PHASE_COLOURS)] for i, name in enumerate(names)}


def memory_rows(case: pd.Series) -> tuple[list[Row], dict[str, str], str]:
    """A row per rank and memory figure the record has: peak host, peak device, the state the rank holds."""
    present = {column: _numbers(case.get(column)) for column in MEMORY_SERIES}
    present = {column: values for column, values in present.items() if values}
    unit, divisor = memory_unit([v for values in present.values() for v in values])
    rows = [Row(f"rank {rank} · {MEMORY_SERIES[column][0]}",
                segments=[(MEMORY_SERIES[column][0], value / divisor)])
            for column, values in present.items() for rank, value in enumerate(values)]
    rows.sort(key=lambda r: r.label)
    return rows, {MEMORY_SERIES[c][0]: MEMORY_SERIES[c][1] for c in present}, unit


def run_rows(runs: pd.DataFrame, api: str) -> tuple[list[Row], dict[str, str]]:
    """A row per run of the case (baseline runs first, then the reported ones): its rounds as dots (ms)."""
    rows, colours = [], {}
    for _, run in runs.iterrows():
        times = [1e3 * t for t in run["round_times_s"] or []]
        if not times:
            continue
        series = f"{run['side']} run"
        colours[series] = SIDE_COLOURS.get(series, api_colour(api))
        rows.append(Row(f"{run['side']}: {run['run_label']}", times, series, _quartiles(times)))
    return rows, colours


def _charts(case: pd.Series, runs: pd.DataFrame) -> list[str]:
    api = str(case["api"])
    charts = []
    ranks = rank_rows(case.get("rank_times_s"))
    if ranks:
        charts.append(figure("ranks", *_svg("Which rank is slowest? Round times per rank", ranks,
                                            "round time of the rank (ms)", {"rounds": api_colour(api)})))
    phases, colours = phase_rows(case.get("phases_s"), case.get("phases_cover"))
    if phases:
        charts.append(figure("phases", *_svg("Where does a round's time go? Phases, median over rounds", phases,
                                             "time (ms, stacked)", colours)))
    memory, colours, unit = memory_rows(case)
    if memory:
        charts.append(figure("memory", *_svg("How much memory does each rank take?", memory,
                                             f"memory ({unit})", colours)))
    per_run, colours = run_rows(runs, api)
    if per_run:
        charts.append(figure("runs", *_svg("How do the runs' rounds compare? Each run's rounds as dots", per_run,
                                           "round time (ms)", colours)))
    return charts


def _svg(title: str, rows: list[Row], xlabel: str, colours: dict[str, str]) -> tuple[dict[str, Any], str]:
    svg, facts = row_chart(title, rows, xlabel, colours)
    return facts, svg


def _facts_table(case: pd.Series) -> str:
    times = _numbers(case.get("round_times_s"))
    q1, _, q3 = _quartiles(times) if times else (math.nan, math.nan, math.nan)
    message = str(case.get("message") or "").strip()
    facts = [("api · op", f"{case['api']} · {case['op']}"), ("state-dict type", case.get("state_dict_type")),
             ("options", case.get("options_label")), ("model", case.get("model")),
             ("world", f"{case.get('world_size')} ranks, mesh {case.get('mesh')}"
                       + (" (simulated)" if case.get("simulated") else "")),
             ("status", case["status"]),
             ("correct", {True: "yes", False: "NO"}.get(case.get("correct"), "not checked")),
             ("median round", f"{fmt_number(case.get('median_s'), 3, 1e3)} ms over {len(times)} rounds "
                              f"(IQR {fmt_number(q1, 3, 1e3)}-{fmt_number(q3, 3, 1e3)} ms, min "
                              f"{fmt_number(min(times, default=None), 3, 1e3)}, "
                              f"max {fmt_number(max(times, default=None), 3, 1e3)})"),
             ("memory", "peak host: the op's peak resident memory over that before it; state held: the bytes of "
                        "the rank's state dict"),
             ("bytes", _bytes(case.get("bytes_global"))), ("message", message[:2000] or "-")]
    return html_table(["what", "value"], [[k, "-" if v is None else v] for k, v in facts], "case-facts")


def _bytes(value: Any) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    return f"{int(value):,} bytes of state in all ({value / 1e6:.1f} MB)"


def _comparison_table(row: pd.Series | None) -> str:
    if row is None:
        return note("Not compared: the report has no baseline for this case.")
    return html_table(["base ms", "new ms", "new/base", "95% CI", "p (adj)", "MDE", "verdict"], [[
        fmt_number(row.get("base_median_s"), 3, 1e3), fmt_number(row.get("new_median_s"), 3, 1e3),
        fmt_number(row.get("ratio")), fmt_interval(row.get("ci_low"), row.get("ci_high")), fmt_p(row.get("p_adj")),
        fmt_mde(row.get("mde")), f"{row['verdict']}" + (f" ({row['why']})" if isinstance(row.get("why"), str)
                                                          and row["why"] else "")]], "case-comparison")


def case_html(case: pd.Series, runs: pd.DataFrame, comparison_row: pd.Series | None) -> str:
    title = f"case {case['case']}"
    body = ['<p><a href="../report.html">back to the report</a></p>', _facts_table(case),
            "<h2>Against the baseline</h2>", _comparison_table(comparison_row), "<h2>Drill-down</h2>",
            *_charts(case, runs)]
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n" + "\n".join(body)
            + "\n</body></html>\n")


def write_case_pages(out_dir: Path, latest: pd.DataFrame, runs: pd.DataFrame,
                     comparison: pd.DataFrame | None) -> dict[str, str]:
    """A page per case of the latest run in out_dir/cases; `runs`: every run's row of each case, with its side
    ('baseline' or 'reported'); `comparison`: the comparison's cases, or None. Returns case -> the page's path
    relative to out_dir."""
    folder = out_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    by_case = dict(tuple(runs.groupby("case", sort=False))) if not runs.empty else {}
    compared = comparison.set_index("case") if comparison is not None and not comparison.empty else None
    pages = {}
    for _, case in latest.iterrows():
        name = str(case["case"])
        row = compared.loc[name] if compared is not None and name in compared.index else None
        path = folder / f"{slug(name)}.html"
        path.write_text(case_html(case, by_case.get(name, runs.iloc[:0]), row))
        pages[name] = f"{FOLDER}/{path.name}"
    return pages
