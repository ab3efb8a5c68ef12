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
from analysis.html_page import Page, html_table
from analysis.metrics import DEFAULT_METRIC
from bench.results.schema import SIMULATED_LABEL, SIMULATED_MEANING, XFAIL
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
STATE_DICT_OPS = ("get_model", "get_optim", "set_model", "set_optim")
MIB = 2**20


def _p(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


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
    body = [html_table(["what", "value"], [[k, v] for k, v in facts], "run-summary")]
    body.append(html_table(["case", "status", "message"], rows, "failures") if rows else _p("No failures."))
    page.section("Run summary", *body)


def regressions(page: Page, comparison: Comparison | None, base_path: Path | str | None) -> None:
    if comparison is None:
        page.section("Regressions", _p("No baseline: the folder holds one run and no --baseline was given."))
        return
    order = {v: i for i, v in enumerate(VERDICTS)}
    cases = comparison.cases.assign(_order=comparison.cases["verdict"].map(order)).sort_values(
        ["_order", "ratio"], ascending=[True, False])
    metric = comparison.summary.get("metric", DEFAULT_METRIC)
    rows = compare_rows(cases, metric)
    classes = [v.replace(" ", "-") for v in cases["verdict"]]
    body = [_p(f"Baseline: {base_path}. Each run (a fresh set of processes) is one sample: its median round time. "
               f"Runs of compare mode's passes are paired by pass; otherwise Welch's t on the logs, or one run "
               f"against the history's median. Variances are moderated across cases; p is corrected "
               f"({comparison.settings.correction}) over one family of {comparison.summary.get('family_size', 0)} "
               f"tests (time and every memory test). MDE: the change each case would detect with 80% power; "
               f"inconclusive: the interval does not rule out a change beyond the threshold."),
            "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines(comparison.summary)) + "</ul>",
            html_table(compare_header(metric), rows, "regression-table", classes)]
    body.append(page.chart("mde", charts.mde_chart(comparison.cases, comparison.settings.threshold)))
    memory = memory_rows(comparison.cases, threshold=comparison.settings.threshold)
    body.append(html_table(MEMORY_HEADER, memory, "memory-changes") if memory else
                _p("No peak-memory change beyond the threshold (and 1 MiB)."))
    page.section("Regressions against the baseline", *body)


def trends(page: Page, frames: list[pd.DataFrame], metric: str = DEFAULT_METRIC) -> None:
    if len(frames) < 2:
        page.section("Trends", _p("One run: no history to chart yet."))
        return
    history = pd.concat(frames, ignore_index=True)
    runs = run_order(history)
    series, steps = all_steps(history)
    body = [_p(f"{len(runs)} runs, oldest to newest; dashed lines mark steps found by change-point detection "
               f"(PELT, L1 cost, at least 3 runs on each side).")]
    if steps:
        body.append(html_table(step_header(metric), step_rows(steps, metric), "steps"))
    groups: dict[tuple, dict[str, pd.DataFrame]] = {}
    for case, frame in series.items():
        groups.setdefault((frame["api"].iloc[0], frame["op"].iloc[0]), {})[case] = frame
    for (api, op), members in sorted(groups.items()):
        chosen = dict(list(members.items())[:TOP_CASES // 2])
        body.append(page.chart(f"trend_{api}_{op}", charts.trend_chart(
            f"{api} {op}: median round {'time' if metric != 'instructions' else 'instructions'} per run", chosen,
            steps, runs, metric),
            "" if len(chosen) == len(members) else f"first {len(chosen)} of {len(members)} cases"))
    page.section("Trends", *body)


def is_simulated(frame: pd.DataFrame) -> pd.Series:
    """Rows of simulated worlds (schema.SIMULATED_MEANING); a frame without the column has none."""
    if "simulated" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["simulated"].fillna(False).astype(bool)


def scaling(page: Page, frame: pd.DataFrame) -> None:
    ok = frame[frame["status"] == "ok"].assign(median_ms=lambda f: f["median_s"] * 1e3) if len(frame) else frame
    ok = ok[~is_simulated(ok)]  # a simulated rank's time leaves out every collective: not a point on a real curve
    if ok.empty:
        page.section("Scaling", _p("No timed case of a real world in this run."))
        return
    body = []
    if ok["world_size"].nunique() < 2:
        body.append(_p("This run has one world size; scaling lines need several (run with more --mesh shapes)."))
    body.append(page.chart("scaling_time", charts.lines_by_world_size(
        ok, "median_ms", "median round time (ms)", "Time against world size")))
    gbps = ok[ok["throughput_gbps"].notna()] if "throughput_gbps" in ok else ok.iloc[:0]
    if not gbps.empty:
        body.append(page.chart("scaling_gbps", charts.lines_by_world_size(
            gbps, "throughput_gbps", "throughput (GB/s, global bytes / median)", "Throughput against world size")))
    typed = ok[ok["state_dict_type"].isin(["full", "sharded"]) & ok["op"].isin(STATE_DICT_OPS)]
    if not typed.empty:
        fastest = typed.groupby(["op", "api", "state_dict_type", "world_size"], as_index=False)["median_ms"].min()
        body.append(page.chart("full_vs_sharded", charts.lines_by_world_size(
            fastest, "median_ms", "median round time (ms)", "FULL (dashed) against SHARDED (solid)",
            line=("api", "state_dict_type"), style_by_type=True),
            "Each line: the fastest variant (options, model) of that api and state-dict type."))
    fsdp = typed[typed["api"].isin(["fsdp1", "fsdp2"])]
    if fsdp["api"].nunique() == 2:
        largest = fsdp[fsdp["world_size"] == fsdp["world_size"].max()]
        table = largest.pivot_table(index=[largest["op"] + " " + largest["state_dict_type"]], columns="api",
                                    values="median_ms", aggfunc="min")
        body.append(page.chart("fsdp1_vs_fsdp2", charts.grouped_bars(
            table, "median round time (ms)", f"FSDP1 against FSDP2 at world size {largest['world_size'].max()}"),
            "Each bar: the fastest variant (options, model) of that api, op and state-dict type."))
    page.section("Scaling", *body)


def simulated_scale(page: Page, frame: pd.DataFrame) -> None:
    """The cases of simulated worlds, apart from the real ones: FSDP2's rank-local state-dict time and DCP's global
    planning cost against the simulated rank count."""
    title = f"Simulated scale: {SIMULATED_LABEL}"
    sim = frame[is_simulated(frame)] if len(frame) else frame
    if sim.empty:
        page.section(title, _p("No simulated case in this run."))
        return
    ok = sim[sim["status"] == "ok"].assign(median_ms=lambda f: f["median_s"] * 1e3)
    body = [_p(f"{SIMULATED_MEANING[0].upper()}{SIMULATED_MEANING[1:]}: the gather of plans to the coordinator is "
               "not in these times either.")]
    states = ok[ok["op"].isin(STATE_DICT_OPS)]
    if not states.empty:
        body.append(page.chart("simulated_state_dicts", charts.lines_by_world_size(
            states, "median_ms", "median round time (ms), one rank",
            f"FSDP2 sharded state dicts, rank-local time: {SIMULATED_LABEL}")))
    plans = ok[ok["op"] == "plan"]
    if not plans.empty:
        if "write_items_global" not in plans:
            plans = plans.assign(write_items_global=math.nan)
        body.append(page.chart("planner_cost", charts.planner_cost_chart(
            plans, f"DCP global save planning against rank count: {SIMULATED_LABEL}")))
        rows = [[r["model"], r["world_size"], fmt_number(r["median_ms"], 3), _count(r.get("write_items_local")),
                 _count(r.get("write_items_global")), {True: "yes", False: "NO"}.get(r.get("correct"), "-")]
                for _, r in plans.sort_values(["model", "world_size"]).iterrows()]
        body.append(html_table(["model", "ranks", "median ms", "local plan items (all ranks)",
                                "global plan items", "correct"], rows, "planner-cost"))
    failed = sim[sim["status"] != "ok"]
    if not failed.empty:
        body.append(html_table(["case", "status", "message"], [
            [r["case"], r["status"], str(r.get("message") or "").splitlines()[0][:300] if r.get("message") else ""]
            for _, r in failed.iterrows()], "simulated-not-ok"))
    page.section(title, *body)


def _count(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


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
        page.section("Throughput against ceilings", _p("This run has no measured ceilings."))
        return
    ok = frame[(frame["status"] == "ok") & frame["throughput_gbps"].notna()].nlargest(TOP_CASES, "throughput_gbps")
    body = []
    if not ok.empty:
        body.append(page.chart("throughput_vs_ceilings", charts.horizontal_bars(
            list(ok["case"]), list(ok["throughput_gbps"]), list(ok["api"]), "throughput (GB/s)",
            "Throughput against the measured ceilings", limits)))
    if has_fraction:
        rows = frame[frame["fraction_of_ceiling"].notna()]
        body.append(html_table(["case", "GB/s", "ceiling", "fraction of ceiling"], [
            [r["case"], fmt_number(r.get("throughput_gbps")), str(r.get("ceiling") or "-"),
             f"{100 * r['fraction_of_ceiling']:.1f}%"]
            for _, r in rows.iterrows()], "ceiling-fractions"))
    page.section("Throughput against ceilings", *body)


def _memory_chart(page: Page, frame: pd.DataFrame, column: str, name: str, what: str) -> str:
    known = frame[frame[column].notna() & (frame[column] > 0)].nlargest(TOP_CASES, column)
    if known.empty:
        return _p(f"No {what} in this run.")
    unit, divisor = charts.memory_unit(known[column])
    labels = [f"{case} [{SIMULATED_LABEL}]" if simulated else case
              for case, simulated in zip(known["case"], is_simulated(known))]
    return page.chart(name, charts.horizontal_bars(
        labels, list(known[column] / divisor), list(known["api"]), f"{what} ({unit}, largest rank)",
        f"{what.capitalize()} per case (largest rank; {len(known)} largest cases)"))


def memory(page: Page, frame: pd.DataFrame) -> None:
    if frame.empty:
        page.section("Memory", _p("No cases."))
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
    body.append(html_table(header, rows, "memory-per-rank"))
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
        page.section("Instability", _p(f"No case has a {rule}."))
        return
    rows = [[r["case"], r["rounds"], f"{r['rcv']:.1%}", f"{r['cv']:.1%}", fmt_number(r["median_s"], 3, 1e3),
             fmt_number(min(r["round_times_s"]), 3, 1e3), fmt_number(max(r["round_times_s"]), 3, 1e3)]
            for _, r in unstable.iterrows()]
    page.section("Instability warnings",
                 _p(f"{len(unstable)} of {len(timed)} timed cases have round times too spread to trust a median "
                    f"({rule}; a few slow rounds alone do not count, the CV beside is stddev / mean); compare them "
                    "with care."),
                 html_table(["case", "rounds", "robust CV", "CV", "median ms", "min ms", "max ms"], rows, "unstable"))
