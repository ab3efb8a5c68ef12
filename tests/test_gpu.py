"""GPU only (skipped without CUDA): nccl worlds, device synchronisation and device memory in the record, the gpu
profile's bf16 and fp32 cases, pinned staging and the pinned copy ceilings."""

import json
import subprocess
import sys

import pytest
import torch

from bench.ops.matrix import Case
from bench.run.session import record_from_world
from bench.worlds.local import World
from tests.conftest import ROOT, TEST_ROUNDS, run_bench

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


def _gpu_run(tmp_path, *args: str) -> dict:
    path = tmp_path / "gpu.json"
    rounds = ["--min-rounds", "3", "--max-rounds", "3", "--warmup-rounds", "0", "--budget-s", "0"]
    done = run_bench("--profile", "gpu", *rounds, "--ceiling-mib", "64", f"--benchmark-json={path}", *args,
                     timeout=600)
    assert done.returncode == 0, done.stdout[-4000:]
    return json.loads(path.read_text())


def test_gpu_profile_runs_bf16_and_fp32_on_nccl_with_device_peaks_and_pinned_staging(tmp_path):
    data = _gpu_run(tmp_path, "--mesh", "1", "--model", "transformer_1m_uneven",
                    "-k", "null or (fsdp2 and dsd and sharded and (get_model or set_optim)) or staging_pinned")
    records = [b["extra_info"] for b in data["benchmarks"]] + [u["extra_info"] for u in data["untimed_cases"]]
    assert {r["status"] for r in records} == {"ok"}, [(r["case_id"], r["message"]) for r in records]
    with_model = [r for r in records if r["model"]]
    assert {r["dtype"] for r in with_model} == {"bfloat16", "float32"} and len(with_model) == 6
    for record in records:
        assert (record["backend"], record["device"]) == ("nccl", "cuda")
    for record in with_model:
        assert record["options"]["dtype"] == record["dtype"]
        assert record["peak_cuda_bytes"][0] > 0 and record["peak_cuda_reserved_bytes"][0] > 0
        assert record["correct"] in (None, True)
    by_id = {r["case_id"]: r for r in with_model}
    half = by_id["fsdp2-get_model-sharded-dtype_bfloat16-method_dsd-transformer_1m_uneven-mesh1"]["bytes_global"]
    assert 2 * half == by_id["fsdp2-get_model-sharded-dtype_float32-method_dsd-transformer_1m_uneven-mesh1"][
        "bytes_global"]
    pinned = [r for r in with_model if r["options"].get("staging") == "pinned"]
    assert len(pinned) == 2 and all(r["staging_median_s"] > 0 and r["correct"] is True for r in pinned)
    assert all(r["staging_gbps_per_rank"] > 0 and r["staging_fraction_of_ceiling"] > 0 for r in pinned)
    ceilings = data["run"]["ceilings"]
    assert ceilings["cuda_d2h_pinned_gbps"] > 0 and ceilings["cuda_h2d_pinned_gbps"] > 0, ceilings
    summary = subprocess.run([sys.executable, "-m", "bench.results.summary", str(tmp_path / "gpu.json")], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, check=True)
    assert "GPU MiB" in summary.stdout.splitlines()[0]


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_gpu_profile_two_ranks_one_gpu_each(tmp_path):
    data = _gpu_run(tmp_path, "--mesh", "2", "--model", "transformer_1m_uneven", "--dtype", "bfloat16",
                    "-k", "fsdp2 and full and (get_model or set_model)")
    records = [b["extra_info"] for b in data["benchmarks"]]
    assert len(records) == 2 and all(r["status"] == "ok" and r["world_size"] == 2 for r in records)
    assert all(len(r["peak_cuda_bytes"]) == 2 and min(r["peak_cuda_bytes"]) > 0 for r in records)
