"""Taking turns: two runs of the suite (two torch installations, `python -m bench.compare.run`) measure one at a
time, A B A B within every case, so that drift of the machine falls on both alike.

A coordinator (bench/compare/turn_server.py, in the driver) holds one turn. Each side's pytest process (the "parent")
tells it its position before each case and takes the turn for the case's world start, setup, warm-up and first
block of rounds; every `block_rounds` measured rounds its rank 0 hands the turn back and asks for the next one.
The sides' processes reach the coordinator through the core's pacing hook (bench/rank/pacing.py) with the pacers of
bench/compare/pacers.py; without the hook (an ordinary run) none of this exists.

This module imports nothing of torch: the driver runs under any python.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass, field
from typing import Any

TURN_ENV = "STATEDICT_BENCH_TURN"
"""`<socket path>:<side>:<block rounds>`, set by the driver for each side (inherited by the side's rank processes)."""
SIDES = ("A", "B")
CEILINGS_POSITION = -1
"""Where a side measures its run info and ceilings, before the first case (sequence 0)."""
FINAL_POSITION = math.inf
"""Where a side waits before tearing down its worlds: not while the other side still measures."""


@dataclass(frozen=True)
class TurnConfig:
    socket_path: str
    side: str
    block_rounds: int
    """Measured rounds per turn; the rank loop switches sides after each block."""


def config_from_env(environ: dict[str, str] | None = None) -> TurnConfig | None:
    text = (os.environ if environ is None else environ).get(TURN_ENV)
    if not text:
        return None
    try:
        path, side, block = text.rsplit(":", 2)
        config = TurnConfig(path, side, int(block))
    except ValueError:
        raise ValueError(f"{TURN_ENV}={text!r} is not <socket>:<A|B>:<block rounds>") from None
    if config.side not in SIDES or config.block_rounds < 1:
        raise ValueError(f"{TURN_ENV}={text!r}: side must be A or B and block rounds >= 1")
    return config


def env_value(socket_path: str, side: str, block_rounds: int) -> str:
    return f"{socket_path}:{side}:{block_rounds}"


def _other(side: str) -> str:
    return "B" if side == "A" else "A"


@dataclass
class SideState:
    position: float = -math.inf
    """The case (sequence) the side is at; -inf before it said, +inf once it left."""
    case_id: str = ""
    ended: bool = False
    """It finished the case at `position` (and holds no turn for it)."""
    granted: int = 0
    """Turns granted to it at `position`."""


@dataclass
class TurnState:
    """The grant rule, pure (no sockets, no threads; the coordinator locks around it).

    Side S asking for a turn at position p gets it when nobody holds the turn and the other side O
    - has passed p (O's position > p, or O left), or
    - is at p and has ended it, or
    - is at p and has had as many turns there as S (S = A), or one more (S = B): A goes first, then they alternate.
    A side behind (O's position < p) runs alone while S waits; a side never waits for one that waits for it.
    """

    sides: dict[str, SideState] = field(default_factory=lambda: {s: SideState() for s in SIDES})
    holder: str | None = None
    log: list[dict[str, Any]] = field(default_factory=list)
    """Every grant in order: position, case id, side, the side's turn number at that position."""

    def at(self, side: str, position: float, case_id: str = "") -> None:
        state = self.sides[side]
        if position != state.position:
            if self.holder == side:  # moving on ends the previous case, turn included
                self.holder = None
            state.position, state.case_id, state.ended, state.granted = position, case_id, False, 0

    def may_grant(self, side: str) -> bool:
        if self.holder is not None:
            return False
        mine, theirs = self.sides[side], self.sides[_other(side)]
        if theirs.position != mine.position:
            return theirs.position > mine.position
        if theirs.ended:
            return True
        return theirs.granted >= mine.granted + (0 if side == "A" else 1)

    def grant(self, side: str, who: str = "") -> None:
        state = self.sides[side]
        state.granted += 1
        self.holder = side
        self.log.append({"position": state.position, "case_id": state.case_id, "side": side,
                         "turn": state.granted, "by": who})

    def release(self, side: str) -> None:
        if self.holder == side:
            self.holder = None

    def end(self, side: str) -> None:
        self.release(side)
        self.sides[side].ended = True

    def leave(self, side: str) -> None:
        """The side finished or died: it holds nothing and is never waited for again."""
        self.release(side)
        self.at(side, math.inf)
        self.sides[side].ended = True

    def block_orders(self) -> dict[str, list[str]]:
        """Per case position, the sides in the order their turns ran, e.g. {'0': ['A', 'B', 'A', 'B']}."""
        orders: dict[str, list[str]] = {}
        for entry in self.log:
            if math.isfinite(entry["position"]):
                orders.setdefault(str(int(entry["position"])), []).append(entry["side"])
        return orders

    def mismatched_positions(self) -> list[str]:
        """Positions where the two sides ran different cases (their selections differ): not compared alike."""
        seen: dict[float, dict[str, str]] = {}
        for entry in self.log:
            seen.setdefault(entry["position"], {})[entry["side"]] = entry["case_id"]
        return [str(int(p)) for p, ids in seen.items() if math.isfinite(p) and len(set(ids.values())) > 1]


def alternates(order: list[str]) -> bool:
    """A B A B ..., each side's blocks between the other's (a side may have one more at the end)."""
    return bool(order) and all(side == SIDES[i % 2] for i, side in enumerate(order))


class TurnClient:
    """One connection to the coordinator. Every request waits for the coordinator's answer, so `acquire` returns
    once the turn is this side's. A lost coordinator raises ConnectionError (the driver is gone)."""

    def __init__(self, config: TurnConfig, role: str) -> None:
        self.config = config
        self.interrupted = False
        """A request was cut short (Ctrl-C, SIGTERM): later answers would not match; ask nothing more."""
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(config.socket_path)
        self._reader = self._sock.makefile("r", encoding="utf-8")
        self._ask(f"hello {config.side} {role}")

    @property
    def block_rounds(self) -> int:
        return self.config.block_rounds

    def _ask(self, line: str) -> str:
        self.interrupted = True  # until the answer is read: a Ctrl-C in between leaves the answer unread
        self._sock.sendall(f"{line}\n".encode())
        answer = self._reader.readline()
        self.interrupted = False
        if not answer:
            raise ConnectionError(f"turn coordinator at {self.config.socket_path} closed the connection")
        if not answer.startswith("ok"):
            raise ConnectionError(f"turn coordinator refused {line!r}: {answer.strip()}")
        return answer.strip()

    def at(self, position: float, case_id: str = "") -> None:
        self._ask(f"at {position} {case_id}".rstrip())

    def acquire(self) -> None:
        self._ask("acquire")

    def await_turn(self, count: int) -> None:
        """Until this side has had `count` turns at its position: ranks other than 0 wait here, not in a collective
        (a collective that waits out the other side's block may spin a core, and it has the process group's
        timeout)."""
        self._ask(f"await {count}")

    def release(self) -> None:
        self._ask("release")

    def end(self) -> None:
        self._ask("end")

    def close(self) -> None:
        try:
            self._reader.close()
            self._sock.close()
        except OSError:
            pass
