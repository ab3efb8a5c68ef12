import psutil
import pytest

from bench.profiles import RoundSettings
from bench.world import WorldPool

# Two measured rounds, no warm-up: the tests check what the harness records, not how fast anything is.
TEST_ROUNDS = RoundSettings(warmup_rounds=0, min_rounds=2, max_rounds=2, budget_s=0.0, case_timeout_s=120.0)


def process_running(pid: int) -> bool:
    """True for a live process; a zombie waiting to be reaped does not count."""
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


@pytest.fixture(scope="module")
def worlds():
    pool = WorldPool()
    yield pool
    pool.close()
