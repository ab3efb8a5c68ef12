"""A rank of a launched world: the child that each launched supervisor (bench/worlds/launched.py) starts.

It joins the launcher's process group (env://), learns from global rank 0 where the pytest run listens, and then
serves cases as bench/rank/main.py's rank_main does, through its supervisor, which relays every message to and from the
pytest run and reports this process's exit status if it dies.
"""

from __future__ import annotations

import os
import signal
import socket
import warnings
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from bench.machine.launch_env import LaunchEnv
from bench.machine.lifetime import die_with_parent
from bench.rank.main import (allow_children, answer_case, call_function, make_context, short_traceback,
                             stop_checkpoint_process)

JOIN_TIMEOUT = timedelta(minutes=30)
"""gloo's default: the collectives of a case may legitimately run long; hangs are the parent's to judge."""


class LaunchedContexts:
    """One RankContext per mesh shape of the launched world, made on first use: building a 2D mesh is a collective
    over every rank, which all ranks reach together because every rank receives the same case."""

    def __init__(self, launch: LaunchEnv) -> None:
        self.launch = launch
        self._by_shape: dict[tuple[int, ...], Any] = {}

    def get(self, mesh_shape) -> Any:
        shape = tuple(mesh_shape)
        if shape not in self.launch.mesh_shapes:
            raise ValueError(f"mesh {shape} is not a mesh of this launched world ({self.launch.mesh_shapes})")
        if shape not in self._by_shape:
            self._by_shape[shape] = make_context(self.launch.rank, self.launch.world_size, shape,
                                                 local_rank=self.launch.local_rank)
        return self._by_shape[shape]


def _failed(rank: int, exc: BaseException) -> dict[str, Any]:
    return {"rank": rank, "status": "error", "message": f"{type(exc).__name__}: {exc}"[:2000],
            "traceback": short_traceback(exc), "correct": None}


def _unseen_folder(folder: str) -> str | None:
    """Which ranks cannot see `folder`, said as the case's message; None when all can. A collective: every rank gets
    the same case, so all reach it together."""
    seen: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(seen, (socket.gethostname(), os.path.isdir(folder)))
    blind = [f"rank {rank} ({host})" for rank, (host, visible) in enumerate(seen) if not visible]
    if not blind:
        return None
    return (f"{', '.join(blind)} cannot see the checkpoint folder {folder}: under a launcher --checkpoint-dir must "
            f"be a folder that every node shares")


def _serve(contexts: LaunchedContexts, conn) -> None:
    """rank_main's loop, with the context picked by each message's mesh (a launched world serves several)."""
    rank = contexts.launch.rank
    unseen: dict[str, str | None] = {}
    """Per checkpoint root (the run's private folder, made on rank 0's node): the ranks that cannot see it."""
    while True:
        message = conn.recv()
        command = message["command"]
        if command == "stop":
            return
        try:
            ctx = contexts.get(message["spec"]["mesh_shape"] if command == "case" else message["mesh_shape"])
        except Exception as exc:  # a mesh that cannot be built fails its case, not the rank
            conn.send(_failed(rank, exc))
            continue
        if command == "case":
            root = os.path.dirname(message["spec"].get("checkpoint_dir") or "")
            if root and root not in unseen:  # checked once per run, not per case
                unseen[root] = _unseen_folder(root)
            if root and unseen[root]:
                conn.send({"rank": rank, "status": "error", "message": unseen[root], "correct": None})
            else:
                conn.send(answer_case(ctx, message["spec"], message["settings"]))
        elif command == "call":
            conn.send(call_function(ctx, message["target"], message["kwargs"]))
        else:
            conn.send(_failed(rank, ValueError(f"a launched rank does not serve command {command!r}")))


def launched_rank_main(launch: LaunchEnv, threads: int, conn) -> None:
    die_with_parent()  # the supervisor's death ends this rank: nothing outlives the launcher's process
    allow_children()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is pytest's to handle; it stops the world
    warnings.simplefilter("ignore")
    torch.set_num_threads(threads)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    # env:// reads MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE, which the supervisor set for srun as torchrun does.
    dist.init_process_group(backend, init_method="env://", rank=launch.rank, world_size=launch.world_size,
                            timeout=JOIN_TIMEOUT)
    try:
        contexts = LaunchedContexts(launch)
        ctx = contexts.get((launch.world_size,))
        # Global rank 0's supervisor hands down where pytest listens (None: pytest ended before any case ran).
        parent = [conn.recv()["parent"] if launch.rank == 0 else None]
        dist.broadcast_object_list(parent, src=0)
        if parent[0] is None:
            return
        conn.send({"parent": parent[0], "ready": {
            "ready": True, "rank": launch.rank, "threads": torch.get_num_threads(), "backend": ctx.backend,
            "device": ctx.device.type, "dtype": str(ctx.dtype).removeprefix("torch.")}})
        try:
            _serve(contexts, conn)
        except (EOFError, BrokenPipeError):
            pass  # the supervisor is gone
        finally:
            stop_checkpoint_process()
    finally:
        dist.destroy_process_group()
