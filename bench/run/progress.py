"""Progress of a long run: cases done out of the total and an estimate of the time left, a line now and then."""

from __future__ import annotations

import time
from typing import Callable


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


class Progress:
    """Counts finished cases; `line()` says how far the run is once every `every_s` seconds (and at the end).

    The time left is the mean time per finished case times the cases left: cases differ in size, so it is labelled
    an estimate; it improves as the run goes, since each profile's meshes and models come round again and again.
    """

    def __init__(self, total: int, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.every_s = every_s
        self.done = 0
        self._clock = clock
        self._began = clock()
        self._last_line = self._began

    def case_finished(self) -> str | None:
        """Count one case; the progress line when one is due, else None."""
        self.done += 1
        now = self._clock()
        if self.done < self.total and now - self._last_line < self.every_s:
            return None
        self._last_line = now
        return self.line(now)

    def line(self, now: float | None = None) -> str:
        elapsed = (self._clock() if now is None else now) - self._began
        text = f"progress: {self.done}/{self.total} cases ({self.done / max(self.total, 1):.0%}), " \
               f"{format_duration(elapsed)} elapsed"
        if self.done < self.total and self.done:
            text += f", about {format_duration(elapsed / self.done * (self.total - self.done))} left"
        return text
