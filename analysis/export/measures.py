"""What an export takes from a case's record: each measurement's name, unit and values (per-round metrics from
bench/metrics's registry, peak memory from the record), and the one summary the exports give of them."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.case_samples import MEMORY_METRICS
from analysis.load import records_of
from bench.metrics import JUDGED
from bench.results.schema import RECORD_FIELDS

ROUND_METRIC_NAMES = {"wall": "wall_time_ms", "cpu": "cpu_time_ms", "instructions": "instructions_millions"}
"""Exported names of bench/metrics's judged metrics (stable across runs: dashboards key their series on them); a
metric added later is named `<metric>_<display unit>`."""
NOT_A_NAME = re.compile(r"\W+")
MEMORY_SAMPLES = {"peak_rss": "the largest rank's peak RSS during the op over its RSS before it (the memory round)",
                  "peak_cuda": "the largest rank's peak allocated device memory in the memory round"}
"""What the one value of each memory measure is (the metric names are analysis.case_samples's)."""
MIB = 2**20


@dataclass(frozen=True)
class Measure:
    name: str
    """Stable across runs, e.g. wall_time_ms, peak_rss_mib."""
    unit: str
    values: list[float]
    """In `unit`: one per measured round, or the one value of the memory round."""
    sample: str
    """What one value is."""
    per_rank: list[float | None] = field(default_factory=list)
    """Memory only: each rank's peak in `unit` (the value is their largest)."""
    iqr: float | None = None
    """Per-round metrics: the interquartile range of the values in `unit` from the record's own summary (its stats,
    pytest-benchmark's quartiles: the figure the summary table shows); None where the record has none."""


def _numbers(values: Any) -> list[float] | None:
    if not isinstance(values, list) or not values:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        return None
    return [float(v) for v in values]


def round_measures(record: dict[str, Any]) -> list[Measure]:
    """Every judged metric the record has per-round values of (wall time always; CPU time, instructions where the
    run recorded them), in that metric's display unit."""
    measures = []
    for name, metric in JUDGED.items():
        rounds = _numbers(record.get(metric.round_field))
        if rounds is None:
            continue
        unit, factor = metric.display
        export_name = ROUND_METRIC_NAMES.get(name) or f"{name}_{NOT_A_NAME.sub('_', unit).lower()}"
        iqr = _numbers([(record.get(metric.stats_field) or {}).get("iqr_s")])
        measures.append(Measure(export_name, unit, [v * factor for v in rounds],
                                RECORD_FIELDS[metric.round_field].meaning, iqr=iqr[0] * factor if iqr else None))
    return measures


def memory_measures(record: dict[str, Any]) -> list[Measure]:
    """Peak host (and device) memory of the case's memory round, the largest rank's, in MiB."""
    measures = []
    for name, column in MEMORY_METRICS.items():
        peaks = record.get(column)
        known = _numbers([p for p in peaks if p is not None]) if isinstance(peaks, list) else None
        if known:
            measures.append(Measure(f"{name}_mib", "MiB", [max(known) / MIB],
                                    MEMORY_SAMPLES[name],
                                    [None if p is None else p / MIB for p in peaks]))
    return measures


def measured(record: dict[str, Any]) -> bool:
    """A case with a measurement: status ok and round times (what the exports that take values export)."""
    return record.get("status") == "ok" and bool(record.get("round_times_s"))


def measures(record: dict[str, Any]) -> list[Measure]:
    return round_measures(record) + memory_measures(record) if measured(record) else []


@dataclass
class MeasuredCases:
    """Every case record of some runs, split: those with a measurement (with their run) and the statuses of the
    others, which the exports that take values leave out and say so."""
    cases: list[tuple[Path, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    """(the run's file, its `run` object, the case's record)."""
    skipped: Counter = field(default_factory=Counter)
    """status -> cases without a measurement."""

    def note(self, fmt: str) -> str | None:
        """The line that says what was left out; None when nothing was."""
        if not self.skipped:
            return None
        statuses = ", ".join(f"{status} {count}" for status, count in sorted(self.skipped.items()))
        total = len(self.cases) + sum(self.skipped.values())
        return (f"{fmt}: skipped {sum(self.skipped.values())} of {total} cases (a case per run) without a "
                f"measurement: {statuses}")


def measured_cases(runs: list[tuple[Path, dict[str, Any]]]) -> MeasuredCases:
    split = MeasuredCases()
    for path, data in runs:
        for record in records_of(data):
            if measured(record):
                split.cases.append((path, data["run"], record))
            else:
                split.skipped[str(record.get("status"))] += 1
    return split


def median_half_iqr(values: list[float]) -> tuple[float, float]:
    """The median and half the interquartile range (quartiles interpolated linearly, numpy's default)."""
    q1, median, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(median), float(q3 - q1) / 2
