"""The machine's state just before a run: is anything else using it? Stored in `run.machine_state`.

A benchmark on a busy machine measures the other load as much as torch. pyperf warns of the same things (`pyperf
system show`): other processes using CPU, the CPU frequency governor, memory. The load average also counts the last
minutes, so a machine that was busy a moment ago shows too; the CPU sample shows what runs now.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psutil

# Set by a driver that runs the suite alongside other runs of its own (compare): its process tree is not 'other'.

CPU_SAMPLE_S = 0.5
BUSY_CPU_FRACTION = 0.10
"""Other processes using more than this share of all cores (sampled over CPU_SAMPLE_S) make the machine busy."""
BUSY_LOAD_PER_CORE = 0.5
"""A 1-minute load average above this many runnable tasks per core makes the machine busy."""
LOW_MEMORY_FRACTION = 0.10
"""Less available memory than this share of the total is warned of: page cache and swap then distort I/O timings."""

DRIVER_PID_ENV = "STATEDICT_BENCH_DRIVER_PID"
"""The driver's pid: the driver, both sides and their ranks are its process tree, not other load on the machine."""



def _process_tree(pid: int) -> set[int]:
    try:
        root = psutil.Process(pid)
        return {pid} | {child.pid for child in root.children(recursive=True)}
    except psutil.Error:
        return set()


def own_pids() -> set[int]:
    """This run's own processes: this one and its children, and a declared driver's whole tree."""
    pids = _process_tree(os.getpid())
    driver = os.environ.get(DRIVER_PID_ENV, "")
    if driver.isdigit():
        pids |= _process_tree(int(driver))
    return pids


def other_processes_cpu(exclude: set[int], sample_s: float = CPU_SAMPLE_S) -> list[dict[str, Any]]:
    """Each other process's CPU use over `sample_s`, in percent of one core, busiest first (those above 1%)."""
    processes = [p for p in psutil.process_iter(["name"]) if p.pid not in exclude]
    for process in processes:
        try:
            process.cpu_percent(None)  # the first call starts the process's sample
        except psutil.Error:
            pass
    time.sleep(sample_s)
    used = []
    for process in processes:
        try:
            percent = process.cpu_percent(None)
        except psutil.Error:
            continue
        if percent >= 1.0:
            used.append({"pid": process.pid, "name": process.info["name"], "cpu_percent": round(percent, 1)})
    return sorted(used, key=lambda p: -p["cpu_percent"])


def cpu_governors() -> list[str]:
    """The distinct cpufreq governors of the CPUs; empty where the kernel does not expose them (most VMs)."""
    found = set()
    for path in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor"):
        try:
            found.add(path.read_text().strip())
        except OSError:
            pass
    return sorted(found)


def assess(state: dict[str, Any]) -> list[str]:
    """The warnings a state calls for: one line each, empty when the machine looks quiet."""
    warnings = []
    cores = state["cores"]
    other = state["other_cpu_percent"]
    if other > BUSY_CPU_FRACTION * cores * 100:
        top = ", ".join(f"{p['name']} (pid {p['pid']}) {p['cpu_percent']:.0f}%" for p in state["busiest"][:3])
        warnings.append(f"busy machine: other processes used {other:.0f}% of one core's time of {cores} cores "
                        f"while the run started ({top})")
    load1 = state["load_average"][0]
    if state.get("load_average_judged", True) and load1 > BUSY_LOAD_PER_CORE * cores:
        warnings.append(f"busy machine: the 1-minute load average is {load1:.2f} on {cores} cores")
    available, total = state["available_memory_bytes"], state["total_memory_bytes"]
    if available < LOW_MEMORY_FRACTION * total:
        warnings.append(f"low memory: {available / 2**30:.1f} of {total / 2**30:.1f} GiB available")
    slow = [g for g in state["cpu_governors"] if g != "performance"]
    if slow:
        warnings.append(f"CPU frequency governor {', '.join(slow)} (not performance): clock speed may vary")
    return warnings


def machine_state(sample_s: float = CPU_SAMPLE_S) -> dict[str, Any]:
    """Sample the machine now. `busy` is true when other processes or the load average say the CPU is not ours."""
    busiest = other_processes_cpu(own_pids(), sample_s)
    memory = psutil.virtual_memory()
    state = {
        "sampled_at_unix_s": time.time(),
        "cores": os.cpu_count() or 1,
        "load_average": list(os.getloadavg()),
        # With a driver (compare mode) the other side's start and worlds are in the load average, which cannot
        # leave them out: only the CPU sample, which excludes the driver's processes, judges the machine then.
        "load_average_judged": DRIVER_PID_ENV not in os.environ,
        "other_cpu_percent": round(sum(p["cpu_percent"] for p in busiest), 1),
        "busiest": busiest[:5],
        "cpu_governors": cpu_governors(),
        "available_memory_bytes": memory.available,
        "total_memory_bytes": memory.total,
    }
    state["warnings"] = assess(state)
    state["busy"] = any(w.startswith("busy machine") for w in state["warnings"])
    return state


CPU_TICK_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_ticks() -> dict[str, int] | None:
    """The machine's CPU time by kind since boot (/proc/stat, all cores); None where it cannot be read."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()[1:]
        return dict(zip(CPU_TICK_FIELDS, map(int, fields)))
    except (OSError, ValueError):
        return None


def noise_during(before: dict[str, int] | None) -> dict[str, Any]:
    """The machine's state over a run, from its ticks at the start: the share of CPU time stolen by the hypervisor,
    spent idle and waiting on I/O, and the load average at the end. Steal is the one a VM cannot see otherwise:
    time its vCPUs were runnable but not running."""
    after = cpu_ticks()
    state: dict[str, Any] = {"load_average_end": list(os.getloadavg())}
    if before is None or after is None:
        return state
    total = sum(after.values()) - sum(before.values())
    if total > 0:
        for kind in ("steal", "iowait", "idle"):
            state[f"{kind}_fraction"] = (after[kind] - before[kind]) / total
    return state
