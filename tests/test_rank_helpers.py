"""Pure helpers of the rank and world processes: refusal vs failure, exit descriptions, threads per rank."""

import os

import pytest

from bench.ops.base import Unsupported
from bench.machine.placement import threads_per_rank
from bench.rank.main import is_refusal, short_traceback
from bench.worlds.replies import describe_exit


@pytest.mark.parametrize("exc,refused", [
    (RuntimeError("Found state_dict_type LOCAL_STATE_DICT. DeviceMesh is not compatible with LOCAL_STATE_DICT."),
     True),
    (NotImplementedError("anything"), True),
    (Unsupported("the suite has no x"), True),
    (ValueError("broadcast_from_rank0 is not supported with ..."), True),
    (RuntimeError("CUDA out of memory"), False),
    (KeyError("net1.weight"), False),
    (RuntimeError("injected fault"), False),
])
def test_refusals_are_told_from_failures(exc, refused):
    assert is_refusal(exc) is refused


def test_exit_descriptions_name_the_signal():
    assert describe_exit(1, -11) == "rank 1 died: SIGSEGV (exit code -11)"
    assert describe_exit(0, -9) == "rank 0 died: SIGKILL (exit code -9)"
    assert describe_exit(2, 3) == "rank 2 exited with code 3"


def test_threads_share_the_cores():
    cores = os.cpu_count()
    assert threads_per_rank(1) == cores
    assert threads_per_rank(cores * 4) == 1


def test_short_traceback_keeps_the_end():
    try:
        raise RuntimeError("x" * 5000)
    except RuntimeError as exc:
        text = short_traceback(exc, limit_chars=300)
    assert text.startswith("...") and len(text) == 303 and text.rstrip().endswith("x")


def test_pinning_gives_each_rank_a_block_of_cores_and_wraps_around():
    from bench.machine.placement import pinned_cpus

    assert pinned_cpus(0, 2, [0, 1]) == [0, 1]  # one rank with both threads: both cores
    assert [pinned_cpus(rank, 1, [0, 1]) for rank in range(4)] == [[0], [1], [0], [1]]  # 4 ranks on 2 cores
    assert [pinned_cpus(rank, 4, list(range(16))) for rank in range(4)] == [
        [0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    assert pinned_cpus(1, 2, [4, 6]) == [4, 6]  # the cores this process may use, not 0..n
