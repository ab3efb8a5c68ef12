"""Functions run inside a world's ranks by the tests (World.call): checks that need a live process group."""

from __future__ import annotations

from bench.ops.context import RankContext
from bench.ops.state_tree import first_difference, snapshot
from bench.ops.wrapping import build_fsdp1


def sharded_state_dicts_hold_the_same_local_shards(ctx: RankContext, model: str) -> str | None:
    """FSDP1 with a mesh (DTensor) and without (ShardedTensor), SHARDED_STATE_DICT: None when this rank's local
    shards are equal in both, else the first difference."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, StateDictType

    states = []
    for use_mesh in (True, False):
        fsdp_model, _ = build_fsdp1(ctx, model, use_mesh=use_mesh, use_orig_params=True)
        FSDP.set_state_dict_type(fsdp_model, StateDictType.SHARDED_STATE_DICT)
        states.append(fsdp_model.state_dict())
    return first_difference(snapshot(states[0]), states[1])


def process_ids(ctx: RankContext) -> int:
    import os

    return os.getpid()


def verify_without_loading(ctx: RankContext, spec: dict) -> tuple[bool | None, list[str]]:
    """Set up a load case and prepare a round, then verify without running the load: the check must then fail."""
    from bench.ops.registry import make_operation

    op = make_operation(ctx, spec)
    op.setup()
    op.before_round()
    return op.verify(None), op.notes


def counted_loops(ctx: RankContext, sizes: list[int]) -> list[int | None]:
    """Instructions mode: the count of a plain Python loop of each size, between the counter's start and stop."""
    from bench.metrics.instructions import InstructionCounter

    counter = InstructionCounter()
    counts = []
    for size in sizes:
        counter.start()
        total = 0
        for i in range(size):
            total += i
        counts.append(counter.stop())
    return counts
