"""compare mode's two sides: each an ordinary pytest run of the suite, started, echoed, awaited and judged."""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from bench import REPO_ROOT, benchmark_command
from bench.compare.args import INTERRUPT_GRACE_S
from bench.rank.planted import PLANT_ENV
from bench.compare.pacers import PACER_TARGET
from bench.compare.turn_server import Coordinator
from bench.machine.lifetime import die_with_parent
from bench.machine.state import DRIVER_PID_ENV
from bench.rank.pacing import PACER_ENV
from bench.compare.turns import SIDES, TURN_ENV, alternates, env_value


def side_env(side: str, socket_path: str, args: argparse.Namespace) -> dict[str, str]:
    """A side's environment: the driver's, with the pacing hook (bench/compare/pacers.py) and the turn server's
    address. A slowdown is planted by calibrate alone (args.plant), into side B alone (bench/rank/planted.py); any
    PLANT_ENV of the driver's own is dropped."""
    env = {**os.environ, PACER_ENV: PACER_TARGET, TURN_ENV: env_value(socket_path, side, args.block_rounds),
           DRIVER_PID_ENV: str(os.getpid())}
    env.pop(PLANT_ENV, None)
    if side == "B" and getattr(args, "plant", None):
        env[PLANT_ENV] = args.plant
    return env


def start_side(side: str, python: str, folder: Path, coordinator: Coordinator, args: argparse.Namespace,
               extra: list[str]) -> subprocess.Popen:
    env = side_env(side, coordinator.socket_path, args)
    rounds = str(args.rounds)
    command = benchmark_command(["--progress-s", "60", "--min-rounds", rounds, "--max-rounds", rounds, "--budget-s",
                                 "0", "--metric", args.metric, *extra], python=python, profile=args.profile,
                                json_path=folder / f"{side.lower()}.json")
    with open(folder / f"{side.lower()}.log", "w") as log:
        # The side (and through it its ranks) ends if the driver dies, even by SIGKILL; SIGTERM lets it stop cleanly.
        # preexec_fn runs between fork and exec: safe here because the coordinator's threads start after both sides
        return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=functools.partial(die_with_parent, signal.SIGTERM))  # noqa: PLW1509


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
