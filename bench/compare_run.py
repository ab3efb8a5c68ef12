"""Compare two torch installations side by side in one run: `python -m bench.compare_run --a PY_A --b PY_B`.

Both sides are ordinary runs of the suite (`PY -m pytest bench/ ...`), one per interpreter, started together and
made to take turns (bench/turns.py): within every case A measures a block of rounds, then B, then A again, so that
drift of the machine falls on both alike. Each side writes a normal result file.

That is one pass, and the run makes several (`--passes`, default 4), each with fresh processes on both sides: a
process keeps its own speed for its whole life (two processes of one torch can differ by tens of percent on a small
op), so one process a side cannot tell that from a change of torch. The analysis package then compares the passes'
files with each pass one sample (`python -m analysis compare`, a t-test on per-run medians) and makes the HTML
report.

    python -m bench.compare_run --a PY_A --b PY_B [--profile P] [--results-dir DIR] [--label-a L] [--label-b L]
                                [--passes N] [--rounds N] [--block-rounds N] [--threshold T] [-- PYTEST_ARGS...]

Exit code: the comparison's (0, or 1 when a regression is flagged), 2 for bad input (one line) or a side whose run
did not complete. This module never imports torch: it runs under any python with the analysis dependencies.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.planted import PLANT_ENV
from bench.turn_server import Coordinator
from bench.turns import DRIVER_PID_ENV, SIDES, TURN_ENV, alternates, env_value

ROOT = Path(__file__).resolve().parent.parent
BAD_INPUT = 2
USAGE_ERROR = 4  # pytest's, for an option it does not know
INTERRUPT_GRACE_S = 30.0
PROG = "statedict-bench compare"
MAX_PASSES = 99
DEFAULT_PASSES = 4
PASS_NAME = "pass{:02d}"  # pass01..pass99 sort in pass order
PASS_GLOB = "pass[0-9][0-9]"  # complete passes only: an incomplete one is renamed passNN-incomplete
# What a side imports (the suite, its pytest plugin, the reader of result files it shares with analysis).
SIDE_MODULES = {"torch": "torch", "pytest": "pytest", "pytest_benchmark": "pytest-benchmark", "psutil": "psutil",
                "numpy": "numpy", "pandas": "pandas"}
# What the driver's own interpreter runs: the analysis package.
ANALYSIS_MODULES = {"pandas": "pandas", "numpy": "numpy", "scipy": "scipy", "matplotlib": "matplotlib",
                    "ruptures": "ruptures"}
OWNED_OPTIONS = ("--benchmark-json", "--resume")
# Reads torch's version.py (plain assignments) without importing torch, which takes seconds: a broken torch shows
# in that side's run instead.
PROBE = """
import importlib.util, json, os, runpy, sys
specs = {name: importlib.util.find_spec(name) for name in sys.argv[1:]}
info = {"missing": [name for name, spec in specs.items() if spec is None], "python": sys.version.split()[0]}
if specs.get("torch"):
    try:
        version = runpy.run_path(os.path.join(specs["torch"].submodule_search_locations[0], "version.py"))
        info.update(version=version["__version__"], git_version=version.get("git_version"))
    except Exception as exc:
        info["torch_error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(info))
"""


class BadInput(ValueError):
    """Something the user gave is wrong; one line says what."""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's usage + message would be two lines
        raise BadInput(message)


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = _OneLineParser(prog="python -m bench.compare_run", description=__doc__.split("\n")[0])
    parser.add_argument("--a", default=env("PYTHON_A"), help="interpreter of side A, the baseline [env PYTHON_A]")
    parser.add_argument("--b", default=env("PYTHON_B"), help="interpreter of side B, compared with A [env PYTHON_B]")
    parser.add_argument("--profile", default=env("PROFILE", "quick"), help="profile of both sides [env PROFILE]")
    parser.add_argument("--results-dir", default=env("RESULTS_DIR", "results"),
                        help="the run's folder is made in DIR/compare (default results) [env RESULTS_DIR]")
    parser.add_argument("--label-a", default=env("LABEL_A"), help="name of side A (default: torch version@commit)")
    parser.add_argument("--label-b", default=env("LABEL_B"), help="name of side B (default: torch version@commit)")
    parser.add_argument("--passes", type=int, default=env("PASSES"),
                        help="passes over the cases, each with fresh processes on both sides; the comparison takes "
                             "each pass as one sample (default 4; 1: no test of between-process differences) "
                             "[env PASSES]")
    parser.add_argument("--rounds", type=int, default=env("ROUNDS", "6"),
                        help="measured rounds per case on each side in each pass, no time budget (default 6) "
                             "[env ROUNDS]")
    parser.add_argument("--block-rounds", type=int, default=env("BLOCK_ROUNDS", "3"),
                        help="measured rounds per turn before the other side's (default 3) [env BLOCK_ROUNDS]")
    parser.add_argument("--budget-min", type=float, default=env("BUDGET_MIN"),
                        help="wall minutes for the whole compare: after the first pass, as many passes as fit (at "
                             "least 2, at most --passes if given explicitly, else 99) [env BUDGET_MIN]")
    parser.add_argument("--threshold", default=env("THRESHOLD", "5%"),
                        help="smallest change the comparison flags (default 5%%) [env THRESHOLD]")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then arguments for both sides' pytest")
    return parser


def probe(option: str, python: str | None, modules: dict[str, str]) -> dict:
    """The interpreter's torch version and commit; raises BadInput when it is missing or lacks a module."""
    if not python:
        raise BadInput(f"{option} is required: the interpreter of that side (or set PYTHON_{option[-1].upper()})")
    path = shutil.which(python)
    if path is None:
        raise BadInput(f"{option} {python}: no such interpreter")
    try:
        done = subprocess.run([path, "-c", PROBE, *modules], capture_output=True, text=True, timeout=300,
                              check=False)
        info = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        raise BadInput(f"{option} {python}: cannot run it as a python interpreter") from None
    if "torch" in info["missing"]:
        raise BadInput(f"{option} {python}: has no torch (python {info['python']})")
    if "torch_error" in info:
        raise BadInput(f"{option} {python}: cannot read torch's version: {info['torch_error']}")
    if info["missing"]:
        packages = " ".join(modules[m] for m in info["missing"])
        raise BadInput(f"{option} {python}: lacks {', '.join(info['missing'])}; install with: "
                       f"{python} -m pip install {packages}")
    return {**info, "path": path}


def default_label(info: dict) -> str:
    commit = (info.get("git_version") or "")[:7]
    return f"{info['version']}@{commit}" if commit else info["version"]


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+@-]+", "_", label)[:60] or "_"


