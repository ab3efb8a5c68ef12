"""The case matrix: what a case is (`Case`), which ops each api has, and every case a profile's mesh shapes and
models expand to. The ops' code is beside it in bench/ops/ (bench/ops/registry.py); this module is pure Python, no
torch, so that the pytest process, config and results use it without torch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

API_OPS: dict[str, tuple[str, ...]] = {
    "fsdp1": ("get_model", "get_optim", "set_model", "set_optim"),
    "fsdp2": ("get_model", "get_optim", "set_model", "set_optim"),
    "dcp": ("save", "async_save", "load", "plan", "plan_local", "plan_load"),
    "torch_save": ("serialize", "deserialize", "save", "load"),
    "null": ("noop",),
}
"""Every api and its ops; each (api, op) has its Operation class in bench/ops/registry.py."""
OPS = tuple(dict.fromkeys(op for ops in API_OPS.values() for op in ops))
STATE_DICT_TYPES = ("sharded", "local", "full", None)
DTYPES = {"float32": 4, "bfloat16": 2}
"""Parameter dtypes a case may ask for with its option `dtype`, with their bytes per element; a case without the
option is float32. A rank takes torch's dtype of the same name."""
DEFAULT_DTYPE = "float32"


def mesh_label(mesh_shape: Iterable[int]) -> str:
    """(4,) -> "4", (2, 2) -> "2x2": how a mesh is named on the command line, in ids and in options."""
    return "x".join(str(n) for n in mesh_shape)


def parse_mesh_label(label: str) -> tuple[int, ...]:
    """The inverse of mesh_label for labels the suite wrote; user input goes through selection.parse_mesh."""
    return tuple(int(n) for n in label.split("x"))


def process_count(world_size: int, simulated: bool) -> int:
    """Processes a world runs: one per rank, or one for a simulated world."""
    return 1 if simulated else world_size


@dataclass(frozen=True, kw_only=True)
class Case:
    api: str
    """Which machinery is measured: fsdp1 | fsdp2 | dcp | torch_save | null."""
    op: str
    """What is timed: get_model, set_optim, serialize, noop, ..."""
    state_dict_type: str | None
    """sharded | local | full, or None where the op has no such setting."""
    options: tuple[tuple[str, Any], ...] = ()
    """API settings as sorted (name, value) pairs: rank0_only, offload_to_cpu, cpu_offload, use_mesh, ..."""
    model: str | None = None
    """A zoo model name, None for the null case."""
    mesh_shape: tuple[int, ...] = field(default=(1,))
    """(world_size,) or (replicate, shard)."""

    def __post_init__(self) -> None:
        if self.api not in API_OPS:
            raise ValueError(f"unknown api {self.api!r}")
        if self.op not in API_OPS[self.api]:
            raise ValueError(f"unknown op {self.op!r} of api {self.api!r}")
        if self.state_dict_type not in STATE_DICT_TYPES:
            raise ValueError(f"unknown state_dict_type {self.state_dict_type!r}")
        if not self.mesh_shape or any(int(n) < 1 for n in self.mesh_shape) or len(self.mesh_shape) > 2:
            raise ValueError(f"mesh shape {self.mesh_shape!r} must be 1 or 2 positive sizes")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}")

    @property
    def world_size(self) -> int:
        return math.prod(self.mesh_shape)

    @property
    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)

    @property
    def simulated(self) -> bool:
        """A simulated case: its world is one process playing one of `world_size` ranks (bench/results/schema.py
        SIMULATED_MEANING)."""
        return bool(self.options_dict.get("simulated"))

    @property
    def process_count(self) -> int:
        return process_count(self.world_size, self.simulated)

    @property
    def mesh_label(self) -> str:
        return mesh_label(self.mesh_shape)

    @property
    def dtype(self) -> str:
        """The parameters' dtype: the option `dtype` where the case has one (profiles that vary it), else float32."""
        return self.options_dict.get("dtype", DEFAULT_DTYPE)

    @property
    def id(self) -> str:
        """The pytest id; every part is also a field of the record, never parsed back from here."""
        parts = [self.api, self.op, self.state_dict_type]
        parts += [f"{key}_{int(value) if isinstance(value, bool) else value}" for key, value in self.options]
        parts += [self.model, f"mesh{self.mesh_label}"]
        return "-".join(part for part in parts if part)

    def as_spec(self) -> dict[str, Any]:
        """A plain dict, what is sent to the ranks."""
        return {"api": self.api, "op": self.op, "state_dict_type": self.state_dict_type,
                "options": self.options_dict, "model": self.model, "mesh_shape": list(self.mesh_shape)}


