"""The launched world's meshes as the session uses worlds: one view per mesh (1D over all ranks; nodes x
ranks-per-node) with World's interface, served by the launched ranks (bench/worlds/external.py), and the pool that
hands them out; which meshes a launched run may measure; and the choice between that pool and local worlds.
"""

from __future__ import annotations

import json
import math
import os
import platform
from typing import Any

from bench.ops.matrix import mesh_label
from bench.config.profiles import RoundSettings
from bench.config.selection import BadInput, parse_mesh, split
from bench.machine.launch_env import AUTHKEY_VAR, LAUNCH_CONFIG_VAR, LaunchEnv
from bench.results.outcome import CaseOutcome
from bench.worlds.external import LaunchedRanks
from bench.worlds.local import Waiting, WorldPool, say_nothing


def launched_config() -> dict[str, Any] | None:
    """The launched world's description that global rank 0 gave this pytest run, or None when run directly."""
    text = os.environ.get(LAUNCH_CONFIG_VAR)
    return json.loads(text) if text else None


def launched_meshes(requested: list[str], world_size: int | None) -> list[str]:
    """Under a launcher the run measures the launched world's meshes only: --mesh may pick among them (default:
    all of them), anything else is refused in one line rather than started as a local world."""
    config = launched_config()
    if config is None:
        return requested
    launch = LaunchEnv(**{k: v for k, v in config.items() if k in LaunchEnv.__dataclass_fields__})
    offered = ", ".join(mesh_label(shape) for shape in launch.mesh_shapes)
    if world_size is not None and world_size != launch.world_size:
        raise BadInput(f"--world-size {world_size} is not the launched world's {launch.world_size} ranks")
    for label in split(requested):
        if parse_mesh(label) not in launch.mesh_shapes:
            raise BadInput(f"mesh {label} is not a mesh of the launched world ({launch.world_size} ranks from "
                           f"{launch.launcher}); under a launcher only {offered} can run")
    return requested or [mesh_label(shape) for shape in launch.mesh_shapes]


class LaunchedWorld:
    """One mesh of the launched ranks, with World's interface (what BenchSession and WorldPool use)."""

    def __init__(self, ranks: LaunchedRanks, mesh_shape: tuple[int, ...]) -> None:
        self.ranks = ranks
        self.mesh_shape = tuple(mesh_shape)
        self.world_size = math.prod(self.mesh_shape)
        self.start_seconds: list[float] = []  # the ranks' own start counts once, in LaunchedWorldPool
        self.started_pids: list[int] = []

    @property
    def mesh_label(self) -> str:
        return mesh_label(self.mesh_shape)

    @property
    def rank_info(self) -> list[dict[str, Any]]:
        return self.ranks.rank_info

    @property
    def alive(self) -> bool:
        return self.ranks.alive

    def _send(self, message: dict[str, Any], timeout_s: float) -> CaseOutcome:
        if len(self.mesh_shape) == 2:  # its rows are nodes: check that the launcher numbered ranks that way
            self.ranks.ensure_started()
            if self.ranks.alive and not self.ranks.laid_out_by_node():
                return CaseOutcome("error", f"mesh {self.mesh_label} needs ranks numbered node by node, and the "
                                            f"launcher numbered them otherwise (srun: use --distribution=block)",
                                   [None] * self.world_size)
        return self.ranks.send(message, timeout_s)

    def run_case(self, spec: dict[str, Any], settings: RoundSettings, timeout_s: float) -> CaseOutcome:
        return self._send({"command": "case", "spec": spec, "settings": settings}, timeout_s)

    def call(self, target: str, timeout_s: float = 120.0, **kwargs: Any) -> list[Any]:
        outcome = self._send({"command": "call", "target": target, "kwargs": kwargs,
                              "mesh_shape": list(self.mesh_shape)}, timeout_s)
        if outcome.status != "ok":
            raise RuntimeError(f"{target} failed: {outcome.message}")
        return [reply["value"] for reply in outcome.replies]

    def stop(self) -> None:
        """The ranks serve every mesh of the launch: LaunchedWorldPool.close ends them, once."""

    def kill(self) -> None:
        """As stop."""


class LaunchedWorldPool(WorldPool):
    """WorldPool whose meshes of the launched world are served by the launched ranks."""

    def __init__(self, ranks: LaunchedRanks, max_live_ranks: int = 12, waiting: Waiting = say_nothing) -> None:
        super().__init__(max_live_ranks, waiting)  # the waiting of the simulated worlds it starts here
        self.ranks = ranks
        self._views = {shape: LaunchedWorld(ranks, shape) for shape in ranks.launch.mesh_shapes}

    def get(self, mesh_shape: tuple[int, ...], simulated: bool = False):
        if simulated:  # a simulated world is one local process: no launched rank plays it
            return super().get(mesh_shape, simulated)
        return self._views.get(tuple(mesh_shape)) or super().get(mesh_shape)

    def close(self) -> None:
        super().close()
        self.ranks.stop()

    def live_rank_pids(self, mesh_shape: tuple[int, ...], simulated: bool = False) -> list[int]:
        if simulated or tuple(mesh_shape) not in self._views:
            return super().live_rank_pids(mesh_shape, simulated)
        here = platform.node()  # the memory check is about this host: count the launched ranks on it
        return [info["rank_pid"] for info in self.ranks.rank_info if info.get("host") == here and self.ranks.alive]

    def rank_pids(self) -> list[int]:
        return super().rank_pids() + self.ranks.started_pids

    def start_stats(self) -> tuple[int, float]:
        starts, seconds = super().start_stats()
        return starts + len(self.ranks.start_seconds), seconds + sum(self.ranks.start_seconds)

    def launch_info(self) -> dict[str, Any]:
        launch = self.ranks.launch
        return {"launcher": launch.launcher, "world_size": launch.world_size, "nnodes": launch.nnodes,
                "ranks_per_node": launch.local_world_size,
                "mesh_shapes": [list(shape) for shape in launch.mesh_shapes],
                "hosts": [info.get("host") for info in self.ranks.rank_info],
                "supervisor_pids": [info.get("supervisor_pid") for info in self.ranks.rank_info],
                "lost": self.ranks.lost}


def make_pool(waiting: Waiting = say_nothing) -> WorldPool:
    """The launched ranks' pool when a launcher started this run (bench/worlds/launched.py), else a pool of local
    worlds. Their starts run in `waiting` (bench/worlds/local.py)."""
    config = launched_config()
    if config is None:
        return WorldPool(waiting=waiting)
    launch = LaunchEnv(**{k: v for k, v in config.items() if k in LaunchEnv.__dataclass_fields__})
    return LaunchedWorldPool(LaunchedRanks(launch, config["address_fd"], config["parent_host"],
                                           bytes.fromhex(os.environ[AUTHKEY_VAR]), waiting), waiting=waiting)
