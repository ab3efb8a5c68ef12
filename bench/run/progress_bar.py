"""The live progress bar on a terminal: one line at the bottom, drawn by rich a few times a second, with a spinner,
the bar, the progress line's figures (cases done out of the total, elapsed, time left: progress.Progress.summary)
and the case running, or what the run waits for (a world's start).

The line is drawn where the user watches the run, in one of two ways (bench/run/terminal.py `make_display`
picks; in a log the plain lines of progress.PlainProgress stay as they were):
- `python -m bench` on a terminal: the bar takes over pytest's terminal writer while it shows. Whole lines go above
  the bar; a line pytest has begun (-q's dots) appears when it ends, since the bar holds the terminal's last line.
  The bar writes to its own copy of the terminal's file descriptor: pytest's capture redirects fd 1 during a test.
- run_bench.sh on a terminal: pytest's output goes to the log through a pipe and reaches the terminal line by line
  (its terminal view starts each line by erasing the bar's, and leaves out the plain progress lines); the bar draws
  on the terminal that run_bench.sh hands over as STATEDICT_BENCH_TERMINAL_FD (bench/run/terminal.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import IO, Any

from rich.console import Console, ConsoleDimensions
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.text import Text

from bench.run.progress import Progress, waiting_line

REFRESH_PER_SECOND = 4
"""Redraws a second: the spinner moves and elapsed ticks, at a cost of well under a millisecond each."""
BAR_WIDTH = (8, 30)
"""The bar's least and most columns; under the least it is left out."""
GAP = 2
"""Columns between the figures and the case."""
MIN_FIGURES = len("12/190 cases (6%), …")
"""While a wait's text needs the room, the figures are shortened to no fewer columns than this."""


