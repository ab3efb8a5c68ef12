"""Per-case timeouts scaled by model size, and result files written whole or not at all."""

import json

import pytest

from bench.matrix import Case
from bench.profiles import RoundSettings
from bench.record import model_facts
from bench.results_file import write_json_atomically
from bench.session import case_timeout_s


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
