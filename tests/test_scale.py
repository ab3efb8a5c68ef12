"""The scale profile's simulations on a small world (tests/test_simulated.py covers simulated worlds in general):
tensor parallelism gives DTensors with two placements, the load plan reads every local element once (resharded
too), an HSDP load reads each byte once per replica (pytorch #171412), and records carry the model's scale."""

from __future__ import annotations

import psutil
import pytest

from bench.config.profiles import PROFILES
from bench.ops.simulations import Simulation, scale_cases
from bench.run.session import BenchSession
from tests.conftest import TEST_ROUNDS

MODEL = "llama3_debug"  # torchtitan's debug model: 57 tensors, dims that divide by 16


@pytest.fixture(scope="module")
def scale_run(tmp_path_factory):
    """State dicts with TP on 2 x 8, planning on 16 ranks (1D, loads from 16 and from 8) and on HSDP 4 x 4."""
    simulations = [Simulation(kind="state_dict", models=(MODEL,), ranks=(16,), layout="tp", group=8,
                              ops=("get_model", "set_optim")),
                   Simulation(kind="planning", models=(MODEL,), ranks=(16,)),
                   Simulation(kind="planning", models=(MODEL,), ranks=(16,), layout="hsdp", group=4,
                              ops=("plan_load",))]
    session = BenchSession(PROFILES["scale"], TEST_ROUNDS, checkpoint_parent=str(tmp_path_factory.mktemp("ckpt")),
                           ceiling_bytes=8 * 2**20)
    try:
        cases = scale_cases(simulations)
        records = {(c.op, c.mesh_label, c.options_dict.get("saved_ranks")): session.measure(c) for c in cases}
        live = [pid for pid in session.pool.rank_pids()
                if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        yield records, live
    finally:
        session.close()


@pytest.fixture(scope="module")
def scale_records(scale_run):
    return scale_run[0]


def test_one_simulated_world_lives_at_a_time(scale_run):
    """Three meshes, three simulated worlds in turn: each stops when the next starts, with the model it held."""
    assert len(scale_run[1]) == 1


def test_every_scale_case_runs_and_checks_its_result(scale_records):
    assert len(scale_records) == 7
    for key, record in scale_records.items():
        assert record["status"] == "ok", (key, record["message"])
        assert record["backend"] == "fake" and record["world_size"] == 16
        extra = record["extra_per_rank"][0]
        assert extra["rss_after_setup_bytes"] > 0
    # the round trips that can be checked are: set_optim's load, and every load plan's coverage of local elements
    assert scale_records[("set_optim", "2x8", None)]["correct"] is True
    assert all(record["correct"] is True for (op, _, _), record in scale_records.items() if op == "plan_load")


def test_tensor_parallel_state_has_two_placements(scale_records):
    record = scale_records[("get_model", "2x8", None)]
    assert record["options"]["parallel"] == "tp" and record["mesh_shape"] == [2, 8]
    # 16 ranks share the model: rank 0 holds about 1/16 (more where a dim is under 16 rows)
    assert record["bytes_per_rank"][0] * 8 < record["bytes_global"]


def test_load_plans_read_each_byte_once_per_replica(scale_records):
    flat = scale_records[("plan_load", "16", 16)]["extra_per_rank"][0]
    resharded = scale_records[("plan_load", "16", 8)]["extra_per_rank"][0]
    hsdp = scale_records[("plan_load", "4x4", 16)]["extra_per_rank"][0]
    assert flat["read_amplification"] == pytest.approx(1.0, abs=0.01)
    assert resharded["read_amplification"] == pytest.approx(1.0, abs=0.01)  # reading 8 ranks' chunks, same bytes
    assert hsdp["read_amplification"] == pytest.approx(4.0, abs=0.05)  # 4 replicas each read all of it
    # a checkpoint of 8 ranks has about half the chunks of one of 16 (replicated items are the same in both)
    assert resharded["metadata_chunks"] < 0.6 * flat["metadata_chunks"]
    assert flat["metadata_bytes"] > resharded["metadata_bytes"] > 0


def test_planning_counts_what_the_collectives_would_carry(scale_records):
    local = scale_records[("plan_local", "16", None)]["extra_per_rank"][0]
    plan = scale_records[("plan", "16", None)]["extra_per_rank"][0]
    assert local["gather_bytes"] > 0 and plan["scatter_bytes"] > 0 and plan["metadata_bytes"] > 0
    assert plan["write_items_local"] == 16 * local["write_items_local"]
    # one rank's plan times 16 against every rank's plan pickled: the same within the ranks' differing offsets
    assert plan["gather_bytes"] == pytest.approx(local["gather_bytes"], rel=0.05)


def test_records_carry_the_model_and_its_scale(scale_records):
    record = scale_records[("get_model", "2x8", None)]
    assert record["model"] == MODEL and record["model_scale"] is None and record["tensors"] == 57
