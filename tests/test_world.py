"""Worlds of ranks under faults: a rank that raises, dies or hangs fails its case, and the next case still runs."""

import time

import pytest

from bench.ops.matrix import Case
from bench.worlds.local import World, WorldPool
from tests.conftest import TEST_ROUNDS, process_running


def _null(mesh=(2,), **fault):
    return Case(api="null", op="noop", state_dict_type=None, options=tuple(sorted(fault.items())), mesh_shape=mesh)


def _run(world, case, timeout_s=60.0):
    return world.run_case(case.as_spec(), TEST_ROUNDS, timeout_s)


@pytest.fixture
def world():
    w = World((2,))
    yield w
    w.stop()


def test_null_case_runs(world):
    outcome = _run(world, _null())
    assert outcome.status == "ok"
    assert [len(r["times_s"]) for r in outcome.replies] == [2, 2]


def test_rank_that_raises_gives_error_with_rank_and_traceback_then_next_case_runs(world):
    outcome = _run(world, _null(fault="raise", fault_rank=1))
    assert outcome.status == "error"
    assert outcome.message.startswith("rank 1 raised RuntimeError: injected fault")
    assert "Traceback" in outcome.message and "faults.py" in outcome.message
    assert _run(world, _null()).status == "ok"


def test_refusal_on_one_rank_is_unsupported_without_waiting_for_the_timeout(world):
    began = time.monotonic()
    outcome = _run(world, _null(fault="refuse", fault_rank=1), timeout_s=60.0)
    assert outcome.status == "unsupported"
    assert outcome.message == "NotImplementedError: injected refusal"
    assert time.monotonic() - began < 30
    assert _run(world, _null()).status == "ok"


@pytest.mark.parametrize("fault,expected", [("segfault", "rank 0 died: SIGSEGV (exit code -11)"),
                                            ("kill", "rank 0 died: SIGKILL (exit code -9)"),
                                            ("exit", "rank 0 exited with code 3")])
def test_rank_that_dies_gives_error_with_signal_and_the_world_restarts(world, fault, expected):
    _run(world, _null())
    starts = len(world.start_seconds)
    outcome = _run(world, _null(fault=fault, fault_rank=0))
    assert outcome.status == "error"
    assert outcome.message == expected
    assert _run(world, _null()).status == "ok"
    assert len(world.start_seconds) == starts + 1


def test_hang_becomes_timeout_and_the_world_restarts(world):
    began = time.monotonic()
    outcome = _run(world, _null(fault="hang", fault_rank=1), timeout_s=5.0)
    assert outcome.status == "timeout"
    assert "did not finish within 5 s" in outcome.message
    assert time.monotonic() - began < 30
    assert _run(world, _null()).status == "ok"


def test_stop_leaves_no_process_behind():
    w = World((2,))
    pids = w.call("tests.rank_checks:process_ids")
    assert len(set(pids)) == 2
    w.stop()
    assert not [pid for pid in pids if process_running(pid)]


def test_asking_for_a_simulated_world_stops_the_idle_real_ones():
    """Simulated cases come after every real one: the real ranks' memory is freed for them."""
    pool = WorldPool()
    try:
        pids = pool.get((2,)).call("tests.rank_checks:process_ids")
        assert all(process_running(pid) for pid in pids)
        pool.get((64,), simulated=True)
        assert not [pid for pid in pids if process_running(pid)]
        assert pool.live_rank_pids((2,)) == []
    finally:
        pool.close()


def test_ctrl_c_handled_by_another_thread_still_ends_a_hung_case_at_once(world):
    """The kernel may hand a process's SIGINT to any of its threads (the store's server thread, torch's); the
    parent's wait must still notice it, not sleep until the case's timeout."""
    import signal
    import threading

    _run(world, _null())  # the world is up
    pids = list(world.started_pids)

    def interrupt_from_this_thread():
        time.sleep(2.0)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    # Python's own handler, whatever this test process inherited (SIGINT is ignored in a script's background job)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=interrupt_from_this_thread, daemon=True).start()
    began = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            _run(world, _null(fault="hang", fault_rank=1), timeout_s=120.0)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - began < 30
    assert not [pid for pid in pids if process_running(pid)]  # the hung world's ranks were killed
