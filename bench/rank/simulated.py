"""Simulated worlds: one process plays one rank of a world of N ranks on torch's fake process group.

`torch.testing._internal.distributed.fake_pg` gives a process group whose collectives return at once without
moving data: a barrier does not wait, an all-reduce leaves its input as it was, an all-gather leaves its output
buffer uninitialised. FSDP2 shards over the N ranks exactly as it would at that scale, so everything a rank does with
its own shards (building a sharded state dict, loading one, planning a checkpoint) costs what it would cost there;
what the collectives would cost is not measured at all.

What therefore must not rely on collectives here:
- the weights are filled shard by shard from the full value every rank computes (no scatter from rank 0),
- the optimizer state comes from a local Adam step on gradients set shard by shard (a forward and backward would
  all-gather uninitialised memory; bench/ops/wrapping.py `local_optimizer_step`),
- full state dicts are not offered (their all-gathers would return garbage), and correctness is checked only where
  the round trip is local (sharded loads).
"""

from __future__ import annotations

import torch.distributed as dist

from bench.ops.context import SIMULATED_BACKEND


def init_fake_process_group(rank: int, world_size: int) -> None:
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group(SIMULATED_BACKEND, store=FakeStore(), rank=rank, world_size=world_size)
