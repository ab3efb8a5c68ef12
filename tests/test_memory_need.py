"""A case that cannot fit in memory is `skipped` with the reason, before any rank allocates anything."""

import json


from bench.ops.matrix import Case
from bench.config.memory_need import RANK_BASE_BYTES, MemoryNeed, estimate, host_available_bytes, shortfall
from tests.conftest import FAST, run_bench

GIB = 2**30
PARAMS = 1_000_000_000  # 4 GB of float32 parameters: never allocated here, only counted


def _case(op="get_model", sdt="sharded", mesh=(4,), api="fsdp1", **options):
    return Case(api=api, op=op, state_dict_type=sdt, options=tuple(sorted(options.items())), model="dummy",
                mesh_shape=mesh)


def test_estimate_follows_the_formula():
    model = PARAMS * 4
    sharded = estimate(_case(), PARAMS)
    assert sharded.host_bytes == 4 * RANK_BASE_BYTES + 4 * model + 2 * model
    full = estimate(_case(sdt="full", rank0_only=False), PARAMS)
    assert full.host_bytes == 4 * RANK_BASE_BYTES + 4 * model + 2 * 4 * model  # every rank gathers it
    rank0 = estimate(_case(sdt="full", rank0_only=True), PARAMS)
    assert rank0.host_bytes == 4 * RANK_BASE_BYTES + 4 * model + 2 * model
    optim = estimate(_case(op="get_optim"), PARAMS)
    assert optim.host_bytes == sharded.host_bytes + 2 * model  # Adam's two moments: twice the model's bytes
    hsdp = estimate(_case(mesh=(2, 2)), PARAMS)
    assert hsdp.host_bytes == 4 * RANK_BASE_BYTES + 2 * (4 * model + 2 * model)  # two replicas
    saved = estimate(_case(api="torch_save", op="serialize", state="model"), PARAMS)
    assert saved.host_bytes == sharded.host_bytes + model
    assert estimate(Case(api="null", op="noop", state_dict_type=None, mesh_shape=(2,)), None).host_bytes == \
        2 * RANK_BASE_BYTES


def test_device_need_counts_a_gathered_state_unless_it_is_offloaded():
    model = PARAMS * 4
    assert estimate(_case(), PARAMS).device_bytes_per_rank == 4 * model // 4
    assert estimate(_case(sdt="full"), PARAMS).device_bytes_per_rank == model + model
    assert estimate(_case(sdt="full", offload_to_cpu=True), PARAMS).device_bytes_per_rank == model


def test_shortfall_names_what_is_missing():
    need = MemoryNeed(host_bytes=3 * GIB, device_bytes_per_rank=2 * GIB)
    assert shortfall(need, 4 * GIB, None) is None
    assert shortfall(need, 2 * GIB, None) == "needs about 3.00 GiB of host memory, 2.00 GiB available"
    assert shortfall(need, 4 * GIB, GIB) == "needs about 2.00 GiB per device, the smallest GPU has 1.00 GiB"


def test_available_memory_is_capped():
    assert host_available_bytes([], cap_bytes=GIB) == GIB
    assert host_available_bytes([]) > 0


def test_case_over_the_memory_cap_is_skipped_with_the_reason(tmp_path):
    path = tmp_path / "capped.json"
    # 0.4 GiB: a 1-rank world fits (one rank's base), a 2-rank one does not
    done = run_bench(*FAST[2:], "--mesh", "1,2", "-k", "null", "--max-host-memory-gb", "0.4", "-rs",
                     f"--benchmark-json={path}")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "skipped: needs about 0.53 GiB of host memory, 0.40 GiB available" in done.stdout  # pytest's own report
    data = json.loads(path.read_text())
    assert [b["extra_info"]["case_id"] for b in data["benchmarks"]] == ["null-noop-mesh1"]
    skipped = [u["extra_info"] for u in data["untimed_cases"]]
    assert [(r["case_id"], r["status"]) for r in skipped] == [("null-noop-mesh2", "skipped")]
    assert skipped[0]["message"] == "needs about 0.53 GiB of host memory, 0.40 GiB available"
    assert data["run"]["status_counts"] == {"ok": 1, "skipped": 1} and data["run"]["world_starts"] == 1
    assert data["run"]["complete"] is True
