"""A run's progress: plain lines in a log, a live bar on a terminal. The progress line's figures, the choice between
the two on known inputs, the bar's line (rendered into a rich console on a StringIO), how the bar shares pytest's
terminal and leaves it, what a world's start says, and two small real runs: one in a log, one in a pseudo-terminal."""

import contextlib
import fcntl
import io
import json
import os
import re
import struct
import subprocess
import sys
import termios
import time
from types import SimpleNamespace

import pytest
from rich.console import Console

from bench.run.progress import PlainProgress, Progress, format_duration, waiting_line
from bench.run.progress_bar import BarLine, LiveProgress
from bench.run.terminal import CI_VARIABLES, TERMINAL_FD_VARIABLE, is_live_terminal, make_display, terminal_fd
from bench.worlds.local import World, WorldPool
from tests.conftest import FAST, ROOT, bench_command, run_bench

CASE = "fsdp1-get_model-full-rank0_only-offload_to_cpu-transformer_1m-mesh2x2"
A_TERMINAL = {"TERM": "xterm-256color"}


class FakeOutput:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class ClosedOutput:
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


def test_a_terminal_is_live_unless_term_is_dumb_or_a_ci_service_runs_the_job():
    assert is_live_terminal(FakeOutput(True), A_TERMINAL)
    assert is_live_terminal(FakeOutput(True), {})  # no TERM at all: still a terminal
    assert not is_live_terminal(FakeOutput(False), A_TERMINAL)  # a pipe or a file: a log
    assert not is_live_terminal(ClosedOutput(), A_TERMINAL)
    assert not is_live_terminal(object(), A_TERMINAL)  # no isatty at all
    assert not is_live_terminal(FakeOutput(True), {"TERM": "dumb"})
    assert not is_live_terminal(FakeOutput(True), {"TERM": "unknown"})  # rich would draw nothing live there
    for name in CI_VARIABLES:
        assert not is_live_terminal(FakeOutput(True), {**A_TERMINAL, name: "true"}), name
    assert is_live_terminal(FakeOutput(True), {**A_TERMINAL, "CI": "false"})
    assert is_live_terminal(FakeOutput(True), {**A_TERMINAL, "CI": "0"})


@pytest.fixture
def pty_fds():
    leader, follower = os.openpty()
    yield leader, follower
    for fd in (leader, follower):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_run_bench_sh_names_its_terminal_by_file_descriptor(pty_fds):
    _, follower = pty_fds
    reader, writer = os.pipe()
    try:
        assert terminal_fd({**A_TERMINAL, TERMINAL_FD_VARIABLE: str(follower)}) == follower
        assert terminal_fd({**A_TERMINAL, TERMINAL_FD_VARIABLE: str(writer)}) is None  # a pipe
        assert terminal_fd({"TERM": "dumb", TERMINAL_FD_VARIABLE: str(follower)}) is None
        assert terminal_fd({**A_TERMINAL, TERMINAL_FD_VARIABLE: "three"}) is None
        assert terminal_fd(A_TERMINAL) is None
    finally:
        os.close(reader)
        os.close(writer)


def test_the_display_is_the_bar_on_a_terminal_and_plain_lines_otherwise(pty_fds):
    _, follower = pty_fds
    terminal = SimpleNamespace(_file=os.fdopen(os.dup(follower), "w"))
    pipe_reader, pipe_writer = os.pipe()
    log = SimpleNamespace(_file=os.fdopen(pipe_writer, "w"))
    try:
        def display(writer, **options):
            return make_display(Progress(3, 30.0), print, writer, **options)

        assert isinstance(display(terminal, environ=A_TERMINAL), LiveProgress)
        assert isinstance(display(log, environ=A_TERMINAL), PlainProgress)
        assert isinstance(display(None, environ=A_TERMINAL), PlainProgress)  # pytest without its terminal reporter
        assert isinstance(display(terminal, environ={"TERM": "dumb"}), PlainProgress)
        assert isinstance(display(terminal, environ={**A_TERMINAL, "CI": "true"}), PlainProgress)
        # under -s the tests' own output goes to the terminal too, past the bar
        assert isinstance(display(terminal, environ=A_TERMINAL, test_output_to_terminal=True), PlainProgress)
        beside_log = display(log, environ={**A_TERMINAL, TERMINAL_FD_VARIABLE: str(follower)})
        assert isinstance(beside_log, LiveProgress) and beside_log._writer is None  # pytest's output stays the log
    finally:
        terminal._file.close()
        log._file.close()
        os.close(pipe_reader)


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
    return _plain(buffer.getvalue())


