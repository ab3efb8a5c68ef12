"""Injected faults, for the suite's own tests of how a world survives them (never in a profile's matrix).

A null case with options {"fault": KIND, "fault_rank": R} makes rank R misbehave in setup: `raise` an exception,
`refuse` (NotImplementedError, as torch refuses), `segfault` (SIGSEGV, as torch's own crashes do), `exit`
(os._exit, a process vanishing), `kill` (SIGKILL, as the OOM killer sends) or `hang` (never reach the next
collective). The other ranks do nothing and wait in the first round's barrier, as healthy ranks of a real failing
case would.
"""

from __future__ import annotations

import os
import signal
import time

from bench.ops.base import Operation


class FaultInjection(Operation):
    def setup(self) -> None:
        if self.ctx.rank != self.options.get("fault_rank", 0):
            return
        kind = self.options["fault"]
        if kind == "raise":
            raise RuntimeError("injected fault")
        if kind == "refuse":
            raise NotImplementedError("injected refusal")
        if kind == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif kind == "exit":
            os._exit(3)
        elif kind == "hang":
            time.sleep(3600)
        else:
            raise ValueError(f"unknown fault {kind!r}")

    def run(self) -> None:
        return None
