"""The report's first screen: what a reader came for, before any section. Verdict counts and the flagged cases with
their ratio and interval (when the report has a comparison), the machine and the torch build, and what the run could
detect: each case's minimum detectable effect, or, with nothing to compare against, how precisely one run knows its
medians."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from analysis import charts
from analysis.case_samples import within_variance
from analysis.compare import Comparison
from analysis.html_page import html_table
from analysis.render import fmt_interval, fmt_mde, fmt_number, mde_line, test_unit_line
from analysis.verdicts import VERDICTS
from bench.results.schema import XFAIL

FLAGGED_SHOWN = 8
"""Flagged cases listed on the first screen; the regression table below has them all."""
JUDGED = ("regression", "new failure", "fixed", "improvement")
"""A case's verdicts that a reader of the first screen must see: what the comparison flagged either way."""


def _facts(path: Path, run: dict[str, Any], frame: pd.DataFrame) -> str:
    machine, torch = run.get("machine") or {}, run.get("torch") or {}
    memory = machine.get("memory_bytes")
    gpus = ", ".join(machine.get("gpus") or []) or "no GPU"
    counts = frame["status"].value_counts().to_dict() if len(frame) else {}
    lines = [
        ("machine", f"{machine.get('hostname')}: {machine.get('cpu')}, {machine.get('cores')} cores"
                    + (f", {memory / 2**30:.1f} GiB" if memory else "") + f", {gpus}"),
        ("torch", f"{torch.get('version')} (commit {str(torch.get('git_version') or '-')[:12]}), CUDA "
                  f"{torch.get('cuda') or '-'}, NCCL {torch.get('nccl') or '-'}; python {run.get('python')}"),
        ("run", f"{path.name}: profile {run.get('profile')}, started {run.get('started_at')}, "
                f"{run.get('duration_s') or 0:.0f} s"),
        ("cases", ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"),
    ]
    return "<ul>" + "".join(f"<li><b>{name}</b> {html.escape(text)}</li>" for name, text in lines) + "</ul>"


def _verdicts(comparison: Comparison, base_path: Any) -> str:
    summary = comparison.summary
    counts = summary["verdicts"]
    badges = "".join(f'<span class="count {v.replace(" ", "-")}">{counts[v]} {html.escape(v)}</span>'
                     for v in VERDICTS if v in counts)
    labels = summary.get("labels")
    sides = f"base = {labels['base']}, new = {labels['new']}; " if labels else ""
    lines = [f"{sides}baseline: {base_path}", f"geometric mean of new/base {fmt_number(summary['geomean_ratio'])}; "
             f"{summary['flagged_regressions']} flagged as regressions, new failures or fixes",
             test_unit_line(summary)]
    return f"<p>{badges or 'nothing to compare'}</p><ul>" + "".join(
        f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"


def flagged_cases(comparison: Comparison) -> pd.DataFrame:
    """Cases whose verdict, time or a memory test flagged a change either way, most severe first."""
    cases = comparison.cases
    flagged = cases["verdict"].isin(JUDGED)
    for metric in ("peak_rss", "peak_cuda"):
        flagged |= cases[f"{metric}_verdict"].isin(["regression", "improvement"])
    order = {v: i for i, v in enumerate(VERDICTS)}
    chosen = cases[flagged]
    return chosen.assign(_order=chosen["verdict"].map(order)).sort_values(["_order", "ratio"],
                                                                          ascending=[True, False])


def _flagged_table(comparison: Comparison, links: dict[str, str]) -> str:
    flagged = flagged_cases(comparison)
    if flagged.empty:
        return "<p>No case flagged.</p>"
    rows = []
    for _, r in flagged.head(FLAGGED_SHOWN).iterrows():
        memory = [m for m in ("peak_rss", "peak_cuda") if r[f"{m}_verdict"] in ("regression", "improvement")]
        verdict = r["verdict"] + "".join(f"; {m} {r[f'{m}_verdict']} x{fmt_number(r[f'{m}_ratio'], 2)}"
                                         for m in memory)
        rows.append([r["case"], fmt_number(r["ratio"]), fmt_interval(r["ci_low"], r["ci_high"]), fmt_mde(r["mde"]),
                     verdict])
    more = len(flagged) - FLAGGED_SHOWN
    tail = f'<p><a href="#regressions">{more} more in the regression table</a></p>' if more > 0 else ""
    classes = [str(v).replace(" ", "-") for v in flagged.head(FLAGGED_SHOWN)["verdict"]]
    return html_table(["case", "new/base time", "95% CI", "MDE", "verdict"], rows, "flagged", classes,
                      links) + tail


def _failures(frame: pd.DataFrame, links: dict[str, str]) -> str:
    """The run's failed cases (error, timeout), the first FLAGGED_SHOWN of them with their message's first line; the
    cases that reproduced a known torch bug (xfail) are counted apart, as pytest does."""
    status = frame["counted_status"] if "counted_status" in frame else frame.get("status", pd.Series(dtype=object))
    failed = frame[status.isin(["error", "timeout"])] if len(frame) else frame
    xfailed = int((status == XFAIL).sum()) if len(frame) else 0
    known = (f'<p>{xfailed} cases reproduced a known torch bug (xfail, not failures: '
             f'<a href="#run-details">run details</a>).</p>') if xfailed else ""
    if failed.empty:
        return "<p>No case failed.</p>" + known
    rows = [[r["case"], r["status"], str(r.get("message") or "").strip().split("\n")[0][:120]]
            for _, r in failed.head(FLAGGED_SHOWN).iterrows()]
    more = len(failed) - FLAGGED_SHOWN
    tail = f'<p><a href="#run-details">{more} more in the run details</a></p>' if more > 0 else ""
    return (f"<h3>{len(failed)} failed cases</h3>" + html_table(["case", "status", "message"], rows, "failed",
                                                                links=links) + tail + known)


def run_precision(frame: pd.DataFrame) -> float:
    """The median over timed cases of the relative standard error of a run's median that its rounds predict
    (analysis.case_samples.within_variance); nan where no case has 3 rounds."""
    timed = frame[frame["status"] == "ok"]["round_times_s"] if len(frame) else []
    errors = [math.sqrt(v) for v in (within_variance(list(t)) for t in timed) if math.isfinite(v)]
    return float(np.median(errors)) if errors else math.nan


def first_screen(path: Path, run: dict[str, Any], frame: pd.DataFrame, comparison: Comparison | None,
                 base_path: Any, links: dict[str, str], chart: Callable[[str, Any], str]) -> str:
    """The first screen's HTML: left, the verdicts and the flagged cases; right, the machine, the build and what the
    run could detect (through `chart`, the MDE chart of the comparison)."""
    if comparison is not None:
        judged = [_verdicts(comparison, base_path), _flagged_table(comparison, links)]
        detect = [f"<p>{html.escape(mde_line(comparison.summary))}. A change smaller than a case's MDE is likely "
                  f"missed; see the MDE column of the regression table.</p>",
                  chart("mde", charts.mde_chart(comparison.cases, comparison.settings.threshold))]
    else:
        precision = run_precision(frame)
        judged = ["<p>No baseline: nothing is judged (the folder holds one run and no --baseline was given).</p>",
                  _failures(frame, links)]
        detect = [f"<p>One run detects no change: the run is the unit of a test, so a comparison needs runs on both "
                  f"sides (--baseline, compare mode; docs/statistics.md). Its rounds alone put a median within "
                  f"±{fmt_mde(1.96 * precision)} (95%, median over cases); between runs the spread is larger.</p>"]
    left = "<h3>Verdicts</h3>" + "".join(judged)
    right = "<h3>Machine and build</h3>" + _facts(path, run, frame) + "<h3>What it could detect</h3>" + "".join(
        detect)
    return f'<section id="at-a-glance" class="glance"><div>{left}</div><div>{right}</div></section>\n'

