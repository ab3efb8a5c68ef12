"""Compare two torch installations side by side in one run: `python -m bench.compare.run --a PY_A --b PY_B`.

Both sides are ordinary runs of the suite (`PY -m pytest bench/ ...`), one per interpreter, started together and
made to take turns (bench/compare/turns.py): within every case A measures a block of rounds, then B, then A again,
so that drift of the machine falls on both alike. Each side writes a normal result file.

That is one pass, and the run makes several (`--passes`, default 4), each with fresh processes on both sides: a
process keeps its own speed for its whole life (two processes of one torch can differ by tens of percent on a small
op), so one process a side cannot tell that from a change of torch. The analysis package then compares the passes'
files with each pass one sample (`python -m analysis compare`, a t-test on per-run medians) and makes the HTML
report.

    python -m bench.compare.run --a PY_A --b PY_B [--profile P] [--results-dir DIR] [--label-a L] [--label-b L]
                                [--passes N] [--rounds N] [--block-rounds N] [--threshold T] [-- PYTEST_ARGS...]

Exit code: the comparison's (0, or 1 when a regression is flagged), 2 for bad input (one line) or a side whose run
did not complete. This module never imports torch: it runs under any python with the analysis dependencies.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import REPO_ROOT
from bench.compare.args import (
    BAD_INPUT,
    PASS_GLOB,
    PASS_NAME,
    PROG,
    USAGE_ERROR,
    BadInput,
    _parser,
    check_arguments,
    default_label,
    make_run_folder,
    parse_percent,
    probe,
)
from bench.compare.plan import target_passes
from bench.compare.settle import CONTINUING_FILE, settle_after_pass
from bench.compare.sides import ProgressEcho, interleaving_line, side_outcome, start_side, wait_sides
from bench.compare.turn_server import Coordinator
from bench.compare.turns import SIDES
from bench.machine import requirements


def analyse(folder: Path, labels: dict[str, str], threshold: str, metric: str = "wall") -> int:
    """The comparison over every complete pass (printed and saved as compare.txt) and the HTML report; returns the
    comparison's exit code."""
    label_arg = f"--labels={labels['A']},{labels['B']}"
    a, b = (os.path.join(glob.escape(str(folder)), PASS_GLOB, f"{side}.json") for side in ("a", "b"))
    compare = subprocess.run([sys.executable, "-m", "analysis", "compare", a, b, "--threshold", threshold,
                              label_arg, "--metric", metric], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=False)
    print(compare.stdout, end="")
    print(compare.stderr, end="", file=sys.stderr)
    (folder / "compare.txt").write_text(compare.stdout)
    report = subprocess.run([sys.executable, "-m", "analysis", "report", b, "--baseline", a, "--all-runs", "-o",
                             str(folder / "report"), "--threshold", threshold, label_arg, "--metric", metric],
                            cwd=REPO_ROOT,
                            capture_output=True, text=True, check=False)
    print(report.stdout + report.stderr, end="")
    return compare.returncode


def run_pass(args: argparse.Namespace, infos: dict[str, dict], folder: Path, extra: list[str],
             prefix: str) -> tuple[dict[str, int], bool, dict[str, list[str]], list[str]]:
    """Both sides once, taking turns, into `folder`: (exit codes, interrupted, block orders, mismatched positions)."""
    folder.mkdir()
    coordinator = Coordinator()
    try:
        procs = {side: start_side(side, infos[side]["path"], folder, coordinator, args, extra) for side in SIDES}
        coordinator.start()
        codes, interrupted = wait_sides(procs, coordinator, ProgressEcho(folder, prefix))
        coordinator.write_log(folder / "turns.json")
        return codes, interrupted, coordinator.state.block_orders(), coordinator.state.mismatched_positions()
    finally:
        coordinator.close()


def _one_pass(args: argparse.Namespace, infos: dict, labels: dict, folder: Path, extra: list[str], number: int,
              passes: int) -> str:
    """Runs pass `number`: 'complete', 'incomplete' (renamed out of the comparison) or 'interrupted'; raises
    BadInput when the first pass shows that both sides refused their pytest arguments."""
    pass_dir = folder / PASS_NAME.format(number)
    prefix = f"pass {number}/{passes} " if passes > 1 else ""
    codes, interrupted, orders, mismatched = run_pass(args, infos, pass_dir, extra, prefix)
    results = [pass_dir / f"{side.lower()}.json" for side in SIDES]
    if number == 1 and all(code in (BAD_INPUT, USAGE_ERROR) for code in codes.values()) and \
            not any(p.exists() for p in results):
        lines = [line for line in (pass_dir / "a.log").read_text(errors="replace").splitlines() if line.strip()]
        said = [line for line in lines if "error:" in line] or lines or ["both sides refused their arguments"]
        shutil.rmtree(folder, ignore_errors=True)  # bad pytest arguments: nothing ran, leave nothing behind
        raise BadInput(said[-1].split("error: ", 1)[-1])
    outcomes = {side: side_outcome(side, labels[side], codes[side], pass_dir) for side in SIDES}
    for _, line in outcomes.values():
        print(prefix + line)
    print(prefix + interleaving_line(orders, mismatched))
    if interrupted:
        return "interrupted"
    if not all(done for done, _ in outcomes.values()):
        pass_dir.rename(pass_dir.with_name(pass_dir.name + "-incomplete"))  # kept for inspection, out of the pattern
        print(f"pass {number} did not complete on both sides: no further passes")
        return "incomplete"
    return "complete"


