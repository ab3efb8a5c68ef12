"""Tables as text or markdown, and the compare command's output in text, markdown or JSON."""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

import pandas as pd

from analysis.compare import MEMORY_METRICS, Comparison
from analysis.metrics import DEFAULT_METRIC, DESCRIPTIONS, DISPLAY_UNITS
from analysis.trend import MIN_SEGMENT_RUNS, Step

FORMATS = ("text", "markdown", "json")


def fmt_number(value: Any, digits: int = 3, scale: float = 1.0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "inf" if value == math.inf else "-"
    return f"{value * scale:.{digits}f}"


def fmt_interval(low: Any, high: Any) -> str:
    return "-" if low is None or low != low else f"{fmt_number(low)}-{fmt_number(high)}"


def fmt_mde(value: Any) -> str:
    """A minimum detectable effect as a percentage; '-' where the data cannot detect any (one run a side)."""
    return "-" if value is None or value != value or value == math.inf else f"{value:.0%}"


def fmt_p(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:.2g}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "text") -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        lines.insert(1, "|" + "|".join("---" for _ in header) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def compare_header(metric: str = DEFAULT_METRIC) -> list[str]:
    unit = DISPLAY_UNITS[metric][0]
    return ["case", "runs", f"base {unit}", f"new {unit}", "new/base", "95% CI", "p (adj)", "MDE", "verdict"]


def compare_rows(cases: pd.DataFrame, metric: str = DEFAULT_METRIC) -> list[list[str]]:
    scale = DISPLAY_UNITS[metric][1]
    rows = []
    for row in cases.itertuples(index=False):
        sides = [status for status in (row.base_status, row.new_status) if status]
        status = (f" ({row.base_status or '-'} -> {row.new_status or '-'})"
                  if isinstance(row.status_verdict, str) or any(s != "ok" for s in sides) else "")
        verdict = row.verdict + status
        if isinstance(row.time_verdict, str) and row.time_verdict != row.verdict:  # a status verdict: time beside it
            verdict += f"; time {row.time_verdict}"
        if isinstance(row.why, str) and row.why:
            verdict += f" ({row.why})"
        rows.append([row.case, f"{row.base_runs}/{row.new_runs}", fmt_number(row.base_median_s, 3, scale),
                     fmt_number(row.new_median_s, 3, scale), fmt_number(row.ratio),
                     fmt_interval(row.ci_low, row.ci_high), fmt_p(row.p_adj), fmt_mde(row.mde), verdict])
    return rows


MEMORY_HEADER = ["case", "memory", "rank", "base MiB", "new MiB", "new/base", "p (adj)", "verdict"]


def memory_rows(cases: pd.DataFrame, only_changed: bool = True, threshold: float = 0.05) -> list[list[str]]:
    rows = []
    for metric in MEMORY_METRICS:
        judged = cases[cases[f"{metric}_verdict"].notna()]
        if only_changed:  # flagged, or an untested change beyond the threshold and 1 MiB
            moved = (judged[f"{metric}_verdict"] == "inconclusive") & (judged[f"{metric}_ratio"] - 1).abs().gt(
                threshold) & (judged[f"{metric}_new"] - judged[f"{metric}_base"]).abs().ge(2**20)
            judged = judged[judged[f"{metric}_verdict"].isin(["regression", "improvement"]) | moved]
        for _, row in judged.iterrows():
            rank = row[f"{metric}_rank"]
            verdict = row[f"{metric}_verdict"] + (f" ({row[f'{metric}_why']})" if row[f"{metric}_why"] else "")
            rows.append([row["case"], metric, "-" if rank != rank else int(rank),
                         fmt_number(row[f"{metric}_base"], 2, 2**-20),
                         fmt_number(row[f"{metric}_new"], 2, 2**-20), fmt_number(row[f"{metric}_ratio"]),
                         fmt_p(row[f"{metric}_p_adj"]), verdict])
    return rows


def summary_lines(summary: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{n} {v}" for v, n in summary["verdicts"].items()) or "nothing to compare"
    by_api = ", ".join(f"{api} {fmt_number(g)}" for api, g in summary["geomean_ratio_by_api"].items())
    labels = summary.get("labels")  # set by --labels (compare mode names its sides)
    lines = [f"base = {labels['base']}, new = {labels['new']}"] if labels else []
    lines += [f"{summary['cases']} cases: {counts}",
             f"geometric mean of new/base: {fmt_number(summary['geomean_ratio'])} overall; {by_api or '-'}"]
    for metric, counts_by_verdict in summary["memory_verdicts"].items():
        if counts_by_verdict:
            lines.append(f"{metric} memory: " + ", ".join(f"{n} {v}" for v, n in counts_by_verdict.items()))
    if summary.get("metric", DEFAULT_METRIC) != DEFAULT_METRIC:
        lines.append(f"metric: {DESCRIPTIONS[summary['metric']]} per round, in place of wall time")
    lines.append(test_unit_line(summary))
    lines.append(mde_line(summary))
    family = {"holm": "the chance of any false flag", "bh": "the expected share of false flags"}
    early = summary.get("early_alpha", 0.0)
    final = round(summary["alpha"] - early, 6)
    lines.append(f"flagged: beyond {summary['threshold']:.0%} and {summary['correction']}-corrected p < "
                 f"{final:g} over one family of {summary.get('family_size', 0)} tests (time, host and "
                 f"device memory; {family[summary['correction']]} is at most {summary['alpha']}"
                 + (f", {early:g} of it spent on early decisions at the interim looks" if early else "") + "); "
                 f"{summary['flagged_regressions']} flagged (regressions, new failures, fixes)")
    if summary.get("settled") or summary.get("decided"):
        lines.append(f"stopped early: {summary.get('settled', 0)} settled unchanged, {summary.get('decided', 0)} "
                     f"decided (flagged at an interim look)")
    lines += [f"warning: {warning}" for warning in summary.get("comparability_warnings", [])]
    return lines


def test_unit_line(summary: dict[str, Any]) -> str:
    """Which run-level test each case got (analysis.run_tests): the run, a fresh set of processes, is the unit."""
    designs, runs = summary.get("designs", {}), summary.get("runs_per_side", {})
    words = {"paired": "paired by pass", "welch": "Welch t, unpaired", "history": "one run against a history "
             "(median, MAD)", "none": "one run a side: nothing can be concluded, inconclusive"}
    parts = [f"{n} {words.get(d, d)}" for d, n in designs.items()]
    return (f"time test on per-run medians (runs a side: base {runs.get('base', '-')}, new {runs.get('new', '-')}): "
            + ("; ".join(parts) if parts else "no case timed on both sides"))


def mde_line(summary: dict[str, Any]) -> str:
    """What the comparison could see: cases by the change their time test detects with 80% power."""
    counts = summary.get("mde_counts", {})
    shown = ", ".join(f"{label} {n}" for label, n in counts.items() if n)
    return (f"minimum detectable effect (80% power, at the family's level): median "
            f"{fmt_mde(summary.get('mde_median'))}; cases {shown or '-'}")


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if value != value else str(value)
    return value.item() if hasattr(value, "item") else value


def render_comparison(comparison: Comparison, fmt: str = "text") -> str:
    cases = comparison.cases
    if fmt == "json":
        records = [{k: _json_value(v) for k, v in row.items()} for row in cases.to_dict(orient="records")]
        summary = json.loads(json.dumps(comparison.summary, default=_json_value), parse_constant=lambda c: None)
        return json.dumps({"summary": summary, "cases": records}, indent=2, default=_json_value)
    metric = comparison.summary.get("metric", DEFAULT_METRIC)
    parts = [table(compare_header(metric), compare_rows(cases, metric), fmt)]
    memory = memory_rows(cases, threshold=comparison.settings.threshold)
    if memory:
        parts.append(table(MEMORY_HEADER, memory, fmt))
    summary = summary_lines(comparison.summary)
    parts.append("\n".join(f"- {line}" for line in summary) if fmt == "markdown" else "\n".join(summary))
    return "\n\n".join(parts)


def step_header(metric: str = DEFAULT_METRIC) -> list[str]:
    unit = DISPLAY_UNITS[metric][0]
    return ["case", "run", "torch", f"before {unit}", f"after {unit}", "change"]


def step_rows(steps: list[Step], metric: str = DEFAULT_METRIC) -> list[list[str]]:
    scale = DISPLAY_UNITS[metric][1]
    return [[s.case, s.run_label, s.torch, fmt_number(s.before_s, 3, scale), fmt_number(s.after_s, 3, scale),
             f"{s.change:+.1%}"] for s in steps]


def render_trend(series: dict[str, pd.DataFrame], steps: list[Step], runs: int, order: str, fmt: str = "text",
                 metric: str = DEFAULT_METRIC) -> str:
    """Each case's history in one row (first and last median, steps found), then every step in full."""
    if fmt == "json":
        return json.dumps({
            "runs": runs, "order": order, "cases": len(series),
            "histories": {case: [{"run": r.run_label, "median_s": r.median_s} for r in h.itertuples()]
                          for case, h in series.items()},
            "steps": [{"case": s.case, "index": s.index, "run": s.run_label, "torch": s.torch,
                       "started_at": str(s.run_started_at), "before_s": s.before_s, "after_s": s.after_s,
                       "change": s.change, "p_value": s.p_value} for s in steps]}, indent=2)
    counts = pd.Series([s.case for s in steps], dtype=object).value_counts()
    unit, scale = DISPLAY_UNITS[metric]
    histories = [[case, len(h), fmt_number(h["median_s"].iloc[0], 3, scale),
                  fmt_number(h["median_s"].iloc[-1], 3, scale),
                  fmt_number(h["median_s"].iloc[-1] / h["median_s"].iloc[0]), int(counts.get(case, 0))]
                 for case, h in series.items()]
    history_header = ["case", "runs", f"first {unit}", f"last {unit}", "last/first", "steps"]
    parts = [table(history_header, histories, fmt),
             table(step_header(metric), step_rows(steps, metric), fmt) if steps else "no steps found"]
    parts.append(f"{len(series)} cases over {runs} runs (ordered by {order}); {len(steps)} step(s); a step needs "
                 f"{MIN_SEGMENT_RUNS} runs on each side")
    return "\n\n".join(parts)
