"""The launched world as the pytest run sees it: ranks that a launcher (torchrun, srun) started, reached through one
TCP connection per rank to that rank's supervisor (bench/worlds/launched.py), instead of a World's pipes to its own
processes.

The per-mesh views with World's interface and the pool that serves them are in bench/worlds/external_pool.py. Its
ranks cannot be restarted: after a rank dies or a case times out, every rank is ended
and every later case is `error` saying why, so the run still finishes and its file is complete.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Listener, wait
from typing import Any

from bench.machine.launch_env import LaunchEnv
from bench.results.outcome import CaseOutcome
from bench.worlds.local import START_TIMEOUT_S, STOP_TIMEOUT_S, Waiting, WorldStartError, say_nothing
from bench.worlds.replies import SIGNAL_CHECK_S, collect_replies, describe_exit, judge


def _envelope(message: dict[str, Any]) -> tuple[str, bytes]:
    """(command, the pickled message): the supervisor relays the bytes without unpickling them, which would import
    the suite's classes (RoundSettings, hence torch: seconds, on the first case) into a process meant to stay small."""
    return message["command"], pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


class LaunchedRanks:
    def __init__(self, launch: LaunchEnv, address_fd: int | None, parent_host: str, authkey: bytes,
                 waiting: Waiting = say_nothing) -> None:
        self.launch = launch
        self.waiting = waiting
        """The context the wait for the ranks' connections runs in (bench/worlds/local.py Waiting)."""
        self.world_size = launch.world_size
        self.rank_info: list[dict[str, Any]] = []
        """Each rank's hello: device, backend, dtype, threads, host, node and local rank, pids."""
        self.start_seconds: list[float] = []
        self.lost: str | None = None
        """Why the ranks are gone, once they are."""
        self._address_fd, self._parent_host, self._authkey = address_fd, parent_host, authkey
        self._conns: list[Any] = []

    @property
    def alive(self) -> bool:
        return bool(self._conns) and self.lost is None

    @property
    def started_pids(self) -> list[int]:
        return [info["rank_pid"] for info in self.rank_info]

    def ensure_started(self) -> None:
        if not self.start_seconds and not self.lost:
            self.start()

    def start(self) -> None:
        """Waits for every rank to connect; once only: the launcher, not this run, owns the processes."""
        if self.start_seconds or self.lost or self._address_fd is None:
            self.lost = self.lost or "its start was interrupted"
            raise WorldStartError(self.gone_message())
        began = time.perf_counter()
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(SIGNAL_CHECK_S)  # the listening socket's accept() wakes every second
        try:
            listener = Listener(("0.0.0.0", 0), authkey=self._authkey)
        finally:
            socket.setdefaulttimeout(previous)
        try:
            port = listener.address[1]
            fd, self._address_fd = self._address_fd, None
            with os.fdopen(fd, "w") as announce:
                announce.write(json.dumps({"address": [self._parent_host, port]}) + "\n")
            with self.waiting(f"waiting for the {self.world_size} ranks {self.launch.launcher} started to connect"):
                hellos = self._accept(listener, time.monotonic() + START_TIMEOUT_S)
        finally:
            listener.close()
        self._conns = [conn for conn, _ in hellos]
        self.rank_info = [hello for _, hello in hellos]
        self.start_seconds.append(time.perf_counter() - began)

    def _accept(self, listener: Listener, deadline: float) -> list[tuple[Any, dict[str, Any]]]:
        by_rank: dict[int, tuple[Any, dict[str, Any]]] = {}
        while len(by_rank) < self.world_size:
            if time.monotonic() > deadline:
                missing = sorted(set(range(self.world_size)) - set(by_rank))
                self._end([conn for conn, _ in by_rank.values()], "kill")
                self.lost = f"ranks {missing} did not connect within {START_TIMEOUT_S:.0f} s"
                raise WorldStartError(f"the launched world did not start: {self.lost}")
            try:
                conn = listener.accept()
            except TimeoutError:  # the listening socket's timeout: no rank knocked this second
                continue
            except (AuthenticationError, OSError, EOFError):
                continue  # not one of the launched ranks (no key, or it went away mid-handshake)
            if conn.poll(30.0):
                hello = conn.recv()
                by_rank[hello["rank"]] = (conn, hello)
        return [by_rank[rank] for rank in range(self.world_size)]

    def laid_out_by_node(self) -> bool:
        """True when rank = node rank x ranks per node + local rank, which the 2D mesh's rows assume."""
        per_node = self.launch.local_world_size or 0
        return all(info["rank"] == info["node_rank"] * per_node + info["local_rank"] for info in self.rank_info)

    def gone_message(self) -> str:
        return (f"the launched world is gone ({self.lost}); ranks started by {self.launch.launcher} cannot be "
                f"restarted, so every later case of this run fails: launch again, with --resume FILE to keep the "
                f"finished cases")

    def send(self, message: dict[str, Any], timeout_s: float) -> CaseOutcome:
        self.ensure_started()
        if self.lost:
            return CaseOutcome("error", self.gone_message(), [None] * self.world_size)
        try:
            death = None
            envelope = _envelope(message)
            for rank, conn in enumerate(self._conns):
                try:
                    conn.send(envelope)
                except OSError:
                    death = death or self._closed(rank)
            replies, death = self._collect(timeout_s) if death is None else ([None] * self.world_size, death)
        except KeyboardInterrupt:
            self._lose("the run was interrupted")
            raise
        outcome = judge(replies, death, timeout_s)
        if death or any(reply is None for reply in replies):  # dead, or stuck in a collective: end them all
            self._lose(outcome.message.splitlines()[0])
        return outcome

    def _closed(self, rank: int) -> str:
        host = self.rank_info[rank].get("host") if self.rank_info else None
        return f"rank {rank}'s launched process (host {host}) closed its connection: killed, or its node was lost"

    def _collect(self, timeout_s: float) -> tuple[list[dict[str, Any] | None], str | None]:
        """A reply per rank over the supervisors' connections, or the first rank found dead."""
        return collect_replies(self.world_size, timeout_s, lambda pending: {self._conns[r]: r for r in pending},
                               self._receive)

    def _receive(self, rank: int, ready: Any) -> tuple[dict[str, Any] | None, str | None]:
        try:
            reply = ready.recv()
        except (EOFError, OSError):
            return None, self._closed(rank)
        if reply.get("event") == "exited":
            return None, describe_exit(rank, reply["exitcode"])
        return reply, None

    def _lose(self, reason: str) -> None:
        self.lost = self.lost or reason
        self._end(self._conns, "kill")

    def _end(self, conns: list[Any], command: str) -> None:
        """Tells each supervisor to stop (its rank leaves cleanly) or kill its rank, and waits for it to leave."""
        for conn in conns:
            try:
                conn.send(_envelope({"command": command}))
            except OSError:
                pass
        deadline = time.monotonic() + STOP_TIMEOUT_S + 5.0
        open_conns = list(conns)
        while open_conns and time.monotonic() < deadline:
            for conn in wait(open_conns, timeout=SIGNAL_CHECK_S):
                try:
                    conn.recv()  # a late reply or exit report; EOF once the supervisor has ended its rank
                except (EOFError, OSError):
                    open_conns.remove(conn)
        for conn in conns:
            conn.close()
        self._conns = []

    def stop(self) -> None:
        if self._conns:
            self._end(self._conns, "stop")
        elif self._address_fd is not None:  # no case ran: rank 0's supervisor reads EOF and ends every rank
            os.close(self._address_fd)
            self._address_fd = None
            self.lost = "not started: no case ran"
