"""The gpu profile, checked without a GPU: its worlds for 1, 2, 4 and 8 GPUs, a dtype per case in ids and records,
its short list for the big models, its memory estimate on an H200, and its refusal where there is no CUDA.
A bfloat16 run on CPU/gloo checks that the dtype reaches the model and the record."""

import json
import os
import subprocess

import pytest
import torch

from bench.config.gpu_profile import LIMITED_CASES, gpu_mesh_shapes, limit_cases
from bench.ops.matrix import Case, expand, with_dtypes
from bench.config.memory_need import estimate, gpu_count_shortfall, shortfall
from bench.config.profiles import get_profile
from models.init import model_facts
from bench.config.selection import BadInput, select
from tests.conftest import FAST, ROOT, run_bench

GIB = 2**30
H200_BYTES = 141 * 10**9
DEVICE_HOST_BYTES = 128 * GIB  # the host memory of a one-H200 machine this project is lent
NO_CUDA_LINE = (f"statedict-bench: error: the gpu profile needs CUDA: torch {torch.__version__} sees no GPU here "
                f"(torch.cuda.is_available() is False); run --profile quick instead")


def gpu_cases(devices: int, models=()) -> list[Case]:
    """What `--profile gpu` parametrizes on a machine with `devices` GPUs (as bench/plugin/hooks.py builds it)."""
    selection = select("gpu", list(models), [], None, {}, cuda_devices=devices)
    cases = expand(selection.meshes, selection.models, selection.checkpoint_models)
    return with_dtypes(limit_cases(cases, selection.profile.limited_models), selection.dtypes)


@pytest.mark.parametrize("devices,meshes", [
    (0, []), (1, [(1,)]), (2, [(1,), (2,)]), (3, [(1,), (2,)]), (4, [(1,), (2,), (4,), (2, 2)]),
    (8, [(1,), (2,), (4,), (8,), (2, 2), (2, 4)]), (16, [(1,), (2,), (4,), (8,), (2, 2), (2, 4)]),
])
def test_worlds_follow_the_gpu_count(devices, meshes):
    assert gpu_mesh_shapes(devices) == meshes
    if devices:
        assert select("gpu", [], [], None, {}, cuda_devices=devices).meshes == meshes


def test_no_cuda_is_one_clear_refusal():
    with pytest.raises(BadInput, match="^the gpu profile needs CUDA: torch .* sees no GPU here"):
        select("gpu", [], [], None, {}, cuda_devices=0)


def test_a_mesh_over_the_gpu_count_is_refused_and_world_size_filters():
    with pytest.raises(BadInput, match="mesh 2x2 needs 4 GPUs, this machine has 2"):
        select("gpu", [], ["2x2"], None, {}, cuda_devices=2)
    assert select("gpu", [], [], 4, {}, cuda_devices=8).meshes == [(4,), (2, 2)]
    assert select("gpu", [], ["2"], None, {}, cuda_devices=8).meshes == [(2,)]
    assert gpu_count_shortfall(4, device_count=1) == "needs 4 GPUs (one per rank with nccl), this machine has 1"
    assert gpu_count_shortfall(4, device_count=0) is None and gpu_count_shortfall(1, device_count=1) is None


@pytest.mark.parametrize("devices", [1, 2, 4, 8])
def test_every_case_once_in_bf16_and_once_in_fp32_with_unique_ids(devices):
    cases = gpu_cases(devices)
    assert len({c.id for c in cases}) == len(cases)
    with_model = [c for c in cases if c.model]
    assert {c.dtype for c in with_model} == {"bfloat16", "float32"}
    assert all(f"-dtype_{c.dtype}-" in c.id and c.options_dict["dtype"] == c.dtype for c in with_model)
    pairs = {}
    for case in with_model:
        untagged = tuple(kv for kv in case.options if kv[0] != "dtype")
        pairs.setdefault((case.api, case.op, case.state_dict_type, untagged, case.model, case.mesh_shape),
                         []).append(case.dtype)
    assert all(sorted(dtypes) == ["bfloat16", "float32"] for dtypes in pairs.values())
    nulls = [c for c in cases if c.api == "null"]
    assert [c.mesh_shape for c in nulls] == gpu_mesh_shapes(devices) and all(c.dtype == "float32" for c in nulls)
    meshes = [c.mesh_shape for c in cases]  # one contiguous run per world
    assert [m for i, m in enumerate(meshes) if i == 0 or meshes[i - 1] != m] == gpu_mesh_shapes(devices)