def _plain(rendered: str) -> str:
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


def _terminal_environ() -> dict[str, str]:
    """This environment as a user's terminal has it, even where CI runs the tests (or run_bench.sh runs them)."""
    left_out = (*CI_VARIABLES, TERMINAL_FD_VARIABLE)
    return {key: value for key, value in os.environ.items() if key not in left_out} | A_TERMINAL


def test_the_terminal_check_for_run_bench_sh(pty_fds):
    _, follower = pty_fds
    check = [sys.executable, "-m", "bench.run.terminal"]
    environ = _terminal_environ()
    on_terminal = subprocess.run([*check, "1"], cwd=ROOT, stdout=follower, env=environ, timeout=60)
    in_log = subprocess.run([*check, "1"], cwd=ROOT, capture_output=True, env=environ, timeout=60)
    bad = subprocess.run([*check, "stdout"], cwd=ROOT, capture_output=True, text=True, env=environ, timeout=60)
    assert (on_terminal.returncode, in_log.returncode, bad.returncode) == (0, 1, 2)
    assert bad.stderr.count("\n") == 1 and "usage" in bad.stderr
    loaded = subprocess.run([sys.executable, "-c", "import sys, bench.run.terminal; print(sorted(m for m in "
                             "sys.modules if m.split('.')[0] in ('torch', 'rich')))"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr  # asked before torch and rich are installed


SMALL_RUN = (*FAST, "-k", "null or (fsdp2 and get_model and sharded)", "--progress-s", "0")


def test_a_run_in_a_log_prints_plain_lines_only(tmp_path):
    done = run_bench(*SMALL_RUN, f"--benchmark-json={tmp_path / 'run.json'}")
    assert done.returncode == 0, done.stdout[-2000:]
    lines = done.stdout.splitlines()
    assert "statedict-bench: starting a world of 2 ranks (gloo)..." in lines
    progress = [line for line in lines if line.startswith("progress: ")]
    assert [line.split(" cases")[0] for line in progress] == ["progress: 1/3", "progress: 2/3", "progress: 3/3"]
    assert "left" in progress[0] and "left" not in progress[-1]
    assert "\x1b" not in done.stdout + done.stderr  # no bar, no cursor movement, no colour


def _run_in_terminal(args: list[str], columns: int = 120, timeout_s: float = 300) -> tuple[int, str]:
    """Runs the benchmark with a pseudo-terminal as its stdin, stdout and stderr, as a user's shell would."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    environ = _terminal_environ()
    process = subprocess.Popen(bench_command(*args), cwd=ROOT, stdin=follower, stdout=follower, stderr=follower,
                               env=environ)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the run ended and closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    return process.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_a_run_on_a_terminal_shows_the_bar_and_leaves_the_terminal_clean(tmp_path):
    result = tmp_path / "run.json"
    code, shown = _run_in_terminal([*SMALL_RUN, f"--benchmark-json={result}"])
    assert code == 0, shown[-3000:]
    hidden, visible = shown.index("\x1b[?25l"), shown.rindex("\x1b[?25h")
    frames = re.split("[\r\n]", _plain(shown[hidden:visible]))  # each redraw starts with a carriage return
    assert any("0/3 cases (0%)" in frame and "null-noop-mesh2" in frame for frame in frames)
    assert any("starting a world of 2 ranks (gloo)..." in frame for frame in frames)  # the spinner's wait
    assert any(re.search(r"[12]/3 cases \(\d+%\), \dm\d\ds elapsed, about \dm\d\ds left", frame) for frame in frames)
    after = _plain(shown[visible:])
    assert "progress: 3/3 cases (100%)" in after and "3 passed" in after  # the bar gone, pytest's end as ever
    assert not any(line.startswith("progress: 1/3") for line in _plain(shown).splitlines())  # the bar said it
    assert "..." in _plain(shown)  # -q's dots
    assert len(json.loads(result.read_text())["benchmarks"]) == 3  # the result file as in a log's run
