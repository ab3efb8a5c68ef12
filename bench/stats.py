"""Statistics of a case's round times: nothing is dropped, spread is reported, instability is flagged."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from pytest_benchmark.stats import Stats

# pyperf's rule: a spread (std dev / mean) of 10% or more makes a result unstable.
UNSTABLE_CV = 0.10


@dataclass(frozen=True)
class Summary:
    rounds: int
    median_s: float
    q1_s: float
    q3_s: float
    iqr_s: float
    min_s: float
    max_s: float
    mean_s: float
    stddev_s: float
    cv: float
    """stddev / mean; 0 for a single round."""
    unstable: bool
    """cv >= UNSTABLE_CV."""

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


def summarize(samples: list[float]) -> Summary:
    if not samples:
        raise ValueError("no samples to summarize")
    if any(not math.isfinite(s) or s < 0 for s in samples):
        raise ValueError(f"round times must be finite and non-negative: {samples}")
    # pytest-benchmark's own estimators (its quartile method included), so the record agrees with its table.
    stats = Stats()
    for sample in samples:
        stats.update(sample)
    cv = stats.stddev / stats.mean if stats.mean > 0 else 0.0
    return Summary(rounds=stats.rounds, median_s=stats.median, q1_s=stats.q1, q3_s=stats.q3, iqr_s=stats.iqr,
                   min_s=stats.min, max_s=stats.max, mean_s=stats.mean, stddev_s=stats.stddev, cv=cv,
                   unstable=cv >= UNSTABLE_CV)


def round_times(rank_times_s: list[list[float]]) -> list[float]:
    """A round's time is the slowest rank's: rank_times_s is rounds x ranks."""
    return [max(row) for row in rank_times_s]
