"""A case's memory need, estimated before it runs from its model size, mesh and state-dict type, so that a case that
cannot fit is `skipped` with the reason instead of running the machine out of memory.

Host bytes, on CPU (every rank's tensors live in host memory), with M = parameters x bytes per element of the
case's dtype (bench/ops/matrix.py DTYPES; Adam's moments take the parameters' dtype):

    world_size x RANK_BASE_BYTES       each rank's interpreter, torch and process group before any case
  + replicas x 4 x M                   parameters, gradients and Adam's two moments, sharded over the shard dimension
                                       and held once per replica (the replicate dimension of a 2D mesh)
  + copies x S                         what the op and its check hold at once; S = M for model state, 2 x M for
                                       optimizer state (Adam's moments):
                                         full state dict: 2 per rank that gathers it (the state and the snapshot the
                                           load is checked against); every rank gathers unless rank0_only,
                                           cpu_offload or broadcast_from_rank0 keep it on rank 0
                                         sharded or local: 2 x replicas, spread over the ranks
                                         torch.save/torch.load: 3 x replicas (the bytes, the loaded copy, the snapshot)

With CUDA each rank holds its shard of the training state on its own device, plus a gathered full state unless
it is offloaded to the CPU: replicas x 4 x M / world_size (+ S). Host memory then holds the ranks' base, and only
the copies that live there: an offloaded full state dict (cpu_offload, offload_to_cpu, broadcast_from_rank0's
source) with its snapshot, torch.save's bytes and copies, and the snapshot (always on the CPU) that a load or save
is checked against. It is a floor, not a bound: allocator slack, communication buffers and fragmentation come on
top, which is why the host figure keeps the measured RSS of a rank (a CUDA rank's is larger: not measured here).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.ops.matrix import DTYPES, Case
from models.catalog import model_entry

RANK_BASE_BYTES = 270 * 2**20
"""RSS of an idle rank after joining its world (torch 2.13.0 CPU, gloo: 267 MiB measured for 1, 2 and 4 ranks).
RSS counts the shared library pages in every rank, so for several ranks this is on the high side."""
SNAPSHOT_OPS = ("set_model", "set_optim", "save", "async_save", "load")
"""Ops that keep a CPU snapshot of the state to check the round trip against."""
TRAINING_STATE_COPIES = 4  # parameters, gradients, exp_avg, exp_avg_sq


@dataclass(frozen=True, slots=True)
class MemoryNeed:
    host_bytes: int
    """Estimated host bytes of the whole case (all its ranks)."""
    device_bytes_per_rank: int
    """Estimated bytes on each rank's device when it runs on CUDA."""


def _state_bytes(case: Case, model_bytes: int) -> int:
    options = case.options_dict
    is_optim = case.op.endswith("_optim") or options.get("state") == "optim"
    return 2 * model_bytes if is_optim else model_bytes


def _full_state_on_rank0_only(case: Case) -> bool:
    options = case.options_dict
    return bool(options.get("rank0_only") or options.get("cpu_offload") or options.get("broadcast_from_rank0"))


def _cuda_host_copies(case: Case, op_copies: int, replicas: int, offloaded: bool) -> int:
    """Of the op's copies, those that live in host memory when the ranks run on GPUs."""
    if case.api == "torch_save":
        return op_copies
    if case.state_dict_type == "full":  # broadcast_from_rank0's source is taken with cpu_offload
        return op_copies if offloaded or case.options_dict.get("broadcast_from_rank0") else 0
    return replicas if case.op in SNAPSHOT_OPS else 0


PLAN_ITEM_BYTES = 768
"""Host bytes per write item of a simulated planning case (the N local plans and the global plan): measured ~500
(657 MB peak RSS for 770k local items at 4096 ranks, transformer_1m, of which ~270 MB the process's base)."""


SIMULATED_BUILD_COPIES = 12
"""Copies of rank 0's parameter bytes at the peak of a simulated rank's case: parameters, gradients, Adam's two
moments, the foreach step's temporaries and the op's own copies. Measured 2026-12-07: resident 4.3x the parameter
bytes after setup for Llama-3 70B at 256 ranks, and a peak of 13.3 GB in that run's 70B and MoE cases at 256
ranks, where rank 0 holds about 1.1 GB of parameters (12x)."""


def _rank0_model_bytes(case: Case, model_bytes: int, shards: int) -> int:
    """Bytes of rank 0's shard of the parameters: from the real shape where the model has one (rank 0 holds the
    most where a dim 0 is smaller than the shard count), else an even share."""
    shape = model_entry(case.model).shape if case.model else None
    if shape is None or not model_bytes:
        return model_bytes // shards
    return model_bytes * shape.largest_shard_params(shards) // shape.param_count()


