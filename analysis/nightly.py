"""After a nightly run: was the run whole, which runs are its baseline, what changed, the history report, and the
short summary printed last.
`python -m analysis nightly RUN --history DIR [--history-runs N] [--baseline FILE] [--pytest-status N]`.

The baseline is the history, not one night: the last N good runs (default 10) of the same profile in DIR, started
before RUN. All of them go to the comparison as the base side, so that tonight is judged against the spread between
nights (a 1-vs-N run-level test per case) rather than against whatever one earlier night happened to measure.
`--baseline` names exactly the runs to use instead (a file, a folder or a glob).

Exit codes (run_bench.sh nightly passes them on): 0 nothing flagged (or no baseline yet), 1 something flagged
(a time or memory regression, a case that was ok and now fails, or a fix of a known failure), 2 a broken run
(interrupted, pytest's own failure, no case) or bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.compare import MIN_MEMORY_CHANGE_BYTES, CompareSettings, Comparison, compare_runs
from analysis.load import ResultFileError, expand_sources, load_runs, read_with_metric, records_of
from analysis.metrics import DEFAULT_METRIC
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


HISTORY_RUNS = 10
"""How many earlier good runs make the baseline by default."""


def parse_history_runs(value: str | int) -> int:
    """--history-runs: a whole number of 1 or more (ValueError, said in one line, otherwise)."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"--history-runs must be a whole number of 1 or more, not {str(value)!r}")
    runs = int(text)
    return runs


@dataclass
class BaselineChoice:
    runs: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    """The baseline's runs as read (so that each is read once), oldest first: the last N good earlier runs of the
    same profile, or the runs --baseline names; empty when there is none."""
    passed_over: list[str] = field(default_factory=list)
    """Why each candidate that was not taken was passed over: 'NAME: reason'."""
    history: list[Path] = field(default_factory=list)
    """The history's readable result files of the same profile: what the report covers (an unreadable file must
    not stop it, and another profile's runs are not the same history)."""
    given: Path | None = None
    """What --baseline named, when it did (then `runs` are exactly its runs)."""

    @property
    def paths(self) -> list[Path]:
        return [path for path, _ in self.runs]

    @property
    def newest(self) -> Path | None:
        """The newest chosen run: the report's baseline."""
        return self.runs[-1][0] if self.runs else None


def _started(data: dict[str, Any]) -> str:
    return str(data["run"].get("started_at") or "")


def pick_baseline(history: Path, run_path: Path, run: dict[str, Any], runs: int = HISTORY_RUNS,
                  metric: str = DEFAULT_METRIC) -> BaselineChoice:
    """The last `runs` successful nightlies in `history` before `run`: same profile, complete, with ok cases.
    Unreadable files and failed runs are passed over (and said so), never chosen."""
    runs = parse_history_runs(runs)
    candidates, unreadable = [], []
    same_profile = [run_path]
    for path in expand_sources([history]):
        if path.resolve() == run_path.resolve():
            continue
        try:
            other = read_with_metric(path, metric)
        except ResultFileError as exc:
            unreadable.append(f"{path.name}: unreadable ({exc})")
            continue
        if other["run"].get("profile") != run.get("profile"):
            continue  # another profile's history
        same_profile.append(path)
        started = _started(other)
        if started < str(run.get("started_at") or ""):
            candidates.append((started, path, other))
    passed_over = unreadable
    chosen: list[tuple[Path, dict[str, Any]]] = []
    for _, path, other in sorted(candidates, key=lambda c: (c[0], str(c[1])), reverse=True):
        if len(chosen) == runs:
            break  # older broken runs are beyond the history used: not worth a word
        reason = broken_reason(other, None)
        if reason is None:
            chosen.append((path, other))
        else:
            passed_over.append(f"{path.name}: {reason}")
    return BaselineChoice(chosen[::-1], passed_over, same_profile)


def given_baseline(baseline: Path, run_path: Path, metric: str = DEFAULT_METRIC) -> list[tuple[Path, dict[str, Any]]]:
    """Exactly the runs --baseline names (a file, a folder or a glob), oldest first, less the run judged itself.
    Raises ResultFileError (bad input) when one cannot be read or none is left."""
    runs = [(path, data) for path, data in load_runs([baseline], metric) if path.resolve() != run_path.resolve()]
    if not runs:
        raise ResultFileError(f"{baseline}: names no run other than the one judged")
    return runs


def _counts(run: dict[str, Any]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted((run.get("status_counts") or {}).items())) or "no case"


def _torch_label(run: dict[str, Any]) -> str:
    torch = run.get("torch") or {}
    return f"torch {torch.get('version')} {(torch.get('git_version') or 'unknown')[:7]}"


def _ids(cases: list[str], limit: int = 10) -> str:
    shown = ", ".join(cases[:limit])
    return shown + (f" and {len(cases) - limit} more" if len(cases) > limit else "")


