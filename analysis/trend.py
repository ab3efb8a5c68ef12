"""The history of each case across runs and the steps in it: binary segmentation, each split decided by a
permutation test on the series itself, so no threshold is tuned to one noise level.

Each run contributes its median round time. For a segment of the history:

- The statistic is a rank CUSUM: for every split k with at least MIN_SEGMENT_RUNS runs on each side, the
  Mann-Whitney statistic of the runs before k against those after (the sum of their ranks less its expectation,
  over its standard deviation when there is no step), and the largest absolute value over k. Ranks make it
  scale-free (a 10% step is the same size on a 1 ms case as on a 1 s case) and robust: one odd run (a busy
  machine) is the highest rank, however slow.
- Its p-value is from permuting the segment's order. With no step the runs are exchangeable: every order of them is
  as likely as the one observed, so P(p <= ALPHA_STEP) <= ALPHA_STEP whatever the noise level and distribution.
  Up to EXACT_UP_TO runs every order is tried (p exact); beyond, PERMUTATIONS orders drawn with a fixed SEED, so
  the same files always give the same answer.
- If p <= ALPHA_STEP the segment is split where its level changes (see _locate: robust least squares, which uses
  the step's size where ranks cannot) and each side is tested the same way, as E-Divisive does. The whole series is
  tested first, so a step-free series gets a step with probability at most ALPHA_STEP at any noise level.
- Steps under MIN_STEP (median after / median before - 1, the neighbouring steps as bounds) are dropped, the
  smallest first, and the medians on each side taken again.

ALPHA_STEP is 0.04: under the 5% of step-free series the issue allows, with a margin that 200 generated series per
condition show, and above 2/70 = 0.029, the smallest p-value an 8-run history can have (the 4 fast runs first or
last): a level of 0.01 could never find a step in fewer than 10 runs. With 6 or 7 runs the smallest p is 0.1
(2/20), so a step needs 8 runs in all. docs/trend.md gives the false-step rates and the power measured.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from packaging.version import InvalidVersion, Version
from scipy.stats import rankdata

ORDERS = ("time", "commit")
MIN_SEGMENT_RUNS = 3
"""A step needs this many runs on each side: one odd run is noise, not a step."""
ALPHA_STEP = 0.04
"""Level of each segment's permutation test: a step-free series gets a step with at most this probability."""
PERMUTATIONS = 9999
"""Random orders drawn for a segment's p-value when its orders are too many to enumerate."""
EXACT_UP_TO = 8
"""Segments of up to this many runs (8! = 40320 orders) are tested on every order: an exact p-value."""
SEED = 20260114
"""Seed of the drawn orders (one set per segment length): the same series always gives the same answer."""
MIN_STEP = 0.03
"""Steps smaller than this relative change are not reported, however significant."""


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
    p_value: float = math.nan
    """The permutation test's p-value for the segment in which this step was found."""

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
    """Run-to-run noise, robust to the steps themselves: MAD of successive differences / (0.6745 * sqrt 2).
    Descriptive only: the step test needs no noise estimate."""
    diffs = np.diff(values)
    return float(np.median(np.abs(diffs - np.median(diffs))) / 0.6745 / math.sqrt(2)) if diffs.size else 0.0


def _orders(n: int) -> tuple[np.ndarray, bool]:
    """The orders a segment of n runs is tested against, and whether they are all of them (up to EXACT_UP_TO runs)
    rather than PERMUTATIONS drawn with the seed (the same ones for every segment of n runs)."""
    if n <= EXACT_UP_TO:
        return _all_orders(n), True
    return np.argsort(np.random.default_rng([SEED, n]).random((PERMUTATIONS, n)), axis=1), False


@lru_cache(maxsize=None)
def _all_orders(n: int) -> np.ndarray:
    orders = np.array(list(itertools.permutations(range(n))), dtype=np.intp)
    orders.setflags(write=False)
    return orders


def _rank_cusum(ranks: np.ndarray) -> np.ndarray:
    """Per row of ranks (orders x n), |standardized Mann-Whitney statistic| at each split k in
    MIN_SEGMENT_RUNS..n - MIN_SEGMENT_RUNS (column j is split k = MIN_SEGMENT_RUNS + j)."""
    n = ranks.shape[-1]
    k = np.arange(MIN_SEGMENT_RUNS, n - MIN_SEGMENT_RUNS + 1)
    before = np.cumsum(ranks, axis=-1)[..., k - 1]
    spread = np.var(ranks[0])  # the same in every order; (n^2 - 1) / 12 without ties, less with them
    if spread == 0:
        return np.zeros(before.shape)
    scale = np.sqrt(k * (n - k) / (n - 1) * spread)  # the sum of k of the n ranks, drawn without replacement
    return np.abs(before - k * (n + 1) / 2) / scale


@lru_cache(maxsize=256)
def _null(n: int) -> np.ndarray:
    """The statistic over the orders of n distinct ranks, sorted. Without ties every segment of n runs has these
    ranks, so its p-value needs only a look-up (with all orders, exactly what permuting its own ranks gives)."""
    null = np.sort(_rank_cusum(np.arange(1.0, n + 1)[_orders(n)[0]]).max(axis=1))
    null.setflags(write=False)
    return null


