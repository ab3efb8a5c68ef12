"""Compare two sets of runs case by case: ratio of medians, its interval, significance, a verdict per case.

A change is flagged only when it is both beyond the threshold and significant after correcting for the number of
cases compared (a matrix has hundreds; at p < 0.05 each, some would differ by chance alone).

The unit of a time test: with one run a side, the rounds (Mann-Whitney on round times, bootstrap interval of the
ratio of medians); with two or more runs on a side, the runs (a t-test on the logs of per-run medians), because the
rounds of one process share that process's speed and two processes of one build differ (stats.run_level_test).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.comparability import comparability_warnings
from analysis.stats import (
    CORRECTIONS,
    geometric_mean,
    mann_whitney_p,
    median_ratio_ci,
    run_level_test,
)

ALPHA = 0.05
# Memory peaks of small ops are a few pages; a change smaller than this is noise in the allocator, whatever the ratio.
MIN_MEMORY_CHANGE_BYTES = 2**20
VERDICTS = ("regression", "improvement", "unchanged", "not significant", "new", "missing", "status changed")
# Statuses that mean the case no longer works: going to one of these from ok fails the gate like a regression.
FAILED_STATUSES = {"error", "timeout"}
CASE_FIELDS = ("api", "op", "state_dict_type", "options_label", "model", "mesh", "world_size")
MEMORY_METRICS = {"peak_rss": "peak_rss_bytes", "peak_cuda": "peak_cuda_bytes"}


@dataclass(frozen=True, kw_only=True)
class CompareSettings:
    threshold: float = 0.05
    """Smallest relative change that counts: NEW/BASE above 1 + threshold or below 1 / (1 + threshold)."""
    correction: str = "holm"
    """holm (family-wise) or bh (false discovery rate), over all cases compared."""
    alpha: float = ALPHA
    """Significance level of the corrected p-values."""

    def __post_init__(self) -> None:
        if not 0 <= self.threshold < 10:
            raise ValueError(f"threshold {self.threshold!r} must be a fraction between 0 and 10 (5% is 0.05)")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction {self.correction!r} must be one of {', '.join(CORRECTIONS)}")


@dataclass
class Comparison:
    cases: pd.DataFrame
    """A row per case: medians, ratio, interval, p-values, verdict; memory columns beside."""
    settings: CompareSettings
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged_regressions(self) -> pd.DataFrame:
        memory = np.zeros(len(self.cases), dtype=bool)
        for metric in MEMORY_METRICS:
            memory |= (self.cases[f"{metric}_verdict"] == "regression").to_numpy()
        return self.cases[(self.cases["verdict"] == "regression") | memory | self.cases["status_failed"]]


def _pooled(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per case: every run's round times pooled, each rank's memory peak in each run, the statuses seen."""
    pooled: dict[str, dict[str, Any]] = {}
    for case, rows in frame.groupby("case", sort=True):
        ok = rows[rows["status"] == "ok"]
        entry = {name: rows.iloc[0].get(name) for name in CASE_FIELDS}
        entry["statuses"] = sorted(set(rows["status"]))
        entry["runs"] = len(rows)
        entry["times"] = [t for times in ok["round_times_s"] for t in times]
        entry["run_medians"] = [float(np.median(times)) for times in ok["round_times_s"] if len(times)]
        for metric, column in MEMORY_METRICS.items():
            values = ok[column] if column in ok else []
            entry[metric] = [v for per_rank in values if isinstance(per_rank, list) for v in per_rank if v is not None]
        pooled[str(case)] = entry
    return pooled


def _beyond(ratio: float, threshold: float) -> int:
    """+1 above the threshold, -1 below its inverse, 0 within."""
    if not math.isfinite(ratio):
        return 1 if ratio == math.inf else 0
    return 1 if ratio > 1 + threshold else -1 if ratio < 1 / (1 + threshold) else 0


def _verdict(direction: int, p_adjusted: float, settings: CompareSettings) -> str:
    if direction == 0:
        return "unchanged"
    if p_adjusted >= settings.alpha:
        return "not significant"
    return "regression" if direction > 0 else "improvement"


def _round_test(base: list[float], new: list[float]) -> dict[str, Any]:
    """The rounds (or per-rank memory peaks) of all runs pooled, each one sample."""
    ratio, low, high = median_ratio_ci(base, new)
    return {"base": float(np.median(base)), "new": float(np.median(new)), "ratio": ratio, "ci_low": low,
            "ci_high": high, "p": mann_whitney_p(base, new), "unit": "round"}


def _run_test(base_run_medians: list[float], new_run_medians: list[float]) -> dict[str, Any]:
    """Each run one sample: its median round time. base/new are the geometric means of the run medians."""
    ratio, low, high, p = run_level_test(base_run_medians, new_run_medians)
    return {"base": geometric_mean(base_run_medians), "new": geometric_mean(new_run_medians), "ratio": ratio,
            "ci_low": low, "ci_high": high, "p": p, "unit": "run"}


