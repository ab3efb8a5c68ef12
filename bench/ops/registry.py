"""Operations by (api, op): what each case does on a rank (the ops of bench/ops/matrix.py API_OPS)."""

from __future__ import annotations

from typing import Any

from bench.ops.context import RankContext
from bench.ops import dcp, file_save, fsdp1, fsdp2, plan_load_sim, plan_sim, serialization
from bench.ops.base import Operation, Unsupported
from bench.ops.faults import FaultInjection
from bench.ops.noop import NoOp

_REGISTRY: dict[str, dict[str, type[Operation]]] = {
    "fsdp1": fsdp1.OPERATIONS,
    "fsdp2": fsdp2.OPERATIONS,
    "dcp": {**dcp.OPERATIONS, **plan_sim.OPERATIONS, **plan_load_sim.OPERATIONS},
    "torch_save": {**serialization.OPERATIONS, **file_save.OPERATIONS},
    "null": {"noop": NoOp},
}


def make_operation(ctx: RankContext, spec: dict[str, Any]) -> Operation:
    if spec["options"].get("fault"):
        return FaultInjection(ctx, spec)
    try:
        cls = _REGISTRY[spec["api"]][spec["op"]]
    except KeyError:
        raise Unsupported(f"the suite has no {spec['api']} {spec['op']} operation") from None
    return cls(ctx, spec)


__all__ = ["make_operation", "Operation", "Unsupported"]