def _memory_grew_untested(comparison: Comparison) -> list[str]:
    """Cases whose peak RSS grew beyond the threshold where the test could not decide (too few runs, or too much
    spread between them): not a verdict, but a nightly reader should see them. The verdict was called "not
    significant" before the comparison's run-level tests, "inconclusive" since: both are accepted."""
    cases = comparison.cases
    undecided = cases["peak_rss_verdict"].isin(["not significant", "inconclusive"])
    grew = undecided & (cases["peak_rss_ratio"] > 1 + comparison.settings.threshold) & (
        cases["peak_rss_new"] - cases["peak_rss_base"] >= MIN_MEMORY_CHANGE_BYTES)
    return list(cases.loc[grew, "case"])


def _minute(data: dict[str, Any]) -> str:
    return _started(data)[:16] or "unknown time"  # ISO 8601 to the minute: 2026-01-01T00:00


def _baseline_label(choice: BaselineChoice, run: dict[str, Any]) -> str:
    """How many runs, from when to when, which torch: e.g. '10 earlier runs of profile nightly, 2026-01-01T00:00 ..
    2026-01-10T00:00 (torch 2.13.0 aaaaaaa)'."""
    datas = [data for _, data in choice.runs]
    n = len(datas)
    when = _minute(datas[0]) if n == 1 else f"{_minute(datas[0])} .. {_minute(datas[-1])}"
    torches = list(dict.fromkeys(_torch_label(data["run"]) for data in datas))
    torch = torches[0] if len(torches) == 1 else f"{torches[0]} .. {torches[-1]}, {len(torches)} torch builds"
    runs = f"{n} run{'s' if n > 1 else ''}"
    if choice.given is not None:
        return f"{choice.given} (given: {runs}, {when}, {torch})"
    return f"{n} earlier {runs.split()[1]} of profile {run.get('profile')}, {when} ({torch})"


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
        if not choice.runs:
            lines.append("  baseline:  none (no earlier successful run of this profile on this machine)")
        else:
            lines.append(f"  baseline:  {_baseline_label(choice, run)}")
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
            lines.append(f"  memory:    peak RSS grew beyond {summary['threshold']:.0%} and 1 MiB but its test was "
                         f"inconclusive (too few runs, or too much spread between them), not flagged: {_ids(grew)}")
        lines += [f"  warning:   {w}" for w in summary.get("comparability_warnings", [])]
    if report is not None:
        lines.append(f"  report:    {report}")
    meaning = {OK: "nothing flagged", REGRESSION: "regression flagged", BROKEN: "broken run"}[exit_code]
    lines.append(f"  exit {exit_code}: {meaning}")
    return lines


def nightly(run_path: Path, history: Path, *, baseline: Path | None = None, pytest_status: int | None = None,
            report_dir: Path | None = None, threshold: float = 0.05,
            history_runs: int = HISTORY_RUNS, metric: str = DEFAULT_METRIC) -> tuple[int, list[str]]:
    """Judge a finished nightly run against the last `history_runs` good runs of its profile in `history` (or the
    runs `baseline` names), on `metric` (analysis/metrics.py). Returns (exit code, lines to print). Raises
    ResultFileError or ValueError on bad input."""
    history_runs = parse_history_runs(history_runs)
    data = read_with_metric(run_path, metric)
    run = data["run"]
    broken = broken_reason(data, pytest_status)
    if broken:
        return BROKEN, short_summary(run_path, run, broken=broken, choice=None, comparison=None, report=None,
                                     exit_code=BROKEN)
    if baseline is not None:
        given = given_baseline(baseline, run_path, metric)  # a bad --baseline is bad input: one line, exit 2
        choice = pick_baseline(history, run_path, run, history_runs, metric)  # for the history's readable files
        choice.runs, choice.passed_over, choice.given = given, [], baseline
    else:
        choice = pick_baseline(history, run_path, run, history_runs, metric)
    lines: list[str] = []
    comparison = None
    if choice.runs:
        comparison = compare_runs(choice.runs, [(run_path, data)], CompareSettings(threshold=threshold))
        text = render_comparison(comparison, "text")
        saved = run_path.with_suffix(".compare.txt")
        named = "".join(f"baseline: {path}\n" for path in choice.paths)
        saved.write_text(f"{named}new: {run_path}\n\n{text}\n")
        lines.append(f"comparison with the baseline, case by case: {saved}")
    report = None
    if report_dir is not None:
        from analysis.report import (
            write_report,  # matplotlib is slow to import: only here
        )

        report = write_report(choice.history, report_dir, baseline=choice.paths or None, threshold=threshold,
                              metric=metric)
    code = REGRESSION if comparison is not None and comparison.summary["flagged_regressions"] else OK
    return code, lines + short_summary(run_path, run, broken=None, choice=choice, comparison=comparison,
                                       report=report, exit_code=code)
