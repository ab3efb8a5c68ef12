"""After a nightly run: was the run whole, which run is its baseline, what changed, the history report, and the
short summary printed last. `python -m analysis nightly RUN --history DIR [--baseline FILE] [--pytest-status N]`.

Exit codes (run_bench.sh nightly passes them on): 0 nothing flagged (or no baseline yet), 1 a flagged regression
(time, memory, or a case that was ok and now fails), 2 a broken run (interrupted, pytest's own failure, no case) or
bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.compare import CompareSettings, Comparison, compare_runs
from analysis.load import ResultFileError, expand_sources, read_result_file, records_of
from analysis.render import render_comparison

OK, REGRESSION, BROKEN = 0, 1, 2
PYTEST_RAN = (0, 1)
"""pytest's exit codes of a run that went through: 1 only says some case failed, which the comparison judges."""


def broken_reason(data: dict[str, Any], pytest_status: int | None) -> str | None:
    """Why the run cannot stand as a nightly result, or None when it can."""
    run = data["run"]
    if run.get("complete") is not True:
        return "the run did not finish (interrupted or killed): the file is marked incomplete"
    if pytest_status is not None and pytest_status not in PYTEST_RAN:
        return f"pytest exited with code {pytest_status} (pytest's own failure)"
    if not any(record["status"] == "ok" for record in records_of(data)):
        return "no case finished ok"
    return None


@dataclass
class BaselineChoice:
    path: Path | None
    """The latest earlier successful run of the same profile, None when there is none."""
    passed_over: list[str] = field(default_factory=list)
    """Why each newer candidate was not taken: 'NAME: reason'."""
    data: dict[str, Any] | None = None
    """The baseline's file as read, so that it is read once."""
    history: list[Path] = field(default_factory=list)
    """The history's readable result files of the same profile: what the report covers (an unreadable file must
    not stop it, and another profile's runs are not the same history)."""


def pick_baseline(history: Path, run_path: Path, run: dict[str, Any]) -> BaselineChoice:
    """The previous successful nightly in `history`: same profile, started before `run`, complete, with ok cases.
    Unreadable files and failed runs are passed over (and said so), never chosen."""
    candidates, unreadable = [], []
    same_profile = [run_path]
    for path in expand_sources([history]):
        if path.resolve() == run_path.resolve():
            continue
        try:
            other = read_result_file(path)
        except ResultFileError as exc:
            unreadable.append(f"{path.name}: unreadable ({exc})")
            continue
        if other["run"].get("profile") != run.get("profile"):
            continue  # another profile's history
        same_profile.append(path)
        started = str(other["run"].get("started_at") or "")
        if started < str(run.get("started_at") or ""):
            candidates.append((started, path, other))
    passed_over = unreadable
    for _, path, other in sorted(candidates, key=lambda c: (c[0], str(c[1])), reverse=True):
        reason = broken_reason(other, None)
        if reason is None:
            return BaselineChoice(path, passed_over, other, same_profile)
        passed_over.append(f"{path.name}: {reason}")
    return BaselineChoice(None, passed_over, None, same_profile)


def _counts(run: dict[str, Any]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted((run.get("status_counts") or {}).items())) or "no case"


def _torch_label(run: dict[str, Any]) -> str:
    torch = run.get("torch") or {}
    return f"torch {torch.get('version')} {(torch.get('git_version') or 'unknown')[:7]}"


def _ids(cases: list[str], limit: int = 10) -> str:
    shown = ", ".join(cases[:limit])
    return shown + (f" and {len(cases) - limit} more" if len(cases) > limit else "")


def _memory_grew_untested(comparison: Comparison) -> list[str]:
    """Cases whose peak RSS grew beyond the threshold where the test had too few samples (each rank's peak of one
    run is one sample): not a verdict, but a nightly reader should see them."""
    cases = comparison.cases
    grew = (cases["peak_rss_verdict"] == "not significant") & (cases["peak_rss_ratio"] > 1)
    return list(cases.loc[grew, "case"])


