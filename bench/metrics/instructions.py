"""Instruction counts of the timed op, under valgrind's callgrind: `--metric instructions` (opt-in).

Every rank runs under `valgrind --tool=callgrind --collect-atstart=no --instr-atstart=yes`: instrumented from the
start, counting nothing until the rank toggles collection on (torch._C._valgrind_toggle, callgrind's client
request) just before t0, and off again with a dump of the counts (_valgrind_toggle_and_dump_stats) just after t1,
as PyTorch's own instruction-count benchmarks do. A round's count is then the op's alone, give or take the few
instructions of reading the clocks, and it does not move with the machine's load: it is the least noisy metric,
and the blindest (no cache misses, no waiting, no I/O device; see docs/measuring.md).

How: multiprocessing's executable becomes a wrapper that runs python under valgrind. The fork server that worlds are
forked from (bench/worlds/local.py) is started through it, so torch is imported under valgrind once (about a minute),
and
each rank, forked from the server, stays under valgrind with its own output file. Everything is about 50 times
slower under valgrind: rounds are few, and time limits are scaled by SLOWDOWN.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
from pathlib import Path

from bench.metrics.base import Metric

CALLGRIND_DIR_ENV = "STATEDICT_BENCH_CALLGRIND_DIR"
"""Set for the ranks in instructions mode: the folder of their callgrind files. Absent: no counting."""
SLOWDOWN = 50.0
"""How much slower a rank runs under callgrind, for time limits (world start, case timeout)."""
ROUNDS = 3
"""Measured rounds per case under callgrind: counts repeat to within a fraction of a percent (docs/measuring.md)."""
_TOTALS = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def valgrind() -> str:
    path = shutil.which("valgrind")
    if path is None:
        raise ValueError("--metric instructions needs valgrind, which is not installed "
                         "(Debian: apt-get install valgrind)")
    return path


def enable(folder: Path) -> None:
    """Makes every rank started from now on run under callgrind, writing into `folder` (the parent, once)."""
    import multiprocessing as mp

    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "python-under-callgrind"
    wrapper.write_text("#!/bin/sh\n"
                       f'exec "{valgrind()}" -q --tool=callgrind --collect-atstart=no --instr-atstart=yes '
                       f'--callgrind-out-file="{folder}/callgrind.%p" "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    os.environ[CALLGRIND_DIR_ENV] = str(folder)
    mp.set_executable(str(wrapper))


def enabled() -> bool:
    return bool(os.environ.get(CALLGRIND_DIR_ENV))


def time_scale() -> float:
    """What every wait for ranks is multiplied by (bench/worlds/local.py): SLOWDOWN in instructions mode, else 1."""
    return SLOWDOWN if enabled() else 1.0


def read_dump_total(folder: Path, pid: int) -> int | None:
    """The instruction count of this process's newest callgrind dump (the round just ended), removed once read."""
    dumps = sorted(folder.glob(f"callgrind.{pid}.*"), key=lambda p: int(p.name.rsplit(".", 1)[1])
                   if p.name.rsplit(".", 1)[1].isdigit() else -1)
    if not dumps:
        return None
    text = dumps[-1].read_text(errors="replace")
    for dump in dumps:
        dump.unlink(missing_ok=True)
    match = _TOTALS.search(text)
    return int(match.group(1)) if match else None


class InstructionCounter:
    """In a rank: counts the instructions between start() and stop(); inactive (None) outside instructions mode."""

    def __init__(self) -> None:
        import torch  # a rank's module; the parent side of this file runs without torch

        self.folder = Path(os.environ[CALLGRIND_DIR_ENV]) if enabled() else None
        self._torch = torch
        if self.folder is not None and not torch._C._valgrind_supported_platform():
            self.folder = None

    def start(self) -> None:
        if self.folder is not None:
            self._torch._C._valgrind_toggle()

    def stop(self) -> int | None:
        if self.folder is None:
            return None
        self._torch._C._valgrind_toggle_and_dump_stats()
        return read_dump_total(self.folder, os.getpid())


METRIC = Metric(
    name="instructions", reply_key="instructions", always=False, meter=InstructionCounter,
    description="instructions counted by callgrind (the busiest rank's; shown in place of seconds)",
    fields={"rank_instructions": ("count", "instructions in the op, rounds x ranks (--metric instructions only)"),
            "round_instructions": ("count", "a round's instructions: its busiest rank's, per round"),
            "instructions_stats": ("count", "summary of round_instructions, as stats")},
    rank_field="rank_instructions", round_field="round_instructions", stats_field="instructions_stats",
    display=("M instr", 1e-6), column="M instr",
    column_note="M instr: median over rounds of the busiest rank's instructions in the op (callgrind), millions",
    missing_hint="the run was not made with --metric instructions")
