"""The `run` object of a result file: what was run, where, with which torch and which suite."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

from bench import REPO_ROOT
from bench.results.schema import SCHEMA_VERSION



def _suite_commit() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    import psutil
    import torch

    info: dict[str, Any] = {
        "hostname": platform.node(), "system": platform.system(), "release": platform.release(),
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_bytes": psutil.virtual_memory().total,
        "gpus": [], "driver": None,
    }
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        try:
            info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                            capture_output=True, text=True, timeout=10).stdout.split()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            pass
    return info


def torch_info() -> dict[str, Any]:
    import torch

    nccl = None
    if torch.cuda.is_available():
        try:
            nccl = ".".join(map(str, torch.cuda.nccl.version()))
        except Exception:  # some builds have no NCCL
            nccl = None
    return {"version": torch.__version__, "git_version": torch.version.git_version, "cuda": torch.version.cuda,
            "nccl": nccl}


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TORCH_NUM_THREADS")


def thread_settings() -> dict[str, Any]:
    """What decides how many threads torch uses and where ranks run (bench/machine/placement.py): the environment's
    thread
    variables still size other pools, so two runs are comparable only when these agree."""
    from bench.machine.placement import placement

    chosen = placement()
    rule = (f"torch.set_num_threads({chosen['threads']}) in every rank" if chosen["threads"]
            else "torch.set_num_threads(max(1, cores // ranks)) in every rank")
    return {"rule": rule, "pinned": chosen["pin"],
            "environment": {name: os.environ.get(name) for name in THREAD_VARIABLES}}


def start_run_info(profile: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Everything a later comparison needs to tell whether two runs are comparable (analysis/comparability.py)."""
    from bench.machine.state import machine_state

    return {
        "schema_version": SCHEMA_VERSION,
        "profile": profile,
        "settings": settings,
        "started_at": datetime.now(timezone.utc).isoformat(),
        "python": sys.version.split()[0],
        "torch": torch_info(),
        "machine": machine_info(),
        "suite": _suite_commit(),
        "threads": thread_settings(),
        "machine_state": machine_state(),  # before the ceilings and any world: what else runs on the machine
        "argv": sys.argv[1:],
    }
