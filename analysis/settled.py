"""A compare folder's sequential record (settled.json): the cases that compare mode stopped running early, either
settled (their interval already lay inside the threshold band: unchanged) or decided (flagged at an interim look at
its share of the early error budget), each with the pass after which it stopped, the metric they were judged on and
the alpha spent on early decisions. Compare mode writes the file (bench/compare/settle.py); every comparison of that
folder's passes on that metric reads it (analysis.compare), so that a settled case enters the family of tests with
p = 1 and the final correction is made at the alpha left, which is what keeps the sequential design's error rate
(docs/statistics.md, "Stopping cases early").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from analysis.load import ResultFileError

SETTLED_FILE = "settled.json"


@dataclass
class Sequential:
    metric: str | None = None
    """The metric the looks judged; None where the folder has no record."""
    settled: dict[str, int] = field(default_factory=dict)
    """case -> the pass after which it was settled unchanged."""
    decided: dict[str, int] = field(default_factory=dict)
    """case -> the pass after which it was flagged early (its verdict is its final test's on those passes)."""
    early_alpha: float = 0.0
    """The share of the family's alpha set aside for early decisions; the final correction uses the rest."""

    @property
    def stopped(self) -> set[str]:
        return set(self.settled) | set(self.decided)


def write_settled(folder: Path, record: Sequential) -> None:
    path = folder / SETTLED_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"metric": record.metric, "cases": dict(sorted(record.settled.items())),
                                     "decided": dict(sorted(record.decided.items())),
                                     "early_alpha": record.early_alpha}, indent=1) + "\n")
    temporary.replace(path)  # atomic: a reader sees the old list or the new one


def read_settled(folder: Path) -> Sequential:
    """The folder's sequential record; an empty one where the folder has no such file (files written before early
    decisions have neither `decided` nor `early_alpha`: nothing was decided early, no alpha set aside). Raises
    ResultFileError for a file that is not one."""
    path = folder / SETTLED_FILE
    if not path.exists():
        return Sequential()
    try:
        data = json.loads(path.read_text())
        return Sequential(str(data["metric"]), {str(case): int(after) for case, after in data["cases"].items()},
                          {str(case): int(after) for case, after in (data.get("decided") or {}).items()},
                          float(data.get("early_alpha", 0.0)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ResultFileError(f"{path}: not a list of settled cases ({type(exc).__name__}: {exc})") from None


def _compare_folder(paths: Iterable[Path]) -> Path | None:
    """The one compare folder that holds every run file (as passNN/SIDE.json), or None."""
    folders = {Path(p).resolve().parent.parent for p in paths}
    return folders.pop() if len(folders) == 1 else None


def settled_for(paths: Iterable[Path], metric: str) -> tuple[Sequential, str | None]:
    """The sequential record that applies to a comparison of these run files on `metric` (that of their compare
    folder, when it stopped cases on this metric), and a warning where it stopped them on another: they then have
    fewer passes than the others and are judged on those. The alpha set aside for early decisions is spent whatever
    the metric: the final correction of that folder's passes always uses the rest."""
    folder = _compare_folder(paths)
    record = read_settled(folder) if folder else Sequential()
    if not record.stopped or record.metric == metric:
        return record, None
    return Sequential(early_alpha=record.early_alpha), (
        f"{len(record.stopped)} cases were stopped early on {record.metric}, not {metric}: they have fewer "
        f"passes than the others and are judged on those")
