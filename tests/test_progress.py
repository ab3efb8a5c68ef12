"""A run's progress: the progress line's figures, the bar's line (rendered into a rich console on a StringIO), how
the bar shares pytest's terminal and leaves it, and what a world's start says. Which display a run gets, and whole
runs: tests/test_terminal.py."""

import contextlib
import io
import re

import pytest
from rich.console import Console

from bench.run.progress import PlainProgress, Progress, format_duration, waiting_line
from bench.run.progress_bar import BarLine, LiveProgress
from bench.worlds.local import World, WorldPool

CASE = "fsdp1-get_model-full-rank0_only-offload_to_cpu-transformer_1m-mesh2x2"
A_TERMINAL = {"TERM": "xterm-256color"}


def _clock(start: float = 100.0):
    now = [start]
    return now, (lambda: now[0])


def test_progress_counts_cases_and_estimates_the_time_left():
    now = [100.0]
    progress = Progress(total=4, every_s=30.0, clock=lambda: now[0])
    now[0] = 110.0
    assert progress.case_finished() is None  # 10 s since the start: not yet due
    now[0] = 140.0
    assert progress.case_finished() == "progress: 2/4 cases (50%), 0m40s elapsed, about 0m40s left"
    now[0] = 150.0
    assert progress.case_finished() is None
    now[0] = 151.0
    assert progress.case_finished() == "progress: 4/4 cases (100%), 0m51s elapsed"  # the last case always says so
    assert format_duration(3725) == "1h02m"


def test_the_time_left_counts_down_between_cases_from_the_estimate_at_the_last():
    now, clock = _clock()
    progress = Progress(total=4, every_s=0.0, clock=clock)
    assert progress.left_s() is None  # nothing to estimate from yet
    now[0] = 120.0
    assert progress.case_finished() == "progress: 1/4 cases (25%), 0m20s elapsed, about 1m00s left"
    now[0] = 135.0
    assert progress.left_s() == 45.0 and progress.elapsed_s() == 35.0
    assert progress.summary() == "1/4 cases (25%), 0m35s elapsed, about 0m45s left"
    now[0] = 200.0
    assert progress.left_s() == 0.0  # a slow case: never below nothing
    for _ in range(3):
        progress.case_finished()
    assert progress.left_s() is None and progress.line() == "progress: 4/4 cases (100%), 1m40s elapsed"


def _render(line: BarLine, width: int) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=width, color_system="standard")
    console.print(line)
    return plain_text(buffer.getvalue())


def plain_text(rendered: str) -> str:
    """The characters written, without the escape sequences of colours and cursor movements (carriage returns
    kept: each redraw of the bar starts with one)."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", rendered)


def _bar_line(done: int, total: int = 10) -> BarLine:
    now, clock = _clock()
    progress = Progress(total, 30.0, clock=clock)
    for _ in range(done):
        now[0] += 4.0
        progress.case_finished()
    now[0] += 1.0
    line = BarLine(progress)
    line.case_id = CASE
    return line


def test_the_bar_shows_cases_done_of_the_total_elapsed_time_left_and_the_case_running():
    shown = _render(_bar_line(3), width=200)
    assert shown.count("\n") == 1  # one line, the terminal's last
    assert "3/10 cases (30%), 0m13s elapsed, about 0m27s left" in shown
    assert shown.rstrip().endswith(CASE)
    assert "━" in shown  # the bar itself


def test_the_bar_says_what_the_run_waits_for_in_place_of_the_case():
    line = _bar_line(3)
    line.waiting_for = "starting a world of 4 ranks (2x2, gloo)"
    for width in (80, 120, 200):
        shown = _render(line, width)
        assert shown.count("\n") == 1
        assert "starting a world of 4 ranks (2x2, gloo)..." in shown and CASE not in shown, width
        assert shown.startswith(tuple("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")) and "3/10 cases (30%)" in shown


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_a_narrow_terminal_keeps_the_figures_and_shortens_the_case(width):
    shown = _render(_bar_line(3), width)
    assert shown.count("\n") == 1 and len(shown.rstrip("\n")) <= width
    if width >= 60:
        assert "3/10 cases (30%), 0m13s elapsed, about 0m27s left" in shown
    if width >= 80:
        assert "fsdp1-get_mod" in shown and "…" in shown  # the case's name, cut short
    if width == 40:
        assert "━" not in shown and shown.startswith("⠋ 3/10 cases (30%)")  # the bar gives way to the figures


class Writer:
    """pytest's terminal writer as the bar sees it: its file."""

    def __init__(self) -> None:
        self._file = io.StringIO()


