"""Whether an output is a terminal that a live bar or spinner may draw on, or a log that gets plain lines: the one
place that decides, for the benchmark's progress (`make_display`) and run_bench.sh's waits, which asks
`python -m bench.run.terminal FD` (exit 0: a live terminal). Needs neither torch nor rich (run_bench.sh asks before
it installs them); a run in a log never loads rich.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import IO, Any

from bench.run.progress import PlainProgress, Progress, ProgressDisplay

DUMB_TERMS = ("dumb", "unknown")
"""TERM values of a terminal that cannot move its cursor (rich draws nothing live on them either)."""
CI_VARIABLES = ("CI", "JENKINS_URL", "TF_BUILD", "TEAMCITY_VERSION")
"""Set by CI services (most set CI; Jenkins, Azure Pipelines and TeamCity their own): their output is a log even
where the job runs on a pseudo-terminal."""
TERMINAL_FD_VARIABLE = "STATEDICT_BENCH_TERMINAL_FD"
"""run_bench.sh's terminal, as a file descriptor the benchmark inherits, where its own stdout goes to the log."""


def is_live_terminal(output: IO | int, environ: Mapping[str, str] = os.environ) -> bool:
    """A terminal (isatty), TERM not dumb, and no CI service's variable set (to anything but '', 0 or false)."""
    if environ.get("TERM", "").lower() in DUMB_TERMS:
        return False
    if any(environ.get(name, "").lower() not in ("", "0", "false") for name in CI_VARIABLES):
        return False
    try:
        return os.isatty(output) if isinstance(output, int) else output.isatty()
    except (AttributeError, OSError, ValueError):  # closed, or a stream without a terminal behind it
        return False


def terminal_fd(environ: Mapping[str, str] = os.environ) -> int | None:
    """The file descriptor run_bench.sh named for the bar, when it is a live terminal; else None."""
    text = environ.get(TERMINAL_FD_VARIABLE, "")
    if not text.isdigit() or not is_live_terminal(int(text), environ):
        return None
    return int(text)


def make_display(progress: Progress, say: Callable[[str], None], writer: Any = None, *,
                 test_output_to_terminal: bool = False, environ: Mapping[str, str] = os.environ) -> ProgressDisplay:
    """The live bar on run_bench.sh's terminal; else on pytest's own when that is a live terminal and the tests'
    output (under -s) does not go there too; else plain lines. `writer`: pytest's terminal writer; `say` prints a
    line among pytest's output (bench/run/progress_bar.py says how the bar and pytest share a terminal)."""
    fd = terminal_fd(environ)
    file = getattr(writer, "_file", None)
    if fd is None and (file is None or test_output_to_terminal or not is_live_terminal(file, environ)):
        return PlainProgress(progress, say)
    try:
        from bench.run.progress_bar import LiveProgress, console_on
    except ImportError:  # an interpreter without rich (pyproject.toml lists it): the lines do as well
        return PlainProgress(progress, say)

    if fd is not None:  # run_bench.sh's terminal; pytest's output is the log
        return LiveProgress(progress, console_on(os.dup(fd)), say)
    # a copy of pytest's terminal: pytest's capture points fd 1 elsewhere during each test
    return LiveProgress(progress, console_on(os.dup(file.fileno()), getattr(file, "encoding", None)), say, writer)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m bench.run.terminal FD (exit 0: FD is a terminal for a live bar or spinner; 1: it "
              "gets plain lines)", file=sys.stderr)
        return 2
    return 0 if is_live_terminal(int(argv[0])) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
