"""Which display a run gets (a live bar on a terminal, plain lines in a log), run_bench.sh's terminal check, and
whole runs in a log and in a pseudo-terminal."""

import contextlib
import fcntl
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

from bench.run.progress import PlainProgress, Progress
from bench.run.progress_bar import LiveProgress
from bench.run.terminal import CI_VARIABLES, TERMINAL_FD_VARIABLE, is_live_terminal, make_display, terminal_fd
from tests.conftest import FAST, ROOT, bench_command, run_bench
from tests.test_progress import plain_text

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
    frames = re.split("[\r\n]", plain_text(shown[hidden:visible]))  # each redraw starts with a carriage return
    assert any("0/3 cases (0%)" in frame and "null-noop-mesh2" in frame for frame in frames)
    assert any("starting a world of 2 ranks (gloo)..." in frame for frame in frames)  # the spinner's wait
    assert any(re.search(r"[12]/3 cases \(\d+%\), \dm\d\ds elapsed, about \dm\d\ds left", frame) for frame in frames)
    after = plain_text(shown[visible:])
    assert "progress: 3/3 cases (100%)" in after and "3 passed" in after  # the bar gone, pytest's end as ever
    assert not any(line.startswith("progress: 1/3") for line in plain_text(shown).splitlines())  # the bar said it
    assert "..." in plain_text(shown)  # -q's dots
    assert len(json.loads(result.read_text())["benchmarks"]) == 3  # the result file as in a log's run