def test_models_up_to_1b_and_the_big_ones_on_the_short_list():
    profile = get_profile("gpu")
    assert max(model_facts(m)[0] for m in profile.models) > 1e9
    cases = gpu_cases(1)
    small = [c for c in cases if c.model == "transformer_1m_uneven"]
    assert {c.api for c in small} == {"fsdp1", "fsdp2", "dcp", "torch_save"}  # the whole matrix
    assert len(small) == 2 * len(expand([(1,)], ["transformer_1m_uneven"])) - 2  # the null case has no dtype
    for model in profile.limited_models:
        kept = {(c.api, c.op, c.state_dict_type) for c in cases if c.model == model}
        assert kept <= {(api, op, sdt) for api, op, sdt, _ in LIMITED_CASES}
    assert {c.op for c in cases if c.model == "transformer_1b"} == {"get_model", "get_optim", "set_model"}
    pinned = [c for c in cases if c.options_dict.get("staging") == "pinned"]
    assert {(c.model, c.dtype) for c in pinned} == {
        (m, d) for m in ("transformer_1m_uneven", "transformer_100m") for d in ("bfloat16", "float32")}
    assert len(cases) == 1 + 2 * (47 + 7 + 4)  # the count the README's time estimate is made for


def test_other_profiles_keep_float32_and_their_ids():
    for name in ("quick", "nightly", "full"):
        selection = select(name, [], [], None, {})
        cases = expand(selection.meshes, selection.models, selection.checkpoint_models)
        assert selection.dtypes == (None,)
        assert with_dtypes(limit_cases(cases, selection.profile.limited_models), selection.dtypes) == cases
        assert all(c.dtype == "float32" and "dtype" not in c.id for c in cases)
    # --dtype on a float32 profile tags only the other dtype: its float32 cases keep their ids
    assert select("quick", [], [], None, {}, ["bfloat16", "float32"]).dtypes == ("bfloat16", None)
    assert select("gpu", [], [], None, {}, ["bfloat16"], cuda_devices=1).dtypes == ("bfloat16",)
    with pytest.raises(BadInput, match="unknown dtype 'float16'; choose from float32, bfloat16"):
        select("quick", [], [], None, {}, ["float16"])
    with pytest.raises(ValueError, match="unknown dtype"):
        Case(api="fsdp2", op="get_model", state_dict_type="sharded", options=(("dtype", "int8"),), model="dummy")


