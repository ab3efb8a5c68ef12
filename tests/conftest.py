import pytest

from bench.profiles import RoundSettings
from bench.world import WorldPool

# Two measured rounds, no warm-up: the tests check what the harness records, not how fast anything is.
TEST_ROUNDS = RoundSettings(warmup_rounds=0, min_rounds=2, max_rounds=2, budget_s=0.0, case_timeout_s=120.0)


@pytest.fixture(scope="module")
def worlds():
    pool = WorldPool()
    yield pool
    pool.close()
