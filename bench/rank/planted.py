"""A known slowdown planted into chosen ops, for `run_bench.sh calibrate` only (bench/compare/calibrate.py).

Calibrate runs a compare of the installed torch against itself in which only side B's processes carry
PLANT_ENV: a JSON object {"OP" or "API:OP": fraction}. Inside the timed region, right after the op (and its device
sync), a rank of a planted case busy-waits for `fraction` x the op's own time, so the round takes (1 + fraction)
times as long on every metric that sees CPU work (wall and CPU time). No other path sets PLANT_ENV, and a side
without it runs exactly the code of an ordinary run.
"""

from __future__ import annotations

import json
import os
import time

PLANT_ENV = "STATEDICT_BENCH_PLANT"


def parse_plan(text: str | None) -> dict[str, float]:
    """PLANT_ENV's value as {selector: fraction}; raises ValueError on anything else."""
    if not text:
        return {}
    plan = json.loads(text)
    if not isinstance(plan, dict) or not all(isinstance(v, (int, float)) and 0 < v <= 10 for v in plan.values()):
        raise ValueError(f"{PLANT_ENV} must map ops to fractions in (0, 10], got {text!r}")
    return {str(k): float(v) for k, v in plan.items()}


def fraction_in(plan: dict[str, float], api: str, op: str) -> float:
    """The fraction `plan` plants into a case of `api` and `op`: its API:OP entry, else its OP entry, else 0.0."""
    return plan.get(f"{api}:{op}", plan.get(op, 0.0))


def planted_fraction(api: str, op: str) -> float:
    """The fraction planted into this case's op in this process; 0.0 where nothing is planted."""
    return fraction_in(parse_plan(os.environ.get(PLANT_ENV)), api, op)


def spin_after(t0: float, fraction: float) -> None:
    """Busy-wait until the time since t0 is (1 + fraction) x what it is now: the op's time, stretched."""
    if fraction <= 0:
        return
    until = t0 + (time.perf_counter() - t0) * (1.0 + fraction)
    while time.perf_counter() < until:
        pass
