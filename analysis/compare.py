"""Compare two sets of runs case by case: for time and for each rank's peak memory, a run-level test
(analysis.run_tests), its interval, its minimum detectable effect, and one verdict; statuses beside.

One error budget: every test that can flag (time per case, host and device memory per case) is one member of one
family, corrected together (Holm by default: the chance of any false flag in the whole comparison is at most alpha).
A case's memory test is its most significant rank's, Bonferroni-corrected for the ranks it was chosen from.

Verdicts of a test:
- regression / improvement: beyond the threshold (and, for memory, by 1 MiB or more) and significant after the
  family's correction;
- unchanged: the case's 95% interval lies inside the threshold band (1/(1+t), 1+t): a change beyond the threshold is
  ruled out;
- inconclusive: anything else; `why` says what (one run a side, no spread, an interval wider than the band).
Statuses come first: `new failure` (ok before, error or timeout now) and `fixed` (the reverse) are flagged;
`known failure` (the same failing statuses on both sides) is not; other status changes are shown, not flagged. The
time test is made and shown whatever the status verdict, on the runs that were ok.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from analysis.case_samples import CASE_FIELDS, MEMORY_METRICS, CaseSide, case_sides, memory_bytes
from analysis.comparability import comparability_warnings
from analysis.metrics import DEFAULT_METRIC
from analysis.compare_summary import summarize
from analysis.verdicts import FLAGGING_STATUS_VERDICTS, TEST_VERDICTS, VERDICTS  # noqa: F401 (their home)
from analysis.settled import settled_for
from analysis.run_tests import Prior, RunTest, choose_design, raw_variances, run_test, within_scales
from analysis.stats import CONFIDENCE, CORRECTIONS, geometric_mean, mde, scaled_moderation_prior
from bench.results.schema import XFAIL

ALPHA = 0.05
# Memory peaks of small ops are a few pages; a change smaller than this is noise in the allocator, whatever the ratio.
MIN_MEMORY_CHANGE_BYTES = 2**20
# Statuses that mean the case does not work; xfail: a known torch bug (analysis.load's counted_status), so that a
# case failing on both sides is a known failure, and one whose bug no longer reproduces is fixed.
FAILED_STATUSES = {"error", "timeout", XFAIL}


@dataclass(frozen=True, kw_only=True)
class CompareSettings:
    threshold: float = 0.05
    """Smallest relative change that counts: NEW/BASE above 1 + threshold or below 1 / (1 + threshold)."""
    correction: str = "holm"
    """holm (family-wise error) or bh (false discovery rate: a list of leads), over the whole family of tests."""
    alpha: float = ALPHA
    """Error rate of the family: the chance of any false flag (holm) or the expected share of false ones (bh)."""
    settled: Mapping[str, int] = field(default_factory=dict)
    """Cases a sequential compare stopped early, unchanged (analysis.settled): case -> the pass after which."""
    decided: Mapping[str, int] = field(default_factory=dict)
    """Cases a sequential compare flagged at an interim look and stopped: case -> the pass after which."""
    early_alpha: float = 0.0
    """The part of alpha a sequential compare set aside for its early decisions: the final correction uses the
    rest (docs/statistics.md, "Stopping cases early")."""

    @property
    def final_alpha(self) -> float:
        return self.alpha - self.early_alpha

    def __post_init__(self) -> None:
        if not 0 <= self.threshold < 10:
            raise ValueError(f"threshold {self.threshold!r} must be a fraction between 0 and 10 (5% is 0.05)")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction {self.correction!r} must be one of {', '.join(CORRECTIONS)}")
        if not 0 <= self.early_alpha < self.alpha:
            raise ValueError(f"early_alpha {self.early_alpha!r} must lie in [0, alpha)")


@dataclass
class Comparison:
    cases: pd.DataFrame
    """A row per case: status verdict, time test (medians, ratio, interval, p, MDE, verdict), memory columns."""
    settings: CompareSettings
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged_regressions(self) -> pd.DataFrame:
        """What sets the exit code: time or memory regressions, new failures and fixes of known failures."""
        flagged = (self.cases["time_verdict"] == "regression").to_numpy() | self.cases["verdict"].isin(
            FLAGGING_STATUS_VERDICTS).to_numpy()
        for metric in MEMORY_METRICS:
            flagged |= (self.cases[f"{metric}_verdict"] == "regression").to_numpy()
        return self.cases[flagged]


def status_verdict(base: CaseSide | None, new: CaseSide | None) -> str | None:
    if base is None or new is None:
        return "new" if base is None else "missing"
    failed_b, failed_n = bool(FAILED_STATUSES & set(base.statuses)), bool(FAILED_STATUSES & set(new.statuses))
    if base.statuses == new.statuses:
        return "known failure" if set(base.statuses) <= FAILED_STATUSES else None
    if failed_n and not failed_b:
        return "new failure"
    if failed_b and not failed_n and "ok" in new.statuses:
        return "fixed"
    return "status changed"


@dataclass
class _Item:
    """One test to make: a case's time, or one rank's peak of a memory metric."""
    case: str
    metric: str
    rank: int | None
    base: Any
    new: Any
    design: str = ""
    result: RunTest | None = None


def _items(pairs: dict[str, tuple[CaseSide, CaseSide]]) -> list[_Item]:
    items = []
    for case, (b, n) in pairs.items():
        if b.time.values and n.time.values:
            items.append(_Item(case, "time", None, b.time, n.time))
        for metric in MEMORY_METRICS:
            for rank in sorted(set(b.memory[metric]) & set(n.memory[metric])):
                items.append(_Item(case, metric, rank, b.memory[metric][rank], n.memory[metric][rank]))
    return items


def _run_tests(items: list[_Item]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each item tested with its (metric, design)'s moderation prior; a memory metric's ranks combined per case."""
    pooled: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for item in items:
        item.design = choose_design(item.base, item.new)
        raw = raw_variances(item.design, item.base, item.new)
        scales = within_scales(item.design, item.base, item.new)
        pooled.setdefault((item.metric, item.design), []).extend((v, d, w) for (v, d), w in zip(raw, scales))
    priors = {key: Prior(*scaled_moderation_prior(*zip(*pairs))) if pairs else Prior(0.0, 0.0)
              for key, pairs in pooled.items()}
    grouped: dict[tuple[str, str], list[_Item]] = {}
    for item in items:
        item.result = run_test(item.design, item.base, item.new, priors[(item.metric, item.design)])
        grouped.setdefault((item.case, item.metric), []).append(item)
    return {key: _combine(members) for key, members in grouped.items()}


