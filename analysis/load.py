"""Result files into one tidy pandas frame: a row per case per run, the record's fields as columns.

The files are read and checked by bench/results/reader.py, their format is bench/results/schema.py (neither imports
torch); this module makes the frames.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from analysis.metrics import DEFAULT_METRIC, check_metric, select_metric
from bench.results.reader import (ResultFileError, expand_sources, options_label, read_result_file,  # noqa: F401
                                  records_of)
from bench.results.schema import OPTIONAL_NUMBERS, counted_status


def _max_known(values: Any) -> float:
    known = [v for v in values or [] if v is not None] if isinstance(values, list) else []
    return float(max(known)) if known else math.nan


def case_key(record: dict[str, Any]) -> str:
    """What identifies a case across runs: the suite's case id, or its fields where an id is absent."""
    if record.get("case_id"):
        return str(record["case_id"])
    mesh = "x".join(map(str, record["mesh_shape"]))
    parts = [record["api"], record["op"], record.get("state_dict_type"), options_label(record.get("options")),
             record.get("model"), f"mesh{mesh}"]
    return "-".join(str(p) for p in parts if p)


def run_row(path: Path, run: dict[str, Any]) -> dict[str, Any]:
    """The run's identity and setting, repeated on each of its case rows."""
    torch = run.get("torch") or {}
    machine = run.get("machine") or {}
    return {
        "run_file": str(path), "run_label": path.stem,
        "run_started_at": pd.to_datetime(run.get("started_at"), utc=True, errors="coerce"),
        "run_profile": run.get("profile"), "torch_version": torch.get("version"),
        "torch_git": torch.get("git_version"), "hostname": machine.get("hostname"),
    }


def frame_of_file(path: Path, data: dict[str, Any]) -> pd.DataFrame:
    run = run_row(path, data["run"])
    rows = []
    for record in records_of(data):
        row = {**record, **run}
        row["case"] = case_key(record)
        row["counted_status"] = counted_status(record)  # xfail where a known torch bug reproduced
        row["mesh"] = "x".join(map(str, record["mesh_shape"]))
        row["options_label"] = options_label(record.get("options"))
        row["simulated"] = bool(record.get("simulated"))  # files from before the field: real worlds
        times = record["round_times_s"]
        row["rounds"] = len(times)
        row["median_s"] = float(pd.Series(times).median()) if times else math.nan
        mean = float(pd.Series(times).mean()) if times else 0.0
        # a metric that counts nothing (zero in every round) has no CV, nor has a single round
        row["cv"] = float(pd.Series(times).std(ddof=1)) / mean if len(times) > 1 and mean > 0 else math.nan
        row["peak_rss_max_bytes"] = _max_known(record.get("peak_rss_bytes"))
        row["peak_cuda_max_bytes"] = _max_known(record.get("peak_cuda_bytes"))
        row["rss_growth_max_bytes"] = _max_known(record.get("rss_growth_per_save_bytes"))
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in OPTIONAL_NUMBERS:  # None in every record (no case touched a file) must still be a number column
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def read_with_metric(path: str | Path, metric: str = DEFAULT_METRIC) -> dict[str, Any]:
    """read_result_file, with `metric`'s rounds as every timed record's round_times_s (analysis/metrics.py)."""
    data = read_result_file(path)
    try:
        select_metric(path, data, metric, records_of(data))
    except ValueError as exc:
        raise ResultFileError(str(exc)) from None
    return data


def load_runs(sources: Iterable[str | Path], metric: str = DEFAULT_METRIC) -> list[tuple[Path, dict[str, Any]]]:
    """(path, checked JSON) of every result file the sources name, in the order of their start times, holding
    `metric`'s rounds."""
    check_metric(metric)
    runs = [(path, read_with_metric(path, metric)) for path in expand_sources(sources)]
    return sorted(runs, key=lambda pr: (str(pr[1]["run"].get("started_at") or ""), str(pr[0])))


def load_frame(sources: Iterable[str | Path] | str | Path, metric: str = DEFAULT_METRIC) -> pd.DataFrame:
    """One frame of every case of every run the sources name (a file, a folder, a glob, or a list of them)."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    return frame_of_runs(load_runs(sources, metric))


def frame_of_runs(runs: list[tuple[Path, dict[str, Any]]]) -> pd.DataFrame:
    """One frame of every case of runs already read (load_runs)."""
    return concat_frames([frame_of_file(path, data) for path, data in runs])


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames of single runs (frame_of_file) as one; the columns are there even when no run has a case."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["case", "api", "op", "status", "counted_status", "round_times_s", "run_file",
                                     "median_s", "simulated"])
    return pd.concat(frames, ignore_index=True)
