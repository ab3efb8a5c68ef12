"""A compare folder's settled cases (settled.json): the cases that compare mode stopped running early because
their interval already lay inside the threshold band, each with the pass after which it stopped and the metric it
was judged on. Compare mode writes the file (bench/compare/settle.py); every comparison of that folder's passes on
that metric reads it (analysis.compare), so that a settled case keeps its verdict and enters the family of tests
with p = 1, which is what keeps the sequential design's error rate (docs/statistics.md, "Settling cases early").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from analysis.load import ResultFileError

SETTLED_FILE = "settled.json"


def write_settled(folder: Path, metric: str, settled: dict[str, int]) -> None:
    path = folder / SETTLED_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"metric": metric, "cases": dict(sorted(settled.items()))}, indent=1) + "\n")
    temporary.replace(path)  # atomic: a reader sees the old list or the new one


def read_settled(folder: Path) -> tuple[str | None, dict[str, int]]:
    """(the metric, case id -> pass after which it was settled); (None, {}) where the folder has no such file.
    Raises ResultFileError for a file that is not one."""
    path = folder / SETTLED_FILE
    if not path.exists():
        return None, {}
    try:
        data = json.loads(path.read_text())
        return str(data["metric"]), {str(case): int(after) for case, after in data["cases"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ResultFileError(f"{path}: not a list of settled cases ({type(exc).__name__}: {exc})") from None


def _compare_folder(paths: Iterable[Path]) -> Path | None:
    """The one compare folder that holds every run file (as passNN/SIDE.json), or None."""
    folders = {Path(p).resolve().parent.parent for p in paths}
    return folders.pop() if len(folders) == 1 else None


def settled_for(paths: Iterable[Path], metric: str) -> tuple[dict[str, int], str | None]:
    """The settled cases that apply to a comparison of these run files on `metric` (those of their compare folder,
    when it settled them on this metric), and a warning where it settled them on another: they then have fewer
    passes than the others and are judged on those."""
    folder = _compare_folder(paths)
    settled_metric, settled = read_settled(folder) if folder else (None, {})
    if not settled or settled_metric == metric:
        return settled, None
    return {}, (f"{len(settled)} cases were settled early on {settled_metric}, not {metric}: they have fewer "
                f"passes than the others and are judged on those")