def _combine(members: list[_Item]) -> dict[str, Any]:
    """The case's test of a metric: its one item (time), or its most significant rank, p times the ranks tested."""
    testable = [m for m in members if m.result.testable]
    chosen = min(testable, key=lambda m: m.result.p) if testable else max(
        members, key=lambda m: abs(m.result.estimate) if math.isfinite(m.result.estimate) else -1)
    p = min(1.0, chosen.result.p * len(testable)) if testable else math.nan
    return {"item": chosen, "p": p, "members": [m.result for m in members]}


def _raw_median(samples, metric: str) -> float:
    values = list(samples.values.values())
    if metric == "time":
        return geometric_mean([math.exp(v) for v in values])
    return memory_bytes(float(np.median(values)))


def _judge(tested: dict[str, Any], metric: str, p_adj: float, alpha_per_test: float,
           settings: CompareSettings) -> dict[str, Any]:
    item: _Item = tested["item"]
    result = item.result
    base, new = _raw_median(item.base, metric), _raw_median(item.new, metric)
    if metric == "time":
        ratio = math.exp(result.estimate) if math.isfinite(result.estimate) else math.nan
    else:
        ratio = new / base if base > 0 else (math.inf if new > 0 else 1.0)
    band = math.log1p(settings.threshold)
    low, high = result.interval()
    direction = 1 if ratio > 1 + settings.threshold else -1 if ratio < 1 / (1 + settings.threshold) else 0
    if metric != "time" and abs(new - base) < MIN_MEMORY_CHANGE_BYTES:
        direction = 0
    in_band = all(-band < lo and hi < band for lo, hi in (r.interval() for r in tested["members"]))
    if not result.testable and result.design != "none" and result.estimate == 0:
        verdict, why = "unchanged", ""  # every run of both sides the same figure
    elif not result.testable:
        verdict, why = "inconclusive", ("one run a side: the spread between processes is unknown"
                                        if result.design == "none" else "no spread between runs to judge by")
    elif direction and p_adj < settings.final_alpha:
        verdict, why = ("regression" if direction > 0 else "improvement"), ""
    elif in_band:
        verdict, why = "unchanged", ""
    else:
        verdict, why = "inconclusive", f"the {CONFIDENCE:.0%} interval reaches beyond ±{settings.threshold:.0%}"
    exp = math.exp if metric == "time" else (lambda v: v)  # memory intervals stay on their log(bytes + 1 MiB) scale
    return {"base": base, "new": new, "ratio": ratio, "ci_low": exp(low), "ci_high": exp(high), "p": tested["p"],
            "p_adj": p_adj, "mde": mde(result.std_error, result.df, alpha_per_test, settings.threshold),
            "std_error": result.std_error, "df": result.df,
            "design": result.design, "verdict": verdict, "why": why, "rank": item.rank}


def compare_frames(base: pd.DataFrame, new: pd.DataFrame, settings: CompareSettings | None = None) -> Comparison:
    return compare_sides(case_sides(base), case_sides(new), settings)


