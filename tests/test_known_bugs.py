"""A failed record that a known torch bug explains is marked with its issue; nothing else is."""

from bench.config.known_bugs import mark_known_bug


def _record(**changes):
    record = {"status": "error", "api": "fsdp1", "op": "get_model", "state_dict_type": "full", "device": "cpu",
              "options": {"offload_to_cpu": True, "rank0_only": False, "use_mesh": True}, "world_size": 2,
              "message": "rank 1 died: SIGSEGV (exit code -11)"}
    return record | changes


def test_the_fsdp1_cpu_offload_crash_is_marked_with_its_torch_issue():
    record = _record()
    mark_known_bug(record)
    assert record["known_bug"]["issue"] == "https://github.com/pytorch/pytorch/issues/188989"
    assert record["message"] == ("known torch bug https://github.com/pytorch/pytorch/issues/188989: "
                                 "rank 1 died: SIGSEGV (exit code -11)")
    assert record["status"] == "error"  # torch's failure stays a failure


def test_other_failures_and_passing_cases_are_not_marked():
    for changes in ({"status": "ok"}, {"world_size": 1}, {"device": "cuda"}, {"op": "get_optim"},
                    {"options": {"offload_to_cpu": False}}, {"message": "rank 0 raised ValueError: x"}):
        record = _record(**changes)
        mark_known_bug(record)
        assert "known_bug" not in record and not record["message"].startswith("known torch bug"), changes
