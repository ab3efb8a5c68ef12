"""Known torch bugs: which cases a torch bug hits on which torch versions, and whether a run of such a case showed it.

A row names the torch issue, the torch versions it affects, the cases it hits (api, op, state-dict type, options,
device, least world size) and its symptom (SYMPTOMS), with the message pattern where there is one. The session
matches a case against the table before the case runs (bench/run/session.py); the case still runs, and its record
keeps torch's own status and message and gets `known_bug` (bench/results/schema.py): `reproduced` true when the
symptom showed, false when the case ran without it, null when it did not run (skipped, unsupported). pytest counts a
reproduced bug as xfailed, which does not fail the run, and a case that ran clean as a strict XPASS, which does: a fix
landed, and the row's versions must be updated (bench/test_state_dicts.py). docs/known-bugs.md is this table
(scripts/known_bugs_table.py).

More rows, for the suite's own tests or to try a row before adding it here: a JSON file of a list of objects with
KnownBug's fields, named by the environment variable STATEDICT_BENCH_KNOWN_BUGS. No torch here.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from bench.config.selection import BadInput
from bench.ops.matrix import Case

SYMPTOMS = {
    "crash": "a rank dies by a signal (SIGSEGV, SIGABRT, ...): the case is `error`",
    "error": "a rank raises, or the ranks hang: the case is `error` or `timeout`",
    "memory_growth": "the case is `ok`, but a rank's resident memory grows by at least `growth_at_least` bytes per "
                     "save (rss_growth_per_save_bytes)",
    "time_growth": "the case is `ok`, but its round times grow by at least `growth_at_least` of their median per "
                   "round (least-squares slope of round_times_s)",
}
"""What a known bug shows, and how a record is judged to show it."""
GROWTH_SYMPTOMS = ("memory_growth", "time_growth")
EXTRA_ROWS_ENV = "STATEDICT_BENCH_KNOWN_BUGS"
ISSUES_URL = "https://github.com/pytorch/pytorch/issues/"
TABLE_FILE = "bench/config/known_bugs.py"
_CRASH_MESSAGE = re.compile(r"\brank \d+ died: ")
"""How the worlds say that a rank died by a signal: 'rank 1 died: SIGSEGV (exit code -11)' (worlds/replies.py
describe_exit; a rank that exits with a code 'exited with code N')."""


@dataclass(frozen=True, kw_only=True)
class KnownBug:
    number: int
    """The torch issue: github.com/pytorch/pytorch/issues/NUMBER."""
    summary: str
    """What goes wrong in torch, and where the fix is when there is one."""
    torch_versions: str
    """The torch versions it affects, a PEP 440 specifier set on torch.__version__ ('>=2.13.0,<2.14.1'): local
    labels (+cpu, +cu130) are ignored, pre-releases and dev builds count."""
    evidence: str
    """Which torch versions were run, and what they did: the honest basis of `torch_versions`."""
    api: str
    """The case's api, as bench/ops/matrix.py names it (fsdp1, fsdp2, dcp, torch_save, null)."""
    op: str
    state_dict_type: str | None
    """sharded, full or local; None for an op without one."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Options the case must have, with these values; its other options may be anything."""
    device: str
    """cpu or cuda."""
    min_world_size: int = 1
    """The fewest ranks of a world it shows in."""
    symptom: str
    """One of SYMPTOMS."""
    message: str | None = None
    """A regular expression the case's message must match (searched), for `crash` and `error`; None: any."""
    growth_at_least: float | None = None
    """The least growth that shows a growth symptom: bytes per save, or a fraction of the median per round."""

    def __post_init__(self) -> None:
        if self.symptom not in SYMPTOMS:
            raise ValueError(f"known bug #{self.number}: symptom {self.symptom!r} is not one of {', '.join(SYMPTOMS)}")
        if (self.symptom in GROWTH_SYMPTOMS) != (self.growth_at_least is not None):
            raise ValueError(f"known bug #{self.number}: growth_at_least goes with a growth symptom, and only there")
        try:
            SpecifierSet(self.torch_versions)
            re.compile(self.message or "")
        except (InvalidSpecifier, re.error) as exc:
            raise ValueError(f"known bug #{self.number}: {exc}") from None

    @property
    def issue(self) -> str:
        return f"{ISSUES_URL}{self.number}"

    def affects(self, torch_version: str) -> bool:
        try:
            return SpecifierSet(self.torch_versions).contains(Version(torch_version), prereleases=True)
        except InvalidVersion:
            return False

    def hits(self, case: Case, device: str, torch_version: str) -> bool:
        """Whether this bug is expected in `case`, run on `device` under torch `torch_version`."""
        options = case.options_dict
        return (case.api == self.api and case.op == self.op and case.state_dict_type == self.state_dict_type
                and all(k in options and options[k] == v for k, v in self.options.items())
                and device == self.device and case.world_size >= self.min_world_size
                and self.affects(torch_version))

    def shown_by(self, record: Mapping[str, Any]) -> bool:
        """Whether the case's record shows this bug's symptom."""
        status, message = record.get("status"), record.get("message") or ""
        if self.symptom in ("crash", "error"):
            failed = (status == "error" and bool(_CRASH_MESSAGE.search(message)) if self.symptom == "crash"
                      else status in ("error", "timeout"))
            return failed and (self.message is None or bool(re.search(self.message, message)))
        if status != "ok":
            return False
        return (_memory_growth(record) if self.symptom == "memory_growth" else _time_growth(record)) \
            >= self.growth_at_least


