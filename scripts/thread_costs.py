"""Where a 2-rank gloo world's CPU time goes in FSDP2's full state-dict get, thread by thread, round by round.

    python scripts/thread_costs.py [--model dummy] [--rounds 60] [--placement free|own-core|same-core]

Two ranks (spawned, gloo, 1 torch thread each) build a zoo model with the suite's own FSDP2 wrapping
(bench.ops.wrapping.build_fsdp2) and time `get_model_state_dict(full_state_dict=True, cpu_offload=True)` as the suite's
`full` cases do; per round each rank
reads, beside wall and process CPU time, every thread's CPU time (/proc/self/task/*/schedstat, nanoseconds) and
context switches. It prints, per rank, the median / 10th / 90th percentile of each, so one sees which thread's
cost varies from round to round (docs/measuring.md, "The mesh-2 full cases"). `--placement own-core` pins each rank
to a core of its own, `same-core` both to core 0. Needs torch; runs in about a minute.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the suite's packages, run from anywhere

WARMUP = 3


def _thread_costs() -> dict[str, float]:
    """Thread name -> CPU ms (and name + ' switches' -> context switches) of this process's threads, summed by name;
    the main thread is 'main'."""
    costs: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = "main" if tid == str(os.getpid()) else f.read().strip()
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                cpu_ms = int(f.read().split()[0]) / 1e6
            with open(f"/proc/self/task/{tid}/status") as f:
                switches = sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)
        except OSError:  # the thread ended meanwhile
            continue
        costs[name] = costs.get(name, 0.0) + cpu_ms
        costs[name + " switches"] = costs.get(name + " switches", 0.0) + switches
    return costs


def _rank(rank: int, args: argparse.Namespace, queue) -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from torch.distributed.device_mesh import init_device_mesh

    from bench.ops.context import RankContext
    from bench.ops.wrapping import build_fsdp2

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(args.port))
    torch.set_num_threads(1)
    if args.placement != "free":
        os.sched_setaffinity(0, {rank if args.placement == "own-core" else 0})
    dist.init_process_group("gloo", rank=rank, world_size=2)
    context = RankContext(rank=rank, world_size=2, mesh_shape=(2,), device=torch.device("cpu"), backend="gloo",
                          mesh=init_device_mesh("cpu", (2,)))
    model, _ = build_fsdp2(context, args.model)
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    rounds = []
    for index in range(WARMUP + args.rounds):
        dist.barrier()
        before, cpu0, t0 = _thread_costs(), time.process_time(), time.perf_counter()
        state = get_model_state_dict(model, options=options)
        t1, cpu1, after = time.perf_counter(), time.process_time(), _thread_costs()
        del state
        if index >= WARMUP:
            row = {name: after[name] - before.get(name, 0.0) for name in after}
            rounds.append({"wall": (t1 - t0) * 1e3, "process cpu": (cpu1 - cpu0) * 1e3, **row})
    queue.put((rank, rounds))
    dist.destroy_process_group()


def _line(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    return (f"  {name:28s} median {statistics.median(ordered):8.2f}  p10 {ordered[len(ordered) // 10]:8.2f}  "
            f"p90 {ordered[len(ordered) * 9 // 10]:8.2f}")


def main() -> None:
    import torch.multiprocessing as mp

    from models import MODEL_NAMES

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=MODEL_NAMES, default="dummy", help="a zoo model (default dummy)")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--placement", choices=("free", "own-core", "same-core"), default="free")
    parser.add_argument("--port", type=int, default=29533)
    args = parser.parse_args()
    context = mp.get_context("spawn")
    queue = context.Queue()
    ranks = [context.Process(target=_rank, args=(rank, args, queue)) for rank in range(2)]
    for process in ranks:
        process.start()
    results = dict(queue.get() for _ in ranks)
    for process in ranks:
        process.join()
    print(f"model {args.model}, placement {args.placement}, {args.rounds} rounds; ms (switches: counts) per round")
    for rank in sorted(results):
        print(f"rank {rank}")
        names = {name for row in results[rank] for name in row}
        for name in sorted(names, key=lambda n: (n not in ("wall", "process cpu"), n)):
            values = [row.get(name, 0.0) for row in results[rank]]
            if max(values) > 0.05:
                print(_line(name, values))


if __name__ == "__main__":
    main()
