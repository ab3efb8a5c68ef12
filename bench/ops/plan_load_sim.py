"""DCP's load planning at scale, without data (op `plan_load`): the reading rank's local load plan against the
metadata of a checkpoint saved by `saved_ranks` ranks, resharded when that is not this world's size.

Setup (untimed) builds the metadata that a save by `saved_ranks` ranks of the same model and sharding would have
written: every saving rank's local plan derived from the DTensors' placements (bench/ops/plan_sim.py), then the
coordinator's global plan. Each round times what `dcp.load` runs on every rank before reading: a fresh
DefaultLoadPlanner's set_up_planner and create_local_plan, which matches each local tensor against the saved chunks
of its name (pytorch #169113: `create_read_items_for_chunk_list`, chunks x tensors).

The plan also says what each rank would read: its read items' bytes. An HSDP world loads a checkpoint whose
replicated shards were written once, and every replica reads them again (pytorch #171412): the record's
`read_amplification` is this rank's read bytes times the world size over the checkpoint's bytes (rank 0 holds the
largest shard of an uneven tensor, so it is an upper bound; 1.0 where each byte is read once).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from torch.distributed.checkpoint import DefaultLoadPlanner
from torch.distributed.checkpoint.metadata import BytesStorageMetadata
from torch.distributed.checkpoint.planner import LoadPlan

from bench.ops.plan_sim import (_SimulatedPlanning, chunks_tile, metadata_figures, plans_of_world,
                                unvalidated_global_plan)
from bench.ops.wrapping import resident_bytes


def checkpoint_bytes(metadata) -> int:
    """Bytes of the tensors a checkpoint holds (each element once), from its metadata."""
    total = 0
    for entry in metadata.state_dict_metadata.values():
        if not isinstance(entry, BytesStorageMetadata):
            total += math.prod(entry.size) * entry.properties.dtype.itemsize
    return total


def read_bytes(plan: LoadPlan, metadata) -> tuple[int, dict[str, int]]:
    """(bytes the plan reads, elements read per tensor name)."""
    elements: dict[str, int] = defaultdict(int)
    total = 0
    for item in plan.items:
        entry = metadata.state_dict_metadata[item.storage_index.fqn]
        if isinstance(entry, BytesStorageMetadata):
            continue
        count = math.prod(item.lengths)
        elements[item.dest_index.fqn] += count
        total += count * entry.properties.dtype.itemsize
    return total, elements


class SimulatedLoadPlan(_SimulatedPlanning):
    def setup(self) -> None:
        super().setup()
        saved_ranks = int(self.options.get("saved_ranks", self.ctx.world_size))
        saved_mesh = None
        if saved_ranks != self.ctx.world_size:
            if len(self.ctx.mesh_shape) != 1:
                raise ValueError("a resharded load plan is simulated from and to 1D meshes only")
            saved_mesh = (saved_ranks,)
        _, self.metadata = unvalidated_global_plan(plans_of_world(self.own_plan, self.dtensors, self.ctx.rank,
                                                                  saved_mesh, saved_ranks))
        tiling = chunks_tile(self.metadata)
        if tiling:
            raise AssertionError(f"the derived checkpoint metadata does not tile: {tiling}")
        self.extra.update(metadata_figures(self.metadata))
        self.extra["rss_after_setup_bytes"] = resident_bytes()  # with the checkpoint's metadata

    def run(self) -> LoadPlan:
        planner = DefaultLoadPlanner()
        planner.set_up_planner(self.state, self.metadata, is_coordinator=self.ctx.rank == 0)
        return planner.create_local_plan()

    def verify(self, last_result: LoadPlan) -> bool:
        """Every element of every local tensor is read exactly once."""
        read, elements = read_bytes(last_result, self.metadata)
        total = checkpoint_bytes(self.metadata)
        self.extra.update(read_items=len(last_result.items), read_bytes_rank=read, checkpoint_bytes=total,
                          read_amplification=read * self.ctx.world_size / total if total else None)
        for fqn, tensor in self.dtensors.items():
            local = tensor.to_local().numel()
            if elements.get(fqn, 0) != local:
                return self.report(f"{fqn}: the load plan reads {elements.get(fqn, 0)} of {local} local elements")
        return self.report(None)


OPERATIONS: dict[str, Any] = {"plan_load": SimulatedLoadPlan}
