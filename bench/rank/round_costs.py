"""What a rank spends on the timed op beside wall time: its CPU time and its I/O, read just outside t0..t1.

CPU time is the process's user + system time over all its threads (CLOCK_PROCESS_CPUTIME_ID): it does not see
waiting (on a slow peer in a collective, on a disk, on a descheduled core), so it is less noisy than wall time on a
shared machine but blind to exactly those costs; work done in another process (DCP's process-based async_save) is
not in it either. I/O is the rank's /proc/self/io counters: `read_bytes`/`write_bytes` reached the block layer
(a write counts when its page is dirtied, a read served by the page cache does not count), `rchar`/`wchar` passed
through read/write system calls of any kind, sockets and pipes included.
"""

from __future__ import annotations

import time

IO_FIELDS = ("rchar", "wchar", "read_bytes", "write_bytes")
_PROC_IO = "/proc/self/io"


def io_counters() -> dict[str, int] | None:
    """This process's I/O counters; None where /proc/self/io cannot be read (not Linux, or restricted)."""
    try:
        with open(_PROC_IO) as io:
            values = dict(line.split(":", 1) for line in io if ":" in line)
        return {name: int(values[name]) for name in IO_FIELDS}
    except (OSError, KeyError, ValueError):
        return None


def cpu_seconds() -> float:
    return time.process_time()


def io_delta(before: dict[str, int] | None, after: dict[str, int] | None) -> dict[str, int]:
    if before is None or after is None:
        return {}
    return {name: after[name] - before[name] for name in IO_FIELDS}
