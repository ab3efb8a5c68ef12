"""How many passes a compare runs: a fixed count, as many as fit a time budget (bench/compare/run.py: another pass
while the next, judged by the last one and the cases that continue, fits), or as many as a target minimum
detectable effect needs (an internal pilot).

The target rule re-estimates the pass count from the passes done so far, from each case's standard error alone
(never from its difference between the sides): after pass k (k >= 2, the first with a spread between passes), each
timed case's standard error is scaled to n passes (SE x sqrt(k / n), one more degree of freedom per pass), and the
count is the smallest n at which TARGET_QUANTILE of the cases have an MDE at or below the target. A case already
stopped early (bench/compare/settle.py: settled, its interval inside the threshold band, or decided, flagged) counts
as reached: its question is answered, and it gets no further passes to predict from. Because the count
depends on the spread and not on the effect, the comparison at the end keeps the error rate of a fixed design,
as Wittes & Brittain's internal pilot does (Stat. Med. 1990); cases decided early are compare_settle's, with their
own share of alpha. The budget, if any, caps the count.
This module runs in the driver: it needs the analysis package, not torch.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.compare.args import PASS_GLOB

TARGET_QUANTILE = 0.9
"""The share of the timed cases that must reach the target MDE."""


def predicted_mde(std_error: float, df: float, passes_done: int, passes: int, alpha_per_test: float,
                  threshold: float) -> float:
    from analysis.stats import mde

    if not (math.isfinite(std_error) and std_error > 0):
        return math.inf
    return mde(std_error * math.sqrt(passes_done / passes), df + (passes - passes_done), alpha_per_test, threshold)


def _reached(cases: list[tuple[float, float]], passes_done: int, passes: int, target: float, alpha_per_test: float,
             threshold: float) -> int:
    """How many of the cases ((standard error, df) after passes_done) would have an MDE <= target at `passes`."""
    return sum(predicted_mde(se, df, passes_done, passes, alpha_per_test, threshold) <= target for se, df in cases)


def passes_for_target(std_errors: list[float], dfs: list[float], passes_done: int, target: float,
                      alpha_per_test: float, threshold: float, cap: int,
                      quantile: float = TARGET_QUANTILE, stopped: int = 0) -> int:
    """The smallest pass count (passes_done..cap) at which `quantile` of the cases (the open ones given by their
    standard errors and dfs, and `stopped` ones, stopped early, that count as reached) reach an MDE <= target; cap where
    none does."""
    testable = [(se, df) for se, df in zip(std_errors, dfs) if math.isfinite(se) and se > 0]
    needed = math.ceil(quantile * (len(testable) + stopped)) - stopped
    if needed <= 0:
        return max(passes_done, 2)
    if not testable:
        return cap
    for passes in range(max(passes_done, 2), cap + 1):
        if _reached(testable, passes_done, passes, target, alpha_per_test, threshold) >= needed:
            return passes
    return cap


def compare_passes(folder: Path, metric: str, threshold: float):
    """analysis compare of the complete passes in a compare's folder, side A against side B on `metric`:
    (the Comparison, how many passes)."""
    from analysis.compare import CompareSettings, compare_runs
    from analysis.load import load_runs

    base, new = (load_runs([str(folder / PASS_GLOB / f"{side}.json")], metric) for side in ("a", "b"))
    return compare_runs(base, new, CompareSettings(threshold=threshold)), len(base)


def target_passes(folder: Path, passes_done: int, target: float, threshold: float, metric: str,
                  cap: int) -> tuple[int, str]:
    """The pass count the target needs, judged from the complete passes in `folder`, and a line saying why."""
    from analysis.settled import read_settled

    comparison, _ = compare_passes(folder, metric, threshold)
    timed = comparison.cases[comparison.cases["time_verdict"].notna()]
    cases = timed[~timed["case"].isin(read_settled(folder).stopped)]
    decided = len(timed) - len(cases)
    alpha = comparison.summary["alpha_per_test"]
    std_errors, dfs = list(cases["std_error"].astype(float)), list(cases["df"].astype(float))
    passes = passes_for_target(std_errors, dfs, passes_done, target, alpha, threshold, cap, stopped=decided)
    reach = _reached(list(zip(std_errors, dfs)), passes_done, passes, target, alpha, threshold) + decided
    return passes, (f"after {passes_done} passes: {passes} passes would bring {reach} of {len(timed)} timed cases "
                    f"({decided} stopped early) to an MDE of {target:.0%} or less (the aim: {TARGET_QUANTILE:.0%} of "
                    f"them; at most {cap})")