def test_memory_estimate_in_bf16_and_on_an_h200():
    params = model_facts("transformer_1b")[0]
    fp32 = Case(api="fsdp2", op="get_optim", state_dict_type="full", options=(("cpu_offload", True),),
                model="transformer_1b")
    bf16 = Case(api="fsdp2", op="get_optim", state_dict_type="full",
                options=(("cpu_offload", True), ("dtype", "bfloat16")), model="transformer_1b")
    assert estimate(bf16, params).device_bytes_per_rank * 2 == estimate(fp32, params).device_bytes_per_rank
    assert estimate(fp32, params).device_bytes_per_rank == 4 * 4 * params  # params, grads, Adam's two moments
    # On GPUs the training state is on the devices: the host holds the offloaded full state and its snapshot
    cuda_fp32 = estimate(fp32, params, cuda=True)
    assert estimate(fp32, params).host_bytes - cuda_fp32.host_bytes == 4 * 4 * params
    sharded = Case(api="fsdp2", op="get_model", state_dict_type="sharded", model="transformer_1b")
    assert estimate(sharded, params, cuda=True).host_bytes == estimate(
        Case(api="null", op="noop", state_dict_type=None), None).host_bytes
    # every case of the gpu profile fits one H200 and the host memory of its machine
    for devices in (1, 8):
        for case in gpu_cases(devices):
            need = estimate(case, model_facts(case.model)[0], cuda=True)
            assert shortfall(need, DEVICE_HOST_BYTES * devices, H200_BYTES) is None, case.id
            assert need.device_bytes_per_rank < 40 * GIB, case.id  # a 1B fp32 model and Adam: ~17 GB


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where there is no CUDA")
def test_gpu_profile_without_cuda_ends_with_one_line_and_exit_2(tmp_path):
    path = tmp_path / "gpu.json"
    done = run_bench("--profile", "gpu", f"--benchmark-json={path}", timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [NO_CUDA_LINE]
    assert "Traceback" not in done.stdout + done.stderr and not path.exists()


def test_bf16_cases_run_on_cpu_and_record_their_dtype(tmp_path):
    """FSDP2 with bfloat16 parameters on gloo: the record says bfloat16, the state is half the bytes of float32,
    and a load brings back exactly what was saved. --dtype on the quick profile keeps float32's ids."""
    path = tmp_path / "bf16.json"
    done = run_bench(*FAST[:2], "--model", "dummy_uneven", *FAST[4:], "--dtype", "bfloat16,float32",
                     "-k", "fsdp2 and dsd and sharded and (get_model or set_optim)", f"--benchmark-json={path}")
    assert done.returncode == 0, done.stdout[-3000:]
    records = {b["extra_info"]["case_id"]: b["extra_info"] for b in json.loads(path.read_text())["benchmarks"]}
    assert sorted(records) == sorted([
        "fsdp2-get_model-sharded-dtype_bfloat16-method_dsd-dummy_uneven-mesh2",
        "fsdp2-get_model-sharded-method_dsd-dummy_uneven-mesh2",
        "fsdp2-set_optim-sharded-dtype_bfloat16-method_dsd-dummy_uneven-mesh2",
        "fsdp2-set_optim-sharded-method_dsd-dummy_uneven-mesh2"])
    bf16 = records["fsdp2-get_model-sharded-dtype_bfloat16-method_dsd-dummy_uneven-mesh2"]
    fp32 = records["fsdp2-get_model-sharded-method_dsd-dummy_uneven-mesh2"]
    assert (bf16["dtype"], bf16["options"]["dtype"], fp32["dtype"]) == ("bfloat16", "bfloat16", "float32")
    assert "dtype" not in fp32["options"]
    assert bf16["bytes_global"] * 2 == fp32["bytes_global"] > 0
    for case_id in ("fsdp2-set_optim-sharded-dtype_bfloat16-method_dsd-dummy_uneven-mesh2",
                    "fsdp2-set_optim-sharded-method_dsd-dummy_uneven-mesh2"):
        assert records[case_id]["status"] == "ok" and records[case_id]["correct"] is True


def test_bf16_resharding_load_reads_a_bf16_checkpoint(tmp_path):
    """The world that saves a resharding source builds the model in the loading case's dtype, not in whatever
    its own last case used."""
    path = tmp_path / "reshard.json"
    done = run_bench("--mesh", "1,4", "--model", "dummy_uneven", *FAST[4:], "--dtype", "bfloat16",
                     "-k", "saved_on and bfloat16", f"--benchmark-json={path}")
    assert done.returncode == 0, done.stdout[-3000:]
    records = [b["extra_info"] for b in json.loads(path.read_text())["benchmarks"]]
    assert {(r["options"]["saved_on"], r["mesh_shape"][0]) for r in records} == {("4", 1), ("1", 4)}
    assert all(r["dtype"] == "bfloat16" and r["correct"] is True for r in records)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where there is no CUDA")
def test_gpu_check_script_without_cuda_says_so_and_keeps_its_log_in_out(tmp_path):
    done = subprocess.run(["scripts/gpu_check.sh"], cwd=ROOT, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "OUT": str(tmp_path)}, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [NO_CUDA_LINE]
    assert done.stdout.startswith(f"gpu_check: torch {torch.__version__}, CUDA None, 0 GPU(s)")
    assert [p.suffix for p in tmp_path.iterdir()] == [".log"]


def test_pinned_staging_rate_is_read_against_the_pinned_copy_ceiling():
    from bench.machine.ceilings import add_fraction_of_ceiling

    record = {"api": "dcp", "op": "async_save", "options": {"staging": "pinned"}, "throughput_gbps": 1.0,
              "bytes_per_rank": [3e9, 4e9], "staging_median_s": 0.5}
    add_fraction_of_ceiling(record, {"write_fsync_gbps": 2.0, "cuda_d2h_pinned_gbps": 16.0})
    assert record["fraction_of_ceiling"] == 0.5
    assert record["staging_gbps_per_rank"] == 8.0 and record["staging_fraction_of_ceiling"] == 0.5
    default = {**record, "options": {"staging": "default"}}
    for key in ("staging_gbps_per_rank", "staging_fraction_of_ceiling"):
        default.pop(key)
    add_fraction_of_ceiling(default, {"cuda_d2h_pinned_gbps": 16.0})
    assert "staging_gbps_per_rank" not in default  # default staging on the CPU: nothing copied from a device


def test_gpu_case_timeout_is_one_minute_up_to_the_1b_model():
    from bench.run.session import case_timeout_s

    profile = get_profile("gpu")
    for model in profile.models:
        case = Case(api="fsdp2", op="get_model", state_dict_type="sharded", model=model)
        assert case_timeout_s(profile.rounds, case, profile.timeout_base_params) == 60.0
