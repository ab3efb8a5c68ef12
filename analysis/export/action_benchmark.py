"""`--format github-action-benchmark`: the JSON list that benchmark-action/github-action-benchmark reads with
`tool: customSmallerIsBetter`: an entry per case and metric, `{name, unit, value, range, extra}`.

The action keeps one value per name and commit, so the runs of one build are summarised into one entry: the value
is the median and the range half the interquartile range, of the rounds for one run (the record's own quartiles,
pytest-benchmark's, which the summary table shows), of the runs' medians for several (quartiles interpolated
linearly; the run is the unit of replication: docs/statistics.md). A measure with one value (a memory round) has no
range. Runs of several builds, or of both sides of a compare folder, give an entry per build or side, its name
ending in that build or side, so that builds are never pooled.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from analysis.export.measures import Measure, MeasuredCases, measures, median_half_iqr
from analysis.export.sources import compare_side
from analysis.load import case_key

SEPARATOR = " · "


def _build(run: dict[str, Any]) -> tuple[str, str, str]:
    """What runs pooled into one entry share: compare mode's side, torch's version and commit."""
    torch = run.get("torch") or {}
    return compare_side(run) or "", str(torch.get("version") or ""), str(torch.get("git_version") or "")


def build_label(build: tuple[str, str, str]) -> str:
    side, version, commit = build
    torch = f"torch {version}@{commit[:7]}" if commit else f"torch {version}"
    return f"side {side}, {torch}" if side else torch


def _summary(per_run: list[Measure]) -> tuple[float, float | None, str]:
    """value, half-IQR (None: a single value) and how they were taken."""
    spread = ", range ± half their interquartile range"
    if len(per_run) == 1:
        measure = per_run[0]
        if len(measure.values) == 1:
            return measure.values[0], None, "one measurement"
        median, half_iqr = median_half_iqr(measure.values)
        half_iqr = half_iqr if measure.iqr is None else measure.iqr / 2  # the record's own, as the summary shows
        return median, half_iqr, f"median of {len(measure.values)} rounds{spread}"
    medians = [median_half_iqr(m.values)[0] for m in per_run]
    return *median_half_iqr(medians), f"median of the medians of {len(per_run)} runs{spread}"


def _entry(name: str, per_run: list[Measure], label: str | None) -> dict[str, Any]:
    value, half_iqr, how = _summary(per_run)
    entry: dict[str, Any] = {"name": name, "unit": per_run[0].unit, "value": value}
    if half_iqr is not None:
        entry["range"] = f"± {half_iqr:.4g}"
    entry["extra"] = "\n".join(filter(None, [how, f"a value: {per_run[0].sample}", label]))
    return entry


def action_entries(cases: MeasuredCases) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries, in the order of the cases, and a note where runs of several builds (or sides) were given."""
    series: dict[tuple, list[Measure]] = defaultdict(list)
    builds: dict[Path, tuple[str, str, str]] = {}
    for path, run, record in cases.cases:
        builds[path] = _build(run)
        for measure in measures(record):
            series[(builds[path], case_key(record), measure.name)].append(measure)
    several = len(set(builds.values())) > 1
    entries = []
    for (build, case, metric), per_run in series.items():
        name = SEPARATOR.join([case, metric]) + (f" [{build_label(build)}]" if several else "")
        entries.append(_entry(name, per_run, build_label(build)))
    notes = [f"github-action-benchmark: the runs hold {len(set(builds.values()))} builds or sides "
             f"({'; '.join(sorted(map(build_label, set(builds.values()))))}): each name ends in its own; export one "
             f"side (e.g. DIR/pass[0-9][0-9]/b.json) for names that match a single run's"] if several else []
    return entries, notes
