"""The turn coordinator of compare mode: a UNIX socket in a private (0700) folder, a thread per connection, and the
grant rule of bench/compare/turns.py under one lock.

The turn belongs to a side, not to a connection: a side's parent takes it at the start of a case and its rank 0
switches it between blocks. A connection that drops while its request holds the turn (a rank killed mid-block, a
world killed after a timeout) gives the turn back; a parent's connection that drops means the side left, and it
is never waited for again. Plain text lines, one answer per request:

    hello <A|B> <parent|rank>   at <position> [case id]   acquire   await <turn count>   release   end
"""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

from bench.compare.turns import TurnState


class Coordinator:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="statedict-bench-turns-"))  # 0700: no one else can connect
        self.socket_path = str(self.folder / "turn.sock")
        self.state = TurnState()
        self._changed = threading.Condition()
        self._holder_conn: socket.socket | None = None
        """The connection whose acquire holds the turn now, so that its loss gives the turn back."""
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.socket_path)
        self._server.listen(64)
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="turn-coordinator", daemon=True)

    def start(self) -> None:
        """Serve connections (they wait in the listen queue until then): a thread of its own, started after the
        sides are forked, so that no lock of this process is held in a child between fork and exec."""
        self._acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            thread = threading.Thread(target=self._serve, args=(conn,), name="turn-connection", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        side, role = None, None
        try:
            with conn, conn.makefile("r", encoding="utf-8") as lines:
                for line in lines:
                    words = line.split()
                    if not words:
                        continue
                    if words[0] == "hello" and len(words) == 3 and words[1] in self.state.sides:
                        side, role = words[1], words[2]
                        answer = "ok"
                    elif side is None:
                        answer = "error say hello <A|B> <role> first"
                    else:
                        answer = self._handle(conn, side, role or "", words)
                    conn.sendall(f"{answer}\n".encode())
        except OSError:
            pass  # the peer died; handled below like a clean close
        finally:
            self._dropped(conn, side, role)

    def _handle(self, conn: socket.socket, side: str, role: str, words: list[str]) -> str:
        command = words[0]
        with self._changed:
            if command == "at" and len(words) >= 2:
                self.state.at(side, float(words[1]), " ".join(words[2:]))
            elif command == "acquire":
                if self.state.holder != side:  # asking again while holding is a no-op
                    self._changed.wait_for(lambda: self._closed or self.state.may_grant(side))
                    if self._closed:
                        return "error coordinator closed"
                    self.state.grant(side, role)
                self._holder_conn = conn
            elif command == "await" and len(words) == 2:
                count = int(words[1])
                self._changed.wait_for(lambda: self._closed or self.state.sides[side].granted >= count
                                       or not math.isfinite(self.state.sides[side].position))
            elif command == "release":
                self.state.release(side)
            elif command == "end":
                self.state.end(side)
            else:
                return f"error unknown request {' '.join(words)!r}"
            self._changed.notify_all()
        return "ok"

    def _dropped(self, conn: socket.socket, side: str | None, role: str | None) -> None:
        if side is None:
            return
        with self._changed:
            if role == "parent":
                self.state.leave(side)
            elif self._holder_conn is conn and self.state.holder == side:
                self.state.release(side)
            if self._holder_conn is conn:
                self._holder_conn = None
            self._changed.notify_all()

    def leave(self, side: str) -> None:
        """The side's process ended (also one that never connected: bad input, an interpreter that failed)."""
        with self._changed:
            self.state.leave(side)
            self._changed.notify_all()

    def summary(self) -> dict[str, Any]:
        with self._changed:
            return {"grants": [{**g, "position": g["position"] if math.isfinite(g["position"]) else None}
                               for g in self.state.log],
                    "block_orders": self.state.block_orders(),
                    "mismatched_positions": self.state.mismatched_positions()}

    def write_log(self, path: Path) -> None:
        path.write_text(json.dumps(self.summary(), indent=1))

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._server.close()
        try:
            os.unlink(self.socket_path)
            self.folder.rmdir()
        except OSError:
            pass
