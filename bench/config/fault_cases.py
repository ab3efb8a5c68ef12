"""`--fault KIND[:RANK]`: null cases that make one rank fail on purpose, so that the suite's tests can inject
faults into whole runs (what each KIND does: bench/ops/faults.py)."""

from __future__ import annotations

from bench.ops.matrix import Case
from bench.config.selection import BadInput

FAULT_KINDS = ("raise", "refuse", "segfault", "kill", "exit", "hang")


def parse_faults(values: list[str]) -> list[dict]:
    faults = []
    for value in values:
        kind, _, rank = value.partition(":")
        if kind not in FAULT_KINDS or (rank and not rank.isdigit()):
            raise BadInput(f"--fault {value!r} is not KIND[:RANK] with KIND one of {', '.join(FAULT_KINDS)}")
        faults.append({"fault": kind, "fault_rank": int(rank or 0)})
    return faults


def with_faults(cases: list[Case], faults: list[dict]) -> list[Case]:
    """The fault cases of each mesh right after its null case, so that the cases after them show the run going on."""
    out = []
    for case in cases:
        out.append(case)
        if case.api == "null":
            out += [Case(api="null", op="noop", state_dict_type=None, options=tuple(sorted(f.items())),
                         mesh_shape=case.mesh_shape) for f in faults if f["fault_rank"] < case.world_size]
    return out