def _time_test(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    if max(len(base["run_medians"]), len(new["run_medians"])) >= 2:
        return _run_test(base["run_medians"], new["run_medians"])
    return _round_test(base["times"], new["times"])


def _judge(tested: dict[str, dict[str, Any]], settings: CompareSettings, prefix: str,
           min_change: float = 0.0) -> dict[str, dict[str, Any]]:
    """Corrected p and verdict for every tested case (a _round_test or _run_test result), columns named with
    `prefix`."""
    cases = list(tested)
    adjusted = CORRECTIONS[settings.correction]([tested[c]["p"] for c in cases])
    out: dict[str, dict[str, Any]] = {}
    for case, p_adjusted in zip(cases, adjusted):
        row = tested[case]
        direction = _beyond(row["ratio"], settings.threshold)
        if abs(row["new"] - row["base"]) < min_change:
            direction = 0
        judged = {**row, "p_adj": p_adjusted, "verdict": _verdict(direction, p_adjusted, settings)}
        out[case] = {f"{prefix}{key}": value for key, value in judged.items()}
    return out


def _status_row(base: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    if base is None or new is None:
        return {"verdict": "new" if base is None else "missing", "status_failed": False}
    if base["statuses"] != new["statuses"]:
        worse = "ok" in base["statuses"] and bool(FAILED_STATUSES & set(new["statuses"]))
        return {"verdict": "status changed", "status_failed": worse}
    return {"verdict": None, "status_failed": False}


def compare_frames(base: pd.DataFrame, new: pd.DataFrame, settings: CompareSettings | None = None) -> Comparison:
    settings = settings or CompareSettings()
    base_cases, new_cases = _pooled(base), _pooled(new)
    rows: dict[str, dict[str, Any]] = {}
    for case in sorted(set(base_cases) | set(new_cases)):
        b, n = base_cases.get(case), new_cases.get(case)
        either = n or b
        rows[case] = {"case": case, **{f: either[f] for f in CASE_FIELDS}, **_status_row(b, n),
                      "base_status": "/".join(b["statuses"]) if b else "", "base_runs": b["runs"] if b else 0,
                      "new_status": "/".join(n["statuses"]) if n else "", "new_runs": n["runs"] if n else 0,
                      "base_rounds": len(b["times"]) if b else 0, "new_rounds": len(n["times"]) if n else 0}
    both = {c: (base_cases[c], new_cases[c]) for c, row in rows.items() if row["verdict"] is None}
    timed = {c: _time_test(b, n) for c, (b, n) in both.items() if b["times"] and n["times"]}
    for case, result in _judge(timed, settings, "").items():
        rows[case].update({"base_median_s": result.pop("base"), "new_median_s": result.pop("new"), **result})
    for metric in MEMORY_METRICS:
        tested = {c: _round_test(b[metric], n[metric]) for c, (b, n) in both.items() if b[metric] and n[metric]}
        for case, result in _judge(tested, settings, f"{metric}_", MIN_MEMORY_CHANGE_BYTES).items():
            result.pop(f"{metric}_unit")  # always each rank's peak in each run
            rows[case].update(result)
    for row in rows.values():
        if row["verdict"] is None:  # same status on both sides, nothing timed (unsupported both times, say)
            row["verdict"] = "unchanged"
    frame = pd.DataFrame(list(rows.values()))
    # every column present even where no case had it (nothing timed, no device memory, no case at all)
    for column in ("case", *CASE_FIELDS, "verdict", "base_status", "new_status", "base_runs", "new_runs", "unit",
                   "ratio", "p", "p_adj", "base_median_s", "new_median_s", "ci_low", "ci_high",
                   *(f"{m}_{s}" for m in MEMORY_METRICS for s in ("base", "new", "ratio", "p_adj", "verdict"))):
        if column not in frame:
            frame[column] = math.nan
    frame["status_failed"] = frame["status_failed"].astype(bool) if "status_failed" in frame else False
    comparison = Comparison(frame, settings)
    comparison.summary = summarize(comparison)
    return comparison


def summarize(comparison: Comparison) -> dict[str, Any]:
    cases = comparison.cases
    ratios = cases[cases["ratio"].notna()]
    return {
        "threshold": comparison.settings.threshold, "correction": comparison.settings.correction,
        "alpha": comparison.settings.alpha, "cases": len(cases),
        "verdicts": {v: int((cases["verdict"] == v).sum()) for v in VERDICTS if (cases["verdict"] == v).any()},
        "geomean_ratio": geometric_mean(list(ratios["ratio"])),
        "geomean_ratio_by_api": {str(api): geometric_mean(list(group["ratio"]))
                                 for api, group in ratios.groupby("api", sort=True)},
        "memory_verdicts": {m: {str(v): int(n) for v, n in cases[f"{m}_verdict"].dropna().value_counts().items()}
                            for m in MEMORY_METRICS},
        "flagged_regressions": len(comparison.flagged_regressions),
        "test_units": {str(u): int(n) for u, n in cases["unit"].dropna().value_counts().sort_index().items()},
        "runs_per_side": {"base": _most_common(cases["base_runs"]), "new": _most_common(cases["new_runs"])},
    }


def _most_common(runs: pd.Series) -> int:
    """How many runs a side has for most cases (a case missing from a run has fewer)."""
    counted = runs[runs > 0]
    return int(counted.mode().max()) if len(counted) else 0


def compare_runs(base: list[tuple[Path, dict[str, Any]]], new: list[tuple[Path, dict[str, Any]]],
                 settings: CompareSettings | None = None) -> Comparison:
    """compare_frames over runs already read (analysis.load.load_runs), with the warnings of what makes the two
    sides not comparable in `summary["comparability_warnings"]`."""
    from analysis.load import frame_of_runs

    comparison = compare_frames(frame_of_runs(base), frame_of_runs(new), settings)
    comparison.summary["comparability_warnings"] = comparability_warnings(base, new)
    return comparison
