"""Result records: every required field present, verdicts applied, nothing lost for cases that did not run."""

import pytest

from bench.ops.matrix import Case
from bench.config.profiles import RoundSettings
from bench.results.record import build_record
from models.init import model_facts
from bench.results.schema import SCHEMA_VERSION, WRITTEN_FIELDS
from bench.results.outcome import CaseOutcome

CASE = Case(api="fsdp2", op="set_model", state_dict_type="sharded", options=(("method", "dsd"),),
            model="dummy_uneven", mesh_shape=(2,))


def _reply(rank, times, correct=True, notes=()):
    return {"rank": rank, "status": "ok", "message": "", "correct": correct, "times_s": times,
            "peak_rss_bytes": 100 * (rank + 1), "peak_cuda_allocated_bytes": None,
            "peak_cuda_reserved_bytes": None, "bytes_global": 1000, "bytes_local": 500 + rank, "tensors": 8,
            "setup_s": 0.1, "effective_options": {}, "notes": list(notes), "extra": {}}


def _record(outcome):
    params, uneven = model_facts(CASE.model)
    return build_record(CASE, outcome, RoundSettings(), device="cpu", backend="gloo", dtype="float32",
                        threads_per_rank=1, params=params, uneven=uneven)


def test_ok_record_is_complete_and_correct():
    record = _record(CaseOutcome("ok", "", [_reply(0, [0.1, 0.3, 0.2]), _reply(1, [0.2, 0.1, 0.2])]))
    assert set(WRITTEN_FIELDS) <= set(record)
    assert record["schema_version"] == SCHEMA_VERSION
    assert record["rank_times_s"] == [[0.1, 0.2], [0.3, 0.1], [0.2, 0.2]]  # rounds x ranks
    assert record["round_times_s"] == [0.2, 0.3, 0.2]
    assert record["stats"]["median_s"] == 0.2
    assert record["bytes_global"] == 1000 and record["bytes_per_rank"] == [500, 501]
    assert record["throughput_gbps"] == pytest.approx(1000 / 0.2 / 1e9)
    assert record["peak_rss_bytes"] == [100, 200]
    assert record["params"] == 860 and record["uneven"] is True
    assert record["options"] == {"method": "dsd"} and record["mesh_shape"] == [2]
    assert record["correct"] is True and record["status"] == "ok"


def test_wrong_load_is_an_error_with_the_difference():
    outcome = CaseOutcome("ok", "", [_reply(0, [0.1]), _reply(1, [0.1], correct=False,
                                                             notes=["rank 1: values differ at /net1.0.weight"])])
    record = _record(outcome)
    assert record["correct"] is False and record["status"] == "error"
    assert "values differ at /net1.0.weight" in record["message"]
    assert record["rank_times_s"]  # the timings are kept too


def test_unequal_round_counts_are_an_error_not_a_truncation():
    record = _record(CaseOutcome("ok", "", [_reply(0, [0.1, 0.2]), _reply(1, [0.1])]))
    assert record["status"] == "error" and "different round counts: [2, 1]" in record["message"]


def test_unsupported_and_dead_ranks_keep_their_message_and_no_times():
    record = _record(CaseOutcome("unsupported", "RuntimeError: DeviceMesh is not compatible", [None, None]))
    assert record["status"] == "unsupported" and "not compatible" in record["message"]
    assert record["rank_times_s"] == [] and record["stats"] is None and record["correct"] is None
    assert set(WRITTEN_FIELDS) <= set(record)
    record = _record(CaseOutcome("error", "rank 1 died: SIGSEGV (exit code -11)", [None, None]))
    assert record["status"] == "error" and "SIGSEGV" in record["message"]