def short_summary(run_path: Path, run: dict[str, Any], *, broken: str | None, choice: BaselineChoice | None,
                  comparison: Comparison | None, report: Path | None, exit_code: int) -> list[str]:
    """The lines printed last: what ran, on what machine state, against what, what changed, where to look."""
    lines = ["nightly summary",
             f"  run:       {run_path} ({_torch_label(run)}, profile {run.get('profile')}): {_counts(run)} "
             f"in {run.get('duration_s', 0) / 60:.1f} min"]
    state = run.get("machine_state")
    said = "not recorded" if not state else "; ".join(state["warnings"]) or "quiet at the start"
    lines.append(f"  machine:   {said}")
    if broken:
        lines.append(f"  BROKEN:    {broken}; not compared, history report not updated")
    elif choice is not None:
        if choice.path is None:
            lines.append("  baseline:  none (no earlier successful run of this profile on this machine)")
        else:
            base_run = choice.data["run"]
            lines.append(f"  baseline:  {choice.path} ({_torch_label(base_run)}, started {base_run.get('started_at')})")
        if choice.passed_over:
            lines.append(f"  passed over: {'; '.join(choice.passed_over)}")
    if comparison is not None:
        summary = comparison.summary
        verdicts = ", ".join(f"{n} {v}" for v, n in summary["verdicts"].items()) or "nothing to compare"
        lines.append(f"  compared:  {verdicts}; geometric mean new/base {summary['geomean_ratio']:.3f}")
        if summary["flagged_regressions"]:
            lines.append(f"  flagged:   {_ids(list(comparison.flagged_regressions['case']))}")
        grew = _memory_grew_untested(comparison)
        if grew:
            lines.append(f"  memory:    peak RSS grew beyond {summary['threshold']:.0%} and 1 MiB but cannot be tested "
                         f"with the ranks of one run a side, not flagged: {_ids(grew)}")
        lines += [f"  warning:   {w}" for w in summary.get("comparability_warnings", [])]
    if report is not None:
        lines.append(f"  report:    {report}")
    meaning = {OK: "nothing flagged", REGRESSION: "regression flagged", BROKEN: "broken run"}[exit_code]
    lines.append(f"  exit {exit_code}: {meaning}")
    return lines


def nightly(run_path: Path, history: Path, *, baseline: Path | None = None, pytest_status: int | None = None,
            report_dir: Path | None = None, threshold: float = 0.05) -> tuple[int, list[str]]:
    """Judge a finished nightly run. Returns (exit code, lines to print). Raises ResultFileError on bad input."""
    data = read_result_file(run_path)
    run = data["run"]
    broken = broken_reason(data, pytest_status)
    if broken:
        return BROKEN, short_summary(run_path, run, broken=broken, choice=None, comparison=None, report=None,
                                     exit_code=BROKEN)
    if baseline is not None:
        given = read_result_file(baseline)  # a bad --baseline is bad input: one line, exit 2
        choice = pick_baseline(history, run_path, run)  # for the history's readable files
        choice.path, choice.passed_over, choice.data = baseline, [], given
    else:
        choice = pick_baseline(history, run_path, run)
    lines: list[str] = []
    comparison = None
    if choice.path is not None:
        comparison = compare_runs([(choice.path, choice.data)], [(run_path, data)],
                                  CompareSettings(threshold=threshold))
        text = render_comparison(comparison, "text")
        saved = run_path.with_suffix(".compare.txt")
        saved.write_text(f"baseline: {choice.path}\nnew: {run_path}\n\n{text}\n")
        lines.append(f"comparison with the baseline, case by case: {saved}")
    report = None
    if report_dir is not None:
        from analysis.report import (
            write_report,  # matplotlib is slow to import: only here
        )

        report = write_report(choice.history, report_dir, baseline=choice.path, threshold=threshold)
    code = REGRESSION if comparison is not None and comparison.summary["flagged_regressions"] else OK
    return code, lines + short_summary(run_path, run, broken=None, choice=choice, comparison=comparison,
                                       report=report, exit_code=code)
