"""statedict-bench: benchmarks of PyTorch state-dict save and load in distributed training."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
"""The benchmark's pytest folder (its conftest.py and test_state_dicts.py)."""
REPO_ROOT = BENCH_DIR.parent
"""The checkout: where pyproject.toml and run_bench.sh are, and the folder pytest runs from."""


def benchmark_command(args: Iterable[str] = (), *, python: str | None = None, profile: str | None = None,
                      json_path: str | Path | None = None) -> list[str]:
    """The benchmark's command line, the one place it is built: `PYTHON -m pytest bench/ -q [--profile=P]
    [--benchmark-json=FILE] ARGS` (run from REPO_ROOT: pyproject.toml's pytest options load the suite's plugin).
    run_bench.sh and scripts/gpu_check.sh run it through `python -m bench` (bench/__main__.py)."""
    command = [python or sys.executable, "-m", "pytest", str(BENCH_DIR), "-q"]
    if profile is not None:
        command.append(f"--profile={profile}")
    if json_path is not None:
        command.append(f"--benchmark-json={json_path}")
    return command + list(args)
