"""DCP's save planning at scale, without data: each rank's local plan (op `plan_local`) and the coordinator's
`DefaultSavePlanner.create_global_plan` (op `plan`: dedup of replicated items, the checkpoint's metadata, the plan's
validation) over the local plans of N ranks.

Setup (untimed) shards the model + Adam state with FSDP2 over the simulated world of N ranks, lets DCP build this
rank's local save plan from it, and derives every other rank's plan from the same DTensor metadata: a sharded item
gets the shard shape and offset that torch computes for that rank's mesh coordinate; replicated items (Adam's step,
param_groups) are the same on every rank, as in a real world. `plan` times `create_global_plan` on a fresh planner,
as the coordinator of `dcp.save` runs it once all local plans have been gathered (plan caching off, the default);
`plan_local` times one rank's set_up_planner + create_local_plan. The gather and scatter of the plans are not timed:
their bytes are counted (pickled, as DCP's object collectives send them).
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import time
from collections import ChainMap
from functools import lru_cache
from typing import Any

import torch
from torch.distributed.checkpoint import DefaultSavePlanner
from torch.distributed.checkpoint.default_planner import create_default_global_save_plan
from torch.distributed.checkpoint.metadata import (BytesStorageMetadata, ChunkStorageMetadata, Metadata,
                                                   MetadataIndex)
from torch.distributed.checkpoint.planner import SavePlan, TensorWriteData, WriteItem, WriteItemType
from torch.distributed.tensor import DTensor

from bench.ops.base import Operation
from bench.ops.checkpoint_base import checkpoint_state
from bench.ops.wrapping import build_fsdp2, resident_bytes


def mesh_coordinate(rank: int, mesh_shape: tuple[int, ...]) -> list[int]:
    """The coordinate of `rank` in a row-major mesh, as init_device_mesh lays ranks out."""
    coordinate = []
    for size in reversed(mesh_shape):
        coordinate.append(rank % size)
        rank //= size
    return coordinate[::-1]


@lru_cache(maxsize=2**17)
def _shard_geometry(global_shape: tuple[int, ...], placements: tuple, mesh_shape: tuple[int, ...],
                    rank: int) -> tuple[torch.Size, torch.Size]:
    """(sizes, offsets) of the shard that `rank` holds, by torch's own rule for checkpoints. Cached: a parameter and
    its two Adam moments share one geometry, and so do layers of one shape (a few shapes x 16,384 ranks fit)."""
    from torch.distributed.tensor._utils import _compute_local_shape_and_global_offset

    sizes, offsets = _compute_local_shape_and_global_offset(
        global_shape, mesh_shape, mesh_coordinate(rank, mesh_shape), placements)
    return torch.Size(sizes), torch.Size(offsets)


def shard_layouts(dtensors: dict[str, DTensor], mesh_shape: tuple[int, ...] | None = None) -> dict[str, tuple]:
    """Each DTensor's (global shape, placements, mesh shape), read once: DeviceMesh.shape is computed on every
    call. `mesh_shape`: a world of another mesh with the same placements (a checkpoint saved at another size)."""
    return {fqn: (tuple(t.shape), tuple(t.placements), mesh_shape or tuple(t.device_mesh.shape))
            for fqn, t in dtensors.items()}


def plan_for_rank(local_plan: SavePlan, layouts: dict[str, tuple], rank: int) -> SavePlan:
    """`local_plan` (this rank's, from DCP) as the rank `rank` would have made it: its shards' sizes and offsets,
    with the shard layouts of `shard_layouts`."""
    items = []
    for item in local_plan.items:
        layout = layouts.get(item.index.fqn)
        if item.type != WriteItemType.SHARD or layout is None:
            items.append(item)  # replicated: every rank plans the same item, the coordinator dedups them
            continue
        sizes, offsets = _shard_geometry(*layout, rank)
        # objects of this item's own, as DCP makes them: pickling (the bytes a gather carries) then counts each once
        sizes, offsets = torch.Size(sizes), torch.Size(offsets)
        data = item.tensor_data
        items.append(WriteItem(index=MetadataIndex(item.index.fqn, offsets), type=item.type,
                               tensor_data=TensorWriteData(chunk=ChunkStorageMetadata(offsets=offsets, sizes=sizes),
                                                           properties=data.properties, size=data.size)))
    return dataclasses.replace(local_plan, items=items)


def unvalidated_global_plan(plans: list[SavePlan]) -> tuple[list[SavePlan], Metadata]:
    """The global plan and metadata that DefaultSavePlanner's coordinator makes of these local plans (dedup, global
    plan, the flattened names' mappings) but without its validation, which sweeps every tensor's chunks against each
    other (minutes at 16,384 ranks; the op `plan` times it). chunks_tile checks the result."""
    global_plan, metadata = create_default_global_save_plan(DefaultSavePlanner()._dedup_save_plans(plans))
    mappings = dict(ChainMap(*[plan.planner_data for plan in global_plan]))
    return global_plan, dataclasses.replace(metadata, planner_data=mappings)


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


PICKLED_PLANS_SAMPLE = 256
"""Plans pickled to count the bytes a plan gather or scatter carries: all of them up to this many ranks, else this
many evenly spread, scaled up to N."""


def pickled_bytes(plans: list[SavePlan]) -> int:
    """Bytes of `plans` as DCP's gather/scatter of objects pickles them, each on its own (counted, not timed)."""
    step = max(1, len(plans) // PICKLED_PLANS_SAMPLE)
    sample = plans[::step]
    return round(sum(len(pickle.dumps(plan)) for plan in sample) * len(plans) / len(sample))


def metadata_figures(metadata) -> dict[str, Any]:
    """The checkpoint metadata's size as DCP writes it (`.metadata` is a pickle), the time to pickle it once, and its
    chunk count (what a loading rank's planner searches)."""
    began = time.perf_counter()
    size = len(pickle.dumps(metadata))
    return {"metadata_bytes": size, "metadata_pickle_s": time.perf_counter() - began,
            "metadata_chunks": sum(len(getattr(entry, "chunks", ())) for entry in metadata.state_dict_metadata.values())}


def plans_of_world(own_plan: SavePlan, dtensors: dict[str, DTensor], own_rank: int,
                   mesh_shape: tuple[int, ...] | None, world_size: int) -> list[SavePlan]:
    layouts = shard_layouts(dtensors, mesh_shape)
    return [own_plan if rank == own_rank and mesh_shape is None else plan_for_rank(own_plan, layouts, rank)
            for rank in range(world_size)]


class _SimulatedPlanning(Operation):
    """Builds the FSDP2 model + Adam state of the case (1D, HSDP or with tensor parallelism) and DCP's local save
    plan of this rank over it."""

    def setup(self) -> None:
        self.model, self.optim = build_fsdp2(self.ctx, self.spec["model"],
                                             tensor_parallel=self.options.get("parallel") == "tp")
        self.state = checkpoint_state(self.model, self.optim)
        planner = DefaultSavePlanner()
        planner.set_up_planner(self.state, is_coordinator=self.ctx.rank == 0)
        self.own_plan = planner.create_local_plan()
        # flattened keys ("model.layers.0.w", "optim.state.layers.0.w.exp_avg") as the plan's items name them
        self.dtensors = {fqn: value for fqn, value in planner.state_dict.items() if isinstance(value, DTensor)}
        self.effective_options["plan_caching"] = False
        self.extra["rss_after_setup_bytes"] = resident_bytes()

    def counted_state(self, last_result: Any) -> dict:
        return {}  # planning moves no tensor bytes: no throughput


class SimulatedLocalPlan(_SimulatedPlanning):
    """This rank's local save plan, as `dcp.save` makes it on every rank: set_up_planner (flattening the state
    dict) and create_local_plan, on a fresh planner each round."""

    def run(self) -> SavePlan:
        planner = DefaultSavePlanner()
        planner.set_up_planner(self.state, is_coordinator=self.ctx.rank == 0)
        return planner.create_local_plan()

    def verify(self, last_result: SavePlan) -> bool:
        self.extra["write_items_local"] = len(last_result.items)
        self.extra["gather_bytes"] = len(pickle.dumps(last_result)) * self.ctx.world_size
        return self.report(None if last_result.items == self.own_plan.items else
                           "the local plan differs from round to round")


class SimulatedPlan(_SimulatedPlanning):
    def setup(self) -> None:
        super().setup()
        self.local_plans = plans_of_world(self.own_plan, self.dtensors, self.ctx.rank, None, self.ctx.world_size)
        self.extra["write_items_local"] = sum(len(plan.items) for plan in self.local_plans)
        self.extra["gather_bytes"] = pickled_bytes(self.local_plans)
        self.extra["rss_after_setup_bytes"] = resident_bytes()  # with the N local plans

    def run(self) -> tuple[list[SavePlan], Any]:
        return DefaultSavePlanner().create_global_plan(self.local_plans)

    def verify(self, last_result: tuple[list[SavePlan], Any]) -> bool:
        """The derived plan of this very rank equals DCP's own, and the global metadata covers every tensor once."""
        global_plan, metadata = last_result
        self.extra["write_items_global"] = sum(len(plan.items) for plan in global_plan)
        self.extra["metadata_entries"] = len(metadata.state_dict_metadata)
        self.extra["scatter_bytes"] = pickled_bytes(global_plan)
        self.extra.update(metadata_figures(metadata))
        derived = plan_for_rank(self.own_plan, shard_layouts(self.dtensors), self.ctx.rank)
        if derived.items != self.own_plan.items:
            return self.report("the plan derived for this rank differs from DCP's own local plan")
        return self.report(chunks_tile(metadata))



OPERATIONS = {"plan": SimulatedPlan, "plan_local": SimulatedLocalPlan}
