"""`python -m bench.worlds.launched [pytest options]`: the benchmark under a launcher, one process per rank.

    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:PORT --rdzv-id RUN \\
        -m bench.worlds.launched --profile quick --benchmark-json results/multinode.json
    srun --ntasks-per-node 4 python -m bench.worlds.launched --profile quick --benchmark-json results/multinode.json

Each launched process is a small supervisor (no torch): it starts its rank as a child process and relays between
that rank and the pytest run, so that when the rank dies the run learns the rank's signal or exit code (a launcher
keeps those to itself), and so that the rank ends whenever the run does. Global rank 0's supervisor also starts
the pytest run (`python -m pytest bench/ [options]`, in its own session: it gets signals only through its
supervisor) and exits with its exit code. The pytest run measures on the launched ranks
(bench/worlds/external.py) instead of starting worlds of its own.

Start-up: every rank joins the launcher's process group; pytest listens on a port the OS picks and tells its
supervisor (a pipe); rank 0 broadcasts that address and a random key to every rank; every supervisor connects.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import secrets
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Client, wait
from typing import Any

from bench import benchmark_command
from bench.machine.lifetime import die_with_parent
from bench.machine.placement import threads_per_rank
from bench.machine.launch_env import (AUTHKEY_VAR, LAUNCH_CONFIG_VAR, PARENT_HOST_VAR, LaunchEnv, LaunchError,
                              process_group_env, read_launch_env)

STOP_TIMEOUT_S = 10.0


def _say(launch: LaunchEnv | None, text: str) -> None:
    where = f" rank {launch.rank}" if launch else ""
    print(f"statedict-bench{where}: {text}", file=sys.stderr, flush=True)


def _rank_entry(launch: LaunchEnv, threads: int, conn) -> None:
    """The child's target; imports torch there only, so that the supervisor stays small."""
    from bench.rank.launched import launched_rank_main

    launched_rank_main(launch, threads, conn)


def _pytest_preexec() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # ignored in the supervisor, and SIG_IGN survives exec
    die_with_parent(signal.SIGTERM)  # the supervisor's death (SIGKILL by the launcher): pytest writes what finished


