"""`--format csv` and `--format parquet`: analysis.load's tidy frame, a row per case per run with every status (a
case that failed or that torch refused is a row with its status and message), for pandas and spreadsheets.

A field that holds a list or an object (round_times_s, rank_times_s, options, stats, ...) is JSON text in its cell
(json.loads gives it back), so that every column has one type in both formats."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd

LEADING_COLUMNS = ("case", "run_label", "compare_pass", "compare_side", "status", "median_s", "cv", "rounds")
"""First, in this order: what a row is and what it measured; the record's and the run's fields follow."""


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def tidy_table(frame: pd.DataFrame) -> pd.DataFrame:
    table = frame.copy()
    for column in table.columns:
        if table[column].map(lambda v: isinstance(v, (list, dict))).any():
            table[column] = table[column].map(_cell).astype(object)
    leading = [c for c in LEADING_COLUMNS if c in table]
    return table[leading + [c for c in table.columns if c not in leading]]


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return tidy_table(frame).to_csv(index=False).encode()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    try:
        import pyarrow  # noqa: F401  (pandas writes parquet with it; said in one line where it is missing)
    except ImportError:
        raise ValueError("parquet needs pyarrow: pip install pyarrow (or export --format csv)") from None
    buffer = io.BytesIO()
    tidy_table(frame).to_parquet(buffer, index=False)
    return buffer.getvalue()
