"""What a metric is: how a rank measures it around the op, which record fields hold it, how analysis shows it.

Pure Python, no torch: the pytest process, the ranks, the result schema and analysis all read these declarations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class Meter(Protocol):
    """Reads a metric around one timed op in a rank: start() just before t0, stop() just after t1 (their own cost
    stays outside the wall time)."""

    def start(self) -> None: ...

    def stop(self) -> Any:
        """The op's value: a number, a {counter: number} dict, or None where it cannot be read."""


@dataclass(frozen=True, kw_only=True)
class Metric:
    name: str
    """The metric's name on command lines (--metric NAME) and in analysis."""
    description: str
    """What it measures, in a phrase."""
    reply_key: str
    """The rank's per-round list of values in its reply (bench/rank/measure.py, bench/rank/main.py)."""
    fields: dict[str, tuple[str, str]]
    """The record fields it fills, name -> (unit, meaning); bench/results/schema.py describes them from here."""
    counters: bool = False
    """Each round's value is a {counter: number} dict, kept in the metric's one field as {counter: rounds x ranks},
    instead of one number."""
    rank_field: str = ""
    """A number per round: the record's rounds x ranks."""
    round_field: str = ""
    """A number per round: the record's value per round, its slowest (or busiest) rank's."""
    stats_field: str = ""
    """A number per round: the record's summary of round_field (bench/results/stats.py)."""
    always: bool = True
    """Recorded by every run (its fields start empty); False: only in its own mode (its fields start null)."""
    meter: Callable[[], Meter] | None = None
    """Makes the rank's meter; None for wall time, which the round loop's own clock measures."""
    display: tuple[str, float] | None = None
    """Judged metrics: (the unit tables show a round in, the factor from the record's unit); None: not judged."""
    column: str = ""
    """The summary table's column of its median (empty: no column)."""
    column_note: str = ""
    """The summary's line that says what the column holds."""
    missing_hint: str = "it was written before the suite recorded it"
    """Why a file may lack it: said when analysis is asked to judge a file by it."""

    @property
    def judged(self) -> bool:
        return self.display is not None

    def empty_fields(self) -> dict[str, Any]:
        """Its fields in a record before (or without) measured rounds."""
        if self.counters:
            return {name: {} for name in self.fields}
        empty = [] if self.always else None
        return {self.rank_field: empty, self.round_field: empty, self.stats_field: None}
