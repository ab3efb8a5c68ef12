import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from bench import benchmark_command
from bench.config.profiles import RoundSettings
from bench.worlds.local import WorldPool

# Two measured rounds, no warm-up: the tests check what the harness records, not how fast anything is.
TEST_ROUNDS = RoundSettings(warmup_rounds=0, min_rounds=2, max_rounds=2, budget_s=0.0, case_timeout_s=120.0)


ROOT = Path(__file__).resolve().parent.parent
# The benchmark's command line at its cheapest: one 2-rank world, the dummy model, three rounds.
FAST = ["--mesh", "2", "--model", "dummy", "--min-rounds", "3", "--max-rounds", "3", "--warmup-rounds", "0",
        "--budget-s", "0", "--ceiling-mib", "8", "-p", "no:cacheprovider"]


def default_sigint() -> None:
    """preexec_fn of a run that a test interrupts with SIGINT: Ctrl-C in a terminal reaches a process whose SIGINT is
    at its default, but a test runner started as a background job of a script inherits SIGINT ignored (POSIX), and
    Python then installs no KeyboardInterrupt handler in the children."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def bench_command(*args: str) -> list[str]:
    """`python -m pytest bench/ -q ARGS` (bench.benchmark_command)."""
    return benchmark_command(args)


def run_bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m pytest bench/ -q ARGS` as a user runs it."""
    return subprocess.run(bench_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def process_running(pid: int) -> bool:
    """True for a live process; a zombie waiting to be reaped does not count."""
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


@pytest.fixture(scope="module")
def worlds():
    pool = WorldPool()
    yield pool
    pool.close()


def left_running(pids: list[int], grace_s: float = 15.0) -> list[int]:
    """The processes still running after `grace_s`: multiprocessing's resource tracker, for one, exits only once it
    sees its parent gone."""
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    return [p.pid for p in alive if process_running(p.pid)]

