"""`--resume FILE`: continue an interrupted run. The file is read as JSON only (nothing in it is ever unpickled);
the cases it holds are not run again, and the new file holds its records followed by the new ones."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from bench.results.reader import ResultFileError, read_result_file
from bench.config.selection import BadInput
from bench.results.summary import records


def load_previous(path: Path, profile: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The interrupted run's file, refused with one line when it is unreadable, foreign, or from a run whose
    profile or round settings differ (its figures and the new ones would not be comparable)."""
    try:
        data = read_result_file(path)  # checks that run is an object and every record one with the needed fields
    except ResultFileError as exc:
        raise BadInput(f"cannot resume: {exc}") from None
    if not all("case_id" in record for record in records(data)):
        raise BadInput(f"cannot resume: {path}: not a statedict-bench result file (records without case_id)")
    run = data["run"]
    if run.get("profile") != profile:
        raise BadInput(f"cannot resume: {path} is a {run.get('profile')!r} run; add --profile {run.get('profile')}")
    old = run.get("settings") or {}
    changed = [f"{k}={old.get(k)}" for k in sorted(settings) if old.get(k) != settings[k]]
    if changed:
        raise BadInput(f"cannot resume: {path} was measured with other settings ({', '.join(changed)})")
    return data


def done_case_ids(data: dict[str, Any]) -> set[str]:
    return {record["case_id"] for record in records(data)}


def merge(previous: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    """The previous file's cases, then this run's; `run` describes this run and lists the runs it continues."""
    output["benchmarks"] = previous["benchmarks"] + output["benchmarks"]
    output["untimed_cases"] = previous.get("untimed_cases", []) + output.get("untimed_cases", [])
    old, run = previous["run"], output["run"]
    run["status_counts"] = dict(Counter(old.get("status_counts", {})) + Counter(run.get("status_counts", {})))
    run["cases"] = len(previous["benchmarks"]) + len(previous.get("untimed_cases", [])) + run.get("cases", 0)
    earlier = {k: old.get(k) for k in ("started_at", "duration_s", "cases", "complete", "argv")}
    run["resumed_runs"] = old.get("resumed_runs", []) + [earlier]
    return output
