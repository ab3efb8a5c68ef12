"""Where a rank runs: its torch thread count and, optionally, the cores it is pinned to (one per thread).

The parent chooses (pytest options --threads-per-rank and --pin-ranks, bench/plugin/options.py) and passes the choice to
each world it starts (from PLACEMENT_ENV, which set_placement writes); every rank applies it once at its start.
Defaults: the machine's cores shared evenly among the ranks of a world (at least one thread each), no pinning;
docs/measuring.md has the measurements behind them.
"""

from __future__ import annotations

import json
import os

PLACEMENT_ENV = "STATEDICT_BENCH_PLACEMENT"


def threads_per_rank(world_size: int, cores: int | None = None) -> int:
    """Ranks share the machine's cores evenly so that they do not fight over them."""
    return max(1, (cores or os.cpu_count() or 1) // world_size)


def set_placement(threads: int | None, pin: bool) -> None:
    """The parent's choice for every rank it starts from now on."""
    os.environ[PLACEMENT_ENV] = json.dumps({"threads": threads, "pin": pin})


def placement() -> dict:
    try:
        chosen = json.loads(os.environ.get(PLACEMENT_ENV) or "{}")
    except ValueError:
        chosen = {}
    return {"threads": chosen.get("threads"), "pin": bool(chosen.get("pin"))}


def apply_placement(rank: int, processes: int, chosen: dict | None = None) -> dict:
    """In a rank at its start: sets torch's thread count and, if chosen, pins the rank to its block of cores
    (pinned_cpus), as `chosen` (the parent's placement(); default: this process's own) says. Returns what was set,
    for the rank's ready message."""
    import torch

    chosen = chosen or placement()
    threads = chosen["threads"] or threads_per_rank(processes)
    torch.set_num_threads(threads)
    cpus = None
    if chosen["pin"] and hasattr(os, "sched_setaffinity"):
        cpus = pinned_cpus(rank, threads, sorted(os.sched_getaffinity(0)))
        os.sched_setaffinity(0, cpus)
    return {"threads": torch.get_num_threads(), "cpus": cpus}


def pinned_cpus(rank: int, threads: int, allowed: list[int]) -> list[int]:
    """A block of `threads` cores per rank, rank after rank, wrapping around when the ranks' threads outnumber the
    cores: 1 rank of 2 threads on 2 cores gets both, 2 ranks get one each, 4 ranks share them in pairs."""
    width = min(threads, len(allowed))
    first = (rank * width) % len(allowed)
    return [allowed[(first + i) % len(allowed)] for i in range(width)]