class Supervisor:
    def __init__(self, launch: LaunchEnv, pytest_args: list[str]) -> None:
        self.launch = launch
        self.pytest_args = pytest_args
        self.child: Any = None
        self.child_conn: Any = None
        self.pytest: subprocess.Popen | None = None
        self.parent_conn: Any = None

    def _start_pytest(self, authkey: bytes) -> int:
        """Starts the pytest run; returns the pipe it writes its listening port to."""
        read_fd, write_fd = os.pipe()
        config = json.loads(self.launch.to_json())
        config.update(address_fd=write_fd,
                      parent_host=os.environ.get(PARENT_HOST_VAR) or self.launch.master_addr)
        env = {**os.environ, LAUNCH_CONFIG_VAR: json.dumps(config), AUTHKEY_VAR: authkey.hex()}
        self.pytest = subprocess.Popen(benchmark_command(self.pytest_args),
                                       env=env, pass_fds=(write_fd,), preexec_fn=_pytest_preexec,  # noqa: PLW1509 (no threads yet)
                                       start_new_session=True)
        os.close(write_fd)
        return read_fd

    def _start_rank(self) -> None:
        threads = threads_per_rank(self.launch.ranks_on_this_node)  # the ranks on this node share its cores
        context = mp.get_context("spawn")
        self.child_conn, child_end = context.Pipe()
        # daemon: multiprocessing ends it when this interpreter exits, whatever the path
        self.child = context.Process(target=_rank_entry, args=(self.launch, threads, child_end), daemon=True,
                                     name=f"statedict-bench-rank{self.launch.rank}")
        self.child.start()
        child_end.close()

    def _parent_address(self, read_fd: int) -> dict[str, Any] | None:
        """What pytest wrote once listening, or None if it ended (or rank 0 died) first."""
        chunks = b""
        while True:
            ready = wait([read_fd, self.child.sentinel])
            if read_fd in ready:
                chunk = os.read(read_fd, 4096)
                chunks += chunk
                if not chunk or chunks.endswith(b"\n"):
                    break
            elif not self.child.is_alive():
                break
        os.close(read_fd)
        return json.loads(chunks) if chunks.endswith(b"\n") else None

    def _await_rank(self) -> dict[str, Any] | None:
        """The rank's word once the process group is up: where pytest listens and the rank's facts, or None."""
        ready = wait([self.child_conn, self.child.sentinel])
        if self.child_conn in ready:
            try:
                return self.child_conn.recv()
            except EOFError:
                pass
        self.child.join(timeout=5.0)
        if self.child.exitcode not in (0, None):
            _say(self.launch, f"the rank process ended before the run began (exit code {self.child.exitcode})")
        return None

    def run(self) -> int:
        authkey = secrets.token_bytes(32) if self.launch.rank == 0 else b""
        read_fd = self._start_pytest(authkey) if self.launch.rank == 0 else None
        self._start_rank()
        if read_fd is not None:
            address = self._parent_address(read_fd)
            parent = address and {"address": address["address"], "authkey": authkey.hex()}
            try:
                self.child_conn.send({"parent": parent})
            except OSError:
                pass  # rank 0 died: _await_rank says so
        word = self._await_rank()
        if word is not None:
            try:
                self.parent_conn = Client(tuple(word["parent"]["address"]),
                                          authkey=bytes.fromhex(word["parent"]["authkey"]))
            except OSError as exc:
                _say(self.launch, f"cannot reach the pytest run at {word['parent']['address']}: {exc}")
                return self._finish(1)
            self.parent_conn.send({**word["ready"], "host": socket.gethostname(), "node_rank": self.launch.node_rank,
                                   "local_rank": self.launch.local_rank, "supervisor_pid": os.getpid(),
                                   "rank_pid": self.child.pid})
            return self._finish(self._relay())
        failed = self.child.exitcode not in (0, None)
        if failed and self.pytest is not None and self.pytest.poll() is None:
            self.pytest.terminate()  # rank 0 is gone before the run began: pytest would wait for it in vain
        return self._finish(1 if failed else 0)

    def _relay(self) -> int:
        """Messages both ways until pytest says stop or kill (0) or its connection drops (1)."""
        child_reported = False
        while True:
            watched = [self.parent_conn] + ([] if child_reported else [self.child_conn, self.child.sentinel])
            ready = wait(watched)
            if self.parent_conn in ready:
                try:
                    command, message = self.parent_conn.recv()  # a str and bytes: unpickling them imports nothing
                except (EOFError, OSError):
                    if self.launch.rank != 0:  # rank 0's pytest says itself why it ended
                        _say(self.launch, "the pytest run's connection closed; ending this rank")
                    return 1
                if command == "kill":
                    return 0
                if not child_reported:
                    try:
                        self.child_conn.send_bytes(message)  # the rank's recv() unpickles it
                    except OSError:
                        pass  # the rank is dead: the sentinel tells
                if command == "stop":
                    self.child.join(timeout=STOP_TIMEOUT_S)
                    return 0
            if child_reported:
                continue
            if self.child_conn in ready:
                try:
                    self.parent_conn.send_bytes(self.child_conn.recv_bytes())  # relayed as pickled
                    continue
                except EOFError:
                    pass
            if not self.child.is_alive() or self.child_conn in ready:
                self.child.join(timeout=5.0)
                self.parent_conn.send({"event": "exited", "rank": self.launch.rank, "exitcode": self.child.exitcode})
                child_reported = True

    def _finish(self, code: int) -> int:
        """Ends the rank, and on rank 0 waits for pytest, whose exit code is the launch's."""
        if self.child is not None and self.child.is_alive():
            self.child.kill()
            self.child.join(timeout=5.0)
        if self.parent_conn is not None:
            self.parent_conn.close()
        if self.pytest is not None:
            returncode = self.pytest.wait()
            return returncode if returncode >= 0 else 128 - returncode
        return code

    def on_signal(self, signum: int, frame) -> None:
        """Rank 0 passes SIGINT and SIGTERM on to pytest, which stops the ranks and writes what finished; the
        other ranks leave SIGINT to pytest and end at SIGTERM."""
        if self.pytest is not None:
            if self.pytest.poll() is None:
                self.pytest.send_signal(signum)
            return
        if signum == signal.SIGTERM:
            raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    try:
        launch = read_launch_env()
    except LaunchError as exc:
        _say(None, f"error: {exc}")
        return 2
    os.environ.update(process_group_env(launch))  # env:// in the rank; the same under srun as under torchrun
    supervisor = Supervisor(launch, argv)
    signal.signal(signal.SIGINT, supervisor.on_signal)
    signal.signal(signal.SIGTERM, supervisor.on_signal)
    try:
        return supervisor.run()
    except SystemExit as exc:
        supervisor._finish(1)
        return int(exc.code or 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
