"""The history of each case across runs and the steps in it: binary segmentation, each split decided by a
permutation test on the series itself, so no threshold is tuned to one noise level.

Each run contributes its median round time; steps are searched on the log of the medians, so that a 10% step is
the same size on a 1 ms case as on a 1 s case. For a segment of the history:

- Its values are clipped at 3 robust sigmas (MAD) about the segment's median, so that one odd run (a busy machine)
  weighs like a run 3 sigmas off and no more. The clipping is the same in every order of the segment.
- Two statistics, each the largest standardized mean difference |sum(arc) - m * mean| / sqrt(m (n - m) / n) over
  its family of arcs (m runs, the rest n - m): a step, where the arc is the runs before or after a split; and a
  level that changes and comes back (a regression, then its fix), where the arc is a stretch inside the segment
  (as circular binary segmentation does). Every part keeps MIN_SEGMENT_RUNS runs or more.
- The p-value is from permuting the segment's order. With no step the runs are exchangeable: every order is as
  likely as the one observed, so P(p <= ALPHA_STEP) <= ALPHA_STEP whatever the noise level and distribution.
  Each statistic gets the share of orders with a statistic as large (its own p-value, the stretch's times
  STRETCH_WEIGHT); the test is on the smaller of the two, against the same orders (min-p), so looking for
  returns costs a single step little power.
  Up to EXACT_UP_TO runs every order is tried; beyond, PERMUTATIONS orders drawn with a fixed SEED, so the same
  files always give the same answer.
- If p <= ALPHA_STEP the segment is split (once for a step, twice for a stretch; each place refined by _locate)
  and each part is tested the same way, as E-Divisive does. The whole series is tested first, so a step-free
  series gets a step with probability at most ALPHA_STEP, at any noise level.
- Steps under MIN_STEP (median after / median before - 1, the neighbouring steps as bounds) are dropped, the
  smallest first, and the medians on each side taken again.

ALPHA_STEP is 0.035: a margin under the 5% of step-free series allowed (the level measured on 6000 normal series
of 12 and of 30 runs: 3.5%), so that batches of a few hundred series stay under 5%; and above 2/70 = 0.029, the
smallest p-value 8 runs can have (the 4 fast runs first or last; with 0.01 no history under 10 runs could show a
step). With 6 or 7 runs the smallest p is 0.1 (2/20), so a step needs 8 runs in all.
docs/trend.md gives the false-step rates and the power measured.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from analysis.history import histories

MIN_SEGMENT_RUNS = 3
"""A step needs this many runs on each side: one odd run is noise, not a step."""
ALPHA_STEP = 0.035
"""Level of each segment's permutation test: a step-free series gets a step with at most this probability."""
PERMUTATIONS = 999
"""Orders drawn for a segment's p-value when its orders are too many to try them all."""
EXACT_UP_TO = 8
"""Segments of up to this many runs are tested on every order (8! = 40320, in 1120 classes): an exact p-value."""
SEED = 20260114
"""Seed of the drawn orders (one set per segment length): the same series always gives the same answer."""
CLIP_SIGMAS = 3.0
"""A segment's values are clipped this many robust sigmas about its median before the test."""
ARC_ENDS = 64
"""Stretches start and end on a grid of at most this many places (every run in histories up to 64 runs): the
stretch statistic then costs O(64^2) per order however long the history."""
STRETCH_WEIGHT = 4.0
"""The stretch statistic's p-value counts this many times its own in the min-p: a step is the commoner change. On
generated series, a 15% step at 10% noise is then found in 4-6% more of them, a 6-run stretch in 3% fewer."""
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


@lru_cache(maxsize=64)
def _orders(n: int) -> tuple[np.ndarray, bool]:
    """The orders a segment of n runs is tested against, and whether they stand for all of them (up to EXACT_UP_TO
    runs) rather than being PERMUTATIONS drawn with the seed. The statistics see an order only through the sums
    before the splits k = MIN_SEGMENT_RUNS .. n - MIN_SEGMENT_RUNS, so the order of the first and of the last
    MIN_SEGMENT_RUNS runs does not matter: one order of each such class (the orders with those runs in increasing
    order, n! / (3! 3!) of them) stands for all, with the same weight; the observed order's class is among them."""
    if n <= EXACT_UP_TO:
        m = MIN_SEGMENT_RUNS
        orders = np.array([order for order in itertools.permutations(range(n))
                           if list(order[:m]) == sorted(order[:m]) and list(order[n - m:]) == sorted(order[n - m:])],
                          dtype=np.intp).reshape(-1, n)
    else:
        orders = np.argsort(np.random.default_rng([SEED, n]).random((PERMUTATIONS, n)), axis=1)
    orders.setflags(write=False)
    return orders, n <= EXACT_UP_TO