def make_case(api: str, op: str, sdt: str | None, model: str | None, mesh: tuple[int, ...], **options: Any) -> Case:
    return Case(api=api, op=op, state_dict_type=sdt, options=tuple(sorted(options.items())), model=model,
                mesh_shape=mesh)


def fsdp1_cases(model: str, mesh: tuple[int, ...]) -> list[Case]:
    is_2d = len(mesh) == 2
    cases = [make_case("fsdp1", op, "sharded", model, mesh, use_mesh=True)
             for op in ("get_model", "get_optim", "set_model", "set_optim")]
    # PyTorch's own test asserts that LOCAL_STATE_DICT with a DeviceMesh raises: kept to record torch's refusal.
    cases.append(make_case("fsdp1", "get_model", "local", model, mesh, use_mesh=True))
    if not is_2d:  # without a mesh FSDP1 shards over the default group: ShardedTensor state dicts
        cases += [make_case("fsdp1", op, "sharded", model, mesh, use_mesh=False)
                  for op in ("get_model", "get_optim", "set_model", "set_optim")]
        # LOCAL_STATE_DICT loads back only with use_orig_params=False (its _flat_param key).
        cases += [make_case("fsdp1", op, "local", model, mesh, use_mesh=False, use_orig_params=False)
                  for op in ("get_model", "set_model")]
    for rank0_only in (False, True):
        for offload_to_cpu in (False, True):
            cases += [make_case("fsdp1", op, "full", model, mesh, use_mesh=True, rank0_only=rank0_only,
                            offload_to_cpu=offload_to_cpu) for op in ("get_model", "get_optim")]
    return cases


def fsdp2_cases(model: str, mesh: tuple[int, ...]) -> list[Case]:
    cases = [make_case("fsdp2", "get_model", "sharded", model, mesh, method="module_state_dict")]
    for op in ("get_model", "get_optim"):
        cases.append(make_case("fsdp2", op, "sharded", model, mesh, method="dsd"))
        cases.append(make_case("fsdp2", op, "full", model, mesh, method="dsd", cpu_offload=True))
    for op in ("set_model", "set_optim"):
        cases.append(make_case("fsdp2", op, "sharded", model, mesh, method="dsd"))
        cases.append(make_case("fsdp2", op, "full", model, mesh, method="dsd", broadcast_from_rank0=True))
    return cases


def serialization_cases(model: str, mesh: tuple[int, ...]) -> list[Case]:
    """torch.save into a BytesIO and torch.load back of FSDP1's sharded (DTensor) state dicts, as PyTorch's test."""
    return [make_case("torch_save", op, "sharded", model, mesh, state=state, source="fsdp1")
            for state in ("model", "optim") for op in ("serialize", "deserialize")]


def checkpoint_cases(model: str, mesh: tuple[int, ...]) -> list[Case]:
    """DCP save/async_save/load of model + optimizer state, and the torch.save-to-files baselines."""
    cases = [make_case("dcp", "save", "sharded", model, mesh, source="fsdp2", thread_count=threads,
                   single_file_per_rank=single_file) for threads in (1, 4) for single_file in (True, False)]
    cases.append(make_case("dcp", "save", "sharded", model, mesh, source="fsdp1", thread_count=1,
                       single_file_per_rank=True))
    cases += [make_case("dcp", "async_save", "sharded", model, mesh, source="fsdp2", mode=mode, staging=staging)
              for mode, staging in (("thread", "default"), ("process", "default"), ("thread", "pinned"))]
    cases += [make_case("dcp", "load", "sharded", model, mesh, source=source, page_cache=cache)
              for source, cache in (("fsdp2", "cold"), ("fsdp2", "warm"), ("fsdp1", "cold"))]
    for layout, sdt in (("per_rank", "sharded"), ("rank0_full", "full")):
        cases.append(make_case("torch_save", "save", sdt, model, mesh, source="fsdp2", layout=layout))
        cases.append(make_case("torch_save", "load", sdt, model, mesh, source="fsdp2", layout=layout, page_cache="cold"))
    return cases