def check_arguments(args: argparse.Namespace) -> list[str]:
    """The pytest arguments both sides get after the driver's; raises BadInput."""
    extra = list(args.pytest_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    elif extra:
        raise BadInput(f"unknown argument {extra[0]!r}; pytest arguments go after --")
    for word in extra:
        if word.split("=")[0] in OWNED_OPTIONS:
            raise BadInput(f"{word.split('=')[0]} is set by compare mode for each side; leave it out")
    if args.rounds < 1 or args.block_rounds < 1:
        raise BadInput(f"--rounds ({args.rounds}) and --block-rounds ({args.block_rounds}) must be >= 1")
    if args.passes is None:
        args.passes = MAX_PASSES if args.budget_min else DEFAULT_PASSES
    if not 1 <= args.passes <= MAX_PASSES:
        raise BadInput(f"--passes ({args.passes}) must be between 1 and {MAX_PASSES}")
    if args.budget_min is not None and not 0 < args.budget_min <= 24 * 60:
        raise BadInput(f"--budget-min ({args.budget_min}) must be more than 0 and at most a day")
    if args.block_rounds >= args.rounds:
        print(f"{PROG}: note: --block-rounds {args.block_rounds} >= --rounds {args.rounds}: no interleaving within a "
              f"case, only case by case", file=sys.stderr)
    return extra


def make_run_folder(results_dir: str, labels: dict[str, str]) -> Path:
    parent = Path(results_dir) / "compare"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = Path(tempfile.mkdtemp(prefix=f"{stamp}_{_safe(labels['A'])}_vs_{_safe(labels['B'])}_", dir=parent))
    except OSError as exc:
        raise BadInput(f"cannot make a run folder in {parent}: {exc.strerror or exc}") from None
    os.chmod(folder, 0o755)  # mkdtemp's 0700 is for temporary folders; results are shared like any result file
    return folder


def _die_with_driver() -> None:
    """A side (and through it its ranks) ends if the driver dies, even by SIGKILL: SIGTERM stops it cleanly."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def side_env(side: str, socket_path: str, args: argparse.Namespace) -> dict[str, str]:
    """A side's environment: the driver's, with the turn server's address. A slowdown is planted by calibrate
    alone (args.plant), into side B alone (bench/planted.py); any PLANT_ENV of the driver's own is dropped."""
    env = {**os.environ, TURN_ENV: env_value(socket_path, side, args.block_rounds), DRIVER_PID_ENV: str(os.getpid())}
    env.pop(PLANT_ENV, None)
    if side == "B" and getattr(args, "plant", None):
        env[PLANT_ENV] = args.plant
    return env


def start_side(side: str, python: str, folder: Path, coordinator: Coordinator, args: argparse.Namespace,
               extra: list[str]) -> subprocess.Popen:
    env = side_env(side, coordinator.socket_path, args)
    rounds = str(args.rounds)
    command = [python, "-m", "pytest", "bench/", f"--profile={args.profile}",
               f"--benchmark-json={folder / f'{side.lower()}.json'}", "-q", "--progress-s", "60",
               "--min-rounds", rounds, "--max-rounds", rounds, "--budget-s", "0", *extra]
    with open(folder / f"{side.lower()}.log", "w") as log:
        # preexec_fn runs between fork and exec: safe here because the coordinator's threads start after both sides
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_driver)  # noqa: PLW1509


