"""Where a run's wall time went: the parts the suite measures, and what is left (pytest and everything unnamed).

The run's wall time is the pytest process's age when the result file's run info is built (from the process's start
time in /proc, so interpreter start, imports and collection count). Parts, in the order a case meets them:

- startup: process start to the benchmark session (interpreter, imports, pytest's collection);
- run_info_and_ceilings: the machine's description and its disk and copy ceilings, once per run;
- world_starts: starting worlds of ranks (first use of a mesh, and again after a failed case);
- source_checkpoints: saving the checkpoints that resharding loads read, once per model and mesh;
- setup, warmup, round_preparation, timed, memory_round, checks: the ranks' own time in a case (rank 0's spans,
  bench/rank/measure.py): `timed` is the sum of the measured rounds' t0..t1 of the slowest rank, round_preparation the
  rest of the measured rounds (untimed preparation, gc, barrier, the all-reduce of the round's time);
- cleanup: collecting what the case left, once it is released (bench/rank/measure.py freeze_persistent);
- rank_other: the rank's time in a case outside the spans above (a failed case's whole time, mostly);
- other_side: compare mode only, waiting while the other side has the turn: the ranks' wait between their blocks
  of rounds, and the parent's wait for the turn before each case (the other side's case runs meanwhile);
- messaging: the parent's wait for a case beyond rank 0's own time in it (sending the case and the replies, a
  timed-out case's wait);
- case_bookkeeping: the parent's work around a case (memory check, folders, the record);
- writing_results: rewriting the result file after each case (the final write comes after this table is made);
- closing_worlds: stopping the worlds at the end;
- unexplained: the run's wall time less all of the above (pytest's own hooks, the progress lines).
"""

from __future__ import annotations

import os
from typing import Any

PARTS = ("startup", "run_info_and_ceilings", "world_starts", "source_checkpoints", "setup", "warmup",
         "round_preparation", "timed", "memory_round", "checks", "cleanup", "rank_other", "other_side", "messaging",
         "case_bookkeeping", "writing_results", "closing_worlds")
RANK_SPANS = ("setup", "warmup", "rounds", "timed", "memory_round", "checks", "other_side")
UNEXPLAINED_LIMIT = 0.05
"""The share of the wall time the table may leave unexplained (issue 13)."""


def process_age_s() -> float | None:
    """Seconds since this process started, from /proc (clock ticks since boot); None where /proc cannot tell."""
    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as uptime:
            up_s = float(uptime.read().split()[0])
        return up_s - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat, the 20th after the name
    except (OSError, ValueError, IndexError):
        return None


class WallAccount:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(PARTS, 0.0)

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] += max(0.0, seconds)

    def add_rank_reply(self, reply: dict[str, Any] | None) -> float:
        """One case's reply of rank 0 (bench/rank/main.py answer_case); returns the rank's seconds in the case, the part
        of the parent's wait that the rank explains."""
        if not reply or "rank_case_s" not in reply:
            return 0.0
        spans = reply.get("spans_s") or {}
        known = {name: float(spans.get(name, 0.0)) for name in RANK_SPANS}
        for name in ("setup", "warmup", "timed", "memory_round", "checks", "other_side"):
            self.add(name, known[name])
        self.add("round_preparation", known["rounds"] - known["timed"])
        self.add("cleanup", reply.get("cleanup_s") or 0.0)
        spanned = sum(known[name] for name in RANK_SPANS if name != "timed") + (reply.get("cleanup_s") or 0.0)
        self.add("rank_other", reply["rank_case_s"] - spanned)
        return reply["rank_case_s"]

    def total(self) -> float:
        return sum(self.seconds.values())

    def table(self, wall_s: float, **counted_elsewhere: float) -> dict[str, Any]:
        """`counted_elsewhere`: parts whose totals others keep (the pool's world starts, the writer's writes)."""
        parts = {**self.seconds, **counted_elsewhere}
        unexplained = wall_s - sum(parts.values())
        return {"wall_s": wall_s, "parts_s": parts, "unexplained_s": unexplained,
                "unexplained_fraction": unexplained / wall_s if wall_s > 0 else None,
                "limit_fraction": UNEXPLAINED_LIMIT}


def format_table(table: dict[str, Any]) -> list[str]:
    """The summary's lines: each part's seconds and share of the wall time, largest first, unexplained last."""
    wall = table.get("wall_s") or 0.0
    if wall <= 0:
        return []
    parts = sorted(((s, name) for name, s in (table.get("parts_s") or {}).items() if s > 0), reverse=True)
    lines = [f"where the wall time went ({wall:.0f} s from the pytest process's start):"]
    lines += [f"  {name.replace('_', ' '):<24} {seconds:8.1f} s {100 * seconds / wall:5.1f}%"
              for seconds, name in parts]
    unexplained = table.get("unexplained_s", 0.0)
    lines.append(f"  {'unexplained':<24} {unexplained:8.1f} s {100 * unexplained / wall:5.1f}%")
    return lines