RESHARD_PAIRS = (((2,), (4,)), ((4,), (2,)), ((4,), (1,)), ((1,), (4,)), ((2, 2), (4,)))
"""(saved on, loaded on): growing, shrinking, to and from one rank, and from HSDP's 2D mesh to a 1D one."""


def reshard_cases(model: str, mesh: tuple[int, ...], meshes: list[tuple[int, ...]]) -> list[Case]:
    """DCP loads at `mesh` of a checkpoint saved at another mesh of the run (the source world saves it on demand)."""
    return [make_case("dcp", "load", "sharded", model, mesh, source="fsdp2", page_cache="cold",
                  saved_on=mesh_label(saved_on))
            for saved_on, loaded_on in RESHARD_PAIRS if loaded_on == mesh and saved_on in meshes]


def simulated_fsdp2_cases(model: str, world_size: int) -> list[Case]:
    """FSDP2's sharded get/set of model and optimizer state (dsd) by one rank of a simulated world. Full state dicts
    are not offered: their all-gathers return uninitialised memory on a fake process group."""
    return [make_case("fsdp2", op, "sharded", model, (world_size,), method="dsd", simulated=True)
            for op in ("get_model", "get_optim", "set_model", "set_optim")]


def simulated_plan_case(model: str, world_size: int) -> Case:
    """DCP's global save planning (the coordinator's dedup and metadata) over the local plans of `world_size` ranks
    holding `model` + Adam state, FSDP2-sharded; no data is written."""
    return make_case("dcp", "plan", "sharded", model, (world_size,), simulated=True, source="fsdp2")


def null_case(mesh: tuple[int, ...]) -> Case:
    return make_case("null", "noop", None, None, mesh)


def expand(mesh_shapes: Iterable[tuple[int, ...]], models: Iterable[str],
           checkpoint_models: Iterable[str] | None = None) -> list[Case]:
    """Every case, grouped by mesh shape so that one world of ranks serves a whole group. Checkpoint cases are made
    for `checkpoint_models` only (default: all models)."""
    models = list(models)
    checkpoint_models = models if checkpoint_models is None else list(checkpoint_models)
    meshes = [tuple(mesh) for mesh in mesh_shapes]
    cases: list[Case] = []
    for mesh in meshes:
        cases.append(null_case(mesh))
        for model in models:
            cases += fsdp1_cases(model, mesh) + fsdp2_cases(model, mesh) + serialization_cases(model, mesh)
            if model in checkpoint_models:
                cases += checkpoint_cases(model, mesh) + reshard_cases(model, mesh, meshes)
    return cases


def simulated_cases(models: Iterable[str], fsdp2_ranks: Iterable[int], plan_ranks: Iterable[int]) -> list[Case]:
    """The simulated cases, grouped by rank count so that one simulated world serves a whole group."""
    models = list(models)
    cases: list[Case] = []
    for world_size in sorted(set(fsdp2_ranks) | set(plan_ranks)):
        for model in models:
            if world_size in fsdp2_ranks:
                cases += simulated_fsdp2_cases(model, world_size)
            if world_size in plan_ranks:
                cases.append(simulated_plan_case(model, world_size))
    return cases


def with_dtypes(cases: Iterable[Case], dtypes: Iterable[str | None]) -> list[Case]:
    """Each case with a model once per dtype, as its option `dtype`; None stands for float32 without the option (the
    case as it is, its id unchanged). The variants stay side by side so that a table shows them together. Cases
    without a model (the null case) have no dtype."""
    dtypes = list(dtypes)
    varied = []
    for case in cases:
        if case.model is None:
            varied.append(case)
            continue
        varied += [case if dtype is None else
                   dataclasses.replace(case, options=tuple(sorted(case.options + (("dtype", dtype),))))
                   for dtype in dtypes]
    return varied
