"""Wall time: the round's own clock (t1 - t0 around the op and its device sync, bench/rank/measure.py), the metric
every run is judged on unless told otherwise: everything the op costs, waits included; on a shared machine it also
carries every other process's noise."""

from __future__ import annotations

from bench.metrics.base import Metric

METRIC = Metric(
    name="wall", description="wall time", reply_key="times_s",
    fields={"rank_times_s": ("s", "wall time of the op, rounds x ranks"),
            "round_times_s": ("s", "a round's wall time: its slowest rank's, per round"),
            "stats": ("s", "summary of round_times_s: rounds, median, quartiles, min, max, mean, stddev, cv, rcv, "
                           "unstable")},
    rank_field="rank_times_s", round_field="round_times_s", stats_field="stats",
    display=("ms", 1e3))
