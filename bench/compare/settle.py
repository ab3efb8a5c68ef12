"""Compare mode's sequential design: after each pass from the second, the cases already decided stop, and the passes
that follow spend their time on the undecided ones. A case is decided either way:
- settled: its time interval lies inside the threshold band (verdict unchanged);
- decided (from the look after pass 3): its time test is beyond the threshold and its raw p below this look's share
  of the early error budget, EARLY_ALPHA x 2^-(k-2) / N at the look after pass k (N: the tests of the family at
  that look), so that the looks together spend at most EARLY_ALPHA however many there are. Not after pass 2: with
  two passes the moderated test's far tail is not to be trusted (on the noise model, A/A compares then decided 2
  unchanged cases in 20 compares; from pass 3, none in 60).

Why the error rate still holds (docs/statistics.md, "Stopping cases early"): a false flag is either an early one,
which the looks' Bonferroni shares bound by EARLY_ALPHA in all, or one at the end, where the family's Holm correction
is made at alpha - EARLY_ALPHA on p-values no smaller than a fixed design's (a settled case enters with p = 1;
analysis.settled). Holm is monotone, and the p-values of decided cases (real changes, or the early false flags
already counted) do not raise the chance of flagging a case with no change, so the two parts add up to alpha. A
case with a real change beyond the band is settled only if its interval misses that change, which its 95% interval
does at one look in under 2.5% of cases. A case with no timed rounds settles once both sides have given it the same
statuses twice: further passes would add nothing. This module runs in the driver: it needs the analysis package,
not torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from analysis.compare import MEMORY_METRICS
from analysis.settled import Sequential, read_settled, write_settled
from bench.compare.plan import compare_passes

SETTLE_FROM_PASS = 2
"""The first pass after which cases may settle: the paired design needs two passes for a spread."""
CONTINUING_FILE = "continuing.json"
"""The case ids the next pass runs (its sides' --only-cases)."""
FLAGS = ("regression", "improvement")
EARLY_ALPHA = 0.01
"""The part of the family's alpha (0.05) that compare mode sets aside for flagging cases at interim looks."""


DECIDE_FROM_PASS = 3
"""The first pass after which a case may be decided (flagged and stopped)."""


def decision_level(done: int, family_size: int, early_alpha: float = EARLY_ALPHA) -> float:
    """The raw p below which a test is decided early at the look after pass `done`: that look's share of the early
    budget (a half at the first look that may decide, a quarter at the next, ...), split over the family's tests;
    0 before DECIDE_FROM_PASS."""
    if done < DECIDE_FROM_PASS:
        return 0.0
    return early_alpha * 2.0 ** -(done - DECIDE_FROM_PASS + 1) / max(1, family_size)


def newly_decided(cases, stopped: set[str], level: float, threshold: float) -> list[str]:
    """The timed cases of a comparison's table to flag and stop now: beyond the threshold, raw p below `level`."""
    beyond = (cases["ratio"] > 1 + threshold) | (cases["ratio"] < 1 / (1 + threshold))
    chosen = cases[cases["time_verdict"].notna() & beyond & (cases["p"] < level) & ~cases["case"].isin(stopped)]
    return sorted(chosen["case"])


def newly_settled(cases, already: dict[str, int]) -> list[str]:
    """The cases of a comparison's table to settle now: timed ones unchanged with no memory flag, untimed ones
    whose statuses were the same on both sides."""
    settle = []
    for _, row in cases.iterrows():
        if row["case"] in already or row["status_verdict"] in ("new failure", "fixed", "status changed", "new",
                                                               "missing"):
            continue
        memory_flag = any(row.get(f"{m}_verdict") in FLAGS for m in MEMORY_METRICS)
        timed = isinstance(row["time_verdict"], str)
        if (row["time_verdict"] == "unchanged" if timed else row["base_runs"] >= 2) and not memory_flag:
            settle.append(row["case"])
    return settle


def stop_at_look(cases, family_size: int, done: int, record: Sequential, threshold: float):
    """One look after pass `done`: (the cases to settle now, the cases to decide now, the look's decision level),
    given a comparison's case table and the cases stopped before."""
    settled = newly_settled(cases, record.settled | record.decided)
    level = decision_level(done, family_size, record.early_alpha)
    return settled, newly_decided(cases, record.stopped | set(settled), level, threshold), level


def settle_after_pass(folder: Path, done: int, metric: str, threshold: float) -> tuple[list[str], str]:
    """Judges the complete passes, stops what is decided, writes settled.json and the next pass's case list:
    (the ids that continue, a line saying how many stopped)."""
    if done < SETTLE_FROM_PASS:
        return [], ""
    comparison, _ = compare_passes(folder, metric, threshold)
    record = read_settled(folder)
    if record.metric is None:
        record = Sequential(metric=metric)
    if done >= DECIDE_FROM_PASS:  # a look that may decide: the early budget is set aside from here on
        record.early_alpha = EARLY_ALPHA
    settled, decided, level = stop_at_look(comparison.cases, comparison.summary["family_size"], done, record,
                                           threshold)
    record.settled |= {case: done for case in settled}
    record.decided |= {case: done for case in decided}
    write_settled(folder, record)
    continuing = sorted(set(comparison.cases["case"]) - record.stopped)
    (folder / CONTINUING_FILE).write_text(json.dumps(continuing, indent=1) + "\n")
    return continuing, (f"after pass {done}: {len(settled)} more case(s) settled unchanged ({len(record.settled)} "
                        f"in all), {len(decided)} decided early ({len(record.decided)} in all, at p < {level:.1e}); "
                        f"{len(continuing)} continue")
