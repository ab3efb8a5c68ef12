"""Statistics of a case's round times: nothing is dropped, spread is reported, instability is flagged.

A case is `unstable` when its robust relative dispersion `rcv` = 1.4826 x MAD / median is 10% or more (MAD: the
median absolute deviation from the median). pyperf's rule, which this suite used before, takes the CV (stddev /
mean) instead; but the CV is driven by a single slow round (a GC, a descheduled rank), which most cases have: in the
runs of issue 14, 64% of cases had a CV of 10% or more and none an rcv of 10% or more. The median and the MAD ignore
a few slow rounds, so `rcv` says whether the typical rounds are spread, which is what makes a median untrustworthy.
The factor 1.4826 makes 1.4826 x MAD estimate the standard deviation for normal data, so for well-behaved round
times rcv is about the CV and the 10% limit means what it meant. The CV is still reported (`cv`), and no round is
dropped.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from pytest_benchmark.stats import Stats

from bench.results.dispersion import UNSTABLE_RCV, robust_cv

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
    """stddev / mean; 0 for a single round. Shown, not used for the flag: one slow round drives it."""
    rcv: float
    """Robust CV: 1.4826 x MAD / median (MAD: median absolute deviation from the median); 0 for a single round or a
    median of 0. About the CV for normal data, unmoved by a few slow rounds."""
    unstable: bool
    """rcv >= UNSTABLE_RCV."""

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
    rcv = robust_cv(samples)
    return Summary(rounds=stats.rounds, median_s=stats.median, q1_s=stats.q1, q3_s=stats.q3, iqr_s=stats.iqr,
                   min_s=stats.min, max_s=stats.max, mean_s=stats.mean, stddev_s=stats.stddev, cv=cv, rcv=rcv,
                   unstable=bool(rcv >= UNSTABLE_RCV))


def round_times(rank_times_s: list[list[float]]) -> list[float]:
    """A round's time is the slowest rank's: rank_times_s is rounds x ranks."""
    return [max(row) for row in rank_times_s]
