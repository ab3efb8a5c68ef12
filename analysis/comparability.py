"""Whether two sets of runs can be compared at all: same machine, cores, thread settings, profile, suite.

A torch comparison is only about torch when everything else is equal. Each run's file records what decides that
(bench/run/run_info.py); `analysis compare` warns, case verdicts unchanged, when the sides differ in any of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

NOT_RECORDED = "not recorded"


def _checkpoint_disk(run: dict[str, Any]) -> Any:
    """The folder the private checkpoint folder was made in (its own name is random): which disk was measured."""
    folder = (run.get("checkpoint") or {}).get("folder")
    return os.path.dirname(folder) if folder else NOT_RECORDED


def _thread_settings(run: dict[str, Any]) -> Any:
    threads = run.get("threads")
    if not isinstance(threads, dict):
        return NOT_RECORDED
    named = [f"{name}={value}" for name, value in sorted((threads.get("environment") or {}).items()) if value]
    pinned = "ranks pinned to cores; " if threads.get("pinned") else ""
    return f"{threads.get('rule')}; {pinned}" + (", ".join(named) or "no thread variables set")


def _get(*path: str) -> Callable[[dict[str, Any]], Any]:
    def read(run: dict[str, Any]) -> Any:
        value: Any = run
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return NOT_RECORDED
            value = value[key]
        return value
    return read


FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "machine": _get("machine", "hostname"),
    "CPU": _get("machine", "cpu"),
    "cores": _get("machine", "cores"),
    "memory": _get("machine", "memory_bytes"),
    "GPUs": _get("machine", "gpus"),
    "thread settings": _thread_settings,
    "profile": _get("profile"),
    "round settings": _get("settings"),
    "suite commit": _get("suite", "commit"),
    "suite modified": _get("suite", "dirty"),
    "fsync": _get("checkpoint", "fsync"),
    "checkpoint disk": _checkpoint_disk,
}
"""What must agree between two runs for a difference to be torch's: a name for the warning, how to read it."""


def _describe(values: set[str]) -> str:
    return " / ".join(sorted(values))


def comparability_warnings(base: list[tuple[Path, dict[str, Any]]],
                           new: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    """One line per field in which the runs differ (between the sides, or among the runs pooled on one side)."""
    warnings = []
    for name, read in FIELDS.items():
        sides = []
        for runs in (base, new):
            sides.append({repr(read(data["run"])) for _, data in runs})
        if not sides[0] or not sides[1]:
            continue
        if sides[0] != sides[1]:
            warnings.append(f"runs not comparable: {name} differs: base {_describe(sides[0])}, "
                            f"new {_describe(sides[1])}")
        elif len(sides[0]) > 1:
            warnings.append(f"runs not comparable: {name} differs among the runs pooled: {_describe(sides[0])}")
    return warnings
