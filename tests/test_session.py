"""Per-case timeouts scaled by model size, result files written whole or not at all, and the wait for a compare turn
booked as the other side's time."""

import functools
import json
import time
from types import SimpleNamespace

import pytest

from bench.ops.matrix import Case
from bench.config.profiles import RoundSettings
from models.init import model_facts
from bench.results.files import write_json_atomically
from bench.run.session import BenchSession, case_timeout_s
from bench.results.wall_accounting import WallAccount


def _case(model):
    return Case(api="fsdp2", op="get_model", state_dict_type="sharded", model=model, mesh_shape=(2,))


def test_case_timeout_grows_with_the_model_over_10m_parameters():
    settings = RoundSettings(case_timeout_s=100.0)
    assert case_timeout_s(settings, _case("dummy")) == 100.0
    assert case_timeout_s(settings, _case("transformer_1m")) == 100.0
    params, _ = model_facts("transformer_100m")
    assert case_timeout_s(settings, _case("transformer_100m")) == pytest.approx(100.0 * params / 10e6)
    assert case_timeout_s(settings, _case("transformer_100m")) > 500


def test_failed_write_keeps_the_previous_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "run.json"
    write_json_atomically(path, {"cases": 1})
    with pytest.raises(TypeError):
        write_json_atomically(path, {"cases": object()})  # fails halfway through the dump
    assert json.loads(path.read_text()) == {"cases": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_a_result_file_gets_the_usual_permissions_not_the_temporary_files(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        write_json_atomically(tmp_path / "run.json", {"cases": 1})
    finally:
        os.umask(mask)
    assert (tmp_path / "run.json").stat().st_mode & 0o777 == 0o644


def test_the_wait_for_a_compare_turn_is_booked_as_the_other_sides_time():
    """A paced run (compare mode): a side waits for its turn before each case while the other side's case runs; that
    wait is other_side in the wall-time table, not the parent's bookkeeping (case_bookkeeping is what a case's parts
    leave)."""
    class SlowPacer:
        def before_case(self, sequence, case_id):
            self.sequence = sequence
            time.sleep(0.05)  # the other side's case

    side = SimpleNamespace(pacer=SlowPacer(), account=WallAccount())
    waited = BenchSession._wait_turn(side, functools.partial(side.pacer.before_case, 3, "case-3"))
    assert waited >= 0.05 and side.pacer.sequence == 3
    assert side.account.seconds["other_side"] == pytest.approx(waited)
    assert side.account.total() == pytest.approx(waited)  # nothing else booked
    alone = SimpleNamespace(pacer=None, account=WallAccount())
    assert BenchSession._wait_turn(alone, None) == 0.0 and alone.account.total() == 0.0
