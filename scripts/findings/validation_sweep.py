"""Why DCP's global save plan grows quadratically in ranks (pytorch #149785, docs/findings/2026-12-07-scale.md):
counts the chunk-pair checks of torch's own `_validate_global_plan` in the coordinator's plan of one FSDP2 save of a
model's parameters and Adam moments, and times the validation.

    python3 scripts/findings/validation_sweep.py [--model llama3_405b_l1] [--ranks 256 1024 4096]

Every rank's save plan is made as DCP makes it for FSDP2 (Shard(0) over a 1D mesh: each rank's chunk of each
tensor), then torch's dedup and global planning (bench/ops/plan_sim.py unvalidated_global_plan) give the global plan
and metadata that the validation reads (the empty chunks of ranks past a short dim 0 share one index and are
deduplicated into one).
The validation sweeps each tensor's chunks along the tensor's longest dim. FSDP2 cuts dim 0, so where dim 0 is not
the longest (Llama's wk and wv, 1024 x 16384; w2, 16384 x 53248) every chunk spans the whole sweep axis, none leaves
the sweep's active list, and a tensor of c chunks costs c (c - 1) / 2 checks. The table gives the counted checks
beside that sum over such tensors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the suite's packages, run from anywhere

import torch  # noqa: E402
from torch.distributed.checkpoint import default_planner  # noqa: E402
from torch.distributed.checkpoint.metadata import (ChunkStorageMetadata, Metadata, MetadataIndex,  # noqa: E402
                                                   TensorProperties)
from torch.distributed.checkpoint.planner import SavePlan, TensorWriteData, WriteItem, WriteItemType  # noqa: E402
from torch.distributed.tensor import Shard  # noqa: E402

from bench.ops.plan_sim import plan_for_rank, unvalidated_global_plan  # noqa: E402
from models.catalog import model_entry  # noqa: E402

ADAM_COPIES = 3  # the parameter and its two moments: three tensors of one shape and one sharding in the checkpoint


def fsdp2_save_plans(shapes: list[tuple[int, ...]], ranks: int) -> list[SavePlan]:
    """Every rank's local save plan under FSDP2 (Shard(0) over a 1D mesh): one write item per tensor, each rank's
    shard derived by the suite's `plan` op's own rule (bench/ops/plan_sim.py plan_for_rank)."""
    layouts, items = {}, []
    for index, shape in enumerate(shapes):
        for copy in range(ADAM_COPIES):
            fqn = f"t{index}.{copy}"
            layouts[fqn] = (shape, (Shard(0),), (ranks,))
            whole = ChunkStorageMetadata(offsets=torch.Size([0] * len(shape)), sizes=torch.Size(shape))
            items.append(WriteItem(index=MetadataIndex(fqn, whole.offsets), type=WriteItemType.SHARD,
                                   tensor_data=TensorWriteData(chunk=whole, size=torch.Size(shape),
                                                               properties=TensorProperties(dtype=torch.float32))))
    template = SavePlan(items, planner_data={})
    return [plan_for_rank(template, layouts, rank) for rank in range(ranks)]


def all_pairs(metadata: Metadata) -> int:
    """c (c - 1) / 2 for each tensor whose sweep axis (its first longest dim) is not dim 0, c its chunks."""
    total = 0
    for entry in metadata.state_dict_metadata.values():
        size = tuple(entry.size)
        if len(size) > 1 and max(range(len(size)), key=size.__getitem__) != 0:
            total += len(entry.chunks) * (len(entry.chunks) - 1) // 2
    return total


def timed_validation(global_plan: list[SavePlan], metadata: Metadata) -> float:
    """Seconds of torch's validation of the global plan, as create_global_plan runs it."""
    began = time.perf_counter()
    errors = default_planner._validate_global_plan(global_plan, metadata)
    seconds = time.perf_counter() - began
    if errors:
        raise SystemExit(f"the validation found errors: {errors[0]}")
    return seconds


def counted_checks(global_plan: list[SavePlan], metadata: Metadata) -> int:
    """Calls of the overlap check in the validation (a second run: counting slows each call)."""
    calls = 0
    check = default_planner._check_box_overlap

    def counting(box0, box1):
        nonlocal calls
        calls += 1
        return check(box0, box1)

    default_planner._check_box_overlap = counting
    try:
        default_planner._validate_global_plan(global_plan, metadata)
    finally:
        default_planner._check_box_overlap = check
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="llama3_405b_l1")
    parser.add_argument("--ranks", type=int, nargs="+", default=[256, 1024, 4096])
    args = parser.parse_args()
    shapes = model_entry(args.model).shape.tensor_shapes()
    print(f"{args.model}: {len(shapes)} parameters x {ADAM_COPIES} (Adam's moments) in the checkpoint\n")
    print("| ranks | metadata chunks | chunk-pair checks | all pairs of the tensors swept whole | validation s | "
          "ns a check |")
    print("|---|---|---|---|---|---|")
    for ranks in args.ranks:
        global_plan, metadata = unvalidated_global_plan(fsdp2_save_plans(shapes, ranks))
        chunks = sum(len(entry.chunks) for entry in metadata.state_dict_metadata.values())
        seconds = timed_validation(global_plan, metadata)
        calls = counted_checks(global_plan, metadata)
        print(f"| {ranks:,} | {chunks:,} | {calls:,} | {all_pairs(metadata):,} | {seconds:.2f} | "
              f"{seconds / max(calls, 1) * 1e9:.0f} |", flush=True)


if __name__ == "__main__":
    main()
