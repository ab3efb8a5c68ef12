"""Compare mode's sequential design: after each pass from the second, the cases whose time interval already lies
inside the threshold band are settled (verdict unchanged) and left out of the passes that follow, which then spend
their time on the undecided ones.

Why the error rate still holds (docs/statistics.md, "Settling cases early"): a case is only ever stopped for being
unchanged, never flagged early, and at the end a settled case enters the family with p = 1 (analysis.settled), so
the family's Holm correction is applied to p-values no smaller than those of a fixed design of the same passes;
Holm is monotone, so it flags no more than it would there. A case with a real change beyond the band is settled
only if its interval misses that change, which its 95% interval does at one look in under 2.5% of cases. A case with
no timed rounds settles once both sides have given it the same statuses twice: further passes would add nothing.
This module runs in the driver: it needs the analysis package, not torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from analysis.compare import MEMORY_METRICS
from analysis.settled import read_settled, write_settled
from bench.compare.plan import compare_passes

SETTLE_FROM_PASS = 2
"""The first pass after which cases may settle: the paired design needs two passes for a spread."""
CONTINUING_FILE = "continuing.json"
"""The case ids the next pass runs (its sides' --only-cases)."""
FLAGS = ("regression", "improvement")


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


def settle_after_pass(folder: Path, done: int, metric: str, threshold: float) -> tuple[list[str], str]:
    """Judges the complete passes, settles what can be, writes settled.json and the next pass's case list:
    (the ids that continue, a line saying how many settled)."""
    if done < SETTLE_FROM_PASS:
        return [], ""
    comparison, _ = compare_passes(folder, metric, threshold)
    _, settled = read_settled(folder)
    new = newly_settled(comparison.cases, settled)
    settled |= {case: done for case in new}
    write_settled(folder, metric, settled)
    continuing = sorted(set(comparison.cases["case"]) - set(settled))
    (folder / CONTINUING_FILE).write_text(json.dumps(continuing, indent=1) + "\n")
    return continuing, (f"after pass {done}: {len(new)} more case(s) settled unchanged ({len(settled)} in all); "
                        f"{len(continuing)} continue")
