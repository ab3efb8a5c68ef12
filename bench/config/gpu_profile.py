"""What the gpu profile adds to the case matrix: worlds sized by the machine's GPU count, and a short case list for the
models whose setup alone costs seconds per case (every case once per dtype: bench/ops/matrix.py with_dtypes).

These are plain functions of their inputs (the GPU count is an argument), so that the expansion for 1, 2, 4 or 8
GPUs is checked on a machine without any.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bench.ops.matrix import Case

GPU_WORLD_SIZES = (1, 2, 4, 8)
"""1D worlds of the gpu profile, as far as the GPUs go: one rank per GPU (nccl refuses two ranks on one device)."""
GPU_2D_MESHES = ((2, 2), (2, 4))
"""HSDP meshes (replicate x shard) of the gpu profile, where the GPUs suffice."""

LIMITED_CASES: tuple[tuple[str, str, str, tuple[tuple[str, Any], ...]], ...] = (
    ("fsdp2", "get_model", "sharded", (("method", "dsd"),)),
    ("fsdp2", "get_model", "full", (("cpu_offload", True),)),
    ("fsdp2", "get_optim", "sharded", ()),
    ("fsdp2", "set_model", "sharded", ()),
    ("dcp", "save", "sharded", (("source", "fsdp2"), ("thread_count", 1), ("single_file_per_rank", True))),
    ("dcp", "async_save", "sharded", (("staging", "pinned"),)),
    ("dcp", "load", "sharded", (("source", "fsdp2"), ("page_cache", "cold"))),
)
"""(api, op, state_dict_type, options it must have) of the cases a limited model keeps: FSDP2's model and optimizer
state dicts and a model load, one durable DCP save, the pinned-staging async save and a cold load. The full matrix
is left to the small models: a 1B model's setup alone (its weights drawn on the CPU) takes seconds per case."""


def gpu_mesh_shapes(device_count: int) -> list[tuple[int, ...]]:
    """The worlds that `device_count` GPUs allow: 1, 2, 4, 8 ranks, then the 2D meshes, one GPU per rank."""
    if device_count < 1:
        return []
    meshes: list[tuple[int, ...]] = [(n,) for n in GPU_WORLD_SIZES if n <= device_count]
    meshes += [mesh for mesh in GPU_2D_MESHES if mesh[0] * mesh[1] <= device_count]
    return meshes


def _is_limited_case(case: Case) -> bool:
    options = case.options_dict
    return any(case.api == api and case.op == op and case.state_dict_type == sdt
               and all(options.get(key) == value for key, value in required)
               for api, op, sdt, required in LIMITED_CASES)


def limit_cases(cases: Iterable[Case], limited_models: Iterable[str]) -> list[Case]:
    """Drop the cases of `limited_models` that LIMITED_CASES does not name."""
    limited = set(limited_models)
    return [case for case in cases if case.model not in limited or _is_limited_case(case)]