class BarLine:
    """The bar's one line, fitted to the terminal's width. The figures come first, then the bar (8 to 30 columns),
    then the case's name in what is left, shortened with an ellipsis. A wait's text is read whole: the bar and then
    the figures give way to it."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.case_id = ""
        self.waiting_for: str | None = None
        self._spinner = Spinner("dots", style="cyan")

    def __rich_console__(self, console: Console, options: Any):
        yield self.render(console, options.max_width)

    def render(self, console: Console, width: int, now: float | None = None) -> Text:
        line = Text.assemble(self._spinner.render(console.get_time()), " ", no_wrap=True)
        figures = Text(self.progress.summary(now))
        waiting = self.waiting_for is not None
        subject = Text(f"{self.waiting_for}...", style="yellow") if waiting else Text(self.case_id, style="cyan")
        bar_width = self._bar_width(width - line.cell_len)
        if line.cell_len + bar_width + 1 + figures.cell_len > width:  # the figures come first
            bar_width = 0
        if waiting:
            room = width - line.cell_len - subject.cell_len - GAP  # for the figures and the bar
            if figures.cell_len > room:
                figures.truncate(max(room, MIN_FIGURES), overflow="ellipsis")
            bar_width = min(bar_width, room - figures.cell_len - 1)
        if bar_width >= BAR_WIDTH[0]:
            line.append_text(_bar_text(console, bar_width, self.progress.done, self.progress.total))
            line.append(" ")
        line.append_text(figures)
        subject_width = width - line.cell_len - GAP
        if subject and subject_width >= BAR_WIDTH[0]:
            subject.truncate(subject_width, overflow="ellipsis")
            line.append(" " * GAP)
            line.append_text(subject)
        line.truncate(width, overflow="ellipsis")
        return line

    def _bar_width(self, room: int) -> int:
        """A third of what the longest figures of this run leave, within BAR_WIDTH: it keeps its length as the
        figures change."""
        total = self.progress.total
        longest = len(f"{total}/{total} cases (100%), 00m00s elapsed, about 00m00s left")
        return max(BAR_WIDTH[0], min(BAR_WIDTH[1], (room - longest) // 3))


def _bar_text(console: Console, width: int, done: int, total: int) -> Text:
    """rich's progress bar (its styles, and its ASCII form where the terminal's encoding needs it) as text."""
    bar = ProgressBar(total=max(total, 1), completed=done, width=width)
    text = Text(no_wrap=True)
    for segment in console.render(bar, console.options.update_width(width)):
        if not segment.control and segment.text != "\n":
            text.append(segment.text, segment.style)
    text.pad_right(width - text.cell_len)  # without colours rich leaves out the part still to do
    return text


class _TerminalConsole(Console):
    """A console as wide as the terminal it draws on: rich asks fds 0-2, which pytest's capture (and run_bench.sh's
    log pipe) redirect while the bar shows."""

    @property
    def size(self) -> ConsoleDimensions:
        try:
            columns, lines = os.get_terminal_size(self.file.fileno())
        except (OSError, ValueError):
            return super().size
        return ConsoleDimensions(columns, lines) if columns > 0 else super().size  # 0 x 0: a size never set


class _LinesAboveBar:
    """pytest's terminal writer's file while the bar shows: each whole line is printed above the bar (the live
    console erases the bar, prints the line, draws the bar again); the rest of a line waits for its end."""

    def __init__(self, console: Console, file: IO[str]) -> None:
        self.console = console
        self.file = file
        """The writer's own file, given back when the bar stops."""
        self.pending = ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.console.print(Text.from_ansi(line), soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        """Whole lines are printed (and flushed) as they come."""

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno: the terminal's own
        return getattr(self.file, name)


class LiveProgress:
    """Progress on a terminal, with PlainProgress's four methods. The bar appears when the first case starts and
    goes, leaving the terminal as it was, when the run ends, fails or is interrupted (stop). `say` prints a line in
    the run's output: with `writer` (the bar shares pytest's terminal) only the last progress line, at the end;
    without (run_bench.sh's log is the output) every plain line, as a log has them."""

    def __init__(self, progress: Progress, console: Console, say: Callable[[str], None], writer: Any = None) -> None:
        self.progress = progress
        self.line = BarLine(progress)
        self.console = console
        self._say = say
        self._writer = writer
        self._above: _LinesAboveBar | None = None
        self._live: Live | None = None
        self._stopped = False

    def case_started(self, case_id: str) -> None:
        self.line.case_id = case_id
        if self._live is None and not self._stopped:
            self._start()

    def _start(self) -> None:
        self._live = Live(self.line, console=self.console, refresh_per_second=REFRESH_PER_SECOND, transient=True,
                          redirect_stdout=False, redirect_stderr=False)  # sys.stdout is pytest's to capture
        if self._writer is not None:
            self._writer._file.flush()  # what pytest wrote before the bar comes first
            self._above = _LinesAboveBar(self.console, self._writer._file)
            self._writer._file = self._above
        self._live.start(refresh=True)

    def case_finished(self) -> None:
        line = self.progress.case_finished()
        if line and self._writer is None:
            self._say(line)

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        if self._writer is None:
            self._say(waiting_line(what))
        self.line.waiting_for = what
        if self._live is not None and not self._stopped:
            self._live.refresh()  # said at once, not at the next tick
        try:
            yield
        finally:
            self.line.waiting_for = None

    def stop(self) -> None:
        """Erases the bar, shows the cursor, gives pytest its writer back (with the line it had begun), and says
        the last progress line where the bar shared pytest's terminal. Safe to call again."""
        if self._stopped:
            return
        self._stopped = True
        if self._live is None:
            return
        self._live.stop()
        if self._above is not None:
            self._writer._file = self._above.file
            self._above.file.write(self._above.pending)
            self._above.file.flush()
            self._say(self.progress.line())


def console_on(fd: int, encoding: str | None = None) -> Console:
    """A console for the bar on file descriptor `fd` (a terminal's), as wide as that terminal."""
    return _TerminalConsole(file=os.fdopen(fd, "w", encoding=encoding, errors="replace"), force_terminal=True)
