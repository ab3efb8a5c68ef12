"""Progress of a long run: cases done out of the total and an estimate of the time left. In a log it is a line now
and then (`PlainProgress`); on a terminal a live bar shows the same figures (bench/run/progress_bar.py)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Protocol


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def waiting_line(what: str) -> str:
    """The line a log gets when the run waits for something that takes seconds (a world's start)."""
    return f"statedict-bench: {what}..."


class Progress:
    """Counts finished cases; `line()` says how far the run is once every `every_s` seconds (and at the end).

    The time left is the mean time per finished case times the cases left: cases differ in size, so it is labelled
    an estimate; it improves as the run goes, since each profile's meshes and models come round again and again.
    Between two finished cases it counts down from the estimate made when the last one finished.
    """

    def __init__(self, total: int, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.every_s = every_s
        self.done = 0
        self._clock = clock
        self._began = clock()
        self._last_line = self._began
        self._last_finish = self._began

    def case_finished(self) -> str | None:
        """Count one case; the progress line when one is due, else None."""
        self.done += 1
        now = self._clock()
        self._last_finish = now
        if self.done < self.total and now - self._last_line < self.every_s:
            return None
        self._last_line = now
        return self.line(now)

    def elapsed_s(self, now: float | None = None) -> float:
        return (self._clock() if now is None else now) - self._began

    def left_s(self, now: float | None = None) -> float | None:
        """The estimate of the time left; None before the first case finished and after the last."""
        if not self.done or self.done >= self.total:
            return None
        per_case_s = (self._last_finish - self._began) / self.done
        since_s = (self._clock() if now is None else now) - self._last_finish
        return max(0.0, per_case_s * (self.total - self.done) - since_s)

    def summary(self, now: float | None = None) -> str:
        """`12/190 cases (6%), 1m02s elapsed, about 5m10s left`: the figures of the line, and of the bar."""
        now = self._clock() if now is None else now
        text = f"{self.done}/{self.total} cases ({self.done / max(self.total, 1):.0%}), " \
               f"{format_duration(self.elapsed_s(now))} elapsed"
        left_s = self.left_s(now)
        if left_s is not None:
            text += f", about {format_duration(left_s)} left"
        return text

    def line(self, now: float | None = None) -> str:
        return f"progress: {self.summary(now)}"


class ProgressDisplay(Protocol):
    """What the run tells its progress display: plain lines in a log (PlainProgress), the live bar on a terminal
    (progress_bar.LiveProgress)."""

    def case_started(self, case_id: str) -> None: ...

    def case_finished(self) -> None: ...

    def waiting(self, what: str) -> contextlib.AbstractContextManager: ...

    def stop(self) -> None: ...


class PlainProgress:
    """Progress for a log: the progress line when one is due, and a line for each wait (`say` prints a line where
    the user reads the run's output)."""

    def __init__(self, progress: Progress, say: Callable[[str], None]) -> None:
        self.progress = progress
        self.say = say

    def case_started(self, case_id: str) -> None:
        """A log names no case before it ends (pytest's own output does, in -v)."""

    def case_finished(self) -> None:
        line = self.progress.case_finished()
        if line:
            self.say(line)

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        """Says once what the run now waits for, e.g. `starting a world of 4 ranks (gloo)`."""
        self.say(waiting_line(what))
        yield

    def stop(self) -> None:
        """Nothing to clean up: a log's lines stay as they are."""
