"""The parts of a case's record that take its rounds apart: phases per rank, whether they add up to the whole,
and host memory growth across repeated saves."""

from __future__ import annotations

import statistics
from typing import Any

PHASES_ADD_UP_TOLERANCE = 0.05
"""Phases are contiguous spans, so per rank they should cover its round time but for the clock reads between
them; a gap beyond 5% would mean time the instrumentation does not see."""


def by_name(per_rank_rounds: list[list[dict[str, float]]]) -> dict[str, list[list[float | None]]]:
    """Each rank's per-round {name: seconds} -> {name: rounds x ranks}."""
    names = sorted({name for rounds in per_rank_rounds for parts in rounds for name in parts})
    if not per_rank_rounds or not names:
        return {}
    count = len(per_rank_rounds[0])
    return {name: [[rounds[i].get(name) for rounds in per_rank_rounds] for i in range(count)] for name in names}


def medians_of_slowest(table: dict[str, list[list[float | None]]]) -> dict[str, float]:
    """{name: median over rounds of the slowest rank's seconds}, the same reduction as a round's time."""
    result = {}
    for name, rows in table.items():
        slowest = [max(v for v in row if v is not None) for row in rows if any(v is not None for v in row)]
        if slowest:
            result[name] = statistics.median(slowest)
    return result


def coverage(phases: dict[str, list[list[float | None]]], rank_times: list[list[float]]) -> list[float] | None:
    """Per rank, the median over rounds of (sum of its phases / its round time)."""
    if not phases or not rank_times:
        return None
    ranks = len(rank_times[0])
    result = []
    for rank in range(ranks):
        ratios = [sum(rows[i][rank] or 0.0 for rows in phases.values()) / rank_times[i][rank]
                  for i in range(len(rank_times)) if rank_times[i][rank] > 0]
        result.append(statistics.median(ratios) if ratios else 0.0)
    return result


def growth_per_round(values: list[int | None], op_runs: list[int] | None = None) -> float | None:
    """Least-squares slope of one rank's RSS after each round against how many times the op had run then (bytes
    per run of the op; by default the rounds are consecutive); None with fewer than 2 readings."""
    xs = op_runs if op_runs and len(op_runs) == len(values) else range(len(values))
    points = [(x, v) for x, v in zip(xs, values) if v is not None]
    if len(points) < 2:
        return None
    return statistics.linear_regression([x for x, _ in points], [y for _, y in points]).slope


def phase_fields(op: str, replies: list[dict[str, Any]], rank_times: list[list[float]]) -> dict[str, Any]:
    """The record's phase and repeated-save fields from the ranks' replies of an `ok` case."""
    phases = by_name([reply.get("phases_s") or [] for reply in replies])
    details = by_name([reply.get("details_s") or [] for reply in replies])
    cover = coverage(phases, rank_times)
    rss_rows = [list(row) for row in zip(*(reply.get("rss_after_round_bytes") or [] for reply in replies))]
    fields: dict[str, Any] = {
        "phases_s": phases, "phase_details_s": details,
        "phase_medians_s": medians_of_slowest(phases), "phase_detail_medians_s": medians_of_slowest(details),
        "phases_cover": cover,
        "phases_add_up": None if cover is None else all(abs(c - 1.0) <= PHASES_ADD_UP_TOLERANCE for c in cover),
        "rss_after_round_bytes": rss_rows,
        "rss_growth_per_save_bytes": None,
    }
    if op in ("save", "async_save"):
        op_runs = replies[0].get("op_runs_before_round")  # the same on every rank: they agree on each round
        fields["rss_growth_per_save_bytes"] = [growth_per_round([row[r] for row in rss_rows], op_runs)
                                               for r in range(len(replies))]
    if op == "async_save":
        fields["blocking_median_s"] = fields["phase_medians_s"].get("blocking")
        fields["staging_median_s"] = fields["phase_detail_medians_s"].get("staging")
    return fields
