"""Statistics for comparing two sets of samples: ratio of medians with a bootstrap interval and a rank test (the
round as the unit), a t-test on per-run medians (the run as the unit), and corrections for testing many cases at
once. Pure functions of numbers; no pandas, no files."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.stats import mannwhitneyu
from scipy.stats import t as student_t

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


def median_ratio_ci(base: Sequence[float], new: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES,
                    confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float, float]:
    """(median(new) / median(base), low, high): a percentile bootstrap interval, each side resampled on its own."""
    base_arr, new_arr = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if base_arr.size == 0 or new_arr.size == 0:
        raise ValueError("both sides need at least one sample")
    base_median, new_median = float(np.median(base_arr)), float(np.median(new_arr))
    if base_median <= 0:  # from nothing to something is an unbounded rise; nothing to nothing has no ratio
        return (math.inf if new_median > 0 else math.nan), math.nan, math.nan
    ratio = new_median / base_median
    # A fixed seed: the same files give the same interval on every run of the command.
    rng = np.random.default_rng(seed)
    base_medians = np.median(rng.choice(base_arr, size=(resamples, base_arr.size)), axis=1)
    new_medians = np.median(rng.choice(new_arr, size=(resamples, new_arr.size)), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = new_medians / base_medians
    ratios = ratios[np.isfinite(ratios)]
    if ratios.size == 0:
        return ratio, math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return ratio, float(low), float(high)


def mann_whitney_p(base: Sequence[float], new: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value; 1.0 where there is nothing to test (a side empty or all values equal)."""
    if len(base) == 0 or len(new) == 0 or len(set(base) | set(new)) < 2:
        return 1.0
    return float(mannwhitneyu(base, new, alternative="two-sided").pvalue)


def run_level_test(base_run_medians: Sequence[float], new_run_medians: Sequence[float], *,
                   confidence: float = CONFIDENCE) -> tuple[float, float, float, float]:
    """(ratio, low, high, p) with each run (a fresh set of processes) as one sample: Student's two-sample t-test on
    the logs of the runs' medians.

    Why not the rounds: a process keeps its own speed for its whole life (where its memory lies, which core its
    threads run on), so the rounds of one process are not independent samples of the build; two processes of the
    same torch can differ by tens of percent on a small op, with tight intervals each. Only the spread between runs
    shows that. The ratio is that of the geometric means of the run medians (the difference of the mean logs); the
    interval is the t interval of that difference. Pooled variance, so one run on one side is enough when the other
    has two or more (the spread is estimated from the runs there are).
    """
    base = np.log(np.asarray(base_run_medians, dtype=float))
    new = np.log(np.asarray(new_run_medians, dtype=float))
    if base.size == 0 or new.size == 0 or base.size + new.size < 3:
        raise ValueError("the run-level test needs a run on each side and at least three in all")
    if not (np.isfinite(base).all() and np.isfinite(new).all()):
        return math.nan, math.nan, math.nan, 1.0  # a zero or negative median has no log: nothing to test
    difference = float(new.mean() - base.mean())
    ratio = math.exp(difference)
    dof = base.size + new.size - 2
    pooled_var = (float(((base - base.mean()) ** 2).sum()) + float(((new - new.mean()) ** 2).sum())) / dof
    std_error = math.sqrt(pooled_var * (1 / base.size + 1 / new.size))
    if std_error == 0:  # every run of both sides the same: a difference is exact, none is nothing
        return (ratio, ratio, ratio, 0.0) if difference else (ratio, ratio, ratio, 1.0)
    t_stat = difference / std_error
    p = float(2 * student_t.sf(abs(t_stat), dof))
    half_width = float(student_t.ppf(1 - (1 - confidence) / 2, dof)) * std_error
    return ratio, math.exp(difference - half_width), math.exp(difference + half_width), p


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values: controls the chance of any false flag among all the cases."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values: controls the expected share of false flags among the flagged."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    adjusted = [1.0] * m
    running = 1.0
    for position, i in enumerate(order):
        rank = m - position
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


CORRECTIONS = {"holm": holm, "bh": benjamini_hochberg}


def geometric_mean(values: Sequence[float]) -> float:
    """The mean of many ratios: a 2x slowdown and a 2x speedup average to 1."""
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in finite) / len(finite)) if finite else math.nan