class ProgressEcho:
    """Each side's output goes to its log; its progress lines and warnings are echoed here, marked with the side,
    so that a long compare run shows how far it is."""

    SHOWN = ("progress: ", "statedict-bench: warning: ")

    def __init__(self, folder: Path, prefix: str = "") -> None:
        self._offsets = {side: 0 for side in SIDES}
        self._folder = folder
        self._prefix = prefix

    def echo(self) -> None:
        for side in SIDES:
            try:
                with open(self._folder / f"{side.lower()}.log", "rb") as log:
                    log.seek(self._offsets[side])
                    text = log.read()
            except OSError:
                continue
            complete = text[:text.rfind(b"\n") + 1]  # a line still being written waits for the next call
            self._offsets[side] += len(complete)
            for line in complete.decode(errors="replace").splitlines():
                if line.startswith(self.SHOWN):
                    print(f"{self._prefix}{side}: {line}", flush=True)


def wait_sides(procs: dict[str, subprocess.Popen], coordinator: Coordinator,
               echo: ProgressEcho | None = None) -> tuple[dict[str, int], bool]:
    """Wait for both; a side that exits leaves the turn order at once (also one that never connected).
    Returns the exit codes and whether the run was interrupted (Ctrl-C, SIGTERM)."""
    codes: dict[str, int] = {}
    interrupted = []

    def forward(signum, frame):  # Ctrl-C reaches the sides through the terminal; SIGTERM is passed on
        interrupted.append(signum)
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while len(codes) < len(procs):
            for side, proc in procs.items():
                if side not in codes and proc.poll() is not None:
                    codes[side] = proc.returncode
                    coordinator.leave(side)
            if echo is not None:
                echo.echo()
            time.sleep(0.2)
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reached the sides too (one process group): a second signal now could cut short the
        # final write of their result files. Only a side still running after a grace period gets SIGTERM.
        interrupted.append(signal.SIGINT)
        for side, proc in procs.items():
            try:
                codes[side] = proc.wait(timeout=INTERRUPT_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                codes[side] = proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return codes, bool(interrupted)


def side_outcome(side: str, label: str, code: int, folder: Path) -> tuple[bool, str]:
    """(complete, one line about the side's run)."""
    path, log = folder / f"{side.lower()}.json", folder / f"{side.lower()}.log"
    try:
        run = json.loads(path.read_text())["run"]
    except (OSError, ValueError, KeyError, TypeError):
        last = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:] or ["no output"]
        return False, f"{side} {label}: no result file (pytest exit code {code}): {last[0]}"
    counts = ", ".join(f"{n} {status}" for status, n in sorted((run.get("status_counts") or {}).items()))
    complete = bool(run.get("complete")) and code in (0, 1)
    state = "" if complete else f"; INCOMPLETE (pytest exit code {code}, see {log})"
    return complete, f"{side} {label}: {counts or 'no cases'}{state}; {path}"


