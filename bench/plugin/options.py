"""The benchmark's pytest options: their definitions, and the checks that turn a bad value into one line and exit 2
(bench/plugin/hooks.py runs them before anything else)."""

from __future__ import annotations

import math

import pytest

from bench import metrics
from bench.metrics import instructions
from bench.config.fault_cases import FAULT_KINDS
from bench.config.selection import BadInput
from bench.ops.matrix import DTYPES

# Converted by the suite, not by argparse, so that `--min-rounds abc` is bad input like any other (one line, exit 2)
# rather than pytest's usage error (exit 4).
NUMBER_OPTIONS = {"--world-size": int, "--threads-per-rank": int, "--min-rounds": int, "--max-rounds": int,
                  "--warmup-rounds": int,
                  "--ceiling-mib": int, "--progress-s": float, "--budget-s": float, "--case-timeout-s": float,
                  "--max-host-memory-gb": float}
ROUND_OPTIONS = (("min_rounds", "--min-rounds"), ("max_rounds", "--max-rounds"), ("warmup_rounds", "--warmup-rounds"),
                 ("budget_s", "--budget-s"), ("case_timeout_s", "--case-timeout-s"))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("statedict-bench")
    group.addoption("--profile", default="quick", help="quick (default), nightly, full, scale (real model shapes, simulated to 16,384 ranks), scale-full (scale and the global plan at 16,384 ranks) or gpu (needs CUDA)")
    group.addoption("--model", action="append", default=[],
                    help="measure only these zoo models (repeat or comma-separate); default: the profile's")
    group.addoption("--mesh", action="append", default=[],
                    help="measure only these mesh shapes, e.g. 2 or 2x2 (repeat or comma-separate)")
    group.addoption("--dtype", action="append", default=[],
                    help=f"parameter dtypes, {' or '.join(DTYPES)} (repeat or comma-separate); default: the "
                         "profile's (float32; gpu: both)")
    group.addoption("--world-size",
                    help="only meshes of this many ranks; a --mesh of another size is refused")
    group.addoption("--min-rounds", help="override the profile's minimum measured rounds")
    group.addoption("--max-rounds", help="override the profile's maximum measured rounds")
    group.addoption("--warmup-rounds", help="override the profile's warm-up rounds")
    group.addoption("--budget-s", help="override the profile's time budget per case (seconds)")
    group.addoption("--case-timeout-s",
                    help="override the profile's per-case timeout (seconds; scaled up for models over 10M params)")
    group.addoption("--resume", metavar="FILE",
                    help="continue the interrupted run of FILE: run only the cases it lacks; the result goes to "
                         "--benchmark-json, or back into FILE without it")
    group.addoption("--max-host-memory-gb",
                    help="host memory a case may count on at most (default: what the machine has available)")
    group.addoption("--fault", action="append", default=[], metavar="KIND[:RANK]",
                    help=f"for the suite's tests: add a null case per mesh whose rank RANK (default 0) fails with "
                         f"KIND: {', '.join(FAULT_KINDS)}")
    group.addoption("--checkpoint-dir", default=None,
                    help="folder for checkpoints (a private subfolder is made and removed); default: the system's "
                         "temporary folder, which must be on the disk you want measured")
    group.addoption("--no-fsync", action="store_true",
                    help="let saves stop at the page cache instead of fsync'ing files and folders")
    group.addoption("--ceiling-mib", default=256,
                    help="size of the file and copy used to measure the machine's ceilings (MiB, default 256)")
    group.addoption("--threads-per-rank",
                    help="torch threads of each rank (default: the machine's cores shared evenly among a world's "
                         "ranks)")
    group.addoption("--pin-ranks", action="store_true",
                    help="pin each rank to cores of its own, one per torch thread (wrapping around when ranks "
                         "outnumber cores)")
    group.addoption("--metric", default=metrics.DEFAULT,
                    help=f"{', '.join(metrics.JUDGED)}: the one the run is judged on (default {metrics.DEFAULT}); "
                         "instructions: every rank under valgrind's callgrind, counting the op's instructions (slow; "
                         "needs valgrind); the others are always recorded")
    group.addoption("--only-cases", metavar="FILE", default=None,
                    help="run only the cases whose ids a JSON list in FILE names (compare mode's later passes)")
    group.addoption("--progress-s", default=30.0,
                    help="in a log, print cases done out of the total and the time left at most this often "
                         "(seconds, default 30; 0: after every case); on a terminal a live bar shows them")


def convert_numbers(config: pytest.Config) -> None:
    """Turns the numeric options into numbers in place; raises BadInput naming the option."""
    for option, kind in NUMBER_OPTIONS.items():
        dest = option.lstrip("-").replace("-", "_")
        text = getattr(config.option, dest)
        if text is None or isinstance(text, kind):
            continue
        try:
            value = kind(text)
            number = math.isfinite(value)
        except ValueError:
            number = False
        if not number:
            raise BadInput(f"{option} must be {'a whole number' if kind is int else 'a number'}, got {text!r}")
        setattr(config.option, dest, value)


def instruction_rounds(overrides: dict) -> dict:
    """Instructions mode: valgrind must be there (one line, exit 2, if not); a few rounds with no time budget, unless
    the command line says otherwise (the waits for ranks are scaled by valgrind's slowdown in bench/worlds/local.py)."""
    instructions.valgrind()
    rounds = {"warmup_rounds": 1, "min_rounds": instructions.ROUNDS, "max_rounds": instructions.ROUNDS,
              "budget_s": 0.0}
    return rounds | overrides


def check_metric(config: pytest.Config) -> None:
    """--metric names a metric a run can be judged on (bench/metrics); raises BadInput."""
    try:
        metrics.check_judged(config.getoption("--metric"))
    except ValueError as exc:
        raise BadInput(f"--metric: {exc}") from None


def round_overrides(config: pytest.Config) -> dict:
    """The round settings the command line overrides (instructions mode's own defaults under them)."""
    overrides = {name: config.getoption(option) for name, option in ROUND_OPTIONS
                 if config.getoption(option) is not None}
    return instruction_rounds(overrides) if config.getoption("--metric") == "instructions" else overrides


def check_ranges(config: pytest.Config) -> None:
    """The numeric options' ranges, after convert_numbers; raises BadInput naming the option."""
    cap = config.getoption("--max-host-memory-gb")
    if cap is not None and cap <= 0:
        raise BadInput(f"--max-host-memory-gb must be > 0, got {cap}")
    threads = config.getoption("--threads-per-rank")
    if threads is not None and threads < 1:
        raise BadInput(f"--threads-per-rank must be at least 1, got {threads}")
    if config.getoption("--progress-s") < 0:
        raise BadInput(f"--progress-s must be >= 0, got {config.getoption('--progress-s')}")
    if config.getoption("--ceiling-mib") < 8:
        raise BadInput(f"--ceiling-mib must be at least 8, got {config.getoption('--ceiling-mib')}")