def _memory_growth(record: Mapping[str, Any]) -> float:
    growth = [g for g in record.get("rss_growth_per_save_bytes") or [] if g is not None]
    return max(growth, default=0.0)


def _time_growth(record: Mapping[str, Any]) -> float:
    times = record.get("round_times_s") or []
    if len(times) < 3 or statistics.median(times) <= 0:
        return 0.0
    return statistics.linear_regression(range(len(times)), times).slope / statistics.median(times)


KNOWN_BUGS = (
    KnownBug(
        number=188989,
        summary="FSDP1 on CPU: FlatParamHandle.to_cpu() frees the unsharded flat parameter's storage although it is "
                "already on the CPU, so offload_to_cpu=True reads freed memory (a use-after-free: SIGSEGV in "
                "FULL_STATE_DICT's get_model with more than one rank); fixed by pytorch/pytorch#188990",
        torch_versions=">=2.13.0,<2.14.1",
        evidence="2.13.0+cpu: all 24 quick-profile cases it names (2 and 4 ranks, rank0_only either way, "
                 "use_mesh=True) die with SIGSEGV, the 8 on 1 rank run ok; 2.14.1 (the +cu130 wheel, on the CPU): all "
                 "64 quick-profile FSDP1 FULL_STATE_DICT offload_to_cpu=True cases (get_model and get_optim, 1, 2 "
                 "and 4 ranks) run ok (2026-12-07). Not run: 2.14.0, anything before 2.13.0, use_mesh=False.",
        api="fsdp1", op="get_model", state_dict_type="full", options={"offload_to_cpu": True}, device="cpu",
        min_world_size=2, symptom="crash", message="SIGSEGV"),
)


def _row(data: Any, where: str) -> KnownBug:
    names = {f.name for f in fields(KnownBug)}
    if not isinstance(data, dict) or not set(data) <= names:
        raise BadInput(f"{where}: not an object of {', '.join(sorted(names))}")
    try:
        return KnownBug(**data)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{where}: {exc}") from None


def known_bugs(environ: Mapping[str, str] = os.environ) -> tuple[KnownBug, ...]:
    """The table, with the rows of the file that STATEDICT_BENCH_KNOWN_BUGS names; BadInput for a bad file."""
    path = environ.get(EXTRA_ROWS_ENV)
    if not path:
        return KNOWN_BUGS
    try:
        rows = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{EXTRA_ROWS_ENV}={path}: not a readable JSON file ({exc})") from None
    if not isinstance(rows, list):
        raise BadInput(f"{EXTRA_ROWS_ENV}={path}: not a JSON list of known bugs")
    return KNOWN_BUGS + tuple(_row(row, f"{EXTRA_ROWS_ENV}={path}, row {i}") for i, row in enumerate(rows))


def bugs_of_case(table: Iterable[KnownBug], case: Case, device: str, torch_version: str) -> list[KnownBug]:
    """The rows that expect their bug in `case` (matched on the case, before it runs)."""
    return [bug for bug in table if bug.hits(case, device, torch_version)]


def judge(record: dict[str, Any], bugs: list[KnownBug], torch_version: str) -> None:
    """Gives the record of a case that `bugs` hit its `known_bug`, in place: the row whose symptom showed (else the
    first), whether it reproduced, and `note`, the line pytest and the summary show."""
    if not bugs:
        return
    shown = [bug for bug in bugs if bug.shown_by(record)]
    bug = (shown or bugs)[0]
    reproduced = True if shown else None if record["status"] in ("skipped", "unsupported") else False
    name = f"known torch bug #{bug.number} ({bug.issue})"
    if reproduced:
        note = f"{name} reproduced on torch {torch_version}: {bug.symptom}"
    elif reproduced is None:
        note = f"{name} not tried: the case was {record['status']}"
    elif record["status"] == "ok":
        note = f"{name} no longer reproduces on torch {torch_version}: a fix landed; update {TABLE_FILE}"
    else:
        note = (f"{name} is expected here on torch {torch_version}, but this failure is not its symptom "
                f"({bug.symptom}{f' matching {bug.message!r}' if bug.message else ''})")
    record["known_bug"] = {"issue": bug.issue, "number": bug.number, "summary": bug.summary,
                           "torch_versions": bug.torch_versions, "symptom": bug.symptom, "reproduced": reproduced,
                           "note": note}
