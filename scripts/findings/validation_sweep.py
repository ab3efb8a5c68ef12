"""Why DCP's global save plan grows quadratically in ranks (pytorch #149785, docs/findings/2026-12-07-scale.md):
counts the chunk-pair checks of torch's own `_validate_global_plan` over the metadata of one FSDP2 checkpoint of a
model's parameters and Adam moments, and times the validation.

    python3 scripts/findings/validation_sweep.py [--model llama3_405b_l1] [--ranks 256 1024 2048]

The validation sweeps each tensor's chunks along the tensor's longest dim. FSDP2 cuts dim 0, so where dim 0 is not
the longest (Llama's wk and wv, 1024 x 16384; w2, 16384 x 53248) every chunk spans the whole sweep axis, none leaves
the sweep's active list, and the tensor costs n (n - 1) / 2 checks for n = N chunks. The table gives the counted
checks beside that prediction; the count at a size not run follows from it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the suite's packages, run from anywhere

import torch  # noqa: E402
from torch.distributed.checkpoint import default_planner  # noqa: E402
from torch.distributed.checkpoint.metadata import (ChunkStorageMetadata, Metadata,  # noqa: E402
                                                   TensorProperties, TensorStorageMetadata)
from torch.distributed.tensor import Shard  # noqa: E402

from bench.ops.plan_sim import _shard_geometry  # noqa: E402
from models.catalog import model_entry  # noqa: E402

ADAM_COPIES = 3  # the parameter and its two moments: three tensors of one shape and one sharding in the checkpoint


def fsdp2_metadata(shapes: list[tuple[int, ...]], ranks: int) -> Metadata:
    """The checkpoint metadata of FSDP2 (Shard(0) over a 1D mesh of `ranks`): every rank's chunk of every tensor."""
    entries = {}
    for index, shape in enumerate(shapes):
        chunks = []
        for rank in range(ranks):
            sizes, offsets = _shard_geometry(shape, (Shard(0),), (ranks,), rank)
            chunks.append(ChunkStorageMetadata(offsets=offsets, sizes=sizes))
        for copy in range(ADAM_COPIES):
            entries[f"t{index}.{copy}"] = TensorStorageMetadata(TensorProperties(dtype=torch.float32),
                                                                torch.Size(shape), chunks)
    return Metadata(state_dict_metadata=entries)


def predicted_checks(shapes: list[tuple[int, ...]], ranks: int) -> int:
    """n (n - 1) / 2 for each tensor whose longest dim is not dim 0 (the first longest is the sweep's)."""
    swept_whole = [shape for shape in shapes if len(shape) > 1 and max(range(len(shape)), key=shape.__getitem__)]
    return ADAM_COPIES * len(swept_whole) * ranks * (ranks - 1) // 2


def counted_validation(metadata: Metadata, ranks: int) -> tuple[int, float]:
    """(chunk-pair checks, seconds) of torch's validation; two plans, so that it also checks the volume."""
    calls = 0
    check = default_planner._check_box_overlap

    def counting(box0, box1):
        nonlocal calls
        calls += 1
        return check(box0, box1)

    default_planner._check_box_overlap = counting
    try:
        began = time.perf_counter()
        errors = default_planner._validate_global_plan([None, None], metadata)
        seconds = time.perf_counter() - began
    finally:
        default_planner._check_box_overlap = check
    if errors:
        raise SystemExit(f"validation found errors at {ranks} ranks: {errors[0]}")
    return calls, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="llama3_405b_l1")
    parser.add_argument("--ranks", type=int, nargs="+", default=[256, 1024, 2048])
    args = parser.parse_args()
    shapes = model_entry(args.model).shape.tensor_shapes()
    print(f"{args.model}: {len(shapes)} parameters x {ADAM_COPIES} (Adam's moments) in the checkpoint\n")
    print("| ranks | chunk-pair checks | predicted n(n-1)/2 | validation s | ns a check |")
    print("|---|---|---|---|---|")
    for ranks in args.ranks:
        calls, seconds = counted_validation(fsdp2_metadata(shapes, ranks), ranks)
        print(f"| {ranks:,} | {calls:,} | {predicted_checks(shapes, ranks):,} | {seconds:.2f} | "
              f"{seconds / max(calls, 1) * 1e9:.0f} |")


if __name__ == "__main__":
    main()