def compare_sides(base_cases: dict[str, CaseSide], new_cases: dict[str, CaseSide],
                  settings: CompareSettings | None = None) -> Comparison:
    """The comparison of cases already summarised per side (analysis.case_samples)."""
    settings = settings or CompareSettings()
    rows: dict[str, dict[str, Any]] = {}
    for case in sorted(set(base_cases) | set(new_cases)):
        b, n = base_cases.get(case), new_cases.get(case)
        rows[case] = {"case": case, **(n or b).fields, "status_verdict": status_verdict(b, n),
                      "base_status": "/".join(b.statuses) if b else "", "base_runs": b.runs if b else 0,
                      "new_status": "/".join(n.statuses) if n else "", "new_runs": n.runs if n else 0,
                      "base_rounds": b.rounds if b else 0, "new_rounds": n.rounds if n else 0}
    pairs = {c: (base_cases[c], new_cases[c]) for c in rows if c in base_cases and c in new_cases}
    tested = _run_tests(_items(pairs))
    family = [key for key, t in tested.items() if math.isfinite(t["p"])]
    # A settled case stays in the family with p = 1: it cannot flag, and the others' corrections stay what a fixed
    # design of this many tests would give them. A decided case's time test was flagged at an interim look, at its
    # share of early_alpha: it stays flagged (p = 0, rejected first), whatever the final prior makes of its passes.
    p_values = [1.0 if k[0] in settings.settled else
                0.0 if k[0] in settings.decided and k[1] == "time" else tested[k]["p"] for k in family]
    adjusted = dict(zip(family, CORRECTIONS[settings.correction](p_values)))
    alpha_per_test = settings.final_alpha / max(1, len(family))  # Bonferroni: Holm's first step, the MDE's level
    for (case, metric), t in tested.items():
        judged = _judge(t, metric, adjusted.get((case, metric), math.nan), alpha_per_test, settings)
        if metric == "time" and case in settings.settled:
            judged.update(verdict="unchanged", why=f"settled after pass {settings.settled[case]}: its interval lay "
                                                   f"inside ±{settings.threshold:.0%}")
        elif metric == "time" and case in settings.decided:
            stop = f"decided after pass {settings.decided[case]}"  # flagged early; its verdict is its test's
            judged["why"] = f"{judged['why']}; {stop}" if judged["why"] else stop
        if metric == "time":
            judged.pop("rank")
            rows[case].update({"base_median_s": judged.pop("base"), "new_median_s": judged.pop("new"),
                               "time_verdict": judged.pop("verdict"), **judged})
        else:
            rows[case].update({f"{metric}_{key}": value for key, value in judged.items()})
    frame = _frame(rows)
    comparison = Comparison(frame, settings)
    comparison.summary = summarize(comparison, family_size=len(family))
    comparison.summary["alpha_per_test"] = alpha_per_test
    return comparison


COLUMNS = ("case", *CASE_FIELDS, "verdict", "status_verdict", "time_verdict", "why", "base_status", "new_status",
           "base_runs", "new_runs", "design", "ratio", "p", "p_adj", "mde", "base_median_s", "new_median_s", "ci_low",
           "ci_high", *(f"{m}_{s}" for m in MEMORY_METRICS for s in ("base", "new", "ratio", "p_adj", "mde", "rank",
                                                                      "verdict", "why", "design")))


def _frame(rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows.values()))
    for column in COLUMNS:  # every column present even where no case had it (nothing timed, no case at all)
        if column not in frame:
            frame[column] = math.nan
    # the case's verdict: its status verdict where it has one, else its time test's (none timed: unchanged)
    frame["verdict"] = frame["status_verdict"].where(frame["status_verdict"].notna(),
                                                     frame["time_verdict"]).fillna("unchanged")
    return frame


def compare_runs(base: list[tuple[Path, dict[str, Any]]], new: list[tuple[Path, dict[str, Any]]],
                 settings: CompareSettings | None = None) -> Comparison:
    """compare_frames over runs already read (analysis.load.load_runs), with the warnings of what makes the two
    sides not comparable in `summary["comparability_warnings"]`."""
    from analysis.load import frame_of_runs

    metric = next((data["run"].get("metric") for _, data in base + new), DEFAULT_METRIC)
    record, warning = settled_for([path for path, _ in base + new], metric)
    settings = dataclasses.replace(settings or CompareSettings(), settled=record.settled, decided=record.decided,
                                   early_alpha=record.early_alpha)
    comparison = compare_frames(frame_of_runs(base), frame_of_runs(new), settings)
    comparison.summary["comparability_warnings"] = comparability_warnings(base, new) + ([warning] if warning else [])
    comparison.summary["metric"] = metric
    comparison.summary["settled"] = len(record.settled)
    comparison.summary["decided"] = len(record.decided)
    return comparison
