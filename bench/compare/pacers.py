"""compare mode's pacers: how each process of a side takes turns through the core's pacing hook
(bench/rank/pacing.py), over a connection to the driver's coordinator (bench/compare/turns.py TurnClient).

A side's environment names `pacer` below in PACER_ENV and this side's coordinator, side and block size in TURN_ENV
(bench/compare/sides.py); each process of the side calls `pacer` once, with its role.
"""

from __future__ import annotations

from typing import Any

from bench.compare.turns import CEILINGS_POSITION, FINAL_POSITION, TurnClient, TurnConfig, config_from_env

PACER_TARGET = "bench.compare.pacers:pacer"
"""What a side's PACER_ENV says."""


class ParentPacer:
    """The side's pytest process: it holds the turn for its run info and for each case's start, setup, warm-up and
    first block; after the case it ends its turn at that position."""

    def __init__(self, config: TurnConfig) -> None:
        self.client = TurnClient(config, "parent")

    def describe(self) -> dict[str, Any]:
        return {"side": self.client.config.side, "block_rounds": self.client.block_rounds}

    def _take(self, position: float, label: str) -> None:
        self.client.at(position, label)
        self.client.acquire()

    def before_run_info(self) -> None:
        self._take(CEILINGS_POSITION, "run-info-and-ceilings")  # the machine as this side alone sees it

    def before_case(self, sequence: int, case_id: str) -> None:
        self._take(sequence, case_id)

    def end_turn(self) -> None:
        self.client.end()

    def before_close(self) -> None:
        """Stopping worlds must not disturb the other side's rounds; skipped when a request was cut short (Ctrl-C,
        SIGTERM): its answer was never read, so later ones would not match."""
        if not self.client.interrupted:
            self._take(FINAL_POSITION, "close")

    def close(self) -> None:
        self.client.close()


class RankPacer:
    """A rank of the side: between blocks, rank 0 hands the turn back and asks for the next one; the other ranks
    wait for the side's next turn at the coordinator, not in a collective (bench/compare/turns.py await_turn)."""

    def __init__(self, config: TurnConfig) -> None:
        self.client = TurnClient(config, "rank")
        self.block_rounds = config.block_rounds

    def hand_over(self, rank: int, blocks_done: int) -> None:
        if rank == 0:
            self.client.release()
            self.client.acquire()
        else:
            self.client.await_turn(blocks_done + 1)  # the parent's turn for the case is the first


def pacer(role: str) -> ParentPacer | RankPacer | None:
    """The pacing hook's factory (bench/rank/pacing.py): this process's pacer, or None without TURN_ENV."""
    config = config_from_env()
    if config is None:
        return None
    return ParentPacer(config) if role == "parent" else RankPacer(config)
