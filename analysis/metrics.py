"""Which per-round measurement the analysis judges: wall time (the default), CPU time, or instructions.

The metrics, their record fields, what each can see and how tables show it are bench/metrics's (one module per
metric). Choosing a metric puts its rounds where the analysis reads rounds, once, as files are read
(analysis.load.load_runs), so that compare, trend, nightly and the report judge it with the same statistics.
"""

from __future__ import annotations

from typing import Any

from bench.metrics import DEFAULT as DEFAULT_METRIC, JUDGED, check_judged

METRICS = {name: (metric.round_field, metric.stats_field) for name, metric in JUDGED.items()}
"""metric -> (the record's rounds, its summary statistics)."""
DESCRIPTIONS = {name: metric.description for name, metric in JUDGED.items()}
DISPLAY_UNITS = {name: metric.display for name, metric in JUDGED.items()}
"""metric -> (the unit tables show its per-round values in, the factor from the record's unit: seconds or counts)."""


def check_metric(metric: str) -> str:
    return check_judged(metric).name


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
                             f"{JUDGED[metric].missing_hint}; use --metric {DEFAULT_METRIC}")
        record["round_times_s"] = values
        record["stats"] = record.get(stats_field) or record.get("stats")
