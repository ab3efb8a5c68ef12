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

from analysis.run_tests import RunSamples

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


def _samples(values: dict[str, float]) -> RunSamples:
    return RunSamples(values=values, pass_keys={run: pass_key(run) for run in values})


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
                        statuses=sorted(set(rows["status"])), runs=len(rows),
                        time=_samples({run: math.log(m) for run, m in medians.items() if m > 0}),
                        run_medians_s=list(medians.values()), rounds=int(sum(len(t) for t in ok["round_times_s"])))
        side.memory = {metric: _memory(ok, column) for metric, column in MEMORY_METRICS.items()}
        sides[str(case)] = side
    return sides
