"""Schema-valid result files with known truth, for the analysis tests: cases, round times drawn from a chosen
distribution, runs at chosen times."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

APIS_OPS = [("fsdp1", "get_model", "sharded"), ("fsdp2", "get_model", "sharded"), ("fsdp1", "get_model", "full"),
            ("fsdp2", "set_optim", "full"), ("dcp", "save", "sharded"), ("torch_save", "serialize", "sharded")]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def case_fields(i: int, mesh_shape: tuple[int, ...] = (2,)) -> dict[str, Any]:
    """The i-th of a synthetic matrix: api/op/type cycle, a distinct option value keeps every id distinct."""
    api, op, sdt = APIS_OPS[i % len(APIS_OPS)]
    options = {"variant": i}
    mesh = "x".join(map(str, mesh_shape))
    return {"api": api, "op": op, "state_dict_type": sdt, "options": options, "model": "mlp_1m",
            "mesh_shape": list(mesh_shape), "case_id": f"{api}-{op}-{sdt}-variant_{i}-mlp_1m-mesh{mesh}"}


def noisy_rounds(rng: np.random.Generator, median_s: float, rounds: int, cv: float = 0.05,
                 outlier_share: float = 0.05) -> list[float]:
    """Lognormal round times around median_s, with a few slow outliers (a GC, a descheduled rank) as seen."""
    times = median_s * np.exp(rng.normal(0.0, cv, rounds))
    slow = rng.random(rounds) < outlier_share
    times[slow] *= rng.uniform(1.5, 3.0, slow.sum())
    return [float(t) for t in times]


def record(fields: dict[str, Any], round_times_s: list[float], *, status: str = "ok", message: str = "",
           ranks: int = 2, peak_rss_bytes: list[int] | None = None, **extra: Any) -> dict[str, Any]:
    rank_times = [[t * (0.9 if r else 1.0) for r in range(ranks)] for t in round_times_s]
    median = float(np.median(round_times_s)) if round_times_s else None
    stats = None
    if round_times_s:
        cv = float(np.std(round_times_s, ddof=1) / np.mean(round_times_s)) if len(round_times_s) > 1 else 0.0
        stats = {"rounds": len(round_times_s), "median_s": median, "min_s": min(round_times_s),
                 "max_s": max(round_times_s), "cv": cv, "unstable": cv >= 0.10}
    world_size = int(np.prod(fields["mesh_shape"]))
    return {"schema_version": 1, **fields, "params": 1_000_000, "tensors": 8, "uneven": False,
            "world_size": world_size, "device": "cpu", "backend": "gloo", "dtype": "float32", "status": status,
            "message": message, "rank_times_s": rank_times, "round_times_s": list(round_times_s), "stats": stats,
            "bytes_global": 4_000_000, "bytes_per_rank": [4_000_000 // world_size] * world_size,
            "throughput_gbps": 4e6 / median / 1e9 if median else None,
            "peak_rss_bytes": peak_rss_bytes or [50 * 2**20] * world_size, "peak_cuda_bytes": None,
            "correct": True if status == "ok" else None, **extra}


def result(records: list[dict[str, Any]], *, started_at: datetime = T0, torch_version: str = "2.13.0+cpu",
           torch_git: str = "a" * 40, **run_extra: Any) -> dict[str, Any]:
    """A whole result file: pytest-benchmark's frame, the run object, timed and untimed cases apart."""
    timed = [r for r in records if r["round_times_s"]]
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {
        "machine_info": {}, "commit_info": {}, "datetime": started_at.isoformat(), "version": "5.1.0",
        "benchmarks": [{"name": f"test_state_dict[{r['case_id']}]", "params": {}, "extra_info": r,
                        "stats": {"data": r["round_times_s"]}} for r in timed],
        "untimed_cases": [{"name": r["case_id"], "extra_info": r} for r in records if not r["round_times_s"]],
        "run": {"schema_version": 1, "profile": "quick", "settings": {}, "started_at": started_at.isoformat(),
                "python": "3.11", "torch": {"version": torch_version, "git_version": torch_git},
                "machine": {"hostname": "testbox", "cpu": "Test CPU", "cores": 2, "memory_bytes": 8 * 2**30,
                            "gpus": [], "driver": None},
                "suite": {"commit": "b" * 40, "dirty": False}, "duration_s": 60.0, "cases": len(records),
                "status_counts": counts, **run_extra},
    }


def write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def run_at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)