def _p_value(values: np.ndarray) -> float:
    """The permutation p-value of the segment's rank CUSUM: the share of orders whose statistic is at least the
    observed one; with drawn orders, (1 + those drawn) / (1 + PERMUTATIONS), as the observed order counts too."""
    ranks = rankdata(values)
    observed = float(_rank_cusum(ranks[None, :])[0].max()) * (1 - 1e-12)  # equal up to rounding counts as equal
    n = values.size
    if np.unique(ranks).size == n:
        null = _null(n)
        at_least, count = null.size - int(np.searchsorted(null, observed, side="left")), null.size
    else:  # ties: permute the ranks as they are
        orders, _ = _orders(n)
        at_least, count = int(np.sum(_rank_cusum(ranks[orders]).max(axis=1) >= observed)), len(orders)
    return at_least / count if n <= EXACT_UP_TO else (1 + at_least) / (1 + count)


def _locate(values: np.ndarray) -> int:
    """Where the segment's level changes (runs before it), robust to an odd run and using the step's size: first
    the split of least L1 cost (each side about its median); then the residuals about that fit are clipped at 2.5
    robust sigmas and the split of least L2 cost on the clipped values is taken (more precise than L1 on Gaussian
    noise, as robust with odd runs). The ranks alone would lose the location of a large step: once the two levels
    are apart their ranks no longer say by how much."""
    n = values.size
    splits = range(MIN_SEGMENT_RUNS, n - MIN_SEGMENT_RUNS + 1)
    costs = [np.abs(values[:k] - np.median(values[:k])).sum() + np.abs(values[k:] - np.median(values[k:])).sum()
             for k in splits]
    first = MIN_SEGMENT_RUNS + int(np.argmin(costs))
    fit = np.where(np.arange(n) < first, np.median(values[:first]), np.median(values[first:]))
    residuals = values - fit
    bound = 2.5 * 1.4826 * np.median(np.abs(residuals))
    clipped = fit + np.clip(residuals, -bound, bound)
    k = np.arange(MIN_SEGMENT_RUNS, n - MIN_SEGMENT_RUNS + 1)
    cusum = np.cumsum(clipped - clipped.mean())[k - 1]
    return int(k[np.argmax(np.abs(cusum) / np.sqrt(k * (n - k)))])


def _split(values: np.ndarray) -> tuple[int, float]:
    """Where the segment's level changes (runs before it) and the p-value of there being a change."""
    return _locate(values), _p_value(values)


def _segment(values: np.ndarray, offset: int, found: dict[int, float]) -> None:
    if values.size < 2 * MIN_SEGMENT_RUNS:
        return
    split, p_value = _split(values)
    if p_value > ALPHA_STEP:
        return
    found[offset + split] = p_value
    _segment(values[:split], offset, found)
    _segment(values[split:], offset + split, found)


def _change(medians: np.ndarray, bounds: list[int], i: int) -> float:
    """The relative change at bounds[i] (0 < i < len - 1), medians of the segments on each side."""
    before = np.median(medians[bounds[i - 1]:bounds[i]])
    after = np.median(medians[bounds[i]:bounds[i + 1]])
    return after / before - 1


def _steps(medians_s: list[float] | np.ndarray) -> dict[int, float]:
    """Start of each new level -> the p-value it was found with."""
    medians = np.asarray(medians_s, dtype=float)
    n = medians.size
    if n < 2 * MIN_SEGMENT_RUNS or not np.all(np.isfinite(medians)) or np.any(medians <= 0):
        return {}
    found: dict[int, float] = {}
    _segment(np.log(medians), 0, found)
    points = sorted(found)
    while points:  # drop the smallest step under MIN_STEP, then look again with the merged segments
        bounds = [0, *points, n]
        changes = [abs(_change(medians, bounds, i)) for i in range(1, len(bounds) - 1)]
        smallest = int(np.argmin(changes))
        if changes[smallest] >= MIN_STEP:
            break
        del points[smallest]
    return {point: found[point] for point in points}


def change_points(medians_s: list[float] | np.ndarray) -> list[int]:
    """Indices where a new level begins (each >= MIN_SEGMENT_RUNS from the ends and from each other)."""
    return sorted(_steps(medians_s))


def detect_steps(history: pd.DataFrame, case: str) -> list[Step]:
    medians = history["median_s"].to_numpy(dtype=float)
    found = _steps(medians)
    points = sorted(found)
    bounds = [0, *points, len(medians)]
    steps = []
    for i, start in enumerate(points):
        row = history.iloc[start]
        steps.append(Step(case=case, index=start, run_label=row["run_label"], run_started_at=row["run_started_at"],
                          torch=row["torch"], before_s=float(np.median(medians[bounds[i]:start])),
                          after_s=float(np.median(medians[start:bounds[i + 2]])), p_value=found[start]))
    return steps


def all_steps(frame: pd.DataFrame, order: str = "time") -> tuple[dict[str, pd.DataFrame], list[Step]]:
    series = histories(frame, order)
    return series, [step for case, history in series.items() for step in detect_steps(history, case)]
