"""What an export reads: result files, folders of them, globs, and compare mode's folders (passNN/ subfolders, each
with a.json and b.json), read and checked by analysis.load as every analysis command reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from analysis.case_samples import PASS_FOLDER, pass_key
from analysis.load import frame_of_runs, load_runs

Run = tuple[Path, dict[str, Any]]
SIDE_FILES = ("a.json", "b.json")
"""A pass folder's result files, one per side (bench/compare/run.py); beside them turns.json, the pacing's log."""


def _pass_files(folder: Path) -> list[Path]:
    """The result files of a compare folder's complete passes (an incomplete one is renamed passNN-incomplete and
    left out, as `analysis compare 'pass[0-9][0-9]/a.json' ...` leaves it out)."""
    passes = sorted(p for p in folder.iterdir() if p.is_dir() and PASS_FOLDER.match(p.name))
    return [p / name for p in passes for name in SIDE_FILES if (p / name).is_file()]


def expand_compare_folders(sources: Iterable[str | Path]) -> list[str | Path]:
    """The sources, with each compare folder replaced by the result files of its passes."""
    expanded: list[str | Path] = []
    for source in sources:
        expanded += (_pass_files(Path(source)) if Path(source).is_dir() else []) or [source]
    return expanded


def read_runs(sources: Iterable[str | Path]) -> list[Run]:
    """(path, checked JSON) of every run the sources name, in the order of their start times; raises
    ResultFileError (one line) for a source that names no result file or a file that is not one."""
    sources = list(sources)
    if not sources:
        raise ValueError("name at least one result file, folder of them, or compare folder")
    return load_runs(expand_compare_folders(sources))


def compare_side(run: dict[str, Any]) -> str | None:
    """Compare mode's side of a run (a or b; run.interleaved), None for an ordinary run."""
    interleaved = run.get("interleaved")
    return str(interleaved["side"]) if isinstance(interleaved, dict) and interleaved.get("side") else None


def tidy_frame(runs: list[Run]) -> pd.DataFrame:
    """analysis.load's frame (a row per case per run, every status) with compare mode's pass and side of each row
    (empty for ordinary runs)."""
    frame = frame_of_runs(runs)
    sides = {str(path): compare_side(data["run"]) for path, data in runs}
    frame["compare_pass"] = [pass_key(str(f)) for f in frame["run_file"]]
    frame["compare_side"] = [sides.get(str(f)) for f in frame["run_file"]]
    return frame