def _live(writer: Writer | None) -> tuple[LiveProgress, io.StringIO, list[str]]:
    screen, said = io.StringIO(), []
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    return LiveProgress(Progress(2, every_s=0.0), console, said.append, writer), screen, said


def test_the_bar_prints_pytests_whole_lines_above_it_and_gives_its_writer_back_when_it_stops():
    writer = Writer()
    own_file = writer._file
    live, screen, said = _live(writer)
    live.case_started("null-noop-mesh2")
    assert writer._file is not own_file  # taken over while the bar shows
    writer._file.write("statedict-bench: warning: busy machine\n")
    writer._file.write(".F")  # -q's progress characters: the line is not finished
    with live.waiting("starting a world of 2 ranks (gloo)"):
        assert live.line.waiting_for == "starting a world of 2 ranks (gloo)"
    assert live.line.waiting_for is None
    live.case_finished()
    live.case_finished()
    assert said == []  # no plain lines on the terminal while the bar shows the same
    live.stop()
    live.stop()  # again: nothing more
    shown = screen.getvalue()
    assert "statedict-bench: warning: busy machine\n" in shown and ".F" not in shown
    assert "null-noop-mesh2" in shown and "\x1b[?25l" in shown  # the bar was drawn, the cursor hidden
    assert shown.endswith("\x1b[?25h\r\x1b[1A\x1b[2K")  # then the cursor shown, the bar's line erased
    assert writer._file is own_file and own_file.getvalue() == ".F"  # the begun line goes on where pytest left it
    assert said == ["progress: 2/2 cases (100%), 0m00s elapsed"]


def test_beside_run_bench_shs_log_the_bar_leaves_the_plain_lines_in_the_log():
    live, screen, said = _live(None)
    live.case_started("null-noop-mesh2")
    with live.waiting("starting a world of 2 ranks (gloo)"):
        pass
    live.case_finished()
    live.case_finished()
    live.stop()
    assert said == [waiting_line("starting a world of 2 ranks (gloo)"), "progress: 1/2 cases (50%), 0m00s elapsed, "
                    "about 0m00s left", "progress: 2/2 cases (100%), 0m00s elapsed"]
    assert "null-noop-mesh2" in screen.getvalue()


def test_a_bar_that_never_started_stops_without_a_trace():
    writer = Writer()
    live, screen, said = _live(writer)
    live.stop()
    assert screen.getvalue() == "" and said == [] and isinstance(writer._file, io.StringIO)


def test_plain_progress_says_each_wait_and_the_due_lines():
    said = []
    plain = PlainProgress(Progress(2, every_s=30.0), said.append)
    plain.case_started("null-noop-mesh2")
    with plain.waiting("starting a world of 2 ranks (gloo)"):
        said.append("the world starts")
    plain.case_finished()  # not yet due
    plain.case_finished()
    plain.stop()
    assert said[:2] == ["statedict-bench: starting a world of 2 ranks (gloo)...", "the world starts"]
    assert len(said) == 3 and said[2].startswith("progress: 2/2 cases (100%)")


def test_a_world_describes_itself_and_starts_in_its_waiting(monkeypatch):
    assert World((1,)).description() == "a world of 1 rank (gloo)"
    assert World((2, 2)).description() == "a world of 4 ranks (2x2, gloo)"
    assert World((1024,), simulated=True).description() == "a simulated world of 1024 ranks (one process)"
    events = []

    @contextlib.contextmanager
    def waiting(what):
        events.append(f"begin {what}")
        yield
        events.append("end")

    monkeypatch.setattr(World, "_start", lambda self: events.append("the ranks start"))
    World((2,), waiting=waiting).start()
    assert events == ["begin starting a world of 2 ranks (gloo)", "the ranks start", "end"]
    events.clear()
    WorldPool(waiting=waiting).get((1024,), simulated=True).start()  # a pool's worlds start in its waiting
    assert events == ["begin starting a simulated world of 1024 ranks (one process)", "the ranks start", "end"]
