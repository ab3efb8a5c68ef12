"""The metrics: what a round measures about the op, one module each, and the registry below.

A metric module declares a `Metric` (bench/metrics/base.py): its name, the meter a rank reads around the op, the
record fields that hold it (with units), and, where analysis may judge a run by it, how tables show it. The round
loop (bench/rank/measure.py), the record (bench/results/record.py), the schema, the summary and analysis all work
from this registry, so a new metric is a module here and a line below. Pure Python, no torch.
"""

from __future__ import annotations

from bench.metrics import cpu, instructions, io, wall
from bench.metrics.base import Meter, Metric

METRICS: tuple[Metric, ...] = (wall.METRIC, io.METRIC, cpu.METRIC, instructions.METRIC)
"""Every metric. A rank starts the meters in this order before t0 and stops them in the reverse order after t1, so
the later ones sit closer to the op (instructions' toggles nearest, then CPU time, then the I/O counters)."""
JUDGED = {metric.name: metric for metric in METRICS if metric.judged}
"""The metrics a run, compare, nightly or report can be judged on (--metric)."""
DEFAULT = wall.METRIC.name


def check_judged(name: str) -> Metric:
    """The judged metric of this name; raises ValueError (one line) for any other."""
    if name not in JUDGED:
        raise ValueError(f"unknown metric {name!r}: choose one of {', '.join(JUDGED)}")
    return JUDGED[name]


__all__ = ["DEFAULT", "JUDGED", "METRICS", "Meter", "Metric", "check_judged"]
