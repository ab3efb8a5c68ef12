"""Where a launched process stands, read from its launcher's environment: torchrun's variables or SLURM's (srun).

No torch here: the launched supervisor (bench/worlds/launched.py) imports this module and stays small.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from collections.abc import Mapping

LAUNCH_CONFIG_VAR = "STATEDICT_BENCH_LAUNCHED"
"""Set by global rank 0 for the pytest run it starts: the launched world's shape, how to announce the listener."""
AUTHKEY_VAR = "STATEDICT_BENCH_LAUNCH_AUTHKEY"
"""The key every connection between the launched ranks and the pytest run must prove it holds (hex)."""
PARENT_HOST_VAR = "STATEDICT_BENCH_PARENT_HOST"
"""Overrides the host name the ranks use to reach the pytest run (default MASTER_ADDR: rank 0's node)."""
SLURM_PORT_BASE = 15000
"""A SLURM job's MASTER_PORT, when not given, is this plus the job id's last four digits, as Lightning does: the
tasks of one job agree on it without talking, and two jobs on one node rarely collide."""


class LaunchError(ValueError):
    """The environment is not a launcher's (or lacks what a launched run needs); the message is one line."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LaunchEnv:
    launcher: str
    """torchrun (RANK/WORLD_SIZE/... as torchrun sets them) or srun (SLURM_PROCID/SLURM_NTASKS/...)."""
    rank: int
    """Global rank."""
    world_size: int
    local_rank: int
    """Rank within this node: picks the GPU."""
    local_world_size: int | None
    """Ranks per node; None when the nodes run different numbers of ranks."""
    node_rank: int
    nnodes: int
    master_addr: str
    """Host of the rendezvous store (and of global rank 0, whose node runs pytest)."""
    master_port: int

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size:
            raise LaunchError(f"rank {self.rank} is not within world size {self.world_size}")
        if self.nnodes < 1 or not 0 <= self.node_rank < self.nnodes:
            raise LaunchError(f"node rank {self.node_rank} is not within {self.nnodes} nodes")

    @property
    def mesh_shapes(self) -> list[tuple[int, ...]]:
        """The meshes the launched world can measure: 1D over every rank, and nodes x ranks-per-node (replicate
        across nodes, shard within one: HSDP's layout) when there are several nodes of several ranks each."""
        shapes: list[tuple[int, ...]] = [(self.world_size,)]
        per_node = self.local_world_size
        if self.nnodes > 1 and per_node and per_node > 1 and self.nnodes * per_node == self.world_size:
            shapes.append((self.nnodes, per_node))
        return shapes

    @property
    def ranks_on_this_node(self) -> int:
        return self.local_world_size or self.world_size

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _int(env: Mapping[str, str], *names: str, default: int | None = None) -> int:
    for name in names:
        value = env.get(name)
        if value not in (None, ""):
            try:
                return int(value)
            except ValueError:
                raise LaunchError(f"{name}={value!r} is not a whole number") from None
    if default is None:
        raise LaunchError(f"{' or '.join(names)} is not set")
    return default


def first_host(nodelist: str) -> str:
    """The first host of a SLURM host list: "node[07-09,12],gpu1" -> "node07", "r[1-2]-n[3-4]" -> "r1-n3"."""
    depth, end = 0, len(nodelist)
    for index, char in enumerate(nodelist):  # the first entry ends at the first comma outside brackets
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            end = index
            break
    entry = nodelist[:end].strip()
    # each bracket group's first item, and of a range its start (zero padding kept: it is part of the name)
    host = re.sub(r"\[([^\],\-]+)[^\]]*\]", r"\1", entry)
    if not host or "[" in host or "]" in host:
        raise LaunchError(f"cannot read the first host of SLURM node list {nodelist!r}")
    return host


def tasks_per_node(text: str) -> list[int]:
    """SLURM's "2(x3),1" -> [2, 2, 2, 1]."""
    counts: list[int] = []
    for part in filter(None, text.split(",")):
        match = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
        if not match:
            raise LaunchError(f"cannot read SLURM tasks per node {text!r}")
        counts += [int(match.group(1))] * int(match.group(2) or 1)
    return counts


def _torchrun(env: Mapping[str, str]) -> LaunchEnv:
    restarts = _int(env, "TORCHELASTIC_RESTART_COUNT", default=0)
    if restarts:  # rank 0 would start the whole run again, over the result file of the one that failed
        raise LaunchError(f"torchrun restarted the workers (restart {restarts}): a launched run is not started "
                          f"again; use --max-restarts 0 and continue it with --resume FILE")
    world_size = _int(env, "WORLD_SIZE")
    local_world_size = _int(env, "LOCAL_WORLD_SIZE", default=world_size)
    master_addr = env.get("MASTER_ADDR")
    if not master_addr:
        raise LaunchError("MASTER_ADDR is not set")
    return LaunchEnv(launcher="torchrun", rank=_int(env, "RANK"), world_size=world_size,
                     local_rank=_int(env, "LOCAL_RANK", default=0), local_world_size=local_world_size,
                     node_rank=_int(env, "GROUP_RANK", default=0),
                     nnodes=_int(env, "GROUP_WORLD_SIZE", default=max(1, world_size // local_world_size)),
                     master_addr=master_addr, master_port=_int(env, "MASTER_PORT"))


def _srun(env: Mapping[str, str]) -> LaunchEnv:
    nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    master_addr = env.get("MASTER_ADDR") or (first_host(nodelist) if nodelist else None)
    if not master_addr:
        raise LaunchError("neither MASTER_ADDR nor SLURM_JOB_NODELIST is set")
    if env.get("MASTER_PORT"):
        master_port = _int(env, "MASTER_PORT")
    else:
        master_port = SLURM_PORT_BASE + int(str(_int(env, "SLURM_JOB_ID", "SLURM_JOBID"))[-4:])
    nnodes = _int(env, "SLURM_STEP_NUM_NODES", "SLURM_NNODES", "SLURM_JOB_NUM_NODES", default=1)
    counts_text = env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE")
    counts = tasks_per_node(counts_text) if counts_text else []
    world_size = _int(env, "SLURM_NTASKS", "SLURM_NPROCS")
    if counts:
        per_node = counts[0] if len(set(counts)) == 1 else None
    else:
        per_node = _int(env, "SLURM_NTASKS_PER_NODE", default=world_size // nnodes)
    return LaunchEnv(launcher="srun", rank=_int(env, "SLURM_PROCID"), world_size=world_size,
                     local_rank=_int(env, "SLURM_LOCALID", default=0), local_world_size=per_node,
                     node_rank=_int(env, "SLURM_NODEID", default=0), nnodes=nnodes, master_addr=master_addr,
                     master_port=master_port)


def read_launch_env(env: Mapping[str, str] | None = None) -> LaunchEnv:
    """torchrun's variables when RANK and WORLD_SIZE are set (torchrun inside a SLURM allocation too), else SLURM's."""
    env = os.environ if env is None else env
    if env.get("RANK") is not None and env.get("WORLD_SIZE") is not None:
        return _torchrun(env)
    if env.get("SLURM_PROCID") is not None:
        return _srun(env)
    raise LaunchError("not started by a launcher: neither RANK/WORLD_SIZE (torchrun) nor SLURM_PROCID (srun) is set;"
                      " run `python -m pytest bench/` directly instead")


def process_group_env(launch: LaunchEnv) -> dict[str, str]:
    """What init_process_group's env:// reads, so that it works the same under srun as under torchrun."""
    return {"MASTER_ADDR": launch.master_addr, "MASTER_PORT": str(launch.master_port), "RANK": str(launch.rank),
            "WORLD_SIZE": str(launch.world_size), "LOCAL_RANK": str(launch.local_rank)}