@lru_cache(maxsize=256)
def _arcs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For a segment of n runs: the splits k (every part MIN_SEGMENT_RUNS runs or more), 1 / the scale of the
    step at each, and the places of the stretches [start, end) (inside, on a grid of at most ARC_ENDS) with
    1 / their scale as a matrix (0 where start and end are too close)."""
    splits = np.arange(MIN_SEGMENT_RUNS, n - MIN_SEGMENT_RUNS + 1)
    places = splits if splits.size <= ARC_ENDS else \
        np.unique(np.linspace(splits[0], splits[-1], ARC_ENDS).round().astype(int))
    size = places[None, :] - places[:, None]
    inverse = np.where(size >= MIN_SEGMENT_RUNS, 1 / np.sqrt(np.abs(size * (n - size)) / n + (size == 0)), 0.0)
    arcs = splits, 1 / np.sqrt(splits * (n - splits) / n), places, inverse
    for array in arcs:
        array.setflags(write=False)
    return arcs


def _statistics(values: np.ndarray, where: bool = False) -> tuple[np.ndarray, ...]:
    """Per row of values (orders x n): the step statistic (the largest |standardized mean difference| over the
    splits) and the stretch statistic (the same over the stretches against the rest; 0 if none fits); with
    where, also the flat index of the best stretch in the places x places matrix."""
    n = values.shape[-1]
    splits, step_scale, places, stretch_scale = _arcs(n)
    sums = np.cumsum(values - values.mean(axis=-1, keepdims=True), axis=-1)
    step = (np.abs(sums[:, splits - 1]) * step_scale).max(axis=1)  # the runs before k against those after
    if not stretch_scale.any():
        return (step, np.zeros(len(values)), np.zeros(len(values), dtype=int))[:3 if where else 2]
    at_places = sums[:, places - 1]
    stretches = np.subtract(at_places[:, None, :], at_places[:, :, None])
    np.abs(stretches, out=stretches)
    np.multiply(stretches, stretch_scale, out=stretches)
    stretches = stretches.reshape(len(values), -1)
    stretch = stretches.max(axis=1)
    return (step, stretch, stretches.argmax(axis=1)) if where else (step, stretch)


def _share_at_least(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each of values, the share of reference at least as large (equal up to rounding counts as equal)."""
    ordered = np.sort(reference)
    return (ordered.size - np.searchsorted(ordered, values * (1 - 1e-9), side="left")) / ordered.size


def _clip(values: np.ndarray) -> np.ndarray:
    centre = np.median(values)
    bound = CLIP_SIGMAS * 1.4826 * np.median(np.abs(values - centre))
    return np.clip(values, centre - bound, centre + bound) if bound > 0 else values


def _test(values: np.ndarray) -> tuple[float, tuple[int, int] | None]:
    """The segment's permutation p-value, and the best stretch (start, end) when the stretch statistic is the
    more significant of the two (None: a step)."""
    clipped = _clip(values)
    n = clipped.size
    _, _, places, stretch_scale = _arcs(n)
    observed_step, observed_stretch, stretch_at = _statistics(clipped[None, :], where=True)
    tolerance = 1 - 1e-9  # equal up to rounding counts as equal
    orders, exact = _orders(n)
    permuted = clipped[orders] if exact else np.vstack([clipped[None, :], clipped[orders]])  # drawn: observed too
    step, stretch = (np.concatenate(parts) for parts in zip(*(
        _statistics(permuted[i:i + 1024]) for i in range(0, len(permuted), 1024))))
    p_step = float(np.mean(step >= observed_step[0] * tolerance))
    if not stretch_scale.any():
        return p_step, None
    p_stretch = STRETCH_WEIGHT * float(np.mean(stretch >= observed_stretch[0] * tolerance))
    smallest = np.minimum(_share_at_least(step, step), STRETCH_WEIGHT * _share_at_least(stretch, stretch))  # min-p
    p_value = float(np.mean(smallest <= min(p_step, p_stretch) / tolerance))
    if p_stretch >= p_step:
        return p_value, None
    start, end = np.unravel_index(int(stretch_at[0]), (places.size, places.size))
    return p_value, (int(places[start]), int(places[end]))


def _locate(values: np.ndarray) -> int:
    """Where the segment's level changes (runs before it), robust to an odd run and using the step's size: first
    the split of least L1 cost (each side about its median); then the residuals about that fit are clipped at 2.5
    robust sigmas and the split of least L2 cost on the clipped values is taken (more precise than L1 on Gaussian
    noise, as robust with odd runs)."""
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


def _segment(values: np.ndarray, offset: int, found: dict[int, float]) -> None:
    n = values.size
    if n < 2 * MIN_SEGMENT_RUNS:
        return
    p_value, stretch = _test(values)
    if p_value > ALPHA_STEP:
        return
    if stretch is None:
        cuts = [_locate(values)]
    else:  # each end located in the part that holds it alone
        start, end = stretch
        start = _locate(values[:end]) if end >= 2 * MIN_SEGMENT_RUNS else start
        end = start + _locate(values[start:]) if n - start >= 2 * MIN_SEGMENT_RUNS else end
        cuts = [start, end] if end - start >= MIN_SEGMENT_RUNS and n - end >= MIN_SEGMENT_RUNS else [start]
    bounds = [0, *cuts, n]
    for cut in cuts:
        found[offset + cut] = p_value
    for first, last in zip(bounds[:-1], bounds[1:]):
        _segment(values[first:last], offset + first, found)


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
