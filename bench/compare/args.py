"""compare mode's command line: its options, the checks of the two interpreters, and the run's folder.

Nothing here imports torch: the driver runs under any python with the analysis dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.config.selection import BadInput  # noqa: F401 (compare's modules take it from here too)
from bench.machine.requirements import distribution, requirements
from bench.metrics import DEFAULT as DEFAULT_METRIC, JUDGED


BAD_INPUT = 2
USAGE_ERROR = 4  # pytest's, for an option it does not know
INTERRUPT_GRACE_S = 30.0
PROG = "statedict-bench compare"
MAX_PASSES = 99
DEFAULT_PASSES = 4
PASS_NAME = "pass{:02d}"  # pass01..pass99 sort in pass order
PASS_GLOB = "pass[0-9][0-9]"  # complete passes only: an incomplete one is renamed passNN-incomplete
OWNED_OPTIONS = ("--benchmark-json", "--resume")
# Runs in a side's interpreter: which of the distributions named in argv it lacks, and torch's version, read from
# its version.py (plain assignments) without importing torch, which takes seconds: a broken torch shows in that
# side's run instead.
PROBE = """
import importlib.metadata as metadata, importlib.util, json, os, runpy, sys
def present(name):
    try:
        return bool(metadata.version(name))
    except metadata.PackageNotFoundError:
        return False
specs = {"torch": importlib.util.find_spec("torch")}
missing = [name for name in sys.argv[1:] if name != "torch" and not present(name)]
info = {"missing": (["torch"] if specs["torch"] is None else []) + missing, "python": sys.version.split()[0]}
if specs["torch"] is not None:
    try:
        version = runpy.run_path(os.path.join(specs["torch"].submodule_search_locations[0], "version.py"))
        info.update(version=version["__version__"], git_version=version.get("git_version"))
    except Exception as exc:
        info["torch_error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(info))
"""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's usage + message would be two lines
        raise BadInput(message)


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = _OneLineParser(prog="python -m bench.compare.run", description=__doc__.split("\n")[0])
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
                        help="wall minutes for the whole compare: after each pass, another while it is expected to fit "
                             "(judged by the last pass and the cases that continue; at least 2 passes, at most "
                             "--passes if given explicitly, else 99) [env BUDGET_MIN]")
    parser.add_argument("--target-mde", default=env("TARGET_MDE"),
                        help="after the second pass, as many passes as bring 90%% of the timed cases to this minimum "
                             "detectable effect (e.g. 10%%), re-judged after each pass from the spread alone; capped "
                             "by --budget-min and --passes [env TARGET_MDE]")
    parser.add_argument("--no-settle", action="store_true", default=bool(env("NO_SETTLE")),
                        help="run every case in every pass: by default, from the second pass on, a case whose "
                             "interval already lies inside the threshold band is settled (unchanged), from the "
                             "third a clear change is decided (flagged at a share of 0.01 of alpha), and either is "
                             "left out of the passes that follow [env NO_SETTLE=1]")
    parser.add_argument("--metric", choices=tuple(JUDGED), default=env("METRIC", DEFAULT_METRIC),
                        help="what the comparison judges (default wall); instructions runs both sides under "
                             "valgrind's callgrind [env METRIC]")
    parser.add_argument("--threshold", default=env("THRESHOLD", "5%"),
                        help="smallest change the comparison flags (default 5%%) [env THRESHOLD]")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then arguments for both sides' pytest")
    return parser


def probe(option: str, python: str | None) -> dict:
    """The interpreter's torch version and commit; raises BadInput when it is missing or lacks another of the
    suite's requirements (bench/machine/requirements.py)."""
    if not python:
        raise BadInput(f"{option} is required: the interpreter of that side (or set PYTHON_{option[-1].upper()})")
    path = shutil.which(python)
    if path is None:
        raise BadInput(f"{option} {python}: no such interpreter")
    try:
        wanted = {distribution(requirement): requirement for requirement in requirements()}
        done = subprocess.run([path, "-c", PROBE, *wanted], capture_output=True, text=True, timeout=300,
                              check=False)
        info = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        raise BadInput(f"{option} {python}: cannot run it as a python interpreter") from None
    if "torch" in info["missing"]:
        raise BadInput(f"{option} {python}: has no torch (python {info['python']})")
    if "torch_error" in info:
        raise BadInput(f"{option} {python}: cannot read torch's version: {info['torch_error']}")
    if info["missing"]:
        packages = " ".join(repr(wanted[name]) for name in info["missing"])
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
    if args.target_mde is not None:
        args.target_mde = parse_percent(args.target_mde, "--target-mde")
    if args.passes is None:
        args.passes = MAX_PASSES if args.budget_min or args.target_mde else DEFAULT_PASSES
    if not 1 <= args.passes <= MAX_PASSES:
        raise BadInput(f"--passes ({args.passes}) must be between 1 and {MAX_PASSES}")
    if args.budget_min is not None and not 0 < args.budget_min <= 24 * 60:
        raise BadInput(f"--budget-min ({args.budget_min}) must be more than 0 and at most a day")
    if args.block_rounds >= args.rounds:
        print(f"{PROG}: note: --block-rounds {args.block_rounds} >= --rounds {args.rounds}: no interleaving within a "
              f"case, only case by case", file=sys.stderr)
    return extra


def parse_percent(text: str, option: str) -> float:
    """'10%' or '0.1' -> 0.1; raises BadInput."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise BadInput(f"{option} {text!r} is not a number like 10% or 0.1") from None
    if not 0 < value < 10:
        raise BadInput(f"{option} {text!r} must be more than 0% and under 1000%")
    return value


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
