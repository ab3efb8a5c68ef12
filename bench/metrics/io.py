"""I/O: the rank's /proc/self/io counters over the op. `read_bytes`/`write_bytes` reached the block layer (a write
counts when its page is dirtied, a read served by the page cache does not count); `rchar`/`wchar` passed through
read/write system calls of any kind, sockets and pipes included. Recorded, not judged."""

from __future__ import annotations

from bench.metrics.base import Metric

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


class IoMeter:
    def start(self) -> None:
        self._before = io_counters()

    def stop(self) -> dict[str, int]:
        """The counters' growth over the op; an empty dict where they cannot be read."""
        after = io_counters()
        if self._before is None or after is None:
            return {}
        return {name: after[name] - self._before[name] for name in IO_FIELDS}


METRIC = Metric(
    name="io", description="bytes of I/O (/proc/self/io)", reply_key="io_bytes", counters=True,
    fields={"io_bytes": ("bytes", "/proc/self/io deltas in the op: {rchar, wchar, read_bytes, write_bytes} of "
                                  "rounds x ranks")},
    meter=IoMeter)