def interleaving_line(orders: dict[str, list[str]], mismatched: list[str]) -> str:
    """How the turns went, from the coordinator's log (position -1 is the run info and ceilings)."""
    cases = {position: order for position, order in orders.items() if int(position) >= 0}
    broken = [position for position, order in cases.items() if not alternates(order)]
    line = f"interleaving: {len(cases)} cases, {sum(map(len, cases.values()))} turns"
    line += (f"; {len(broken)} case(s) not A B A B ... (a side failed or ran alone; see turns.json): positions "
             f"{', '.join(broken[:10])}" if broken else ", every case A B A B ...")
    if mismatched:
        line += (f"; WARNING: the sides ran different cases at {len(mismatched)} position(s) "
                 f"({', '.join(mismatched[:10])}): their case lists differ")
    return line


def analyse(folder: Path, labels: dict[str, str], threshold: str) -> int:
    """The comparison over every complete pass (printed and saved as compare.txt) and the HTML report; returns the
    comparison's exit code."""
    label_arg = f"--labels={labels['A']},{labels['B']}"
    a, b = (os.path.join(glob.escape(str(folder)), PASS_GLOB, f"{side}.json") for side in ("a", "b"))
    compare = subprocess.run([sys.executable, "-m", "analysis", "compare", a, b, "--threshold", threshold,
                              label_arg], cwd=ROOT, capture_output=True, text=True, check=False)
    print(compare.stdout, end="")
    print(compare.stderr, end="", file=sys.stderr)
    (folder / "compare.txt").write_text(compare.stdout)
    report = subprocess.run([sys.executable, "-m", "analysis", "report", b, "--baseline", a, "--all-runs", "-o",
                             str(folder / "report"), "--threshold", threshold, label_arg], cwd=ROOT,
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


def passes_for_budget(budget_min: float, first_pass_s: float, cap: int) -> int:
    """How many passes fit into the budget, judged by the first pass's duration: at least 2 (one pass a side cannot
    tell a change from a process's own speed), at most `cap`. The count depends on time alone, never on what the
    passes measured, so the comparison's error rate is that of a fixed number of passes."""
    return max(2, min(cap, int(budget_min * 60 // max(first_pass_s, 1e-9))))


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


def run_in_folder(args: argparse.Namespace) -> tuple[int, Path | None]:
    """The compare: (exit code, the run's folder, None where none was made)."""
    extra = check_arguments(args)
    infos = {"A": probe("--a", args.a, SIDE_MODULES), "B": probe("--b", args.b, SIDE_MODULES)}
    missing = [name for name in ANALYSIS_MODULES if not _importable(name)]
    if missing:
        raise BadInput(f"this interpreter ({sys.executable}) runs the analysis and lacks {', '.join(missing)}")
    labels = {"A": args.label_a or default_label(infos["A"]), "B": args.label_b or default_label(infos["B"])}
    if "," in labels["A"] + labels["B"]:
        raise BadInput("labels must not contain ','")
    folder = make_run_folder(args.results_dir, labels)
    for side in SIDES:
        print(f"{side}: {labels[side]} ({infos[side]['path']}, python {infos[side]['python']})")
    budget = f"as many as fit in {args.budget_min:g} minutes" if args.budget_min else f"{args.passes}"
    print(f"results: {folder}  ({budget} pass(es), each with fresh processes; {args.rounds} rounds per case "
          f"and pass in blocks of {args.block_rounds}, A first)")
    passes, complete, began, number = args.passes, 0, time.monotonic(), 0
    while number < passes:
        number += 1
        state = _one_pass(args, infos, labels, folder, extra, number, passes)
        if state == "interrupted":
            print("interrupted: no comparison")
            return BAD_INPUT, folder
        if state == "incomplete":
            break
        complete += 1
        if number == 1 and args.budget_min:
            passes = passes_for_budget(args.budget_min, time.monotonic() - began, args.passes)
            print(f"the first pass took {time.monotonic() - began:.0f} s: {passes} passes fit in "
                  f"{args.budget_min:g} minutes")
    if not complete:
        print("no pass completed on both sides: no comparison")
        return BAD_INPUT, folder
    if complete < passes:
        print(f"comparing the {complete} complete pass(es) of {passes}")
    status = analyse(folder, labels, args.threshold)
    return (status if complete == passes and status != BAD_INPUT else BAD_INPUT), folder


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def main(argv: list[str] | None = None) -> int:
    try:
        return run(_parser().parse_args(argv))
    except BadInput as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
