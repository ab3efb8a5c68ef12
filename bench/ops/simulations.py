"""Simulations at the sizes users run (the scale profile): families of simulated cases over real model shapes, 1D,
HSDP and FSDP + tensor-parallel meshes, and DCP planning with resharding. Pure Python, as the matrix beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from bench.ops.matrix import Case, make_case


SIMULATION_KINDS = ("state_dict", "planning")
SIMULATION_LAYOUTS = ("fsdp", "hsdp", "tp")


@dataclass(frozen=True, kw_only=True, slots=True)
class Simulation:
    """A family of simulated cases at the sizes users run (the scale profile)."""

    kind: str
    """`state_dict`: FSDP2's get/set of model and optimizer state (dsd); `planning`: DCP's local save plan, global
    save plan and local load plan (of checkpoints saved by the fractions of N in `load_from`)."""
    models: tuple[str, ...]
    """Zoo models (the real shapes of models/shapes.py and their variants)."""
    ranks: tuple[int, ...]
    """World sizes N."""
    layout: str = "fsdp"
    """`fsdp`: a 1D mesh of N; `hsdp`: (N / group) replicas of `group`-way sharding; `tp`: FSDP over N / group x
    tensor parallelism over `group` (DTensors with two placements)."""
    group: int = 8
    """HSDP's shard group size, or the tensor-parallel degree."""
    load_from: tuple[float, ...] = (1.0, 0.5)
    """Planning: loads of checkpoints saved by these fractions of N ranks (1.0: the same world; another: resharded,
    1D only)."""
    ops: tuple[str, ...] = ()
    """Only these ops of the kind (e.g. the global `plan`, whose cost grows with ranks x tensors, at fewer
    sizes); empty: all."""

    def __post_init__(self) -> None:
        if self.kind not in SIMULATION_KINDS or self.layout not in SIMULATION_LAYOUTS:
            raise ValueError(f"simulation kind must be one of {SIMULATION_KINDS} and layout one of "
                             f"{SIMULATION_LAYOUTS}, got {self.kind!r}, {self.layout!r}")
        if self.layout != "fsdp" and any(n % self.group or n == self.group for n in self.ranks):
            raise ValueError(f"every rank count must be a multiple of group {self.group} (and larger)")

    def mesh(self, world_size: int) -> tuple[int, ...]:
        return (world_size,) if self.layout == "fsdp" else (world_size // self.group, self.group)

    def cases(self, model: str, world_size: int) -> list[Case]:
        return [case for case in self._all_cases(model, world_size) if not self.ops or case.op in self.ops]

    def _all_cases(self, model: str, world_size: int) -> list[Case]:
        mesh = self.mesh(world_size)
        layout = {"parallel": "tp"} if self.layout == "tp" else {}
        if self.kind == "state_dict":
            return [make_case("fsdp2", op, "sharded", model, mesh, method="dsd", simulated=True, **layout)
                    for op in ("get_model", "get_optim", "set_model", "set_optim")]
        cases = [make_case("dcp", op, "sharded", model, mesh, simulated=True, source="fsdp2", **layout)
                 for op in ("plan_local", "plan")]
        for fraction in self.load_from:
            saved = int(world_size * fraction)
            if saved >= 1 and (saved == world_size or self.layout == "fsdp"):
                cases.append(make_case("dcp", "plan_load", "sharded", model, mesh, simulated=True, source="fsdp2",
                                       saved_ranks=saved, **layout))
        return cases


def scale_cases(simulations: Iterable[Simulation], models: Iterable[str] | None = None) -> list[Case]:
    """The simulations' cases for `models` (None: all of theirs), grouped by mesh, then by model, so that one
    simulated world serves a mesh and one model build (bench/ops/wrapping.py) its ops."""
    keep = None if models is None else set(models)
    cases = [case for simulation in simulations for model in simulation.models
             if keep is None or model in keep
             for world_size in simulation.ranks for case in simulation.cases(model, world_size)]
    order = {model: index for index, model in enumerate(dict.fromkeys(case.model for case in cases))}
    return sorted(cases, key=lambda case: (case.world_size, case.mesh_shape, order[case.model]))
