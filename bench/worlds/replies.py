"""Waiting for one reply per rank, and what the replies say: one loop and one judgement for every world kind (local
worlds read pipes to their own processes, launched ones connections to the ranks' supervisors)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

from bench.results.outcome import CaseOutcome

ERROR_GRACE_S = 5.0
"""How long the other ranks may take to answer once one rank has raised or refused: they are usually stuck in a
collective that the failed rank will never join."""
SIGNAL_CHECK_S = 1.0
"""The longest a wait for ranks sleeps: a Ctrl-C or SIGTERM that the kernel hands to another thread of this process
(the store's server thread, torch's threads) does not interrupt the wait; Python raises it only once the main
thread runs again."""

Reply = dict[str, Any]
Replies = list[Reply | None]
Receive = Callable[[int, Any], tuple[Reply | None, str | None]]
"""(rank, the object that woke) -> (the rank's reply, or why the rank is gone); (None, None) for a wake-up with
nothing to read yet."""


def describe_exit(rank: int, exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"rank {rank} died: {name} (exit code {exitcode})"
    return f"rank {rank} exited with code {exitcode}"


def collect_replies(count: int, timeout_s: float, watched: Callable[[set[int]], dict[Any, int]], receive: Receive,
                    stop_early_on_error: bool = True) -> tuple[Replies, str | None]:
    """A reply per rank within `timeout_s`, or the first rank found gone: (replies, failure or None). `watched`
    gives, for the ranks still pending, what to wait on (a connection, a process sentinel) and whose it is. With
    `stop_early_on_error` the others get ERROR_GRACE_S more once one rank has answered with anything but ok."""
    replies: Replies = [None] * count
    pending = set(range(count))
    deadline = time.monotonic() + timeout_s
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return replies, None
        watch = watched(pending)
        for ready in wait(list(watch), timeout=min(remaining, SIGNAL_CHECK_S)):
            rank = watch[ready]
            if rank not in pending:
                continue
            reply, failure = receive(rank, ready)
            if failure:
                return replies, failure
            if reply is not None:
                replies[rank] = reply
                pending.discard(rank)
        if stop_early_on_error and any(r and r.get("status") != "ok" for r in replies):
            deadline = min(deadline, time.monotonic() + ERROR_GRACE_S)
    return replies, None


def judge(replies: Replies, death: str | None, timeout_s: float) -> CaseOutcome:
    """The case's outcome from its ranks' replies: a death or a raising rank is an error, a refusal unsupported, a
    silent rank a timeout."""
    if death:
        return CaseOutcome("error", death, replies)
    silent = [rank for rank, reply in enumerate(replies) if reply is None]
    errors = [r for r in replies if r and r["status"] == "error"]
    if errors:
        first = errors[0]
        waiting = f" (ranks {silent} did not finish)" if silent else ""
        return CaseOutcome("error", f"rank {first['rank']} raised {first['message']}{waiting}\n"
                                    f"{first.get('traceback', '')}".strip(), replies)
    refused = [r for r in replies if r and r["status"] == "unsupported"]
    if refused:  # torch refused on some rank; any silent rank is waiting for it in a collective
        return CaseOutcome("unsupported", refused[0]["message"], replies)
    if silent:
        return CaseOutcome("timeout", f"ranks {silent} did not finish within {timeout_s:.0f} s", replies)
    return CaseOutcome("ok", "", replies)
