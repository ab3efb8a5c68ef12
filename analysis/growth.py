"""How a cost grows with the number of ranks: the exponent b of cost = c x N^b, fitted by least squares on log-log
axes, with its 95% interval. A series is superlinear when the interval's lower end is above 1: doubling the ranks
more than doubles the cost, and the data rule out linear growth."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy.stats import linregress

from analysis.stats import CONFIDENCE, t_quantile

SUPERLINEAR_ABOVE = 1.0
"""The exponent of linear growth: a series whose interval lies wholly above it grows faster than the ranks."""


@dataclass(frozen=True)
class GrowthFit:
    """cost = c x N^slope, fitted on log N and log cost."""

    slope: float
    """The growth exponent: 1 is linear in the ranks, 0 flat, 2 quadratic."""
    low: float
    """The lower end of its 95% interval (slope - t x stderr, t with points - 2 degrees of freedom); nan with two
    points, where the line goes through both and nothing is left to say how far off it may be."""
    high: float
    """The upper end of the interval; nan with two points."""
    points: int
    """The (world size, cost) points fitted: one per world size."""

    @property
    def superlinear(self) -> bool:
        """The interval lies wholly above linear growth (false where there is no interval)."""
        return math.isfinite(self.low) and self.low > SUPERLINEAR_ABOVE

    def label(self) -> str:
        """The fit as a legend shows it: 'N^1.52 [1.41, 1.63] superlinear', or 'N^0.98 (2 points)'."""
        if not math.isfinite(self.low):
            return f"N^{self.slope:.2f} ({self.points} points)"
        return f"N^{self.slope:.2f} [{self.low:.2f}, {self.high:.2f}]" + (" superlinear" if self.superlinear else "")


def growth_fit(world_sizes: Sequence[float], costs: Sequence[float],
               confidence: float = CONFIDENCE) -> GrowthFit | None:
    """The exponent of costs against world sizes; several costs at one world size count as their median (so the
    points are the series' world sizes). None with fewer than two world sizes or no positive cost to take a log of."""
    by_size: dict[float, list[float]] = {}
    for size, cost in zip(world_sizes, costs):
        if size and size > 0 and cost is not None and math.isfinite(cost) and cost > 0:
            by_size.setdefault(float(size), []).append(float(cost))
    if len(by_size) < 2:
        return None
    sizes = sorted(by_size)
    logs_n = [math.log(size) for size in sizes]
    logs_cost = [math.log(_median(by_size[size])) for size in sizes]
    fit = linregress(logs_n, logs_cost)
    if len(sizes) == 2:
        return GrowthFit(float(fit.slope), math.nan, math.nan, 2)
    half_width = t_quantile(1 - (1 - confidence) / 2, len(sizes) - 2) * float(fit.stderr)
    return GrowthFit(float(fit.slope), float(fit.slope) - half_width, float(fit.slope) + half_width, len(sizes))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