def _simulated_estimate(case: Case, model_bytes: int, tensors_hint: int) -> MemoryNeed:
    """One process holding rank 0's shard of the training state and of the op's copies; a global planning case
    also holds a local plan per simulated rank, a load planning case those of the saving world and its metadata.
    HSDP shards over the mesh's last dimension only; tensor parallelism over the whole world."""
    options = case.options_dict
    hsdp = len(case.mesh_shape) == 2 and options.get("parallel") != "tp"
    shard = _rank0_model_bytes(case, model_bytes, case.mesh_shape[-1] if hsdp else case.world_size)
    per_rank = max(SIMULATED_BUILD_COPIES * shard, TRAINING_STATE_COPIES * shard + 2 * _state_bytes(case, shard))
    planning_ranks = {"plan": case.world_size, "plan_load": int(options.get("saved_ranks", case.world_size))}
    plans = planning_ranks.get(case.op, 0) * tensors_hint * PLAN_ITEM_BYTES
    return MemoryNeed(host_bytes=RANK_BASE_BYTES + per_rank + plans, device_bytes_per_rank=per_rank)


def _state_tensors(case: Case, params: int) -> int:
    """Tensors of model + Adam state: 3 per parameter tensor where the model's shape is known (models/shapes.py),
    else a guess from the size (~1e4 to 1e6 elements per tensor)."""
    shape = model_entry(case.model).shape if case.model else None
    return 3 * shape.tensor_count() if shape is not None else max(16, 3 * params // 20_000)


def estimate(case: Case, params: int | None, *, cuda: bool = False) -> MemoryNeed:
    """`cuda`: the ranks run on GPUs (the training state lives on the devices)."""
    model_bytes = (params or 0) * DTYPES[case.dtype]
    if case.simulated:  # a plan item per state tensor
        return _simulated_estimate(case, model_bytes, tensors_hint=_state_tensors(case, params or 0))
    replicas = case.mesh_shape[0] if len(case.mesh_shape) == 2 else 1
    state = _state_bytes(case, model_bytes)
    if case.state_dict_type == "full":
        op_copies = 2 * (1 if _full_state_on_rank0_only(case) else case.world_size)
    elif case.api == "torch_save":
        op_copies = 3 * replicas
    else:
        op_copies = 2 * replicas
    training = replicas * TRAINING_STATE_COPIES * model_bytes
    offloaded = bool(case.options_dict.get("offload_to_cpu") or case.options_dict.get("cpu_offload"))
    if cuda:
        host = case.world_size * RANK_BASE_BYTES + _cuda_host_copies(case, op_copies, replicas, offloaded) * state
    else:
        host = case.world_size * RANK_BASE_BYTES + training + op_copies * state
    device = training // case.world_size + (state if case.state_dict_type == "full" and not offloaded else 0)
    return MemoryNeed(host_bytes=host, device_bytes_per_rank=device)


def shortfall(need: MemoryNeed, host_available: int, device_available: int | None) -> str | None:
    """Why the case cannot fit, or None when it can."""
    if need.host_bytes > host_available:
        return (f"needs about {need.host_bytes / 2**30:.2f} GiB of host memory, "
                f"{host_available / 2**30:.2f} GiB available")
    if device_available is not None and need.device_bytes_per_rank > device_available:
        return (f"needs about {need.device_bytes_per_rank / 2**30:.2f} GiB per device, "
                f"the smallest GPU has {device_available / 2**30:.2f} GiB")
    return None


def host_available_bytes(live_rank_pids: list[int], cap_bytes: int | None = None) -> int:
    """Host memory available now, plus what the ranks the case will reuse hold (its mesh's live world). Capped by
    --max-host-memory-gb, for a machine shared with other work (and for the suite's tests)."""
    import psutil

    available = psutil.virtual_memory().available
    for pid in live_rank_pids:
        try:
            available += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            pass
    return available if cap_bytes is None else min(available, cap_bytes)


def gpu_count_shortfall(world_size: int, device_count: int) -> str | None:
    """Why a world of `world_size` ranks cannot run on this machine's `device_count` GPUs (nccl needs one GPU per
    rank), or None. No GPUs: None (the ranks run on the CPU with gloo)."""
    if device_count and world_size > device_count:
        return f"needs {world_size} GPUs (one per rank with nccl), this machine has {device_count}"
    return None
