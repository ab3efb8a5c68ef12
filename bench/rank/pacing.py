"""Pacing: the hook through which a layer above the core makes a run wait its turn (compare mode's A B A B).

An ordinary run has no pacer, and every call site skips it. A layer above sets PACER_ENV, in the environment of the
run it starts, to `module:function`; each process of that run (the pytest process, "parent", and every rank,
"rank") calls the function with its role once and gets the object that paces it. The core names no layer above it:
it knows these two interfaces and nothing of how turns are taken (bench/compare/turns.py is the one pacer).

Pure Python, no torch: the pytest process and the ranks both load it.
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import Any, Protocol

PACER_ENV = "STATEDICT_BENCH_PACER"
"""`module:function` that returns this process's pacer for a role ("parent" or "rank"); unset in an ordinary run."""
REWARM_ROUNDS = 1
"""Rounds a rank runs and discards after each wait for its turn: the other side's block left the caches cold, which
a round of an ordinary run does not find."""


class RunPacer(Protocol):
    """The pytest process's pacer: it waits before the run's own measurements and before each case."""

    def describe(self) -> dict[str, Any]:
        """What the result file records of the pacing (run.interleaved)."""

    def before_run_info(self) -> None:
        """Until the run may measure its machine (run info, ceilings)."""

    def before_case(self, sequence: int, case_id: str) -> None:
        """Until the case at this place in the run may start (its world start, setup and first block of rounds)."""

    def end_turn(self) -> None:
        """Done with this turn (the run info measured, or a case done and its record written): others may go."""

    def before_close(self) -> None:
        """Until the run may stop its worlds."""

    def close(self) -> None: ...


class RoundPacer(Protocol):
    """A rank's pacer: after every `block_rounds` measured rounds of a case, the rank waits for its next turn."""

    block_rounds: int

    def hand_over(self, rank: int, blocks_done: int) -> None:
        """Let others go after this rank's `blocks_done`-th block of the case, and return at this side's next turn."""


def load_pacer(role: str) -> Any | None:
    """This process's pacer for `role`, from PACER_ENV; None in an ordinary run."""
    target = os.environ.get(PACER_ENV)
    if not target:
        return None
    module_name, _, function_name = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(f"{PACER_ENV}={target!r} names no pacer: {exc}") from None
    return factory(role)


@functools.cache
def round_pacer() -> RoundPacer | None:
    """The rank process's pacer, made at its first case and kept for its life (one connection per rank)."""
    return load_pacer("rank")
