"""Which per-round measurement the analysis judges: wall time (the default), CPU time, or instructions.

Every record holds the first two (bench/results/record.py): `round_times_s` (the slowest rank's wall time per round) and
`round_cpu_s` (the slowest rank's CPU time per round, user + system over all its threads); a run in instructions
mode (bench/rank/instructions.py) also `round_instructions`, the busiest rank's instruction count per round. Choosing a
metric puts its rounds where the analysis reads rounds, once, as files are read (analysis.load.load_runs), so that
compare, trend, nightly and the report judge it with the same statistics. What each can see:

- wall: everything the op costs, waits included; on a shared machine it also carries every other process's noise.
- cpu: the work the rank's own threads did; blind to waiting on a slow peer, a disk or a descheduled core, and to
  work in other processes (DCP's process-based async_save), so a slowdown made of waiting does not show in it.
- instructions: what the rank's threads executed, counted by callgrind; blind to everything cpu is blind to and to
  cache misses, memory bandwidth and the speed of each instruction; the op's code path only, but that exactly.
"""

from __future__ import annotations

from typing import Any

METRICS = {"wall": ("round_times_s", "stats"), "cpu": ("round_cpu_s", "cpu_stats"),
           "instructions": ("round_instructions", "instructions_stats")}
"""metric -> (the record's rounds, its summary statistics)."""
DEFAULT_METRIC = "wall"
DESCRIPTIONS = {"wall": "wall time", "cpu": "CPU time (user + system, all threads of the rank)",
                "instructions": "instructions counted by callgrind (the busiest rank's; shown in place of seconds)"}
DISPLAY_UNITS = {"wall": ("ms", 1e3), "cpu": ("ms", 1e3), "instructions": ("M instr", 1e-6)}
"""metric -> (the unit tables show its per-round values in, the factor from the record's unit: seconds or counts)."""


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")
    return metric


def select_metric(path: Any, data: dict[str, Any], metric: str, records: list[dict[str, Any]]) -> None:
    """Puts `metric`'s rounds into each timed record's round_times_s (and its statistics into stats), in place;
    raises ValueError naming the first record that lacks them. The run says which metric it now holds."""
    check_metric(metric)
    data["run"]["metric"] = metric
    if metric == DEFAULT_METRIC:
        return
    rounds_field, stats_field = METRICS[metric]
    for record in records:
        if not record.get("round_times_s"):
            continue  # untimed: nothing to replace
        values = record.get(rounds_field)
        if not isinstance(values, list) or len(values) != len(record["round_times_s"]):
            raise ValueError(f"{path}: case {record.get('case_id')} has no {metric} per round ({rounds_field}): "
                             + ("the run was not made with --metric instructions" if metric == "instructions"
                                else "it was written before the suite recorded it") + "; use --metric wall")
        record["round_times_s"] = values
        record["stats"] = record.get(stats_field) or record.get("stats")
