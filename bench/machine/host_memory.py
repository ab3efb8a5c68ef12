"""A process's own peak resident memory during an operation.

On Linux, writing 5 to /proc/self/clear_refs resets the high-water mark (VmHWM) to the current RSS, so after the
op VmHWM - RSS before is the op's own peak. Where that is not possible (not Linux, or /proc read-only) the peak is
unknown and reported as None rather than guessed.

Before the baseline, glibc's malloc_trim(0) hands freed heap pages back to the OS. Without it the previous round's
freed state dict stays resident, the op reuses those pages, and its peak reads as almost nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def _status_kib(field: str) -> int | None:
    try:
        with open(_STATUS) as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def _load_malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _load_malloc_trim()


def release_free_heap() -> None:
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _reset_high_water_mark() -> bool:
    try:
        with open(_CLEAR_REFS, "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """Usage: begin() before the op, end() after it; end() returns the op's peak in bytes or None."""

    def __init__(self) -> None:
        self._baseline: int | None = None

    def begin(self) -> None:
        release_free_heap()
        self._baseline = rss_bytes() if _reset_high_water_mark() else None

    def end(self) -> int | None:
        if self._baseline is None:
            return None
        hwm = _status_kib("VmHWM")
        return None if hwm is None else max(0, hwm * 1024 - self._baseline)
