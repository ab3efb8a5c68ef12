"""DCP's global save planning at scale: the coordinator's `DefaultSavePlanner.create_global_plan` (dedup of
replicated items, the checkpoint's metadata, the plan's validation) over the local plans of N ranks, without data.

Setup (untimed) shards the model + Adam state with FSDP2 over the simulated world of N ranks, lets DCP build this
rank's local save plan from it, and derives every other rank's plan from the same DTensor metadata: a sharded item
gets the shard shape and offset that torch computes for that rank's mesh coordinate; replicated items (Adam's step,
param_groups) are the same on every rank, as in a real world. Each round times `create_global_plan` on a fresh
planner, as the coordinator of `dcp.save` runs it once all local plans have been gathered (plan caching off, the
default). The gather and scatter of the plans, and the local planning on each rank, are not in the time.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from typing import Any

import torch
from torch.distributed.checkpoint import DefaultSavePlanner
from torch.distributed.checkpoint.metadata import BytesStorageMetadata, ChunkStorageMetadata, MetadataIndex
from torch.distributed.checkpoint.planner import SavePlan, TensorWriteData, WriteItem, WriteItemType
from torch.distributed.tensor import DTensor

from bench.ops.base import Operation
from bench.ops.checkpoint_base import checkpoint_state
from bench.ops.wrapping import build_fsdp2


def mesh_coordinate(rank: int, mesh_shape: tuple[int, ...]) -> list[int]:
    """The coordinate of `rank` in a row-major mesh, as init_device_mesh lays ranks out."""
    coordinate = []
    for size in reversed(mesh_shape):
        coordinate.append(rank % size)
        rank //= size
    return coordinate[::-1]


@lru_cache(maxsize=4096)
def _shard_geometry(global_shape: tuple[int, ...], placements: tuple, mesh_shape: tuple[int, ...],
                    rank: int) -> tuple[torch.Size, torch.Size]:
    """(sizes, offsets) of the shard that `rank` holds, by torch's own rule for checkpoints. Cached: a parameter and
    its two Adam moments share one geometry, and so do layers of one shape."""
    from torch.distributed.tensor._utils import _compute_local_shape_and_global_offset

    sizes, offsets = _compute_local_shape_and_global_offset(
        global_shape, mesh_shape, mesh_coordinate(rank, mesh_shape), placements)
    return torch.Size(sizes), torch.Size(offsets)


def plan_for_rank(local_plan: SavePlan, dtensors: dict[str, DTensor], rank: int) -> SavePlan:
    """`local_plan` (this rank's, from DCP) as the rank `rank` would have made it: its shards' sizes and offsets."""
    items = []
    for item in local_plan.items:
        tensor = dtensors.get(item.index.fqn)
        if item.type != WriteItemType.SHARD or tensor is None:
            items.append(item)  # replicated: every rank plans the same item, the coordinator dedups them
            continue
        sizes, offsets = _shard_geometry(tuple(tensor.shape), tuple(tensor.placements),
                                         tuple(tensor.device_mesh.shape), rank)
        data = item.tensor_data
        items.append(WriteItem(index=MetadataIndex(item.index.fqn, offsets), type=item.type,
                               tensor_data=TensorWriteData(chunk=ChunkStorageMetadata(offsets=offsets, sizes=sizes),
                                                           properties=data.properties, size=data.size)))
    return dataclasses.replace(local_plan, items=items)


def chunks_tile(metadata) -> str | None:
    """None when every tensor's chunks in the global metadata add up to its volume (each element saved exactly once,
    since torch's validation already refused overlaps), else the first tensor where they do not."""
    for fqn, entry in metadata.state_dict_metadata.items():
        if isinstance(entry, BytesStorageMetadata) or len(entry.size) == 0:
            continue
        volume = sum(math.prod(chunk.sizes) for chunk in entry.chunks)
        if volume != math.prod(entry.size):
            return f"{fqn}: chunks hold {volume} elements of {math.prod(entry.size)}"
    return None


class SimulatedPlan(Operation):
    def setup(self) -> None:
        model, optim = build_fsdp2(self.ctx, self.spec["model"])
        planner = DefaultSavePlanner()
        planner.set_up_planner(checkpoint_state(model, optim), is_coordinator=True)
        self.own_plan = planner.create_local_plan()
        # flattened keys ("model.layers.0.w", "optim.state.layers.0.w.exp_avg") as the plan's items name them
        self.dtensors = {fqn: value for fqn, value in planner.state_dict.items() if isinstance(value, DTensor)}
        self.local_plans = [self.own_plan if rank == self.ctx.rank else plan_for_rank(self.own_plan, self.dtensors, rank)
                            for rank in range(self.ctx.world_size)]
        self.extra["write_items_local"] = sum(len(plan.items) for plan in self.local_plans)
        self.effective_options["plan_caching"] = False

    def run(self) -> tuple[list[SavePlan], Any]:
        return DefaultSavePlanner().create_global_plan(self.local_plans)

    def verify(self, last_result: tuple[list[SavePlan], Any]) -> bool:
        """The derived plan of this very rank equals DCP's own, and the global metadata covers every tensor once."""
        global_plan, metadata = last_result
        self.extra["write_items_global"] = sum(len(plan.items) for plan in global_plan)
        self.extra["metadata_entries"] = len(metadata.state_dict_metadata)
        derived = plan_for_rank(self.own_plan, self.dtensors, self.ctx.rank)
        if derived.items != self.own_plan.items:
            return self.report("the plan derived for this rank differs from DCP's own local plan")
        return self.report(chunks_tile(metadata))

    def counted_state(self, last_result: Any) -> dict:
        return {}  # planning moves no tensor bytes: no throughput


OPERATIONS = {"plan": SimulatedPlan}
