"""Worlds of ranks: a process per rank for one mesh shape, started once and reused by every case of that shape.

The parent hosts the rendezvous store on a port the OS picks, so concurrent runs never collide on a port. A case
is sent to every rank; the parent waits for all replies while watching each process, so a rank that dies (a
segfault, the OOM killer) or hangs ends the case as `error` or `timeout` instead of the run. After such a case the
world is torn down and started afresh on next use.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import time
from collections.abc import Callable
from typing import Any

from bench.metrics import instructions
from bench.ops.matrix import mesh_label, process_count
from bench.config.profiles import RoundSettings
from bench.results.outcome import CaseOutcome
from bench.results.schema import SIMULATED_RANK
from bench.worlds.replies import collect_replies, describe_exit, judge

START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0


Waiting = Callable[[str], contextlib.AbstractContextManager]
"""`waiting(what)`: a context the pool's worlds start in, which tells the user what the run waits for (a spinner on
a terminal, a line in a log: bench/run/progress.py)."""


def say_nothing(what: str) -> contextlib.AbstractContextManager:
    """The `waiting` of a pool whose user watches no output (the tests' own worlds)."""
    return contextlib.nullcontext()


class WorldStartError(RuntimeError):
    """The ranks did not all come up."""


class World:
    def __init__(self, mesh_shape: tuple[int, ...], simulated: bool = False, waiting: Waiting = say_nothing) -> None:
        self.mesh_shape = tuple(mesh_shape)
        self.world_size = math.prod(self.mesh_shape)
        self.simulated = simulated
        """One process plays rank SIMULATED_RANK of the world (schema.SIMULATED_MEANING): no store, no peers."""
        self.process_count = process_count(self.world_size, simulated)
        self.start_seconds: list[float] = []
        """Wall time of each start of this world (restarts after faults included)."""
        self.rank_info: list[dict[str, Any]] = []
        self.started_pids: list[int] = []
        self._procs: list[mp.Process] = []
        self._conns: list[Any] = []
        self._store = None
        self._waiting = waiting

    @property
    def alive(self) -> bool:
        return bool(self._procs) and all(p.is_alive() for p in self._procs)

    def start(self) -> None:
        with self._waiting(f"starting {self.description()}"):
            self._start()

    def description(self) -> str:
        """`a world of 4 ranks (2x2, gloo)`, `a simulated world of 1024 ranks (one process)`."""
        from bench.rank.main import process_group_backend

        ranks = f"{self.world_size} rank{'s' if self.world_size > 1 else ''}"
        if self.simulated:
            return f"a simulated world of {ranks} (one process)"
        mesh = f"{self.mesh_label}, " if len(self.mesh_shape) > 1 else ""
        return f"a world of {ranks} ({mesh}{process_group_backend()})"

    def _start(self) -> None:
        import torch.distributed as dist

        from bench.machine.placement import placement
        from bench.rank.main import rank_main

        began = time.perf_counter()
        context = rank_context()
        if not self.simulated:
            self._store = dist.TCPStore("127.0.0.1", 0, self.world_size, is_master=True, wait_for_workers=False)
        ranks = [SIMULATED_RANK] if self.simulated else range(self.world_size)
        for rank in ranks:
            parent_end, child_end = context.Pipe()
            port = None if self.simulated else self._store.port
            process = context.Process(target=rank_main, name=f"statedict-bench-rank{rank}", daemon=True,
                                      args=(rank, self.world_size, self.mesh_shape, port, child_end),
                                      kwargs={"simulated": self.simulated, "placement": placement()})
            process.start()
            child_end.close()
            self._procs.append(process)
            self._conns.append(parent_end)
            self.started_pids.append(process.pid)
        # under callgrind every wait for ranks is instructions.time_scale() times as long (here and in _send)
        replies, failure = self._collect(START_TIMEOUT_S * instructions.time_scale())
        if failure or any(reply is None for reply in replies):
            self.kill()
            raise WorldStartError(f"world {self.mesh_label} did not start: {failure or 'timed out'}")
        self.rank_info = replies
        self.start_seconds.append(time.perf_counter() - began)

    @property
    def mesh_label(self) -> str:
        return mesh_label(self.mesh_shape)

    def _collect(self, timeout_s: float, stop_early_on_error: bool = False):
        """A reply per rank, or the first rank found dead (replies.collect_replies over pipes and processes)."""
        def watched(pending: set[int]) -> dict[Any, int]:
            return {self._conns[r]: r for r in pending} | {self._procs[r].sentinel: r for r in pending}

        return collect_replies(self.process_count, timeout_s, watched, self._receive, stop_early_on_error)

    def _receive(self, rank: int, ready: Any) -> tuple[dict[str, Any] | None, str | None]:
        conn = self._conns[rank]
        try:
            if conn.poll():
                return conn.recv(), None
        except (EOFError, OSError):
            pass
        if not self._procs[rank].is_alive() or ready is conn:
            self._procs[rank].join(timeout=1.0)
            return None, describe_exit(rank, self._procs[rank].exitcode)
        return None, None

    def run_case(self, spec: dict[str, Any], settings: RoundSettings, timeout_s: float) -> CaseOutcome:
        return self._send({"command": "case", "spec": spec, "settings": settings}, timeout_s)

    def call(self, target: str, timeout_s: float = 120.0, **kwargs: Any) -> list[Any]:
        """Run `module:function`(ctx, **kwargs) on every rank and return each rank's value; raises if any fails."""
        outcome = self._send({"command": "call", "target": target, "kwargs": kwargs}, timeout_s)
        if outcome.status != "ok":
            raise RuntimeError(f"{target} failed: {outcome.message}")
        return [reply["value"] for reply in outcome.replies]

    def _send(self, message: dict[str, Any], timeout_s: float) -> CaseOutcome:
        timeout_s *= instructions.time_scale()
        try:
            if not self.alive:
                self.kill()
                self.start()
            for conn in self._conns:
                conn.send(message)
            replies, death = self._collect(timeout_s, stop_early_on_error=True)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM mid-case: the ranks are busy, asking them to stop would wait
            self.kill()
            raise
        outcome = judge(replies, death, timeout_s)
        if outcome.status in ("error", "timeout") or any(reply is None for reply in replies):
            self.kill()  # a rank may be dead, stuck in a collective or in a broken state: start afresh next time
        return outcome

    def stop(self) -> None:
        """Ask every rank to leave cleanly; kill whatever does not."""
        for conn in self._conns:
            try:
                conn.send({"command": "stop"})
            except (BrokenPipeError, OSError):
                pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self._procs:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        self.kill()

    def kill(self) -> None:
        for process in self._procs:
            if process.is_alive():
                process.kill()
        for process in self._procs:
            process.join(timeout=5.0)
        for conn in self._conns:
            conn.close()
        self._procs, self._conns, self._store = [], [], None


def rank_context():
    """Ranks are forked from a fork server that has imported torch and the suite once (mp's forkserver, preloaded
    with bench.rank.main): a rank then starts in well under a second instead of importing torch afresh (seconds each,
    and 4 ranks on 2 cores import in turn), which made world starts a sixth of a quick run's wall time. The server
    is a clean process (no CUDA, no threads of the parent), so forking from it is as safe as spawning."""
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["bench.rank.main"])
    return context


