"""The sections of the HTML report, each from the latest run's frame (and the history, for trends)."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import charts
from analysis.compare import VERDICTS, Comparison
from analysis.history import run_order
from analysis.html_page import Page, note
from analysis.metrics import DEFAULT_METRIC
from analysis.chart_facts import MAX_SERIES
from analysis.charts import MAX_RUN_LABELS
from analysis.labels import describing_fields, short_names
from analysis.metrics import DISPLAY_UNITS
from analysis.panel_charts import Panel, Series, small_multiples
from bench.results.schema import SIMULATED_LABEL, XFAIL
from analysis.render import (
    MEMORY_HEADER,
    compare_header,
    compare_rows,
    fmt_number,
    memory_rows,
    step_header,
    step_rows,
    summary_lines,
)
from analysis.trend import all_steps
from bench.results.dispersion import UNSTABLE_RCV, robust_cv  # the suite's rule: report and summary flag the same cases

TOP_CASES = 40
TREND_CASES = 3 * MAX_SERIES
"""Cases a trend figure draws per api and op: three panels."""
TREND_FIELDS = ("state_dict_type", "options_label", "model", "mesh")
MIB = 2**20


def _per_rank(values: Any, divisor: float) -> str:
    if not isinstance(values, list) or not values:
        return "-"
    return " / ".join(fmt_number(v, 1, 1 / divisor) if v is not None else "-" for v in values)


def _known(column: pd.Series) -> list[float]:
    """Every number in a column of per-rank lists (or of plain numbers)."""
    return [v for cell in column for v in (cell if isinstance(cell, list) else [cell])
            if isinstance(v, (int, float)) and not isinstance(v, bool)]


def run_summary(page: Page, path: Path, run: dict[str, Any], frame: pd.DataFrame) -> None:
    machine, torch, suite = run.get("machine") or {}, run.get("torch") or {}, run.get("suite") or {}
    memory = machine.get("memory_bytes")
    facts = [
        ("file", str(path)), ("started", run.get("started_at")), ("duration", f"{run.get('duration_s', 0):.0f} s"),
        ("profile", run.get("profile")),
        ("machine", f"{machine.get('hostname')}: {machine.get('cpu')}, {machine.get('cores')} cores, "
                    f"{memory / 2**30:.1f} GiB" if memory else machine.get("hostname")),
        ("GPUs", ", ".join(machine.get("gpus") or []) or "none"), ("driver", machine.get("driver") or "-"),
        ("torch", f"{torch.get('version')} (commit {torch.get('git_version')})"),
        ("CUDA / NCCL", f"{torch.get('cuda') or '-'} / {torch.get('nccl') or '-'}"),
        ("python", run.get("python")),
        ("suite commit", f"{suite.get('commit')}{' (dirty)' if suite.get('dirty') else ''}"),
    ]
    counts = frame["counted_status"].value_counts().to_dict() if len(frame) else {}
    facts.append(("cases by status", ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    if "known_bug" in frame:  # the known torch bugs that reproduced, apart from the failures
        issues = frame.loc[frame["counted_status"] == XFAIL, "known_bug"].map(lambda bug: bug["issue"]).value_counts()
        facts.append(("known torch bugs (xfail)", ", ".join(f"{i}: {n} cases" for i, n in issues.items()) or "none"))
    failed = frame[frame["counted_status"].isin(["error", "timeout"])] if len(frame) else frame
    rows = [[r["case"], r["status"], (r.get("message") or "").strip().splitlines()[0][:300] if r.get("message")
             else ""] for _, r in failed.iterrows()]
    body = [page.table(["what", "value"], [[k, v] for k, v in facts], "run-summary")]
    body.append(page.table(["case", "status", "message"], rows, "failures") if rows else note("No failures."))
    page.section("Run details", *body, anchor="run-details")


def regressions(page: Page, comparison: Comparison | None, base_path: Path | str | None) -> None:
    if comparison is None:
        page.section("Regressions", note("No baseline: the folder holds one run and no --baseline was given."),
                     anchor="regressions")
        return
    order = {v: i for i, v in enumerate(VERDICTS)}
    cases = comparison.cases.assign(_order=comparison.cases["verdict"].map(order)).sort_values(
        ["_order", "ratio"], ascending=[True, False])
    metric = comparison.summary.get("metric", DEFAULT_METRIC)
    rows = compare_rows(cases, metric)
    classes = [v.replace(" ", "-") for v in cases["verdict"]]
    body = [note(f"Baseline: {base_path}. Each run (a fresh set of processes) is one sample: its median round time. "
               f"Runs of compare mode's passes are paired by pass; otherwise Welch's t on the logs, or one run "
               f"against the history's median. Variances are moderated across cases; p is corrected "
               f"({comparison.settings.correction}) over one family of {comparison.summary.get('family_size', 0)} "
               f"tests (time and every memory test). MDE: the change each case would detect with 80% power (charted "
               f"at the top); "
               f"inconclusive: the interval does not rule out a change beyond the threshold."),
            "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines(comparison.summary)) + "</ul>",
            page.table(compare_header(metric), rows, "regression-table", classes)]
    memory = memory_rows(comparison.cases, threshold=comparison.settings.threshold)
    body.append(page.table(MEMORY_HEADER, memory, "memory-changes") if memory else
                note("No peak-memory change beyond the threshold (and 1 MiB)."))
    page.section("Regressions against the baseline", *body, anchor="regressions")


def trends(page: Page, frames: list[pd.DataFrame], metric: str = DEFAULT_METRIC) -> None:
    if len(frames) < 2:
        page.section("Trends", note("One run: no history to chart yet."))
        return
    history = pd.concat(frames, ignore_index=True)
    runs = run_order(history)
    series, steps = all_steps(history)
    cases = history.drop_duplicates("case", keep="last").set_index("case")  # each case's fields, from its last run
    body = [note(f"{len(runs)} runs, oldest to newest; dotted lines mark steps found by change-point detection "
                 f"(PELT, L1 cost, at least 3 runs on each side).")]
    if steps:
        body.append(page.table(step_header(metric), step_rows(steps, metric), "steps"))
    groups: dict[tuple, dict[str, pd.DataFrame]] = {}
    for case, frame in series.items():
        groups.setdefault((frame["api"].iloc[0], frame["op"].iloc[0]), {})[case] = frame
    for (api, op), members in sorted(groups.items()):
        stepped = {s.case for s in steps}  # the cases with a step first: they are what a reader looks for
        order = sorted(members, key=lambda case: (case not in stepped, case))[:TREND_CASES]
        figure = trend_figure(api, op, {case: members[case] for case in order}, cases.loc[order], steps, runs, metric)
        body.append(page.chart(f"trend_{api}_{op}", figure, "" if len(order) == len(members) else
                               f"{len(order)} of {len(members)} cases: those with a step first"))
    page.section("Trends", *body)


def trend_figure(api: str, op: str, histories: dict[str, pd.DataFrame], fields: pd.DataFrame, steps: list[Any],
                 runs: list[str], metric: str) -> Any:
    """Small multiples of the cases' median per run, MAX_SERIES a panel, each named by what sets it apart (its
    `fields`: a row per case)."""
    unit, scale = DISPLAY_UNITS[metric]
    cases = list(histories)
    panels = []
    chunks = [cases[i:i + MAX_SERIES] for i in range(0, len(cases), MAX_SERIES)]
    for number, chunk in enumerate(chunks, 1):
        described = [describing_fields(fields.loc[case], TREND_FIELDS) for case in chunk]
        shared, names = short_names(described)
        lines = [Series(name, api, list(histories[case]["position"]), list(histories[case]["median_s"] * scale),
                        marks=[(histories[case]["position"].iloc[s.index] - 0.5, f"{s.change:+.0%}")
                               for s in steps if s.case == case])
                 for case, name in zip(chunk, names)]
        panels.append(Panel(f"{number} of {len(chunks)}" if len(chunks) > 1 else f"{api} {op}", lines, shared))
    ticks = ([i for i in range(len(runs))], [Path(run).stem for run in runs]) if len(runs) <= MAX_RUN_LABELS else None
    what = "time" if unit == "ms" else "count"
    return small_multiples(f"Has {api} {op}'s median {what} moved from run to run?", panels, ranks_axis=False,
                           xlabel=f"run (oldest to newest, {len(runs)} runs)", ylabel=f"median round {what} ({unit})",
                           xticks=ticks)


def _ceiling_values(ceilings: Any) -> dict[str, float]:
    """The GB/s figures of the run's ceilings ({"write_fsync_gbps": 1.2, ...}); the ceilings object also holds the
    size and folder they were measured with, and the errors of those that could not be measured, which are not
    ceilings."""
    values = {}
    for name, value in (ceilings or {}).items() if isinstance(ceilings, dict) else []:
        if not str(name).endswith("_gbps"):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            values[str(name)] = float(value)
    return values


def ceilings(page: Page, run: dict[str, Any], frame: pd.DataFrame) -> None:
    limits = _ceiling_values(run.get("ceilings"))
    has_fraction = "fraction_of_ceiling" in frame and frame["fraction_of_ceiling"].notna().any()
    if not limits and not has_fraction:
        page.section("Throughput against ceilings", note("This run has no measured ceilings."))
        return
    ok = frame[(frame["status"] == "ok") & frame["throughput_gbps"].notna()].nlargest(TOP_CASES, "throughput_gbps")
    body = []
    if not ok.empty:
        body.append(page.chart("throughput_vs_ceilings", charts.horizontal_bars(
            list(ok["case"]), list(ok["throughput_gbps"]), list(ok["api"]), "throughput (GB/s)",
            "How close does each case come to the machine's ceilings? (largest throughputs)", limits)))
    if has_fraction:
        rows = frame[frame["fraction_of_ceiling"].notna()]
        body.append(page.table(["case", "GB/s", "ceiling", "fraction of ceiling"], [
            [r["case"], fmt_number(r.get("throughput_gbps")), str(r.get("ceiling") or "-"),
             f"{100 * r['fraction_of_ceiling']:.1f}%"]
            for _, r in rows.iterrows()], "ceiling-fractions"))
    page.section("Throughput against ceilings", *body)


def _memory_chart(page: Page, frame: pd.DataFrame, column: str, name: str, what: str) -> str:
    known = frame[frame[column].notna() & (frame[column] > 0)].nlargest(TOP_CASES, column)
    if known.empty:
        return note(f"No {what} in this run.")
    unit, divisor = charts.memory_unit(known[column])
    labels = [f"{case} [{SIMULATED_LABEL}]" if simulated else case
              for case, simulated in zip(known["case"], known["simulated"].fillna(False).astype(bool))]
    return page.chart(name, charts.horizontal_bars(
        labels, list(known[column] / divisor), list(known["api"]), f"{what} ({unit}, largest rank)",
        f"Which cases take the most {what}? ({len(known)} largest, largest rank)"))


def memory(page: Page, frame: pd.DataFrame) -> None:
    if frame.empty:
        page.section("Memory", note("No cases."))
        return
    body = [_memory_chart(page, frame, "peak_rss_max_bytes", "memory_host", "peak host memory over the op's start"),
            _memory_chart(page, frame, "peak_cuda_max_bytes", "memory_device", "peak device memory")]
    growth = "rss_growth_per_save_bytes" in frame and frame["rss_growth_per_save_bytes"].notna().any()
    if growth:
        body.append(_memory_chart(page, frame, "rss_growth_max_bytes", "memory_growth", "host memory growth per save"))
    columns = ["peak_rss_bytes", "peak_cuda_bytes"] + (["rss_growth_per_save_bytes"] if growth else [])
    units = {c: charts.memory_unit(_known(frame[c])) if c in frame else ("MiB", MIB) for c in columns}
    names = {"peak_rss_bytes": "peak host", "peak_cuda_bytes": "peak device",
             "rss_growth_per_save_bytes": "growth per save"}
    header = ["case", "status"] + [f"{names[c]} {units[c][0]} per rank" for c in columns]
    rows = []
    for _, r in frame.iterrows():
        cells = [r.get(c) for c in columns]
        rows.append([r["case"], r["status"]] + [_per_rank(v if isinstance(v, list) or v is None else [v], units[c][1])
                                                for c, v in zip(columns, cells)])
    body.append(page.table(header, rows, "memory-per-rank"))
    page.section("Memory", *body)


def instability(page: Page, frame: pd.DataFrame) -> None:
    """Cases whose typical rounds are spread: robust CV
    (bench.results.dispersion.robust_cv) at the suite's limit or above, the
    record's own figure where it has one, computed from its round times for files from before the field."""
    def rcv(row: pd.Series) -> float:
        stats = row.get("stats")
        known = isinstance(stats, dict) and isinstance(stats.get("rcv"), (int, float))
        return float(stats["rcv"]) if known else robust_cv(list(row["round_times_s"]))

    timed = frame[(frame["status"] == "ok") & frame["cv"].notna()] if len(frame) else frame
    rule = f"robust CV (1.4826 x MAD / median) >= {UNSTABLE_RCV:.0%}"
    if len(timed):
        timed = timed.assign(rcv=timed.apply(rcv, axis=1))
    unstable = timed[timed["rcv"] >= UNSTABLE_RCV].sort_values("rcv", ascending=False) if len(timed) else timed
    if unstable.empty:
        page.section("Instability", note(f"No case has a {rule}."))
        return
    rows = [[r["case"], r["rounds"], f"{r['rcv']:.1%}", f"{r['cv']:.1%}", fmt_number(r["median_s"], 3, 1e3),
             fmt_number(min(r["round_times_s"]), 3, 1e3), fmt_number(max(r["round_times_s"]), 3, 1e3)]
            for _, r in unstable.iterrows()]
    page.section("Instability warnings",
                 note(f"{len(unstable)} of {len(timed)} timed cases have round times too spread to trust a median "
                    f"({rule}; a few slow rounds alone do not count, the CV beside is stddev / mean); compare them "
                    "with care."),
                 page.table(["case", "rounds", "robust CV", "CV", "median ms", "min ms", "max ms"], rows, "unstable"))
