"""GPU only (skipped without CUDA): nccl worlds, device synchronisation and device memory in the record."""

import pytest
import torch

from bench.matrix import Case
from bench.session import record_from_world
from bench.world import World
from tests.conftest import TEST_ROUNDS

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_nccl_world_records_device_peaks_and_round_trips():
    world = World((1,))
    try:
        for case in (Case(api="fsdp2", op="get_model", state_dict_type="full",
                          options=(("cpu_offload", True), ("method", "dsd")), model="mlp_1m", mesh_shape=(1,)),
                     Case(api="fsdp2", op="set_optim", state_dict_type="sharded", options=(("method", "dsd"),),
                          model="transformer_1m_uneven", mesh_shape=(1,))):
            outcome = world.run_case(case.as_spec(), TEST_ROUNDS, 300)
            record = record_from_world(world, case, outcome, TEST_ROUNDS)
            assert record["status"] == "ok", record["message"]
            assert record["backend"] == "nccl" and record["device"] == "cuda"
            assert record["peak_cuda_bytes"][0] > 0 and record["peak_cuda_reserved_bytes"][0] > 0
            assert record["correct"] in (None, True)
    finally:
        world.stop()
