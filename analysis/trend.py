"""The history of each case across runs and the steps in it, found by change-point detection (ruptures' PELT).

Each run contributes its median round time. Steps are searched on the log of the medians, so that a 10% step is
the same size on a 1 ms case as on a 1 s case. The cost is L1 (distance to the segment's median), not L2: one odd
run (a busy machine) then moves a segment's level little and makes no step of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import ruptures
from packaging.version import InvalidVersion, Version

ORDERS = ("time", "commit")
MIN_SEGMENT_RUNS = 3
"""A step needs this many runs on each side: one odd run is noise, not a step."""
PENALTY_PER_STEP = 2.0
"""PELT's penalty per change point, in units of noise sigma x log(runs) (a BIC-like choice for the L1 cost, set on
generated histories: about 0.03 false steps per flat 30-run series at 3% run-to-run noise)."""
MIN_STEP = 0.03
"""Steps smaller than this relative change are not reported, however regular the series."""


@dataclass(frozen=True)
class Step:
    case: str
    index: int
    """Position in the ordered history of the first run after the step."""
    run_label: str
    run_started_at: pd.Timestamp
    torch: str
    before_s: float
    after_s: float

    @property
    def change(self) -> float:
        return self.after_s / self.before_s - 1


def _version_key(version: str | None) -> tuple:
    try:
        return (0, Version(str(version).split("+")[0]))
    except InvalidVersion:
        return (1, str(version))


def run_order(frame: pd.DataFrame, order: str = "time") -> list[str]:
    """The run files in history order: by start time, or by torch version and commit (runs of one commit
    together, commits in the order they first ran), then start time."""
    if order not in ORDERS:
        raise ValueError(f"order {order!r} must be one of {', '.join(ORDERS)}")
    runs = frame.groupby("run_file", sort=False).agg(
        started=("run_started_at", "first"), version=("torch_version", "first"), git=("torch_git", "first"))
    runs = runs.reset_index().sort_values(["started", "run_file"], na_position="first")
    if order == "time":
        return list(runs["run_file"])
    first_seen = {git: i for i, git in reversed(list(enumerate(runs["git"])))}
    keyed = sorted(zip(runs["run_file"], runs["version"], runs["git"], range(len(runs))),
                   key=lambda r: (_version_key(r[1]), first_seen[r[2]], r[3]))
    return [r[0] for r in keyed]


def histories(frame: pd.DataFrame, order: str = "time") -> dict[str, pd.DataFrame]:
    """Per case, its ok runs in history order: run_file, run_label, run_started_at, torch, median_s."""
    position = {run: i for i, run in enumerate(run_order(frame, order))}
    ok = frame[frame["status"] == "ok"].copy()
    ok["position"] = ok["run_file"].map(position)
    ok["torch"] = ok["torch_version"].astype(str) + " " + ok["torch_git"].astype(str).str[:10]
    columns = ["run_file", "run_label", "run_started_at", "torch", "median_s", "api", "op", "position"]
    return {str(case): rows.sort_values("position")[columns].reset_index(drop=True)
            for case, rows in ok.groupby("case", sort=True)}


def noise_sigma(values: np.ndarray) -> float:
    """Run-to-run noise, robust to the steps themselves: MAD of successive differences / (0.6745 * sqrt 2)."""
    diffs = np.diff(values)
    return float(np.median(np.abs(diffs - np.median(diffs))) / 0.6745 / math.sqrt(2)) if diffs.size else 0.0


def change_points(medians_s: list[float] | np.ndarray) -> list[int]:
    """Indices where a new level begins (each >= MIN_SEGMENT_RUNS from the ends and from each other)."""
    medians = np.asarray(medians_s, dtype=float)
    values = np.log(medians)
    n = values.size
    if n < 2 * MIN_SEGMENT_RUNS or not np.all(np.isfinite(values)):
        return []
    sigma = max(noise_sigma(values), 1e-3)  # a perfectly flat series would make any wiggle a step
    algo = ruptures.Pelt(model="l1", min_size=MIN_SEGMENT_RUNS, jump=1).fit(values.reshape(-1, 1))
    ends = algo.predict(pen=PENALTY_PER_STEP * sigma * math.log(n))
    starts = [end for end in ends if end < n]
    bounds = [0, *starts, n]
    kept = []
    for i, start in enumerate(starts):
        # On the medians themselves, as detect_steps reports them (a median of logs differs for even counts).
        before = np.median(medians[bounds[i]:start])
        after = np.median(medians[start:bounds[i + 2]])
        if abs(after / before - 1) >= MIN_STEP:
            kept.append(start)
    return kept


def detect_steps(history: pd.DataFrame, case: str) -> list[Step]:
    medians = history["median_s"].to_numpy(dtype=float)
    points = change_points(medians)
    bounds = [0, *points, len(medians)]
    steps = []
    for i, start in enumerate(points):
        row = history.iloc[start]
        steps.append(Step(case=case, index=start, run_label=row["run_label"], run_started_at=row["run_started_at"],
                          torch=row["torch"], before_s=float(np.median(medians[bounds[i]:start])),
                          after_s=float(np.median(medians[start:bounds[i + 2]]))))
    return steps


def all_steps(frame: pd.DataFrame, order: str = "time") -> tuple[dict[str, pd.DataFrame], list[Step]]:
    series = histories(frame, order)
    return series, [step for case, history in series.items() for step in detect_steps(history, case)]
