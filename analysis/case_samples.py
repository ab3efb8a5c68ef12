"""A comparison's input, per case and side: statuses, and each metric's value per run on the test's scale.

Scales: time is the log of the run's median round time (a 10% change is the same size on 1 ms and on 1 s); peak
memory is the log of (bytes + 1 MiB), one series per rank, so that a rise on rank 0 alone is not diluted by the other
ranks, a zero peak has a log, and changes far below a MiB (a few pages) count for little.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scipy.stats import median_abs_deviation

from analysis.run_tests import MEDIAN_VARIANCE_FACTOR, RunSamples

CASE_FIELDS = ("api", "op", "state_dict_type", "options_label", "model", "mesh", "world_size")
MEMORY_METRICS = {"peak_rss": "peak_rss_bytes", "peak_cuda": "peak_cuda_bytes"}
MEMORY_OFFSET_BYTES = 2**20
PASS_FOLDER = re.compile(r"^pass\d+$")


def pass_key(run_file: str) -> str | None:
    """Compare mode's pass of a run (its folder passNN), which pairs the two sides' runs; None for other files."""
    folder = Path(run_file).parent.name
    return folder if PASS_FOLDER.match(folder) else None


@dataclass
class CaseSide:
    fields: dict[str, Any]
    statuses: list[str]
    runs: int
    time: RunSamples
    run_medians_s: list[float]
    rounds: int
    memory: dict[str, dict[int, RunSamples]] = field(default_factory=dict)
    """metric -> rank -> the rank's peak per run, on the log(bytes + 1 MiB) scale."""


def _samples(values: dict[str, float], within: dict[str, float] | None = None) -> RunSamples:
    return RunSamples(values=values, pass_keys={run: pass_key(run) for run in values}, within=within or {})


def within_variance(times: list[float]) -> float:
    """The variance of a run's log median that its own rounds predict: pi/2 x the rounds' variance / their count,
    the rounds' spread taken robustly (normal-scaled MAD of their logs) as the median itself ignores outliers; nan
    for fewer than 3 rounds or a non-positive time."""
    if len(times) < 3 or min(times) <= 0:
        return math.nan
    logs = np.log(np.asarray(times, dtype=float))
    return float(MEDIAN_VARIANCE_FACTOR * median_abs_deviation(logs, scale="normal") ** 2 / logs.size)


def _memory(ok: pd.DataFrame, column: str) -> dict[int, RunSamples]:
    per_rank: dict[int, dict[str, float]] = {}
    if column not in ok:
        return {}
    for run_file, peaks in zip(ok["run_file"], ok[column]):
        if not isinstance(peaks, list):
            continue
        for rank, value in enumerate(peaks):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                per_rank.setdefault(rank, {})[str(run_file)] = math.log(value + MEMORY_OFFSET_BYTES)
    return {rank: _samples(values) for rank, values in per_rank.items()}


def memory_bytes(log_value: float) -> float:
    """A value of the memory scale back in bytes."""
    return math.exp(log_value) - MEMORY_OFFSET_BYTES


def case_sides(frame: pd.DataFrame) -> dict[str, CaseSide]:
    sides: dict[str, CaseSide] = {}
    for case, rows in frame.groupby("case", sort=True):
        ok = rows[rows["status"] == "ok"]
        medians = {str(run): float(np.median(times)) for run, times in zip(ok["run_file"], ok["round_times_s"])
                   if len(times)}
        side = CaseSide(fields={name: rows.iloc[0].get(name) for name in CASE_FIELDS},
                        statuses=sorted(set(rows["counted_status"])), runs=len(rows),
                        time=_samples({run: math.log(m) for run, m in medians.items() if m > 0},
                                      {str(run): within_variance(list(times))
                                       for run, times in zip(ok["run_file"], ok["round_times_s"]) if len(times)}),
                        run_medians_s=list(medians.values()), rounds=int(sum(len(t) for t in ok["round_times_s"])))
        side.memory = {metric: _memory(ok, column) for metric, column in MEMORY_METRICS.items()}
        sides[str(case)] = side
    return sides
