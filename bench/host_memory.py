"""A process's own peak resident memory during an operation.

On Linux, writing 5 to /proc/self/clear_refs resets the high-water mark (VmHWM) to the current RSS, so after the
op VmHWM - RSS before is the op's own peak. Where that is not possible (not Linux, or /proc read-only) the peak is
unknown and reported as None rather than guessed.
"""

from __future__ import annotations

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
        self._baseline = rss_bytes() if _reset_high_water_mark() else None

    def end(self) -> int | None:
        if self._baseline is None:
            return None
        hwm = _status_kib("VmHWM")
        return None if hwm is None else max(0, hwm * 1024 - self._baseline)
