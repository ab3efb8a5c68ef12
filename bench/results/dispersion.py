"""The suite's robust dispersion of round times and its instability rule (the reasons: bench/results/stats.py).
Pure Python, so that analysis/ uses the same rule without importing pytest-benchmark."""

from __future__ import annotations

import statistics

MAD_TO_SD = 1.4826
"""1 / the normal distribution's 75th percentile: MAD x this estimates the standard deviation for normal data."""
UNSTABLE_RCV = 0.10
"""A robust relative dispersion (rcv) of 10% or more makes a result unstable (pyperf's 10%, on a robust measure)."""


def robust_cv(samples: list[float]) -> float:
    """1.4826 x MAD / median: the relative spread of the typical samples; 0 for one sample or a median of 0."""
    if len(samples) < 2:
        return 0.0
    median = statistics.median(samples)
    if median <= 0:
        return 0.0
    mad = statistics.median(abs(s - median) for s in samples)
    return float(MAD_TO_SD * mad / median)
