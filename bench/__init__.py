"""statedict-bench: benchmarks of PyTorch state-dict save and load in distributed training."""

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
"""The benchmark's pytest folder (its conftest.py and test_state_dicts.py)."""
REPO_ROOT = BENCH_DIR.parent
"""The checkout: where pyproject.toml and run_bench.sh are, and the folder pytest runs from."""
