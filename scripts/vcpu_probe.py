"""Do the two vCPUs slow each other? One single-threaded worker pinned to each vCPU, first alone (the other vCPU
idle), then both at once, on three kinds of work: pure Python arithmetic (a shared physical core would show here),
small-tensor dispatch (torch's per-op overhead) and memory-bound tensor work (clone, mul, sum of 8 MB: the host's
memory system). Printed per kind: the median time per iteration and the robust CV over the repeats, alone and together.

    python scripts/vcpu_probe.py [--repeats N]

Used in docs/measuring.md to explain why multi-rank rounds stay noisy on a 2-vCPU VM.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results.dispersion import robust_cv  # noqa: E402


def _python_loop() -> None:
    total = 0
    for i in range(200_000):
        total += i * i % 7


def _dispatch(torch) -> None:
    x = torch.ones(8)
    for _ in range(100):
        x = x + 1


def _memory_bound(torch, buffer) -> None:
    (buffer.clone() * 2).sum()


def worker(cpu: int, kind: str, repeats: int, out) -> None:
    os.sched_setaffinity(0, {cpu})
    import torch

    torch.set_num_threads(1)
    buffer = torch.ones(2 * 1024 * 1024)  # 8 MB of float32
    work = {"python": _python_loop, "dispatch": lambda: _dispatch(torch),
            "memory": lambda: _memory_bound(torch, buffer)}[kind]
    for _ in range(3):
        work()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    out.put((cpu, times))


def measure(kind: str, cpus: list[int], repeats: int) -> dict[int, list[float]]:
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters: nothing of this process's state
    queue = spawn.Queue()
    procs = [spawn.Process(target=worker, args=(cpu, kind, repeats, queue)) for cpu in cpus]
    for proc in procs:
        proc.start()
    results = dict(queue.get() for _ in procs)
    for proc in procs:
        proc.join()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))[:2]
    if len(cpus) < 2:
        print("vcpu_probe: error: needs 2 CPUs", file=sys.stderr)
        return 2
    print("| work | setting | per vCPU: median ms, robust CV |")
    print("|---|---|---|")
    for kind in ("python", "dispatch", "memory"):
        for setting, runs in (("alone", [[cpu] for cpu in cpus]), ("both at once", [cpus])):
            cells = []
            for group in runs:
                for cpu, times in sorted(measure(kind, group, args.repeats).items()):
                    cells.append(f"cpu{cpu} {statistics.median(times) * 1e3:.3f} ms, {robust_cv(times):.1%}")
            print(f"| {kind} | {setting} | {'; '.join(cells)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
