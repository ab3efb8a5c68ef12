"""Reading result files: JSON only, checked against the format (bench/results/schema.py) before anyone uses them.
The one reader of the project: resume, the summary and analysis/ all read through it. No torch, no pandas."""

from __future__ import annotations

import glob
import json
import math
from pathlib import Path
from typing import Any, Iterable

from bench.results.schema import READ_FIELDS, READABLE_SCHEMA_VERSIONS, STATUSES


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
    missing = [name for name in READ_FIELDS if name not in record]
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


def records_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every case of a file, timed or not."""
    return [b["extra_info"] for b in data["benchmarks"]] + [c["extra_info"] for c in data.get("untimed_cases", [])]
