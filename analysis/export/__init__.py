"""`python -m analysis export FILES --format F -o OUT`: result files in the formats other tools read.

- pytorch-v3: PyTorch's OSS benchmark database records (pytorch_v3.py);
- github-action-benchmark: benchmark-action/github-action-benchmark's customSmallerIsBetter list (action_benchmark.py);
- csv, parquet: the tidy frame, a row per case per run (tidy.py).

FILES are result files, folders of them, globs, or compare mode's folders (sources.py). Formats that take values
leave out cases without a measurement and say how many on stderr; the tidy frame keeps every case.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from analysis.export.action_benchmark import action_entries
from analysis.export.measures import measured_cases
from analysis.export.pytorch_v3 import v3_records
from analysis.export.sources import read_runs, tidy_frame
from analysis.export.tidy import csv_bytes, parquet_bytes
from bench.results.files import atomic_binary_file

FORMATS = ("pytorch-v3", "github-action-benchmark", "csv", "parquet")


def _json(items: list[dict[str, Any]]) -> bytes:
    return (json.dumps(items, indent=1, allow_nan=False, ensure_ascii=False) + "\n").encode()


def _exported(runs: list, fmt: str) -> tuple[bytes, str, list[str]]:
    """The file's bytes, what it holds (for the closing line) and the notes for stderr."""
    if fmt in ("csv", "parquet"):
        frame = tidy_frame(runs)
        return (csv_bytes if fmt == "csv" else parquet_bytes)(frame), f"{len(frame)} rows", []
    cases = measured_cases(runs)
    if fmt == "pytorch-v3":
        records, notes = v3_records(cases), []
    else:
        records, notes = action_entries(cases)
    return _json(records), f"{len(records)} {'records' if fmt == 'pytorch-v3' else 'entries'}", [
        note for note in [cases.note(fmt), *notes] if note]


def export(sources: Iterable[str | Path], fmt: str, out: str | Path | None) -> tuple[str, list[str]]:
    """Writes the sources' runs to `out` in format `fmt`; returns the closing line and the notes for stderr. Raises
    ValueError (one line) for an unknown format, no or bad input, or an output that cannot be written."""
    if fmt not in FORMATS:
        said = f"unknown export format {fmt!r}" if fmt else "no export format (--format)"
        raise ValueError(f"{said}: choose one of {', '.join(FORMATS)}")
    if not out:
        raise ValueError("name the output file: -o OUT")
    data, holds, notes = _exported(read_runs(sources), fmt)
    try:
        with atomic_binary_file(out) as file:
            file.write(data)
    except (FileExistsError, NotADirectoryError):  # mkdir or open met a file where a folder must be
        raise ValueError(f"{out}: cannot write: a file stands where its folder must be") from None
    except OSError as exc:
        raise ValueError(f"{out}: cannot write: {exc.strerror or exc}") from None
    return f"{fmt}: {holds} in {out}", notes
