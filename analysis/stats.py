"""Statistics for comparing two sets of samples: ratio of medians with a bootstrap interval, a rank test, and
corrections for testing many cases at once. Pure functions of numbers; no pandas, no files."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.stats import mannwhitneyu

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
