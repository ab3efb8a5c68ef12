"""CPU time: the rank process's user + system time over all its threads (CLOCK_PROCESS_CPUTIME_ID) in the op.

It does not see waiting (on a slow peer in a collective, on a disk, on a descheduled core), so it is less noisy than
wall time on a shared machine but blind to exactly those costs; work done in another process (DCP's process-based
async_save) is not in it either.
"""

from __future__ import annotations

import time

from bench.metrics.base import Metric


class CpuMeter:
    def start(self) -> None:
        self._began = time.process_time()

    def stop(self) -> float:
        return time.process_time() - self._began


METRIC = Metric(
    name="cpu", description="CPU time (user + system, all threads of the rank)", reply_key="cpu_s",
    fields={"rank_cpu_s": ("s", "CPU time (user + system, all threads) of each rank's process in the op, "
                                "rounds x ranks"),
            "round_cpu_s": ("s", "a round's CPU time: its slowest rank's, per round"),
            "cpu_stats": ("s", "summary of round_cpu_s, as stats")},
    rank_field="rank_cpu_s", round_field="round_cpu_s", stats_field="cpu_stats", meter=CpuMeter,
    display=("ms", 1e3), column="CPU ms",
    column_note="CPU ms: median over rounds of the slowest rank's CPU time (user + system, all its threads) in the op")
