"""Result files into one tidy pandas frame: a row per case per run, the record's fields as columns.

Self-contained on purpose: bench/ modules import torch, and analysis must run where torch is absent.
"""

from __future__ import annotations

import glob
import json
import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from analysis.metrics import DEFAULT_METRIC, check_metric, select_metric

# Schema versions of the `run` object that the suite has written and this package reads.
READABLE_SCHEMA_VERSIONS = (1,)
STATUSES = ("ok", "unsupported", "error", "timeout", "skipped")
# What analysis needs of every record; the suite writes more, and later versions may add fields (kept as columns).
NEEDED_FIELDS = ("api", "op", "status", "world_size", "mesh_shape", "round_times_s")
SIMULATED_LABEL = "simulated (fake PG)"
"""How charts and tables name a record of a simulated world: one process played one rank of `world_size` on a fake
process group, so its collectives cost nothing."""


class ResultFileError(ValueError):
    """A file that is not a statedict-bench result file this package can read; the message names the file."""


def expand_sources(sources: Iterable[str | Path]) -> list[Path]:
    """Files named directly, every *.json in a named folder, or the files a glob matches; sorted, no repeats."""
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise ResultFileError(f"{path}: folder holds no .json result files")
        elif any(ch in str(source) for ch in "*?["):
            found = sorted(Path(p) for p in glob.glob(str(source)))
            if not found:
                raise ResultFileError(f"{source}: pattern matches no file")
        else:
            found = [path]
        files += [f for f in found if f not in files]
    return files


def _check_record(path: Path, where: str, record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise ResultFileError(f"{path}: {where} is not a record (a JSON object)")
    missing = [name for name in NEEDED_FIELDS if name not in record]
    if missing:
        raise ResultFileError(f"{path}: {where} lacks field(s) {', '.join(missing)}")
    if record["status"] not in STATUSES:
        raise ResultFileError(f"{path}: {where} has unknown status {record['status']!r}")
    times = record["round_times_s"]
    if not isinstance(times, list) or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t >= 0 for t in times):
        raise ResultFileError(f"{path}: {where} has round_times_s that are not finite non-negative numbers")
    if record["status"] == "ok" and not times:
        raise ResultFileError(f"{path}: {where} is 'ok' but has no round times")
    return record


def read_result_file(path: str | Path) -> dict[str, Any]:
    """The file's JSON after checking that it is a result file of a readable schema version."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"{path}: not valid JSON (truncated or corrupt?): {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("run"), dict) or not isinstance(
            data.get("benchmarks"), list):
        raise ResultFileError(f"{path}: not a statedict-bench result file (no 'run' object and 'benchmarks' list)")
    version = data["run"].get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        raise ResultFileError(f"{path}: schema_version {version!r} is not one this version of statedict-bench reads "
                              f"({', '.join(map(str, READABLE_SCHEMA_VERSIONS))})")
    for i, bench in enumerate(data["benchmarks"]):
        _check_record(path, f"benchmark {i}", bench.get("extra_info") if isinstance(bench, dict) else None)
    untimed = data.get("untimed_cases", [])
    if not isinstance(untimed, list):
        raise ResultFileError(f"{path}: 'untimed_cases' is not a list")
    for i, case in enumerate(untimed):
        _check_record(path, f"untimed case {i}", case.get("extra_info") if isinstance(case, dict) else None)
    return data


def options_label(options: Any) -> str:
    """A case's options as `k=v,...` (booleans as 0/1), '-' for none."""
    if not isinstance(options, dict) or not options:
        return "-"
    return ",".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in sorted(options.items()))


OPTIONAL_NUMBERS = ("throughput_gbps", "fraction_of_ceiling")
"""Record fields that are a number or None (a case that moves no bytes, a run without ceilings)."""


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


def records_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every case of a file, timed or not."""
    return [b["extra_info"] for b in data["benchmarks"]] + [c["extra_info"] for c in data.get("untimed_cases", [])]


def frame_of_file(path: Path, data: dict[str, Any]) -> pd.DataFrame:
    run = run_row(path, data["run"])
    rows = []
    for record in records_of(data):
        row = {**record, **run}
        row["case"] = case_key(record)
        row["mesh"] = "x".join(map(str, record["mesh_shape"]))
        row["options_label"] = options_label(record.get("options"))
        row["simulated"] = bool(record.get("simulated"))  # files from before the field: real worlds
        times = record["round_times_s"]
        row["rounds"] = len(times)
        row["median_s"] = float(pd.Series(times).median()) if times else math.nan
        row["cv"] = float(pd.Series(times).std(ddof=1) / pd.Series(times).mean()) if len(times) > 1 else math.nan
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
        return pd.DataFrame(columns=["case", "api", "op", "status", "round_times_s", "run_file", "median_s",
                                     "simulated"])
    return pd.concat(frames, ignore_index=True)