def run(args: argparse.Namespace) -> int:
    return run_in_folder(args)[0]


def _next_pass_count(args: argparse.Namespace, folder: Path, done: int, passes: int, elapsed_s: float,
                     next_pass_s: float) -> int:
    """The budget's cap, re-judged after every pass from what the next one is expected to take; the target's count,
    re-judged after every pass from the second."""
    if args.budget_min:
        fits = done < 2 or elapsed_s + next_pass_s <= args.budget_min * 60
        passes = min(args.passes, done + 1) if fits else done
        print(f"after {elapsed_s / 60:.1f} of {args.budget_min:g} minutes: "
              + (f"pass {done + 1} (about {next_pass_s / 60:.1f} minutes) fits" if passes > done else
                 f"no further pass fits (the next would take about {next_pass_s / 60:.1f} minutes)"))
    if args.target_mde and done >= 2:
        threshold = parse_percent(args.threshold, "--threshold")
        passes, line = target_passes(folder, done, args.target_mde, threshold, args.metric, args.passes)
        passes = max(passes, done)
        print(line)
    return passes


def _settle(args: argparse.Namespace, folder: Path, done: int) -> tuple[list[str], int | None]:
    """After a complete pass: the pytest arguments the next pass adds (only the undecided cases, once settling has
    begun) and how many cases continue (None where settling is off or has not begun)."""
    if args.no_settle:
        return [], None
    continuing, line = settle_after_pass(folder, done, args.metric, parse_percent(args.threshold, "--threshold"))
    if not line:
        return [], None
    print(line)
    return ["--only-cases", str(folder / CONTINUING_FILE)], len(continuing)


def run_in_folder(args: argparse.Namespace) -> tuple[int, Path | None]:
    """The compare: (exit code, the run's folder, None where none was made)."""
    extra = check_arguments(args)
    infos = {"A": probe("--a", args.a), "B": probe("--b", args.b)}
    missing = requirements.missing(without=("torch",))  # this interpreter runs the analysis, never torch
    if missing:
        raise BadInput(f"this interpreter ({sys.executable}) runs the analysis and lacks {', '.join(missing)}")
    labels = {"A": args.label_a or default_label(infos["A"]), "B": args.label_b or default_label(infos["B"])}
    if "," in labels["A"] + labels["B"]:
        raise BadInput("labels must not contain ','")
    folder = make_run_folder(args.results_dir, labels)
    for side in SIDES:
        print(f"{side}: {labels[side]} ({infos[side]['path']}, python {infos[side]['python']})")
    budget = (f"up to {args.passes}, for an MDE of {args.target_mde:.0%}" if args.target_mde
              else f"as many as fit in {args.budget_min:g} minutes" if args.budget_min else f"{args.passes}")
    print(f"results: {folder}  ({budget} pass(es), each with fresh processes; {args.rounds} rounds per case "
          f"and pass in blocks of {args.block_rounds}, A first)")
    passes, complete, began, number = (2 if args.budget_min else args.passes), 0, time.monotonic(), 0
    only: list[str] = []  # the undecided cases, once some have settled
    ran: int | None = None  # how many cases the last pass ran (None: the whole selection)
    while number < passes:
        number += 1
        started = time.monotonic()
        state = _one_pass(args, infos, labels, folder, extra + only, number, passes)
        if state == "interrupted":
            print("interrupted: no comparison")
            return BAD_INPUT, folder
        if state == "incomplete":
            break
        complete += 1
        pass_s = time.monotonic() - started
        only, continuing = _settle(args, folder, number)
        if continuing == 0:
            print(f"every case stopped after pass {number} (settled or decided): no further passes")
            passes = number
            break
        # the next pass's length: the last one's, scaled by the cases that continue (settling began: ran is known)
        next_s = pass_s * (continuing / ran if continuing is not None and ran else 1.0)
        ran = continuing if continuing is not None else ran
        passes = _next_pass_count(args, folder, number, passes, time.monotonic() - began, next_s)
    if not complete:
        print("no pass completed on both sides: no comparison")
        return BAD_INPUT, folder
    if complete < passes:
        print(f"comparing the {complete} complete pass(es) of {passes}")
    status = analyse(folder, labels, args.threshold, args.metric)
    return (status if complete == passes and status != BAD_INPUT else BAD_INPUT), folder


def main(argv: list[str] | None = None) -> int:
    try:
        return run(_parser().parse_args(argv))
    except BadInput as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