def _key(mesh_shape: tuple[int, ...], simulated: bool) -> tuple:
    """A world's key in its pool: its mesh shape, with a mark for a simulated world that no real one has."""
    return (tuple(mesh_shape), "simulated") if simulated else tuple(mesh_shape)


class WorldPool:
    """Live worlds by mesh shape, each reused by every case of its shape. An idle world waits in a pipe read and
    uses no CPU, so several may live at once: a resharding load needs the world that saved its checkpoint as well
    as its own. Beyond `max_live_ranks` ranks the least recently used world is stopped, and every other world is
    stopped when a simulated one is asked for (the simulated cases come last, grouped by world)."""

    def __init__(self, max_live_ranks: int = 12, waiting: Waiting = say_nothing) -> None:
        self.max_live_ranks = max_live_ranks
        self.waiting = waiting
        self._live: dict[tuple[int, ...], World] = {}
        """In order of last use, least recent first."""
        self.retired: list[World] = []

    def get(self, mesh_shape: tuple[int, ...], simulated: bool = False) -> World:
        key = _key(mesh_shape, simulated)
        if simulated:
            # One simulated world at a time: each keeps its last model build (GBs at the scale profile's sizes). The
            # real worlds stop too: simulated cases come after every real one (bench/plugin/hooks.py), and the 4
            # idle ranks of the scale profile's real world held 1.4 GB of RSS beside its simulated cases.
            self._retire_all_but(key)
        world = self._live.pop(key, None) or World(tuple(mesh_shape), simulated, self.waiting)
        while self._live and (sum(w.process_count for w in self._live.values()) + world.process_count
                              > self.max_live_ranks):
            self._retire(next(iter(self._live)))
        self._live[key] = world
        return world

    def stop_simulated(self) -> None:
        """Stop the live simulated world: a process that built a large model keeps the heap it freed (glibc hands
        little back), so the next model gets a fresh process (bench/run/session.py)."""
        for key in [k for k, w in self._live.items() if w.simulated]:
            self._retire(key)

    def _retire_all_but(self, keep: tuple) -> None:
        for key in [k for k in self._live if k != keep]:
            self._retire(key)

    def _retire(self, key: tuple[int, ...]) -> None:
        world = self._live.pop(key)
        world.stop()
        self.retired.append(world)

    def close(self) -> None:
        for key in list(self._live):
            self._retire(key)

    def _worlds(self) -> list[World]:
        return self.retired + list(self._live.values())

    def live_rank_pids(self, mesh_shape: tuple[int, ...], simulated: bool = False) -> list[int]:
        """The live ranks of the world of this shape, if it is alive: a case of that shape reuses them. The other
        live worlds keep their memory."""
        world = self._live.get(_key(mesh_shape, simulated))
        return [p.pid for p in world._procs if p.is_alive()] if world else []

    def rank_pids(self) -> list[int]:
        """Process ids of every rank started so far, so that a test can check none outlives the run."""
        return [pid for world in self._worlds() for pid in world.started_pids]

    def start_stats(self) -> tuple[int, float]:
        """(number of world starts, their total wall seconds) so far."""
        seconds = [s for world in self._worlds() for s in world.start_seconds]
        return len(seconds), sum(seconds)

    def launch_info(self) -> dict | None:
        """The launcher's world, when a launcher started the ranks (bench/worlds/external.py); None here."""
        return None
