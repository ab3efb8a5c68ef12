"""A case's history: the runs in order (by start time, or by torch version and commit) and each case's medians in
that order; what the step detector (analysis/trend.py) and the report's trend charts read."""

from __future__ import annotations

import pandas as pd
from packaging.version import InvalidVersion, Version

ORDERS = ("time", "commit")


def _version_key(version: str | None) -> tuple:
    try:
        return (0, Version(str(version).split("+")[0]))
    except InvalidVersion:
        return (1, str(version))


def run_order(frame: pd.DataFrame, order: str = "time") -> list[str]:
    """The run files in history order: by start time, or by torch version and commit (runs of one commit
    together, commits in the order they first ran), then start time."""
    if order not in ORDERS:
        raise ValueError(f"order {order!r} must be one of {', '.join(ORDERS)}")
    runs = frame.groupby("run_file", sort=False).agg(
        started=("run_started_at", "first"), version=("torch_version", "first"), git=("torch_git", "first"))
    runs = runs.reset_index().sort_values(["started", "run_file"], na_position="first")
    if order == "time":
        return list(runs["run_file"])
    first_seen = {git: i for i, git in reversed(list(enumerate(runs["git"])))}
    keyed = sorted(zip(runs["run_file"], runs["version"], runs["git"], range(len(runs))),
                   key=lambda r: (_version_key(r[1]), first_seen[r[2]], r[3]))
    return [r[0] for r in keyed]


def histories(frame: pd.DataFrame, order: str = "time") -> dict[str, pd.DataFrame]:
    """Per case, its ok runs in history order: run_file, run_label, run_started_at, torch, median_s."""
    position = {run: i for i, run in enumerate(run_order(frame, order))}
    ok = frame[frame["status"] == "ok"].copy()
    ok["position"] = ok["run_file"].map(position)
    ok["torch"] = ok["torch_version"].astype(str) + " " + ok["torch_git"].astype(str).str[:10]
    columns = ["run_file", "run_label", "run_started_at", "torch", "median_s", "api", "op", "position"]
    return {str(case): rows.sort_values("position")[columns].reset_index(drop=True)
            for case, rows in ok.groupby("case", sort=True)}
